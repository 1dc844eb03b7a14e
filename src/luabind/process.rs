//! Processes from Lua: `ns:exec`, `ns:sh`, `ns:spawn` → `Proc`, `ns:ping`,
//! `ns:hosts`, `ns:resolv`. Spawned processes belong to the script that made
//! them and are ended when it finishes, unless spawned with `keep = true`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::args::{fail, type_name, Args, Named, Opts};
use super::net;
use crate::core::process::{self, signal_number, ExecResult, ExecSpec, Isolation, Output, Proc};
use crate::core::{etcfiles, words, NsId};

/// Every process spawned from this Lua state, and whether the user asked to keep it.
#[derive(Default)]
pub struct Owned(RefCell<Vec<(Rc<Proc>, bool)>>);

/// Ends every spawned process not marked `keep` (all of them when `all`).
pub async fn end_owned(lua: &Lua, all: bool) {
    let procs: Vec<(Rc<Proc>, bool)> = match lua.app_data_ref::<Owned>() {
        Some(o) => o.0.borrow_mut().drain(..).collect(),
        None => return,
    };
    let ending: Vec<&Proc> = procs
        .iter()
        .filter(|(_, keep)| all || !keep)
        .map(|(p, _)| &**p)
        .collect();
    process::terminate_all(&ending, Duration::from_secs(1)).await;
}

const EXEC_KEYS: &[&str] = &[
    "check", "stdin", "env", "cwd", "timeout", "pid", "uts", "ipc", "mount", "tty",
];
const SPAWN_KEYS: &[&str] = &[
    "env", "cwd", "log", "truncate", "keep", "pid", "uts", "ipc", "mount", "tty",
];

/// `cmd`: an array of words, or a string split like a shell splits words.
fn argv(f: &str, v: Value) -> mlua::Result<Vec<String>> {
    let words = match v {
        Value::String(s) => words::split(&s.to_str()?).named(f)?,
        Value::Table(t) => {
            let mut out = vec![];
            for w in t.sequence_values::<Value>() {
                match w? {
                    Value::String(s) => out.push(s.to_str()?.to_string()),
                    Value::Integer(n) => out.push(n.to_string()),
                    Value::Number(n) => out.push(n.to_string()),
                    other => {
                        return Err(fail(
                            f,
                            format!("command words must be strings, got {}", type_name(&other)),
                        ))
                    }
                }
            }
            out
        }
        other => {
            return Err(fail(
                f,
                format!(
                    "argument #1 (cmd) must be a string or an array, got {}",
                    type_name(&other)
                ),
            ))
        }
    };
    if words.is_empty() {
        return Err(fail(f, "empty command"));
    }
    Ok(words)
}

fn spec(f: &str, argv: Vec<String>, o: &Opts) -> mlua::Result<ExecSpec> {
    let mut env = vec![];
    match o.value("env")? {
        Value::Nil => {}
        Value::Table(t) => {
            for pair in t.pairs::<String, Value>() {
                let (k, v) = pair?;
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    return Err(fail(
                        f,
                        format!("bad environment variable name {k:?}: must be non-empty, without '=' or NUL"),
                    ));
                }
                let v = match v {
                    Value::String(s) => s.to_str()?.to_string(),
                    Value::Integer(n) => n.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(fail(
                            f,
                            format!("env {k:?} must be a string, got {}", type_name(&other)),
                        ))
                    }
                };
                if v.contains('\0') {
                    return Err(fail(
                        f,
                        format!("environment variable {k:?}: its value contains a NUL byte"),
                    ));
                }
                env.push((k, v));
            }
        }
        other => {
            return Err(fail(
                f,
                format!("option \"env\" must be a table, got {}", type_name(&other)),
            ))
        }
    }
    let timeout = o.seconds("timeout", true)?;
    let uts = match o.value("uts")? {
        Value::Nil | Value::Boolean(false) => None,
        Value::String(s) => Some(s.to_str()?.to_string()),
        other => {
            return Err(fail(
                f,
                format!("option \"uts\" must be a hostname, got {}", type_name(&other)),
            ))
        }
    };
    Ok(ExecSpec {
        argv,
        env,
        cwd: o.string("cwd")?.map(Into::into),
        stdin: o.string("stdin")?.map(String::into_bytes),
        timeout,
        iso: Isolation {
            pid: o.bool("pid")?.unwrap_or(false),
            uts,
            ipc: o.bool("ipc")?.unwrap_or(false),
            mount: o.bool("mount")?.unwrap_or(false),
        },
        tty: o.bool("tty")?.unwrap_or(false),
    })
}

fn result_table(lua: &Lua, r: &ExecResult) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("code", r.code)?;
    t.set("signal", r.signal)?;
    t.set("stdout", lua.create_string(&r.stdout)?)?;
    t.set("stderr", lua.create_string(&r.stderr)?)?;
    t.set("timed_out", r.timed_out)?;
    Ok(t)
}

fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    match s.lines().last() {
        Some(l) if !l.is_empty() => format!(": {l}"),
        _ => String::new(),
    }
}

pub async fn exec(lua: &Lua, f: &'static str, ns: &NsId, argv: Vec<String>, o: &Opts) -> mlua::Result<Table> {
    let spec = spec(f, argv, o)?;
    let check = o.bool("check")?.unwrap_or(true);
    let r = net(lua).exec(ns, &spec).await.named(f)?;
    if check {
        let cmd = spec.command_line();
        if r.timed_out {
            return Err(fail(
                f,
                format!(
                    "`{cmd}` timed out after {}s and was killed",
                    spec.timeout.unwrap_or_default().as_secs_f64()
                ),
            ));
        }
        if let Some(sig) = r.signal {
            return Err(fail(
                f,
                format!("`{cmd}` was killed by signal {sig}{}", first_line(&r.stderr)),
            ));
        }
        if r.code != Some(0) {
            return Err(fail(
                f,
                format!(
                    "`{cmd}` exited with code {}{}",
                    r.code.unwrap_or(-1),
                    first_line(&r.stderr)
                ),
            ));
        }
    }
    result_table(lua, &r)
}

pub async fn ns_exec(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<Table> {
    let a = Args::new("ns:exec", args);
    let argv = argv(a.f, a.get(1))?;
    let o = a.opts(2, EXEC_KEYS)?;
    exec(&lua, a.f, &ns, argv, &o).await
}

pub async fn ns_sh(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<Table> {
    let a = Args::new("ns:sh", args);
    let script = a.string(1, "script")?;
    let o = a.opts(2, EXEC_KEYS)?;
    exec(&lua, a.f, &ns, vec!["/bin/sh".into(), "-c".into(), script], &o).await
}

pub fn ns_spawn(lua: &Lua, ns: NsId, args: MultiValue) -> mlua::Result<LuaProc> {
    let a = Args::new("ns:spawn", args);
    let argv = argv(a.f, a.get(1))?;
    let o = a.opts(2, SPAWN_KEYS)?;
    let spec = spec(a.f, argv, &o)?;
    if spec.tty && !o.value("log")?.is_nil() {
        return Err(fail(
            a.f,
            "options \"tty\" and \"log\" exclude each other (output goes to the terminal, or to the log)",
        ));
    }
    let truncate = o.bool("truncate")?.unwrap_or(false);
    let output = match o.string("log")? {
        Some(p) if truncate => Output::Truncate(p.into()),
        Some(p) => Output::File(p.into()),
        None if truncate => return Err(fail(a.f, "option \"truncate\" empties the log: give \"log\" too")),
        None => Output::Capture,
    };
    let keep = o.bool("keep")?.unwrap_or(false);
    let p = Rc::new(net(lua).spawn(&ns, &spec, output).named(a.f)?);
    if lua.app_data_ref::<Owned>().is_none() {
        lua.set_app_data(Owned::default());
    }
    if let Some(owned) = lua.app_data_ref::<Owned>() {
        owned.0.borrow_mut().push((p.clone(), keep));
    }
    Ok(LuaProc(p))
}

/// `ns:ping(addr, {count=1, timeout=1})` → ok, rtt_ms
pub async fn ns_ping(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<(bool, Option<f64>)> {
    let a = Args::new("ns:ping", args);
    let addr = a.string(1, "addr")?;
    crate::core::names::parse_ip("address", &addr).named(a.f)?;
    let o = a.opts(2, &["count", "timeout"])?;
    let count = o.int("count", 1, 1000)?.unwrap_or(1);
    let wait = o.int("timeout", 1, 3600)?.unwrap_or(1);
    let spec = ExecSpec {
        argv: vec![
            "ping".into(),
            "-n".into(),
            "-c".into(),
            count.to_string(),
            "-W".into(),
            wait.to_string(),
            addr,
        ],
        ..Default::default()
    };
    let net = net(&lua);
    let r = net.exec(&ns, &spec).await.named(a.f)?;
    if r.code != Some(0) {
        return Ok((false, None));
    }
    if net.is_plan() {
        return Ok((true, None));
    }
    let out = String::from_utf8_lossy(&r.stdout);
    let rtt = out
        .split("time=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok());
    Ok((true, rtt))
}

fn named_ns(f: &str, ns: &NsId) -> mlua::Result<String> {
    match ns {
        NsId::Named(n) => Ok(n.clone()),
        NsId::Host => Err(fail(
            f,
            "the host namespace has no /etc/netns files (edit /etc directly)",
        )),
    }
}

/// A string or a list of strings.
fn words_of(f: &str, what: &str, v: Value) -> mlua::Result<Vec<String>> {
    match v {
        Value::Nil => Ok(vec![]),
        Value::String(s) => Ok(vec![s.to_str()?.to_string()]),
        Value::Table(t) => t.sequence_values::<String>().collect(),
        other => Err(fail(
            f,
            format!("{what} must be a string or a list, got {}", type_name(&other)),
        )),
    }
}

/// `ns:hosts{["1.2.3.4"] = "mytest" or {"a", "b"}}` → /etc/netns/NAME/hosts
pub async fn ns_hosts(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:hosts", args);
    let name = named_ns(a.f, &ns)?;
    let mut entries = vec![];
    for pair in a.table(1, "map")?.pairs::<String, Value>() {
        let (addr, names) = pair?;
        let names = words_of(a.f, &format!("names for {addr}"), names)?;
        entries.push((addr, names));
    }
    let op = etcfiles::hosts(&name, &entries).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `ns:resolv{nameserver = "8.8.1.1" or {…}, search = "x" or {…}, options = …}` → resolv.conf
pub async fn ns_resolv(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:resolv", args);
    let name = named_ns(a.f, &ns)?;
    let o = Opts::new(a.f, a.table(1, "conf")?, &["nameserver", "search", "options"])?;
    let list = |k: &str| words_of(a.f, &format!("option {k:?}"), o.value(k)?);
    let op = etcfiles::resolv(&name, &list("nameserver")?, &list("search")?, &list("options")?).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `ns:etc(path, content, {mode = "600"})` → /etc/netns/NAME/PATH, seen as
/// /etc/PATH by programs run in the namespace; undone like any change.
pub async fn ns_etc(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:etc", args);
    let name = named_ns(a.f, &ns)?;
    let path = a.string(1, "path")?;
    let content = match a.get(2) {
        Value::String(s) => String::from_utf8(s.as_bytes().to_vec())
            .map_err(|_| fail(a.f, "argument #2 (content) must be text (UTF-8)"))?,
        other => {
            return Err(fail(
                a.f,
                format!("argument #2 (content) must be a string, got {}", type_name(&other)),
            ))
        }
    };
    let o = a.opts(3, &["mode"])?;
    let mode = match o.string("mode")? {
        None => None,
        Some(m) => Some(
            u32::from_str_radix(&m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| fail(a.f, format!("bad mode {m:?}: expected octal like \"600\"")))?,
        ),
    };
    let op = etcfiles::any(&name, &path, content, mode).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `Proc`: a process started by `ns:spawn`.
pub struct LuaProc(Rc<Proc>);

impl UserData for LuaProc {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("pid", |_, this| Ok(this.0.pid));
        fields.add_field_method_get("init_pid", |_, this| Ok(this.0.init_pid()));
        fields.add_field_method_get("log", |_, this| {
            Ok(this.0.log_path.as_ref().map(|p| p.display().to_string()))
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            super::args::wrong_object(lua, "proc", format!("Proc({})", this.0.pid), key)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let p = &this.0;
            let state = if p.alive() { "running" } else { "exited" };
            Ok(format!(
                "Proc({} in {}: {}, {state})",
                p.pid,
                p.ns,
                words::quote(&p.argv.join(" "))
            ))
        });
        m.add_method("alive", |_, this, ()| Ok(this.0.alive()));
        m.add_async_method("wait", |lua, this, args: MultiValue| async move {
            let a = Args::new("proc:wait", args);
            let timeout = super::values::seconds(a.f, "argument #1 (timeout)", &a.get(1), false)?;
            match this.0.wait(timeout).await.named(a.f)? {
                None => Ok(Value::Nil),
                Some((code, signal)) => {
                    let t = lua.create_table()?;
                    t.set("code", code)?;
                    t.set("signal", signal)?;
                    Ok(Value::Table(t))
                }
            }
        });
        m.add_method("kill", |_, this, args: MultiValue| {
            let a = Args::new("proc:kill", args);
            let sig = match a.get(1) {
                Value::Nil => libc::SIGTERM,
                Value::Integer(n) => {
                    signal_number(&n.to_string()).ok_or_else(|| fail(a.f, format!("bad signal {n}")))?
                }
                Value::String(s) => {
                    let s = s.to_str()?.to_string();
                    signal_number(&s.to_uppercase()).ok_or_else(|| fail(a.f, format!("bad signal {s:?}")))?
                }
                other => {
                    return Err(fail(
                        a.f,
                        format!("signal must be a name or number, got {}", type_name(&other)),
                    ))
                }
            };
            this.0.signal(sig).named(a.f)
        });
        m.add_method("output", |lua, this, ()| {
            lua.create_string(this.0.output().named("proc:output")?)
        });
    }
}

/// `ns:tcp_connect(addr, port, {timeout = 2})` → ok, err
pub async fn ns_tcp_connect(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<(bool, Option<String>)> {
    let a = Args::new("ns:tcp_connect", args);
    let ip = crate::core::names::parse_ip("address", &a.string(1, "addr")?).named(a.f)?;
    let port = a.integer(2, "port")?;
    if !(1..=65535).contains(&port) {
        return Err(fail(a.f, format!("port must be 1..65535, got {port}")));
    }
    let o = a.opts(3, &["timeout"])?;
    let timeout = o.seconds("timeout", true)?.unwrap_or(Duration::from_secs(2));
    let addr = std::net::SocketAddr::new(ip, port as u16);
    match net(&lua).tcp_connect(&ns, addr, timeout).await {
        Ok(()) => Ok((true, None)),
        Err(e) => Ok((false, Some(e.to_string()))),
    }
}

/// Seconds as a `Duration`: a non-negative number.
fn seconds(f: &str, what: &str, v: &Value) -> mlua::Result<Duration> {
    let s = match v {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        other => {
            return Err(fail(
                f,
                format!("{what} must be a number of seconds, got {}", type_name(other)),
            ))
        }
    };
    if !(0.0..=1e9).contains(&s) {
        return Err(fail(f, format!("{what} must be 0 or more seconds, got {s}")));
    }
    Ok(Duration::from_secs_f64(s))
}

/// `net.sleep(seconds)`: an async wait (a signal or Ctrl-C ends it like any wait).
pub async fn sleep(_lua: Lua, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("net.sleep", args);
    let d = seconds(a.f, "argument #1 (seconds)", &a.get(1))?;
    tokio::time::sleep(d).await;
    Ok(())
}

/// `ns:wait_tcp(addr, port, {timeout = 5})` → ok, err: connects again and again (every
/// 0.1 s) from inside the namespace until it works or the time is up.
pub async fn ns_wait_tcp(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<(bool, Option<String>)> {
    let a = Args::new("ns:wait_tcp", args);
    let ip = crate::core::names::parse_ip("address", &a.string(1, "addr")?).named(a.f)?;
    let port = a.integer(2, "port")?;
    if !(1..=65535).contains(&port) {
        return Err(fail(a.f, format!("port must be 1..65535, got {port}")));
    }
    let o = a.opts(3, &["timeout"])?;
    let timeout = match o.value("timeout")? {
        Value::Nil => Duration::from_secs(5),
        v => seconds(a.f, "option \"timeout\"", &v)?,
    };
    let addr = std::net::SocketAddr::new(ip, port as u16);
    let net = net(&lua);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let err = match net
            .tcp_connect(
                &ns,
                addr,
                left.clamp(Duration::from_millis(100), Duration::from_secs(1)),
            )
            .await
        {
            Ok(()) => return Ok((true, None)),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() + Duration::from_millis(100) >= deadline {
            return Ok((false, Some(format!("{err} (for {timeout:?})"))));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `net.ns.each_exec(cmd, opts)` → `{[name] = result}`: `ip -all netns exec`, one
/// namespace after the other; `check` is false unless asked for.
pub async fn each_exec(lua: Lua, args: MultiValue) -> mlua::Result<Table> {
    let a = Args::new("net.ns.each_exec", args);
    let argv = argv(a.f, a.get(1))?;
    let opts = match a.get(2) {
        Value::Nil => lua.create_table()?,
        Value::Table(t) => t.clone(),
        other => {
            return Err(fail(
                a.f,
                format!("argument #2 (opts) must be a table, got {}", type_name(&other)),
            ))
        }
    };
    if opts.raw_get::<Value>("check")?.is_nil() {
        opts.raw_set("check", false)?;
    }
    let o = Opts::new(a.f, opts, EXEC_KEYS)?;
    let out = lua.create_table()?;
    for name in crate::core::netns::list().named(a.f)? {
        let ns = NsId::named(&name).named(a.f)?;
        let r = exec(&lua, a.f, &ns, argv.clone(), &o).await?;
        out.set(name, r)?;
    }
    Ok(out)
}
