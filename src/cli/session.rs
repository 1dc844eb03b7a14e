//! One lunet session: the tokio runtime, the core `Net`, and a Lua state with
//! the binding installed. `lunet run` and the scenario commands share it.

use std::rc::Rc;

use anyhow::{anyhow, Result};
use std::sync::atomic::AtomicBool;

use mlua::Lua;
use tokio::runtime::Runtime;

use super::progress::Spinner;
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
    /// Progress of long work on a terminal (off unless the command asks for it).
    pub spinner: Rc<Spinner>,
}

/// What an undo walk reported: `errors` (steps still in effect) and `notes`
/// (things found already gone, or left as they were).
#[derive(Debug, Default)]
pub struct Undone {
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

impl Undone {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `  note: …` and `  error: …`, one line each, notes first.
    pub fn lines(&self) -> Vec<String> {
        let notes = self.notes.iter().map(|n| format!("  note: {n}"));
        notes
            .chain(self.errors.iter().map(|e| format!("  error: {e}")))
            .collect()
    }
}

/// Undoes everything the attached journal holds, newest first, going on past
/// failures: the one place that reads the core's rollback report.
pub async fn undo_all(net: &Net) -> Undone {
    let report = net.rollback().await;
    Undone {
        errors: report.errors.iter().map(|e| e.to_string()).collect(),
        notes: report.notes,
    }
}

/// mlua errors as one line for the user.
pub fn lerr(e: mlua::Error) -> anyhow::Error {
    anyhow!(luabind::describe(&e))
}

/// What the core needs from the environment and the terminal, read here
/// (the core reads no environment and prints nothing itself).
fn config(verbose: bool, plan: bool, spinner: Rc<Spinner>) -> Result<Config> {
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
        progress: Box::new(move |p| spinner.update(p)),
    })
}

impl Session {
    /// `plan`: changes are printed as commands, never made.
    pub fn new(verbose: bool, sandbox: bool, plan: bool) -> Result<Session> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
        let spinner = Rc::new(Spinner::new(!verbose && !plan && super::progress::wanted()));
        let sp = spinner.clone();
        let net = rt.block_on(async {
            let net = Net::new(config(verbose, plan, sp)?).map_err(|e| anyhow!("{e}"))?;
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
                    // Every line a comment: nothing the script prints can become a command.
                    println!("# {}", words.join("\t").replace('\n', "\n# ").replace('\r', ""));
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
            spinner,
        })
    }
}
