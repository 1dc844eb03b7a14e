--- lunet.check: helpers for a scenario's `check` function. Each one proves a
--- claim with real traffic and, when it does not hold, raises an error that
--- says what was expected and what was seen. In a scenario they are methods
--- of `s`: `s:expect_ping(left, "10.0.0.1")`. A namespace is an `Ns` or its
--- name: `s:expect_ping("left", "10.0.0.1")`.
local M = {}

local function name(ns)
  return ns and ns.name or tostring(ns)
end

--- An `Ns` given as one or as a name (`"host"`: lunet's own).
---@param ns Ns|string
---@param f string the helper, for the error
---@return Ns
local function as_ns(ns, f)
  if type(ns) == "string" then
    if ns == "host" then
      return net.host
    end
    if not net.ns.exists(ns) then
      error(("s:%s: namespace %q does not exist"):format(f, ns), 3)
    end
    return net.ns.get(ns)
  end
  if type(ns) ~= "userdata" or not tostring(ns):find("^Ns%(") then
    error(("s:%s: argument #1 (ns) must be a namespace (Ns or name), got %s"):format(f, type(ns)), 3)
  end
  return ns
end

--- Records a claim that held.
---@param msg string
function M:pass(msg)
  print("  ok   " .. msg)
end

--- Fails the check with `msg` unless `cond` holds.
---@param cond any
---@param msg string
function M:expect(cond, msg)
  if not cond then
    error("check failed: " .. msg, 2)
  end
  self:pass(msg)
end

---@class lunet.PingOpts
---@field tries? integer  attempts before giving up (default 3)
---@field timeout? integer seconds per attempt (default 1)

--- `ns` reaches `addr` by ping (a few tries: neighbours may still be resolving).
---@param ns Ns|string
---@param addr string
---@param opts? lunet.PingOpts
function M:expect_ping(ns, addr, opts)
  ns = as_ns(ns, "expect_ping")
  opts = opts or {}
  for _ = 1, opts.tries or 3 do
    local ok, rtt = ns:ping(addr, { timeout = opts.timeout or 1 })
    if ok then
      self:pass(("%s pings %s%s"):format(name(ns), addr, rtt and (" (%.3f ms)"):format(rtt) or ""))
      return rtt
    end
  end
  error(("check failed: expected %s to reach %s by ping, but no reply came"):format(name(ns), addr), 2)
end

--- `ns` does NOT reach `addr` by ping.
---@param ns Ns|string
---@param addr string
function M:expect_no_ping(ns, addr)
  ns = as_ns(ns, "expect_no_ping")
  local ok, rtt = ns:ping(addr, { timeout = 1 })
  if ok then
    error(("check failed: expected %s not to reach %s, but it answered in %.3f ms"):format(name(ns), addr, rtt or 0), 2)
  end
  self:pass(("%s does not reach %s"):format(name(ns), addr))
end

--- `ns` opens a TCP connection to `addr`:`port` (retried for a few seconds: servers take a moment to start).
---@param ns Ns|string
---@param addr string
---@param port integer
---@param opts? {tries?: integer}
function M:expect_tcp(ns, addr, port, opts)
  ns = as_ns(ns, "expect_tcp")
  local err
  for i = 1, (opts and opts.tries) or 30 do
    local ok
    ok, err = ns:tcp_connect(addr, port, { timeout = 1 })
    if ok then
      self:pass(("%s connects to %s port %d"):format(name(ns), addr, port))
      return
    end
    if i > 1 then
      ns:exec({ "sleep", "0.1" })
    end
  end
  error(("check failed: expected %s to connect to %s port %d: %s"):format(name(ns), addr, port, err), 2)
end

--- `ns` cannot open a TCP connection to `addr`:`port`.
function M:expect_no_tcp(ns, addr, port)
  ns = as_ns(ns, "expect_no_tcp")
  local ok = ns:tcp_connect(addr, port, { timeout = 1 })
  if ok then
    error(("check failed: expected %s not to connect to %s port %d, but it did"):format(name(ns), addr, port), 2)
  end
  self:pass(("%s cannot connect to %s port %d"):format(name(ns), addr, port))
end

--- An HTTP GET of `url` from `ns` (with curl) returns a body matching the Lua `pattern`.
---@param ns Ns|string
---@param url string
---@param pattern string
---@return string body
function M:expect_http(ns, url, pattern)
  ns = as_ns(ns, "expect_http")
  local r
  for i = 1, 30 do
    r = ns:exec({ "curl", "-sS", "--max-time", "2", url }, { check = false })
    if r.code == 0 then
      break
    end
    if i > 1 then
      ns:exec({ "sleep", "0.1" })
    end
  end
  if r.code ~= 0 then
    error(
      ("check failed: expected GET %s from %s to succeed: %s"):format(url, name(ns), (r.stderr:gsub("%s+$", ""))),
      2
    )
  end
  if pattern and not r.stdout:find(pattern) then
    error(
      ("check failed: expected GET %s from %s to match %q; got %q"):format(url, name(ns), pattern, r.stdout:sub(1, 200)),
      2
    )
  end
  self:pass(("%s gets %s%s"):format(name(ns), url, pattern and (" (matches %q)"):format(pattern) or ""))
  return r.stdout
end

return M
