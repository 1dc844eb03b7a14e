//! One lunet session: the tokio runtime, the core `Net`, and a Lua state with
//! the binding installed. `lunet run` and the scenario commands share it.

use std::rc::Rc;

use anyhow::{anyhow, Result};
use std::sync::atomic::AtomicBool;

use mlua::Lua;
use tokio::runtime::Runtime;

use crate::core::apply::Faults;
use crate::core::firewall::Backend;
use crate::core::net::Config;
use crate::core::op::{LinkChange, Op};
use crate::core::{Net, NsId};
use crate::luabind;

/// Set when the user presses Ctrl-C during a REPL call.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub struct Session {
    pub rt: Rc<Runtime>,
    pub net: Rc<Net>,
    pub lua: Lua,
    pub sandbox: bool,
}

/// mlua errors as one line for the user.
pub fn lerr(e: mlua::Error) -> anyhow::Error {
    anyhow!(luabind::describe(&e))
}

/// What the core needs from the environment and the terminal, read here
/// (the core reads no environment and prints nothing itself).
fn config(verbose: bool, plan: bool) -> Result<Config> {
    let var = |k: &str| std::env::var(k).ok();
    let backend = Backend::parse(var("LUNET_IPTABLES").as_deref()).map_err(|e| anyhow!("{e}"))?;
    let faults = Faults::parse(
        var("LUNET_FAIL_STEP").as_deref(),
        var("LUNET_CRASH_STEP").as_deref(),
        var("LUNET_CRASH_UNDO").as_deref(),
    );
    Ok(Config {
        verbose: verbose && !plan,
        plan,
        backend,
        faults,
        trace: Box::new(|line| eprintln!("{line}")),
        plan_out: Box::new(|line| println!("{line}")),
    })
}

impl Session {
    /// `plan`: changes are printed as commands, never made.
    pub fn new(verbose: bool, sandbox: bool, plan: bool) -> Result<Session> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
        let net = rt.block_on(async {
            let net = Net::new(config(verbose, plan)?).map_err(|e| anyhow!("{e}"))?;
            if sandbox && !plan {
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
            Ok::<_, anyhow::Error>(Rc::new(net))
        })?;
        let lua = Lua::new();
        luabind::install(&lua, net.clone()).map_err(lerr)?;
        if plan {
            // Keep the plan a runnable script: the script's own output becomes comments.
            let print = lua
                .create_function(|_, args: mlua::Variadic<mlua::Value>| {
                    let words: Vec<String> = args.iter().map(|v| v.to_string().unwrap_or_default()).collect();
                    println!("# {}", words.join("\t"));
                    Ok(())
                })
                .map_err(lerr)?;
            lua.globals().set("print", print).map_err(lerr)?;
        }
        Ok(Session {
            rt: Rc::new(rt),
            net,
            lua,
            sandbox,
        })
    }
}
