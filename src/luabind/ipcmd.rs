//! `net.ip(text, opts?)` and `ns:ip(text, opts?)`: `ip` command lines — or a
//! whole ip script — through the core's parser (`core::ipcmd`), so they make
//! the same journaled changes as the Lua calls. A single command returns
//! what the equivalent call returns: a `Link` (two for a veth), a `Proc` for
//! `… &`, `ns:exec`'s result for a program, nothing otherwise.

use mlua::{IntoLuaMulti, Lua, MultiValue, Value};

use super::args::{fail, lerr, Args};
use super::link::Link;
use super::{net, process};
use crate::core::ipcmd::run::{self, Seen};
use crate::core::ipcmd::{script, Action};
use crate::core::op::{LinkKind, Op};
use crate::core::{Net, NsId};

/// How a command's outcome is handed back.
struct Mode {
    /// A script (`opts.script`): programs' output is printed, errors carry no function name.
    script: bool,
}

fn links_made(lua: &Lua, ops: &[Op]) -> mlua::Result<MultiValue> {
    let mut out = vec![];
    for op in ops {
        if let Op::LinkAdd { ns, link } = op {
            out.push(Value::UserData(
                lua.create_userdata(Link::new(ns.clone(), link.name.clone()))?,
            ));
            if let LinkKind::Veth { peer, peer_ns } = &link.kind {
                out.push(Value::UserData(
                    lua.create_userdata(Link::new(peer_ns.clone(), peer.clone()))?,
                ));
            }
        }
    }
    Ok(MultiValue::from_vec(out))
}

/// Runs one action that is not `ip -all` (its expansion is made of these).
async fn run_one(lua: &Lua, net: &Net, action: &Action, mode: &Mode) -> mlua::Result<MultiValue> {
    let err = |e: crate::core::Error| mlua::Error::runtime(e.to_string());
    match action {
        Action::Ops(ops) => {
            run::apply(net, action).await.map_err(err)?;
            links_made(lua, ops)
        }
        Action::RouteReplace { .. } => {
            run::apply(net, action).await.map_err(err)?;
            Ok(MultiValue::new())
        }
        Action::Exec { ns, argv } => {
            let args = (lua.create_sequence_from(argv.iter().cloned())?,).into_lua_multi(lua)?;
            let r = process::ns_exec(lua.clone(), ns.clone(), args).await?;
            if mode.script {
                use std::io::Write;
                let out: mlua::LuaString = r.get("stdout")?;
                let err: mlua::LuaString = r.get("stderr")?;
                let _ = std::io::stdout().write_all(&out.as_bytes());
                let _ = std::io::stderr().write_all(&err.as_bytes());
            }
            Value::Table(r).into_lua_multi(lua)
        }
        Action::Spawn {
            ns,
            argv,
            log,
            truncate,
        } => {
            let opts = lua.create_table()?;
            if let Some(l) = log {
                opts.set("log", l.as_str())?;
                if *truncate {
                    opts.set("truncate", true)?;
                }
            }
            let args = (lua.create_sequence_from(argv.iter().cloned())?, opts).into_lua_multi(lua)?;
            process::ns_spawn(lua, ns.clone(), args)?.into_lua_multi(lua)
        }
        Action::ForAll { .. } => Err(mlua::Error::runtime("ip -all netns exec ip -all …: not supported")),
        Action::Nothing | Action::Chmod { .. } => Ok(MultiValue::new()),
    }
}

/// `net.ip` / `ns:ip`: `ns` is where commands act unless they say otherwise.
pub async fn ip(lua: Lua, ns: NsId, f: &'static str, args: MultiValue) -> mlua::Result<MultiValue> {
    let a = Args::new(f, args);
    let text = a.string(1, "command")?;
    let o = a.opts(2, &["file", "script"])?;
    let mode = Mode {
        script: o.bool("script")?.unwrap_or(false),
    };
    let file = o.string("file")?.unwrap_or_default();
    // The whole text is parsed before anything is changed.
    let lines = script::parse(&text, &file, &ns).map_err(|e| match mode.script {
        true => mlua::Error::runtime(e.to_string()),
        false => lerr(f, e),
    })?;
    let net = net(&lua);
    let many = lines.len() > 1;
    let mut seen = Seen::default();
    let mut last = MultiValue::new();
    for l in &lines {
        let res = match &l.action {
            Action::ForAll { words, background } => match run::for_all(&net, &seen, words, *background) {
                Ok(each) => {
                    let mut r = Ok(MultiValue::new());
                    for (name, action) in each {
                        if mode.script && !net.is_plan() {
                            println!("\nnetns: {name}");
                        }
                        r = run_one(&lua, &net, &action, &mode).await;
                        if r.is_err() {
                            break;
                        }
                    }
                    r.map(|_| MultiValue::new())
                }
                Err(e) => Err(mlua::Error::runtime(e.to_string())),
            },
            action => run_one(&lua, &net, action, &mode).await,
        };
        seen.note(&l.action);
        match res {
            Ok(v) => last = v,
            Err(e) => {
                let why = super::describe(&e);
                let cmd = l
                    .text
                    .replace("\\\n", " ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let at = match (file.is_empty(), many) {
                    (false, _) => format!("{file}:{}: ", l.line),
                    (true, true) => format!("line {}: ", l.line),
                    (true, false) => String::new(),
                };
                let msg = if many || !file.is_empty() {
                    format!("{at}`{cmd}`: {why}")
                } else {
                    why
                };
                return Err(match mode.script {
                    true => mlua::Error::runtime(msg),
                    false => fail(f, msg),
                });
            }
        }
    }
    Ok(if many || mode.script { MultiValue::new() } else { last })
}
