//! Running Lua: a script file, a `-e` chunk, or standard input, with the `net`
//! module installed and every error reported as one clear line.

use std::rc::Rc;

use anyhow::{anyhow, Result};
use mlua::Lua;

use crate::core::op::{LinkChange, Op};
use crate::core::{Net, NsId};
use crate::luabind;

pub struct Chunk {
    /// Shown in errors and tracebacks (`script.lua:3: …`).
    pub name: String,
    pub source: Vec<u8>,
    /// `arg[0]` and `arg[1..]`.
    pub args: Vec<String>,
}

/// Builds the runtime, installs `net`, runs the chunk.
pub fn run(chunk: Chunk, verbose: bool, sandbox: bool) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let net = Rc::new(Net::new(verbose).map_err(|e| anyhow!("{e}"))?);
        if sandbox {
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            net.apply(&Op::LinkSet {
                ns: NsId::Host,
                dev: "lo".into(),
                change: up,
            })
            .await
            .map_err(|e| anyhow!("--sandbox: {e}"))?;
        }
        let lua = Lua::new();
        luabind::install(&lua, net).map_err(|e| anyhow!("{e}"))?;
        let lerr = |e: mlua::Error| anyhow!(describe(&e));
        let arg = lua.create_table().map_err(lerr)?;
        for (i, a) in chunk.args.iter().enumerate() {
            arg.raw_set(i as i64, a.as_str()).map_err(lerr)?;
        }
        lua.globals().set("arg", arg).map_err(lerr)?;
        let extra: Vec<String> = chunk.args.iter().skip(1).cloned().collect();
        lua.load(chunk.source)
            .set_name(format!("@{}", chunk.name))
            .call_async::<()>(mlua::Variadic::from_iter(extra))
            .await
            .map_err(lerr)
    })
}

/// One line for the user: `file:line: function: message`, never a Rust backtrace.
pub fn describe(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { traceback, cause } => {
            let inner = describe(cause);
            match where_in_script(traceback) {
                Some(at) if !inner.starts_with(&at) => format!("{at}: {inner}"),
                _ => inner,
            }
        }
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(m) => format!("out of memory: {m}"),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", describe(cause)),
        other => other.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_script_line() {
        let tb = "stack traceback:\n\t[C]: in function 'net.ns.add'\n\tx.lua:3: in main chunk\n\t[C]: in ?";
        assert_eq!(where_in_script(tb), Some("x.lua:3".into()));
        assert_eq!(where_in_script("stack traceback:\n\t[C]: in ?"), None);
    }
}
