//! Errors as users read them: one line, `file:line: function: message`, never
//! a Rust type or a traceback dump. `pcall`/`xpcall` hand scripts that line as
//! a plain string, so `err:find("already exists")` just works.

use mlua::{Function, Lua, Value};

/// One line for the user: `file:line: function: message`.
pub fn describe(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { traceback, cause } => {
            let inner = describe(cause);
            match where_in_script(traceback) {
                Some(at) if !inner.starts_with(&at) => format!("{at}: {inner}"),
                _ => inner,
            }
        }
        mlua::Error::RuntimeError(m) => match m.find("\nstack traceback:") {
            Some(i) => m[..i].to_string(),
            None => m.clone(),
        },
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(m) => format!("out of memory: {m}"),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", describe(cause)),
        other => other.to_string(),
    }
}

/// The Lua frames of an error's traceback (`stdin:2: in function 'f'`), outermost
/// main chunk and lunet's own plumbing left out: what a REPL shows under an error.
pub fn user_frames(e: &mlua::Error) -> Vec<String> {
    let tb = match e {
        mlua::Error::CallbackError { traceback, cause } => {
            let inner = user_frames(cause);
            if !inner.is_empty() {
                return inner;
            }
            traceback.clone()
        }
        mlua::Error::RuntimeError(m) => m
            .split_once("stack traceback:")
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    tb.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('[') && !l.starts_with("__mlua") && !l.ends_with("in main chunk"))
        .filter(|l| !l.starts_with("stack traceback") && !l.starts_with("(..."))
        .take(3)
        .map(String::from)
        .collect()
}

/// The first `file:line` of Lua code in a traceback.
fn where_in_script(tb: &str) -> Option<String> {
    tb.lines().map(str::trim).find_map(|l| {
        if l.starts_with('[') || l.starts_with("__mlua") {
            return None;
        }
        let mut parts = l.splitn(3, ':');
        let file = parts.next()?;
        let line = parts.next()?;
        line.parse::<u32>().ok().map(|n| format!("{file}:{n}"))
    })
}

const PCALL: &str = r#"
local clean, raw_pcall, raw_xpcall = ...
local function finish(ok, ...)
  if ok then return true, ... end
  return false, clean((...))
end
pcall = function(f, ...) return finish(raw_pcall(f, ...)) end
xpcall = function(f, handler, ...)
  return raw_xpcall(f, function(e) return handler(clean(e)) end, ...)
end
"#;

/// Replaces `pcall`/`xpcall` with versions that turn lunet's errors into plain strings.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let clean = lua.create_function(|lua, v: Value| match v {
        Value::Error(e) => Ok(Value::String(lua.create_string(describe(&e))?)),
        other => Ok(other),
    })?;
    let g = lua.globals();
    let (pcall, xpcall): (Function, Function) = (g.get("pcall")?, g.get("xpcall")?);
    lua.load(PCALL).set_name("=[lunet]").call::<()>((clean, pcall, xpcall))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through mlua's public API only: an error of an async function (as lunet's are)
    /// called from a script names the script's line, and the frames a REPL shows are the
    /// script's, whatever mlua calls its own plumbing (its async wrapper is a Lua chunk
    /// named `__mlua_async_poll` in mlua 0.12: if a new mlua names it otherwise, this
    /// fails because users would see mlua's frames, and the filters above need its name).
    #[test]
    fn an_async_error_names_the_script_line_not_mlua_frames() {
        let lua = Lua::new();
        let boom = lua
            .create_async_function(|_, ()| async { Err::<(), _>(mlua::Error::runtime("net.ns.add: boom")) })
            .unwrap();
        lua.globals().set("boom", boom).unwrap();
        let chunk = lua.load("local function f()\n  boom()\nend\nf()\n").set_name("@x.lua");
        let e = futures::executor::block_on(chunk.exec_async()).unwrap_err();
        assert_eq!(describe(&e), "x.lua:2: net.ns.add: boom", "{e:?}");
        let frames = user_frames(&e);
        assert!(!frames.is_empty(), "{e:?}");
        assert!(frames.iter().all(|f| f.starts_with("x.lua:")), "{frames:?}\n{e:?}");
    }

    #[test]
    fn finds_the_script_line() {
        let tb =
            "stack traceback:\n\t[C]: in function 'net.ns.add'\n\t__mlua_async_poll:5: in x\n\tx.lua:3: in main chunk";
        assert_eq!(where_in_script(tb), Some("x.lua:3".into()));
        assert_eq!(where_in_script("stack traceback:\n\t[C]: in ?"), None);
    }

    #[test]
    fn pcall_gives_strings() {
        let lua = Lua::new();
        install(&lua).unwrap();
        let f = lua
            .create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("net.ns.add: boom")))
            .unwrap();
        lua.globals().set("boom", f).unwrap();
        let (ok, msg): (bool, String) = lua.load("return pcall(boom)").set_name("@t.lua").eval().unwrap();
        assert!(!ok);
        assert!(msg.ends_with("net.ns.add: boom") && !msg.contains("traceback"), "{msg}");
        let (ok, msg): (bool, String) = lua.load("return pcall(error, 'plain', 0)").eval().unwrap();
        assert!(!ok);
        assert_eq!(msg, "plain");
        let msg: String = lua
            .load("local _, m = xpcall(boom, function(e) return 'h:' .. e end) return m")
            .eval()
            .unwrap();
        assert!(msg.starts_with("h:") && msg.ends_with("net.ns.add: boom"), "{msg}");
    }
}
