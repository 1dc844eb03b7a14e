//! lunet: Linux network namespaces in the hands of Lua.
//!
//! - [`core`]: the library (namespaces, links, addresses, routes, …) over netlink; no Lua.
//! - [`luabind`]: the thin Lua layer over the core (`net`, `Ns`, `Link`).
//! - [`cli`]: the command line and the sandbox, on top of both; [`repl`]: the interactive shell.

pub mod bundled;
pub mod cli;
pub mod core;
pub mod luabind;
pub mod repl;
