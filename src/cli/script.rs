//! Running Lua: a script file, a `-e` chunk, or standard input, with the `net`
//! module installed and every error reported as one clear line.

use anyhow::{anyhow, Result};

use super::session::{lerr, Session};
use crate::core::journal::Journal;
use crate::luabind;

pub struct Chunk {
    /// Shown in errors and tracebacks (`script.lua:3: …`).
    pub name: String,
    pub source: Vec<u8>,
    /// `arg[0]` and `arg[1..]`.
    pub args: Vec<String>,
}

/// Runs the chunk in a fresh session, journaled in memory: on an uncaught
/// error, what it made is rolled back (unless `keep_on_error`).
pub fn run(chunk: Chunk, verbose: bool, sandbox: bool, keep_on_error: bool) -> Result<()> {
    let sess = Session::new(verbose, sandbox, false)?;
    let (lua, net) = (&sess.lua, &sess.net);
    net.attach_journal(Journal::in_memory());
    let arg = lua.create_table().map_err(lerr)?;
    for (i, a) in chunk.args.iter().enumerate() {
        arg.raw_set(i as i64, a.as_str()).map_err(lerr)?;
    }
    lua.globals().set("arg", arg).map_err(lerr)?;
    let extra: Vec<String> = chunk.args.iter().skip(1).cloned().collect();
    sess.rt.block_on(async {
        let result = lua
            .load(chunk.source)
            .set_name(format!("@{}", chunk.name))
            .call_async::<mlua::Value>(mlua::Variadic::from_iter(extra))
            .await
            .and_then(|v| match v {
                // A scenario file run as a script does nothing: say how to use it.
                mlua::Value::Table(t) if luabind::scenario::is_scenario(&t) => {
                    let name: String = t.get("name")?;
                    Err(mlua::Error::runtime(format!(
                        "{} is the scenario {name}: bring it up with `lunet up {}`",
                        chunk.name, chunk.name
                    )))
                }
                _ => Ok(()),
            });
        // Processes the script spawned end with it (all of them in a sandbox, which vanishes).
        luabind::end_owned(lua, sandbox).await;
        let Err(e) = result else {
            return Ok(());
        };
        let mut msg = luabind::describe(&e);
        if keep_on_error {
            msg += "\n(--keep-on-error: what the script made is left in place)";
        } else if !sandbox {
            let made = net.with_journal(|j| Ok(!j.is_empty())).ok().flatten().unwrap_or(false);
            let errors = net.rollback().await.errors;
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
