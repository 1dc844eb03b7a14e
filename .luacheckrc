-- luacheck configuration for the Lua standard library (lua/) and the bundled
-- scenarios (scripts/). Formatting, line length included, is stylua's job.
std = "lua54"
-- lunet's globals: the `net` module; `arg` is set by `lunet run`.
read_globals = { "net" }
max_line_length = false
-- Methods (`function M:pass(msg)`) keep `self` even when they do not use it.
self = false
