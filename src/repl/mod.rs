//! The REPL: an interactive Lua shell for building and inspecting namespaces
//! step by step. Everything made goes through the session's journal, so
//! `.undo` and `.reset` work; `--sandbox` makes it all vanish at exit.

mod complete;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, Result};
use mlua::{Function, Lua, MultiValue, Value};
use rustyline::error::ReadlineError;
use rustyline::{CompletionType, Config, Editor};

use crate::cli::script::Instance;
use crate::cli::session::{lerr, Session, INTERRUPTED};
use crate::cli::Global;
use crate::core::journal::{Journal, State};
use crate::luabind::{self, docs};
use complete::LuaHelper;

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Resolves when Ctrl-C is pressed while a call runs.
async fn interrupted() {
    loop {
        if INTERRUPTED.swap(false, Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

const PRELUDE: &str = r#"
local methods = ...
ns = net.host
-- Bare calls act on the current namespace (`.ns NAME` switches it): links(), veth(…), …
for _, m in ipairs(methods) do
  if m ~= "delete" and _G[m] == nil then
    _G[m] = function(...) return ns[m](ns, ...) end
  end
end
"#;

const HELP: &str = "\
Commands:
  .ns [NAME]   switch the namespace bare calls act on (links(), veth(…), …); `host` for lunet's own
  .undo        undo the last change
  .reset       undo every change of this session
  .changes     list the changes this session made
  .help        this text;  help(net.ns.add) or help(\"ns:veth\") for one function
  .quit        leave (Ctrl-D too)
Type Lua: expressions print their value (lists of links/addresses/routes as tables).
A line starting with `ip ` is an ip command acting in the current namespace (`ip link add v0 type veth
peer name v1`, `ip -n left addr`): journaled like the Lua calls, so .undo takes it back.
Tab completes names, methods after `obj:`, namespaces in net.ns.get(\"…, interfaces in ns:link(\"…,
and ip lines (keywords, namespaces, interfaces).";

fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let dir = base.join("lunet");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

fn red(s: &str) -> String {
    if std::io::stderr().is_terminal() {
        format!("\x1b[31m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

enum Compiled {
    Ready(Function),
    Incomplete,
    Error(String),
}

/// An expression (`return …`) if it parses as one, else a statement; `<eof>` errors mean "keep typing".
fn compile(lua: &Lua, src: &str) -> Compiled {
    let expr = lua.load(format!("return {src}")).set_name("=stdin").into_function();
    let expr_incomplete = match expr {
        Ok(f) => return Compiled::Ready(f),
        Err(mlua::Error::SyntaxError { incomplete_input, .. }) => incomplete_input,
        Err(_) => false,
    };
    match lua.load(src).set_name("=stdin").into_function() {
        Ok(f) => Compiled::Ready(f),
        Err(mlua::Error::SyntaxError {
            incomplete_input: true, ..
        }) => Compiled::Incomplete,
        Err(_) if expr_incomplete => Compiled::Incomplete,
        Err(e) => Compiled::Error(luabind::describe(&e)),
    }
}

fn help_text(lua: &Lua, v: Value) -> mlua::Result<String> {
    let name = match &v {
        Value::Nil => return Ok(HELP.to_string()),
        Value::String(s) => s.to_str()?.to_string(),
        Value::Function(f) => {
            let registry: mlua::Table = lua.named_registry_value("lunet.docs")?;
            match registry.get::<Option<String>>(f.clone())? {
                Some(n) => n,
                None => return Ok("no help for this function".into()),
            }
        }
        other => return Ok(format!("no help for a {}", other.type_name())),
    };
    let found = docs::find(&name).or_else(|| {
        ["ns:", "link:", "proc:", "s:", "net.ns.", "net."]
            .iter()
            .find_map(|p| docs::find(&format!("{p}{name}")))
    });
    Ok(match found {
        Some(d) => format!("{}\n  {}", d.sig, d.doc),
        None => format!("no help for {name:?} (try .help)"),
    })
}

/// Maps function values to their doc names, so `help(net.ns.add)` works.
fn register_docs(lua: &Lua) -> mlua::Result<()> {
    let registry = lua.create_table()?;
    for docs::Entry { name, .. } in docs::DOCS.iter().filter(|d| d.is_function()) {
        let expr = match name.split_once(':') {
            Some(("ns", m)) => format!("net.host.{m}"),
            Some(_) => continue,
            None => name.to_string(),
        };
        if let Ok(Value::Function(f)) = lua.load(format!("return {expr}")).eval::<Value>() {
            registry.set(f, *name)?;
        }
    }
    lua.set_named_registry_value("lunet.docs", registry)?;
    lua.globals().set(
        "help",
        lua.create_function(|lua, v: Value| {
            println!("{}", help_text(lua, v)?);
            Ok(())
        })?,
    )
}

/// `ip …` typed at the prompt is an ip command (through `ns:ip`, in the current namespace).
fn is_ip_line(line: &str) -> bool {
    let l = line.trim_start();
    l == "ip" || l.starts_with("ip ")
}

/// The Lua that runs an ip line: a program's output (`ip addr show`) is printed as is.
fn ip_call(line: &str) -> String {
    format!(
        "local r = table.pack(ns:ip({})) \
         if type(r[1]) == 'table' and r[1].stdout then io.write(r[1].stdout) io.stderr:write(r[1].stderr) return end \
         return table.unpack(r, 1, r.n)",
        crate::cli::convert::lua_str(line)
    )
}

struct Repl {
    sess: Session,
    current: String,
    pretty: Function,
}

impl Repl {
    fn prompt(&self) -> String {
        format!("lunet[{}]> ", self.current)
    }

    fn show(&self, values: MultiValue) -> mlua::Result<()> {
        let vals: Vec<Value> = values.into_vec();
        if vals.is_empty() {
            return Ok(());
        }
        let scalar = |v: &Value| !matches!(v, Value::Table(_));
        if vals.iter().all(scalar) {
            let parts: Vec<String> = vals
                .iter()
                .map(|v| self.pretty.call::<String>(v.clone()))
                .collect::<mlua::Result<_>>()?;
            println!("{}", parts.join("\t"));
        } else {
            for v in vals {
                println!("{}", self.pretty.call::<String>(v)?);
            }
        }
        Ok(())
    }

    fn run(&self, f: Function) {
        // The line editor has its own SIGINT handler: ours is in place only while code runs.
        // SAFETY: the handler only stores to an atomic; the previous one is put back after.
        let previous = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigint as *const () as usize;
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &sa, &mut old);
            old
        };
        INTERRUPTED.store(false, Ordering::Relaxed);
        let res = self.sess.rt.block_on(async {
            // Our own thread, hooked so that Ctrl-C stops even a busy loop.
            let th = self.sess.lua.create_thread(f)?;
            th.set_hook(mlua::HookTriggers::new().every_nth_instruction(10_000), |_, _| {
                if INTERRUPTED.swap(false, Ordering::Relaxed) {
                    Err(mlua::Error::runtime("interrupted"))
                } else {
                    Ok(mlua::VmState::Continue)
                }
            })?;
            let call = th.into_async::<MultiValue>(())?;
            Ok::<_, mlua::Error>(tokio::select! {
                r = call => Some(r),
                _ = interrupted() => None,
            })
        });
        let res = match res {
            Ok(r) => r,
            Err(e) => Some(Err(e)),
        };
        match res {
            None => {
                // The abandoned call's future lives in its Lua thread until collected:
                // collect now, so what it was running (an exec's process tree) ends now.
                let _ = self.sess.lua.gc_collect();
                eprintln!("{}", red("interrupted"))
            }
            Some(Ok(v)) => {
                if let Err(e) = self.show(v) {
                    eprintln!("{}", red(&luabind::describe(&e)));
                }
            }
            Some(Err(e)) => {
                eprintln!("{}", red(&luabind::describe(&e)));
                for frame in luabind::user_frames(&e) {
                    eprintln!("{}", red(&format!("    {frame}")));
                }
            }
        }
        INTERRUPTED.store(false, Ordering::Relaxed);
        // SAFETY: restoring the handler saved above.
        unsafe { libc::sigaction(libc::SIGINT, &previous, std::ptr::null_mut()) };
    }

    fn changes(&self) -> Vec<String> {
        self.sess
            .net
            .with_journal(|j| {
                Ok(j.entries()
                    .iter()
                    .filter(|e| e.state == State::Done)
                    .map(|e| e.op.to_string())
                    .collect())
            })
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn command(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        match words.next().unwrap_or("") {
            ".quit" | ".exit" | ".q" => return false,
            ".help" | ".h" => println!("{HELP}"),
            ".ns" => match words.next() {
                None => println!("{}", self.current),
                Some(name) => {
                    let expr = if name == "host" {
                        "net.host".to_string()
                    } else {
                        format!("net.ns.get({name:?})")
                    };
                    match compile(&self.sess.lua, &format!("ns = {expr}")) {
                        Compiled::Ready(f) => {
                            let ok = self.sess.rt.block_on(f.call_async::<()>(()));
                            match ok {
                                Ok(()) => self.current = name.to_string(),
                                Err(e) => eprintln!("{}", red(&luabind::describe(&e))),
                            }
                        }
                        _ => eprintln!("{}", red("bad namespace name")),
                    }
                }
            },
            ".undo" => match self.sess.rt.block_on(self.sess.net.undo_last()) {
                Ok(Some(op)) => println!("undone: {op}"),
                Ok(None) => println!("nothing to undo"),
                Err(e) => eprintln!("{}", red(&e.to_string())),
            },
            ".reset" => {
                let n = self.changes().len();
                let errors = self.sess.rt.block_on(self.sess.net.rollback()).errors;
                for e in &errors {
                    eprintln!("{}", red(&e.to_string()));
                }
                println!("undid {n} changes");
                if !crate::core::netns::exists(&self.current) && self.current != "host" {
                    self.current = "host".into();
                    let _ = self.sess.lua.load("ns = net.host").exec();
                }
            }
            ".changes" => {
                let c = self.changes();
                if c.is_empty() {
                    println!("no changes");
                }
                for l in c {
                    println!("  {l}");
                }
            }
            other => eprintln!("{}", red(&format!("unknown command {other} (.help lists them)"))),
        }
        true
    }
}

/// The origin of a REPL's instance (`repl-PID`).
pub const ORIGIN: &str = "run:repl";

pub fn run(g: &Global) -> Result<()> {
    let sess = Session::new(g.verbose, g.sandbox, false)?;
    // On disk, as the instance `repl-PID` (like a run): what the session made can be undone
    // by `lunet down repl-PID` after `.quit` or a crash. In a sandbox it vanishes anyway.
    // Every change gets its own inverse, so `.undo` can take back any single one.
    let inst = match g.sandbox {
        true => None,
        false => Instance::create("repl", ORIGIN, g.verbose),
    };
    let inst = match inst {
        Some((inst, journal)) => {
            sess.net.attach_journal(journal);
            Some(inst)
        }
        None => {
            sess.net.attach_journal(Journal::in_memory());
            None
        }
    };
    let lua = sess.lua.clone();
    let methods: Vec<&str> = docs::methods("ns");
    lua.load(PRELUDE)
        .set_name("=[repl]")
        .call::<()>(methods)
        .map_err(lerr)?;
    register_docs(&lua).map_err(lerr)?;
    let pretty: Function = lua.load("return require('lunet.pretty').format").eval().map_err(lerr)?;
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut rl: Editor<LuaHelper, rustyline::history::DefaultHistory> =
        Editor::with_config(config).map_err(|e| anyhow!("cannot start the line editor: {e}"))?;
    rl.set_helper(Some(LuaHelper {
        lua: lua.clone(),
        rt: sess.rt.clone(),
        net: sess.net.clone(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "lunet {} — Lua with network namespaces. .help for commands{}",
        env!("CARGO_PKG_VERSION"),
        if g.sandbox {
            "; --sandbox: everything vanishes at exit"
        } else {
            ""
        }
    );
    let mut repl = Repl {
        sess,
        current: "host".into(),
        pretty,
    };
    let mut buf = String::new();
    let mut failed = None;
    loop {
        let prompt = if buf.is_empty() {
            repl.prompt()
        } else {
            format!("{}> ", " ".repeat(repl.prompt().len() - 2))
        };
        match rl.readline(&prompt) {
            Ok(line) => {
                if buf.is_empty() && line.trim_start().starts_with('.') {
                    let _ = rl.add_history_entry(line.trim());
                    if !repl.command(line.trim()) {
                        break;
                    }
                    continue;
                }
                if buf.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if buf.is_empty() && is_ip_line(&line) {
                    let _ = rl.add_history_entry(line.trim());
                    match compile(&lua, &ip_call(line.trim())) {
                        Compiled::Ready(f) => repl.run(f),
                        _ => eprintln!("{}", red("internal error: the ip line did not compile")),
                    }
                    if let Some(h) = &history {
                        let _ = rl.save_history(h);
                    }
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                match compile(&lua, &buf) {
                    Compiled::Incomplete => continue,
                    Compiled::Error(e) => eprintln!("{}", red(&e)),
                    Compiled::Ready(f) => {
                        let _ = rl.add_history_entry(buf.trim_end());
                        repl.run(f);
                    }
                }
                buf.clear();
                if let Some(h) = &history {
                    let _ = rl.save_history(h);
                }
            }
            Err(ReadlineError::Interrupted) => {
                if buf.is_empty() {
                    println!("(Ctrl-D or .quit to leave)");
                }
                buf.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                failed = Some(anyhow!("line editor: {e}"));
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    leave(&repl, inst.as_ref());
    failed.map_or(Ok(()), Err)
}

/// At the end of a session: what it made stays, and how to undo it is said; a session
/// that left nothing in effect leaves no instance.
fn leave(repl: &Repl, inst: Option<&Instance>) {
    let sess = &repl.sess;
    if sess.sandbox {
        sess.rt.block_on(luabind::end_owned(&sess.lua, true));
        return;
    }
    // Processes that ended by themselves count as undone.
    let in_effect = sess
        .net
        .with_journal(|j| Ok(crate::cli::script::in_effect(j)))
        .ok()
        .flatten()
        .unwrap_or(false);
    let made = repl.changes();
    if !in_effect {
        if let Some(i) = inst {
            i.remove();
        }
        return;
    }
    println!("This session's changes stay in place ({}):", made.len());
    for c in &made {
        println!("  {c}");
    }
    match inst {
        Some(i) => {
            i.keep();
            println!(
                "`lunet down {}` undoes them (`lunet status {}` lists them)",
                i.name, i.name
            );
        }
        None => println!("(the state dir could not be written: lunet cannot undo them later)"),
    }
}
