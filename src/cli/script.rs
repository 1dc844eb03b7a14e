//! Running Lua: a script file, a `-e` chunk, or standard input, with the `net`
//! module installed and every error reported as one clear line.

use std::rc::Rc;

use anyhow::{anyhow, Result};
use mlua::Lua;

use crate::core::journal::Journal;
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
pub fn run(chunk: Chunk, verbose: bool, sandbox: bool, keep_on_error: bool) -> Result<()> {
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
        // A plain script is journaled in memory: on an uncaught error, what it made is undone.
        net.attach_journal(Journal::in_memory());
        let lua = Lua::new();
        luabind::install(&lua, net.clone()).map_err(|e| anyhow!("{e}"))?;
        let lerr = |e: mlua::Error| anyhow!(luabind::describe(&e));
        let arg = lua.create_table().map_err(lerr)?;
        for (i, a) in chunk.args.iter().enumerate() {
            arg.raw_set(i as i64, a.as_str()).map_err(lerr)?;
        }
        lua.globals().set("arg", arg).map_err(lerr)?;
        let extra: Vec<String> = chunk.args.iter().skip(1).cloned().collect();
        let result = lua
            .load(chunk.source)
            .set_name(format!("@{}", chunk.name))
            .call_async::<()>(mlua::Variadic::from_iter(extra))
            .await;
        // Processes the script spawned end with it (all of them in a sandbox, which vanishes).
        luabind::end_owned(&lua, sandbox).await;
        let Err(e) = result else {
            return Ok(());
        };
        let mut msg = luabind::describe(&e);
        if keep_on_error {
            msg += "\n(--keep-on-error: what the script made is left in place)";
        } else if !sandbox {
            let made = net.with_journal(|j| Ok(!j.is_empty())).ok().flatten().unwrap_or(false);
            let errors = net.rollback(false).await;
            if made {
                msg += "\n(everything the script made was rolled back; --keep-on-error keeps it)";
            }
            for err in errors {
                msg += &format!("\nrollback: {err}");
            }
        }
        Err(anyhow!(msg))
    })
}
