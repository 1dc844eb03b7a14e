//! Running Lua: a script file, a `-e` chunk, or standard input, with the `net`
//! module installed and every error reported as one clear line.
//!
//! A run's journal is on disk (an anonymous instance in the state dir, e.g.
//! `run-lab-4242`), so what it made can be undone even after `kill -9`. An
//! uncaught error, SIGINT, SIGTERM, SIGHUP or `os.exit(CODE ≠ 0)` rolls back
//! what the script made; a run that ends normally keeps it, and `lunet down
//! NAME` undoes it later. A run that made nothing leaves no state.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Result;
use mlua::{HookTriggers, IntoLuaMulti, Lua, Value, VmState};
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::session::{lerr, undo_all, Session};
use super::state::{self, Meta};
use super::Exit;
use crate::core::journal::Journal;
use crate::core::op::Op;
use crate::core::process;
use crate::luabind;

pub struct Chunk {
    /// Shown in errors and tracebacks (`script.lua:3: …`).
    pub name: String,
    pub source: Vec<u8>,
    /// `arg[0]` and `arg[1..]`.
    pub args: Vec<String>,
    /// The instance's name before `-PID`: `run-lab`, `e` or `stdin`.
    pub instance: String,
    /// The meta's origin: `run:/path/lab.lua`, `run:-e` or `run:stdin`.
    pub origin: String,
}

/// The first of SIGINT, SIGTERM and SIGHUP received (0: none yet); set by the handler.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The latest one, and how many arrived (one during the rollback is only noted).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// `os.exit(EXIT_CODE)` was called.
static EXITING: AtomicBool = AtomicBool::new(false);
static EXIT_CODE: AtomicI32 = AtomicI32::new(0);
/// How often the Lua hook has found a stop requested.
static HOOK_STOPS: AtomicU32 = AtomicU32::new(0);

const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomics: async-signal-safe.
    let _ = SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    LAST_SIGNAL.store(sig, Ordering::SeqCst);
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

pub(super) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP with `on_signal`, except those ignored
/// when lunet started (as `nohup` or a shell's `&` leave them): they stay ignored.
/// Must come before tokio registers its own handlers, which then chain to ours.
pub(super) fn catch_signals() -> Vec<libc::c_int> {
    let mut caught = vec![];
    for sig in STOP_SIGNALS {
        // SAFETY: sigaction on local structs; the handler only touches atomics.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) == 0 {
                caught.push(sig);
            }
        }
    }
    caught
}

/// How the script ended.
pub(super) enum End {
    Finished,
    Failed(mlua::Error),
    Signal(i32),
    Exit(i32),
}

/// A signal or `os.exit` asked the script to stop.
pub(super) fn stop_requested() -> Option<End> {
    if EXITING.load(Ordering::SeqCst) {
        return Some(End::Exit(EXIT_CODE.load(Ordering::SeqCst)));
    }
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(End::Signal(sig)),
    }
}

/// Resolves when a stop is requested: woken by tokio's signal streams (for
/// async waits: exec, sleep, proc:wait), with a poll as a backstop (`os.exit`
/// caught by a `pcall`). A signal a stream saw is a stop even if `on_signal`
/// did not run for it (tokio's handler is chained to ours, but a stop must
/// not rest on that).
pub(super) async fn stopped(streams: &mut [(libc::c_int, Signal)]) -> End {
    loop {
        if let Some(end) = stop_requested() {
            return end;
        }
        let any = async {
            if streams.is_empty() {
                std::future::pending::<()>().await;
            }
            let (_, i, _) = futures::future::select_all(streams.iter_mut().map(|(_, s)| Box::pin(s.recv()))).await;
            streams[i].0
        };
        tokio::select! {
            sig = any => {
                if SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    LAST_SIGNAL.store(sig, Ordering::SeqCst);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Runs `f` to the end whatever signals arrive meanwhile (a rollback must
/// finish); each one is noted on stderr.
pub(super) async fn shielded<F: Future>(f: F) -> F::Output {
    let notes = async {
        let mut seen = SIGNALS.load(Ordering::SeqCst);
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let n = SIGNALS.load(Ordering::SeqCst);
            if n > seen {
                seen = n;
                eprintln!(
                    "lunet: {} received; still rolling back (it finishes regardless)",
                    signal_name(LAST_SIGNAL.load(Ordering::SeqCst))
                );
            }
        }
    };
    tokio::select! {
        r = f => r,
        _ = notes => unreachable!("the notes loop never ends"),
    }
}

/// Busy Lua code must stop too: every 10 000 instructions a hook checks for a
/// requested stop. It first yields (which `pcall` cannot catch: the script's
/// future is then dropped), then, where yielding is impossible (a C boundary),
/// raises an error.
pub(super) fn install_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(10_000), |_, _| {
        if stop_requested().is_none() {
            return Ok(VmState::Continue);
        }
        if HOOK_STOPS.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Ok(VmState::Yield)
        } else {
            Err(mlua::Error::runtime("interrupted"))
        }
    })
}

/// `os.exit` must not end the process under a running rollback-able script: it
/// records the code and raises an error that ends the script. `os.execute` is
/// made asynchronous, so a signal does not wait for the command (C's `system`
/// would also ignore SIGINT meanwhile).
fn install_os(lua: &Lua) -> mlua::Result<()> {
    let os: mlua::Table = lua.globals().get("os")?;
    os.set(
        "exit",
        lua.create_function(|_, (code, _close): (Value, Value)| -> mlua::Result<()> {
            let code: i32 = match code {
                Value::Nil | Value::Boolean(true) => 0,
                Value::Boolean(false) => 1,
                Value::Integer(n) => n as i32,
                Value::Number(n) if n.fract() == 0.0 => n as i32,
                Value::String(s) if s.to_str().ok().and_then(|s| s.trim().parse::<i32>().ok()).is_some() => {
                    s.to_str()?.trim().parse().unwrap_or(1)
                }
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #1 to 'exit' (number or boolean expected, got {})",
                        other.type_name()
                    )))
                }
            };
            EXIT_CODE.store(code, Ordering::SeqCst);
            EXITING.store(true, Ordering::SeqCst);
            Err(mlua::Error::runtime(format!("os.exit({code})")))
        })?,
    )?;
    os.set(
        "execute",
        lua.create_async_function(|lua, cmd: Option<String>| async move {
            let Some(cmd) = cmd else {
                return (true,).into_lua_multi(&lua);
            };
            let status = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .kill_on_drop(true)
                .status()
                .await;
            use std::os::unix::process::ExitStatusExt;
            match status {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(c), _) => ((c == 0).then_some(true), "exit", c).into_lua_multi(&lua),
                    (None, Some(sig)) => (None::<bool>, "signal", sig).into_lua_multi(&lua),
                    _ => (None::<bool>, "exit", -1).into_lua_multi(&lua),
                },
                Err(e) => (None::<bool>, e.to_string(), e.raw_os_error().unwrap_or(0)).into_lua_multi(&lua),
            }
        })?,
    )
}

/// The run's journal on disk: `NAME.journal` and `NAME.json` in the state dir.
pub(crate) struct Instance {
    pub name: String,
}

impl Instance {
    /// `run-lab-4242` (another suffix if that is taken). None when the state
    /// dir cannot be written: the journal is then kept in memory only.
    pub(crate) fn create(instance: &str, origin: &str, verbose: bool) -> Option<(Instance, Journal)> {
        if let Err(e) = state::ensure_dir() {
            if verbose {
                eprintln!("lunet: the journal is kept in memory only: {e:#}");
            }
            return None;
        }
        let base = format!("{instance}-{}", std::process::id());
        for n in 1..100 {
            let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
            if state::meta_path(&name).exists() {
                continue;
            }
            match Journal::create(&state::journal_path(&name)) {
                Ok(j) => {
                    let inst = Instance { name };
                    if let Err(e) = Meta::new(&inst.name, origin, BTreeMap::new()).write() {
                        if verbose {
                            eprintln!("lunet: the journal is kept in memory only: {e:#}");
                        }
                        inst.remove();
                        return None;
                    }
                    return Some((inst, j));
                }
                Err(_) if state::journal_path(&name).exists() => continue,
                Err(e) => {
                    if verbose {
                        eprintln!("lunet: the journal is kept in memory only: {e}");
                    }
                    return None;
                }
            }
        }
        None
    }

    /// The run ended normally and what it made stays.
    pub(crate) fn keep(&self) {
        if let Ok(Some(mut m)) = Meta::read(&self.name) {
            m.ended = Some(state::now_ms() / 1000);
            let _ = m.write();
        }
    }

    pub(crate) fn remove(&self) {
        state::remove(&self.name);
    }
}

/// Runs the chunk in a fresh session, journaled on disk (in memory with
/// `--sandbox`, which vanishes anyway); see the module's doc for the outcomes.
pub fn run(chunk: Chunk, verbose: bool, sandbox: bool, keep_on_error: bool) -> Result<()> {
    let caught = catch_signals();
    let sess = Session::new(verbose, sandbox, false)?;
    let net = &sess.net;
    let inst = match sandbox {
        true => None,
        false => Instance::create(&chunk.instance, &chunk.origin, verbose),
    };
    let inst = match inst {
        Some((inst, journal)) => {
            net.attach_journal(journal);
            Some(inst)
        }
        None => {
            net.attach_journal(Journal::in_memory());
            None
        }
    };
    let result = sess.rt.block_on(run_in(
        &chunk,
        &sess,
        inst.as_ref(),
        &caught,
        (verbose, sandbox, keep_on_error),
    ));
    if let Err(e) = &result {
        if e.downcast_ref::<Exit>().is_none() {
            // A setup error before the script ran: it made nothing.
            if let Some(i) = &inst {
                i.remove();
            }
        }
    }
    result
}

/// Tokio's handlers for the signals we catch (chained to ours): they wake async waits.
pub(super) fn streams(caught: &[libc::c_int]) -> Vec<(libc::c_int, Signal)> {
    caught
        .iter()
        .filter_map(|&sig| Some((sig, signal(SignalKind::from_raw(sig)).ok()?)))
        .collect()
}

async fn run_in(
    chunk: &Chunk,
    sess: &Session,
    inst: Option<&Instance>,
    caught: &[libc::c_int],
    (verbose, sandbox, keep_on_error): (bool, bool, bool),
) -> Result<()> {
    let (lua, net) = (&sess.lua, &sess.net);
    let mut streams = streams(caught);
    install_os(lua).map_err(lerr)?;
    install_hook(lua).map_err(lerr)?;
    let arg = lua.create_table().map_err(lerr)?;
    for (i, a) in chunk.args.iter().enumerate() {
        arg.raw_set(i as i64, a.as_str()).map_err(lerr)?;
    }
    lua.globals().set("arg", arg).map_err(lerr)?;
    let extra: Vec<String> = chunk.args.iter().skip(1).cloned().collect();
    // A panic (a bug) is caught here, so that what the script made is still rolled back.
    super::PANIC_CAUGHT.store(true, std::sync::atomic::Ordering::Relaxed);
    let script = async {
        let call = lua
            .load(chunk.source.as_slice())
            .set_name(format!("@{}", chunk.name))
            .call_async::<Value>(mlua::Variadic::from_iter(extra));
        match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(call)).await {
            Ok(r) => r,
            Err(_) => {
                let msg = super::PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err(mlua::Error::runtime(
                    msg.unwrap_or_else(|| "internal error (please report)".into()),
                ))
            }
        }
    };
    let end = tokio::select! {
        biased;
        r = script => match stop_requested() {
            // os.exit or a signal ended the script (or came right at its end).
            Some(end) => end,
            None => match r {
                // A scenario file run as a script does nothing: say how to use it.
                Ok(Value::Table(t)) if luabind::scenario::is_scenario(&t) => {
                    let name: String = t.get("name").unwrap_or_default();
                    End::Failed(mlua::Error::runtime(format!(
                        "{} is the scenario {name}: bring it up with `lunet up {}`",
                        chunk.name, chunk.name
                    )))
                }
                Ok(_) => End::Finished,
                Err(e) => End::Failed(e),
            },
        },
        end = stopped(&mut streams) => end,
    };
    // Processes the script spawned end with it (all of them in a sandbox, which vanishes).
    shielded(luabind::end_owned(lua, sandbox)).await;
    sess.spinner.clear();
    let made = net.with_journal(|j| Ok(in_effect(j))).ok().flatten().unwrap_or(false);
    let name = inst.map(|i| i.name.as_str());
    let down_hint = |n: Option<&str>| match n {
        Some(n) => format!(" (`lunet down {n}` undoes it)"),
        None => String::new(),
    };
    let (code, mut msg) = match end {
        End::Finished | End::Exit(0) => {
            if let Some(i) = inst {
                if made {
                    i.keep();
                    if verbose {
                        eprintln!(
                            "lunet: what the script made stays{}; `lunet status {}` lists it",
                            down_hint(name),
                            i.name
                        );
                    }
                } else {
                    i.remove();
                }
            }
            return Ok(());
        }
        End::Failed(e) => {
            // The long-standing form: the error, then what became of the changes.
            let mut msg = luabind::describe(&e);
            if keep_on_error {
                msg += &format!(
                    "\n(--keep-on-error: what the script made is left in place{})",
                    down_hint(name)
                );
                keep_or_remove(inst, made);
            } else if !sandbox {
                let undone = shielded(undo_all(net)).await;
                if made && undone.ok() {
                    msg += "\n(everything the script made was rolled back; --keep-on-error keeps it)";
                } else if !undone.ok() {
                    msg += "\n(the rollback did not finish";
                    msg += &rollback_outcome(inst, &undone, ")");
                }
                if undone.ok() {
                    keep_or_remove(inst, false);
                }
            }
            return Err(Exit {
                code: 1,
                message: Some(msg),
            }
            .into());
        }
        End::Signal(sig) => (128 + sig, format!("interrupted by {}", signal_name(sig))),
        End::Exit(code) => (code, format!("the script called os.exit({code})")),
    };
    let by_signal = code > 128 && msg.starts_with("interrupted");
    if sandbox {
        msg += "; --sandbox: everything it made vanishes with the sandbox";
    } else if !made {
        msg += "; the script had made nothing to undo";
        keep_or_remove(inst, false);
    } else if keep_on_error {
        msg += &format!(
            "; --keep-on-error: what the script made is left in place{}",
            down_hint(name)
        );
        keep_or_remove(inst, true);
    } else {
        let undone = shielded(undo_all(net)).await;
        if undone.ok() {
            msg += "; everything the script made was rolled back";
            keep_or_remove(inst, false);
        } else {
            msg += "; the rollback did not finish";
            msg += &rollback_outcome(inst, &undone, "");
        }
    }
    // A script that chose its exit status and changed nothing needs no comment.
    let quiet = !by_signal && !made;
    Err(Exit {
        code,
        message: (!quiet).then_some(msg),
    }
    .into())
}

/// Whether anything the script made is still in effect. Processes it spawned
/// that have ended are marked undone first; steps with nothing to undo (a
/// deletion) do not count.
pub(crate) fn in_effect(j: &mut Journal) -> bool {
    let ended: Vec<u64> = j
        .undo_steps()
        .iter()
        .filter(|s| {
            !s.ops.is_empty()
                && s.ops.iter().all(|op| match op {
                    Op::Kill { pid, start, tag } => !process::any_alive(&[process::KillTarget {
                        pid: *pid,
                        start: *start,
                        tag: tag.clone(),
                    }]),
                    _ => false,
                })
        })
        .map(|s| s.seq)
        .collect();
    for seq in ended {
        let _ = j.undone(seq);
    }
    j.undo_steps().iter().any(|s| !s.ops.is_empty())
}

/// A rollback that did not finish: the state stays for `lunet down`, which retries what is left.
fn rollback_outcome(inst: Option<&Instance>, undone: &super::session::Undone, close: &str) -> String {
    let mut msg = match inst {
        Some(i) => format!(" (`lunet down {}` retries what is left){close}", i.name),
        None => close.to_string(),
    };
    if let Some(i) = inst {
        i.keep();
    }
    for l in undone.lines() {
        msg += &format!("\n{l}");
    }
    msg
}

/// The state stays if the script left something in place, and goes otherwise.
fn keep_or_remove(inst: Option<&Instance>, made: bool) {
    if let Some(i) = inst {
        if made {
            i.keep();
        } else {
            i.remove();
        }
    }
}
