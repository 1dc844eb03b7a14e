//! Scenarios from the command line: `up`, `down`, `check`, `status`,
//! `scenarios` and `plan`. A scenario is a Lua file returning
//! `net.scenario{…}`; every change its setup makes goes through the journal
//! in /run/lunet, and `down` undoes exactly that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use mlua::{Function, Lua, Table, Value};

use super::script;
use super::session::{lerr, undo_all, Session, Undone};
use super::state::{self, Meta};
use super::{Exit, Global};
use crate::core::ipcmd;
use crate::core::journal::{Journal, State};
use crate::core::NsId;
use crate::luabind;

/// Where a scenario's source comes from.
pub struct Source {
    /// `bundled:NAME` or a file path.
    pub origin: String,
    pub text: String,
}

/// Directories searched for `NAME.lua`: `$LUNET_PATH` (colon-separated), then ~/.config/lunet/scenarios.
fn user_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var("LUNET_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".config/lunet/scenarios"));
    }
    dirs
}

/// An ip script (`lab.sh`): named after the file, parsed whole before anything runs.
fn is_ip_script(spec: &str) -> bool {
    spec.ends_with(".sh")
}

/// An ip script's lines, parsed (the first bad one is `FILE:LINE: message`), and its instance name.
fn parse_ip_script(p: &Path) -> Result<(String, String, Vec<ipcmd::script::Line>)> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    let file = p.display().to_string();
    let lines = ipcmd::script::parse(&text, &file, &NsId::Host).map_err(|e| anyhow!("{e}"))?;
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((state::sanitize(&stem), text, lines))
}

/// An ip script as a scenario: its setup runs the script through `net.ip`.
fn ip_script_source(p: &Path) -> Result<Source> {
    let (name, text, _) = parse_ip_script(p)?;
    let file = p.display().to_string();
    let lua = super::convert::lua_str;
    Ok(Source {
        origin: file.clone(),
        text: format!(
            "return net.scenario {{ name = {}, description = {}, setup = function() net.ip({}, {{ file = {}, script = true }}) end }}",
            lua(&name),
            lua(&format!("ip script {file}")),
            lua(&text),
            lua(&file)
        ),
    })
}

/// `lunet convert FILE.sh`: the equivalent Lua scenario, on standard output.
pub fn convert(file: &Path) -> Result<()> {
    let (name, _, lines) = parse_ip_script(file)?;
    print!("{}", super::convert::to_lua(&name, &file.display().to_string(), &lines));
    Ok(())
}

fn from_file(p: &Path) -> Result<Source> {
    if is_ip_script(&p.display().to_string()) {
        return ip_script_source(p);
    }
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(Source {
        origin: p.display().to_string(),
        text,
    })
}

/// A file path (anything with a `/` or ending in `.lua`), or a name looked up
/// in the user's directories, then among the bundled scenarios.
pub fn find(spec: &str) -> Result<Source> {
    if spec.contains('/') || spec.ends_with(".lua") || is_ip_script(spec) {
        return from_file(Path::new(spec));
    }
    for d in user_dirs() {
        let p = d.join(format!("{spec}.lua"));
        if p.is_file() {
            return from_file(&p);
        }
    }
    if let Some(text) = crate::bundled::scenario(spec) {
        return Ok(Source {
            origin: format!("bundled:{spec}"),
            text: text.to_string(),
        });
    }
    // A scenario whose `name` is not its file's name.
    if let Some(src) = by_name(spec)? {
        return Ok(src);
    }
    bail!("no scenario {spec:?} (not a file, not in $LUNET_PATH or ~/.config/lunet/scenarios, not bundled; `lunet scenarios` lists them)")
}

/// Every scenario file: the user's directories in order, then the bundled ones.
fn all_sources() -> Result<Vec<Source>> {
    let mut sources = vec![];
    for d in user_dirs() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "lua"))
            .collect();
        files.sort();
        for f in files {
            sources.push(from_file(&f)?);
        }
    }
    for (n, text) in crate::bundled::SCENARIOS {
        sources.push(Source {
            origin: format!("bundled:{n}"),
            text: text.to_string(),
        });
    }
    Ok(sources)
}

/// The first scenario (in `lunet scenarios` order) whose `name` field is `name`; each
/// file is loaded in plan mode, where nothing is changed.
fn by_name(name: &str) -> Result<Option<Source>> {
    let sess = Session::new(false, false, true)?;
    for src in all_sources()? {
        let Ok(scen) = sess.rt.block_on(load(&sess.lua, &src)) else {
            continue;
        };
        if scen.get::<String>("name").is_ok_and(|n| n == name) {
            return Ok(Some(src));
        }
    }
    Ok(None)
}

fn source_of(meta: &Meta) -> Result<Source> {
    match meta.origin.strip_prefix("bundled:") {
        Some(name) => find(name),
        None => from_file(Path::new(&meta.origin)),
    }
}

fn chunk_name(src: &Source) -> String {
    if is_ip_script(&src.origin) {
        // Not a file of Lua lines: errors name the script's own file and line.
        return "=[ip script]".into();
    }
    match src.origin.strip_prefix("bundled:") {
        Some(n) => format!("@scripts/{n}.lua"),
        None => format!("@{}", src.origin),
    }
}

/// Runs the file; it must return `net.scenario{…}`.
async fn load(lua: &Lua, src: &Source) -> Result<Table> {
    let v: Value = lua
        .load(&src.text)
        .set_name(chunk_name(src))
        .call_async(())
        .await
        .map_err(lerr)?;
    match v {
        Value::Table(t) if luabind::scenario::is_scenario(&t) => Ok(t),
        _ => bail!("{}: a scenario file must `return net.scenario{{…}}`", src.origin),
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Boolean(b) => (*b).into(),
        Value::Integer(n) => (*n).into(),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(Into::into)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => s.to_string_lossy().into(),
        _ => serde_json::Value::Null,
    }
}

fn from_json(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match v {
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        _ => Value::Nil,
    })
}

/// The params table: defaults, overridden by `--set k=v` (typed by the default's type).
fn params(lua: &Lua, scen: &Table, sets: &[String]) -> Result<(Table, BTreeMap<String, serde_json::Value>)> {
    let name: String = scen.get("name").map_err(lerr)?;
    let defaults: Option<Table> = scen.get("params").map_err(lerr)?;
    let p = lua.create_table().map_err(lerr)?;
    let mut json = BTreeMap::new();
    let mut known = vec![];
    if let Some(d) = &defaults {
        for pair in d.pairs::<String, Value>() {
            let (k, v) = pair.map_err(lerr)?;
            json.insert(k.clone(), to_json(&v));
            p.set(k.as_str(), v).map_err(lerr)?;
            known.push(k);
        }
    }
    known.sort();
    for set in sets {
        let (k, raw) = set
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {set:?}: expected key=value"))?;
        let default: Value = p.get(k).map_err(lerr)?;
        let bad = |kind: &str| anyhow!("--set {k}={raw}: param {k:?} of {name} is {kind}");
        let v = match default {
            Value::Nil => bail!(
                "--set {k}={raw}: scenario {name} has no param {k:?} (params: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            Value::Boolean(_) => Value::Boolean(match raw {
                "true" | "yes" | "1" | "on" => true,
                "false" | "no" | "0" | "off" => false,
                _ => return Err(bad("a boolean (true/false)")),
            }),
            Value::Integer(_) => Value::Integer(raw.parse().map_err(|_| bad("an integer"))?),
            Value::Number(_) => Value::Number(raw.parse().map_err(|_| bad("a number"))?),
            _ => Value::String(lua.create_string(raw).map_err(lerr)?),
        };
        json.insert(k.to_string(), to_json(&v));
        p.set(k, v).map_err(lerr)?;
    }
    Ok((p, json))
}

fn params_from_meta(lua: &Lua, meta: &Meta) -> Result<Table> {
    let p = lua.create_table().map_err(lerr)?;
    for (k, v) in &meta.params {
        p.set(k.as_str(), from_json(lua, v).map_err(lerr)?).map_err(lerr)?;
    }
    Ok(p)
}

fn on_path(prog: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(prog).is_file());
    found
}

/// Programs the scenario needs must be there before anything changes.
fn requires(scen: &Table) -> Result<()> {
    let req: Option<Table> = scen.get("requires").map_err(lerr)?;
    let Some(req) = req else { return Ok(()) };
    let missing: Vec<String> = req
        .sequence_values::<String>()
        .filter_map(|p| p.ok())
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        let name: String = scen.get("name").map_err(lerr)?;
        bail!(
            "scenario {name} needs {} on PATH (nothing was changed)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// `s`, the scenario's handle: name, params, and the lunet.check helpers as methods.
fn context(lua: &Lua, name: &str, p: &Table) -> Result<Table> {
    let check: Table = lua.load("return require 'lunet.check'").eval().map_err(lerr)?;
    let s = lua.create_table().map_err(lerr)?;
    s.set("name", name).map_err(lerr)?;
    s.set("params", p.clone()).map_err(lerr)?;
    let mt = lua.create_table().map_err(lerr)?;
    mt.set("__index", check).map_err(lerr)?;
    s.set_metatable(Some(mt)).map_err(lerr)?;
    Ok(s)
}

async fn call(scen: &Table, phase: &str, p: &Table, s: &Table) -> Result<bool> {
    let f: Option<Function> = scen.get(phase).map_err(lerr)?;
    match f {
        Some(f) => {
            f.call_async::<()>((p.clone(), s.clone())).await.map_err(lerr)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn count_changes(j: &Journal) -> usize {
    j.entries().iter().filter(|e| e.state == State::Done).count()
}

/// The instance name for `down`/`check`: a name, or the instance made from a file.
/// The file is never run (its top level could do anything): the instance is looked up
/// by the file's full path, recorded when it was brought up or run.
fn instance_name(spec: &str) -> Result<String> {
    if !(spec.contains('/') || spec.ends_with(".lua") || is_ip_script(spec)) {
        return Ok(spec.to_string());
    }
    let not_up = || {
        anyhow!(
            "nothing made from {spec} is up (no scenario brought up from that file, no run of it; \
             `lunet status` lists what is, by name)"
        )
    };
    let full = std::fs::canonicalize(spec).map_err(|_| not_up())?;
    let found: Vec<String> = state::instances()
        .into_iter()
        .filter(|n| Meta::read(n).ok().flatten().is_some_and(|m| m.made_from(&full)))
        .collect();
    match found.as_slice() {
        [] => Err(not_up()),
        [one] => Ok(one.clone()),
        [first, ..] => bail!(
            "several instances were made from {spec}: {} (name one: `lunet down {first}`)",
            found.join(", ")
        ),
    }
}

/// `lunet up`: setup, then check; rolled back if either fails, or if SIGINT, SIGTERM or
/// SIGHUP arrives meanwhile (exit status 130, 143, 129, as `run`).
pub fn up(g: &Global, spec: &str, sets: &[String]) -> Result<()> {
    // Before the runtime registers its own handlers (which then chain to ours).
    let caught = script::catch_signals();
    let sess = Session::new(g.verbose, g.sandbox, false)?;
    let src = find(spec)?;
    let lua = &sess.lua;
    sess.rt.block_on(async {
        let mut streams = script::streams(&caught);
        // Busy Lua code stops for a signal too.
        script::install_hook(lua).map_err(lerr)?;
        let scen = load(lua, &src).await?;
        let name: String = scen.get("name").map_err(lerr)?;
        state::check_instance_name(&name)?;
        let (p, pjson) = params(lua, &scen, sets)?;
        requires(&scen)?;
        state::ensure_dir()?;
        let jpath = state::journal_path(&name);
        if jpath.exists() && !clear_unfinished_start(&name) {
            bail!("scenario {name} is already up (`lunet down {name}` first; `lunet status` shows what it made)");
        }
        let mut meta = Meta::new(&name, &src.origin, pjson);
        if !src.origin.starts_with("bundled:") {
            meta.file = std::fs::canonicalize(&src.origin).ok().map(|p| p.display().to_string());
        }
        let journal = Journal::create(&jpath).map_err(|e| anyhow!("{e}"))?;
        if let Err(e) = meta.write() {
            // A failed start leaves no instance (a full state dir: nothing of it stays).
            drop(journal);
            state::remove(&name);
            return Err(e.context(format!("{name}: nothing was changed")));
        }
        sess.net.attach_journal(journal);
        let s = context(lua, &name, &p)?;
        let phase = std::cell::Cell::new("setup");
        let work = async {
            // `ipv6 = false`: nothing the scenario makes gets IPv6 (no DAD/MLD/RS floods),
            // including links made in this namespace (its `default`, put back at down).
            if scen.get::<Option<bool>>("ipv6").map_err(lerr)? == Some(false) {
                sess.net.set_ipv6_default(false);
                let off = crate::core::link::ipv6_off_ops(&crate::core::NsId::Host, &["default"]);
                sess.net
                    .transaction(&off)
                    .await
                    .map_err(|e| anyhow!("ipv6 = false: {e}"))?;
            }
            println!("{name}: setup");
            call(&scen, "setup", &p, &s).await?;
            phase.set("check");
            if scen.contains_key("check").map_err(lerr)? {
                println!("{name}: check");
            }
            call(&scen, "check", &p, &s).await
        };
        let (res, signal) = tokio::select! {
            biased;
            r = work => match script::stop_requested() {
                // A signal that came right at the end still rolls back.
                Some(script::End::Signal(sig)) => (Err(anyhow!("interrupted")), Some(sig)),
                _ => (r, None),
            },
            end = script::stopped(&mut streams) => match end {
                script::End::Signal(sig) => (Err(anyhow!("interrupted")), Some(sig)),
                _ => (Err(anyhow!("interrupted")), None),
            },
        };
        let phase = phase.get();
        sess.spinner.clear();
        let changes = sess
            .net
            .with_journal(|j| Ok(count_changes(j)))
            .ok()
            .flatten()
            .unwrap_or(0);
        if let Err(e) = res {
            // A rollback finishes whatever signals arrive meanwhile.
            let undone = script::shielded(undo_all(&sess.net)).await;
            script::shielded(luabind::end_owned(lua, true)).await;
            let mut msg = match signal {
                Some(sig) => format!("{name}: {phase} interrupted by {}", script::signal_name(sig)),
                None => format!("{name}: {phase} failed: {e}"),
            };
            if undone.ok() {
                state::remove(&name);
                msg += &format!("\n{name}: rolled back ({changes} changes undone; nothing is left)");
            } else {
                msg += &format!("\nrollback did not finish (`lunet down {name}` retries what is left):");
            }
            for l in undone.lines() {
                msg += &format!("\n{l}");
            }
            return Err(Exit {
                code: signal.map_or(1, |sig| 128 + sig),
                message: Some(msg),
            }
            .into());
        }
        if sess.sandbox {
            // The sandbox vanishes at exit: show the teardown too.
            let undone = undo_all(&sess.net).await;
            luabind::end_owned(lua, true).await;
            state::remove(&name);
            println!("{name}: up and checked ({changes} changes); --sandbox: torn down again");
            if let Some(e) = undone.errors.first() {
                bail!("teardown: {e}");
            }
        } else {
            println!(
                "{name} is up ({changes} changes; `lunet status {name}` lists them, `lunet down {name}` undoes them)"
            );
        }
        Ok(())
    })
}

/// A start that never began (an empty journal without its meta, left by a lunet that
/// could not write it) is no instance: removed, if no other lunet holds it and it is
/// not brand new (one being created is locked a moment after it appears).
fn clear_unfinished_start(name: &str) -> bool {
    let jpath = state::journal_path(name);
    if !matches!(Meta::read(name), Ok(None)) || state::check_file(&jpath).is_err() {
        return false;
    }
    let old = std::fs::metadata(&jpath)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(10));
    if !old {
        return false;
    }
    match Journal::open(&jpath) {
        // (Removed while still locked: no one else can have taken it meanwhile.)
        Ok(j) if j.entries().is_empty() && j.damaged == 0 => {
            state::remove(name);
            true
        }
        _ => false,
    }
}

/// `lunet down NAME`, `down --all`, `down --forget NAME`.
pub fn down(g: &Global, spec: Option<&str>, all: bool, forget: bool) -> Result<()> {
    if all {
        return down_all(g, forget);
    }
    let spec = spec.ok_or_else(|| anyhow!("down: which instance? (a name from `lunet status`, or --all)"))?;
    let name = instance_name(spec)?;
    down_one(g, &name, forget)
}

/// Every instance, newest first (a run that changed something a scenario made
/// comes down before that scenario); goes on past failures.
fn down_all(g: &Global, forget: bool) -> Result<()> {
    let names = state::instances_newest_first();
    if names.is_empty() {
        println!("nothing is up (no scenario, no run left anything)");
        return Ok(());
    }
    let mut failed = vec![];
    for name in &names {
        if let Err(e) = down_one(g, name, forget) {
            eprintln!("lunet: {e:#}");
            failed.push(name.as_str());
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Exit {
        code: 1,
        message: Some(format!(
            "down --all: {} of {} did not come down: {}",
            failed.len(),
            names.len(),
            failed.join(", ")
        )),
    }
    .into())
}

/// Undoes one instance: its teardown (a scenario's, if any), then every step
/// of its journal, newest first, going on past failures. What could not be
/// undone stays in the journal (`down` again retries just that), unless `forget`.
fn down_one(g: &Global, name: &str, forget: bool) -> Result<()> {
    let jpath = state::journal_path(name);
    if !jpath.exists() {
        bail!("{name} is not up (no scenario or run of that name; `lunet status` lists what is)");
    }
    state::check_dir()?;
    if let Err(e) = state::check_file(&jpath) {
        if !forget {
            return Err(e);
        }
        // Never acted on: a journal someone else could have written is only removed.
        state::remove(name);
        println!("{name}: forgotten without undoing anything ({e:#})");
        return Ok(());
    }
    // A damaged meta file costs only the scenario's own teardown: the journal still undoes all.
    let (meta, meta_note) = match Meta::read(name) {
        Ok(m) => (m, None),
        Err(e) => (None, Some(format!("{e:#}: its own teardown (if any) is skipped"))),
    };
    let journal = Journal::open(&jpath).map_err(|e| match &meta {
        Some(m) if m.origin == crate::repl::ORIGIN && state::lunet_alive(m.pid) => anyhow!(
            "{name} is a REPL still running (pid {}): leave it first (.quit; what it made stays, for `lunet down {name}`)",
            m.pid
        ),
        Some(m) if m.is_run() && state::lunet_alive(m.pid) => anyhow!(
            "{name} is still running (pid {}): stop it first (`kill -INT {}` rolls back what it made)",
            m.pid,
            m.pid
        ),
        _ => anyhow!("{name}: {e}"),
    })?;
    let changes = count_changes(&journal);
    let damaged = journal.damaged;
    let sess = Session::new(g.verbose, g.sandbox, false)?;
    sess.net.attach_journal(journal);
    let lua = &sess.lua;
    sess.rt.block_on(async {
        let mut teardown_error = None;
        if let Some(meta) = meta.as_ref().filter(|m| !m.is_run()) {
            // A scenario's own teardown runs first; the journal then undoes whatever is left.
            let scen = match source_of(meta) {
                Ok(src) => load(lua, &src).await.ok(),
                Err(_) => None,
            };
            if let Some(scen) = scen.filter(|s| s.contains_key("teardown").unwrap_or(false)) {
                let p = params_from_meta(lua, meta)?;
                let s = context(lua, name, &p)?;
                if let Err(e) = call(&scen, "teardown", &p, &s).await {
                    teardown_error = Some(format!("teardown: {e}"));
                }
            }
        }
        let mut undone = undo_all(&sess.net).await;
        undone.errors.splice(0..0, teardown_error);
        undone.notes.extend(meta_note);
        if damaged > 0 {
            undone.errors.push(format!(
                "{damaged} records of {} could not be read: what they did was not undone \
                 (`lunet down --forget {name}` clears it after you check)",
                jpath.display()
            ));
        }
        let left: Vec<String> = sess
            .net
            .with_journal(|j| {
                Ok(j.entries()
                    .iter()
                    .filter(|e| matches!(e.state, State::Done | State::Pending))
                    .map(|e| e.op.to_string())
                    .collect())
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        sess.spinner.clear();
        report_down(name, changes, &undone, &left, forget, damaged > 0)
    })
}

/// What `down` prints: notes and errors one per line; exit status 1 on errors.
fn report_down(
    name: &str,
    changes: usize,
    undone: &Undone,
    left: &[String],
    forget: bool,
    damaged: bool,
) -> Result<()> {
    // A damaged journal stays until the user says to forget it: it may hold changes lunet could not read.
    if (left.is_empty() && !damaged) || forget {
        state::remove(name);
    }
    let mut lines = undone.lines();
    if forget && !left.is_empty() {
        println!(
            "{name}: forgotten; {} of {changes} changes could not be undone and stay in place:",
            left.len()
        );
        lines.extend(left.iter().map(|op| format!("  left: {op}")));
        lines.iter().for_each(|l| println!("{l}"));
        return Ok(());
    }
    if forget {
        println!("{name}: forgotten");
        lines.iter().for_each(|l| println!("{l}"));
        return Ok(());
    }
    if left.is_empty() && undone.ok() {
        println!("{name} is down ({changes} changes undone)");
        lines.iter().for_each(|l| println!("{l}"));
        return Ok(());
    }
    let head = if left.is_empty() {
        format!("{name} is down ({changes} changes undone), with errors:")
    } else {
        format!(
            "{name}: down did not finish: {} of {changes} changes are still in effect \
             (`lunet down {name}` retries them; `lunet down --forget {name}` gives up on them):",
            left.len()
        )
    };
    Err(Exit {
        code: 1,
        message: Some(std::iter::once(head).chain(lines).collect::<Vec<_>>().join("\n")),
    }
    .into())
}

pub fn check(g: &Global, spec: &str) -> Result<()> {
    let name = instance_name(spec)?;
    let Some(meta) = Meta::read(&name)? else {
        bail!("scenario {name} is not up (`lunet up {name}` first)");
    };
    if meta.is_run() {
        bail!(
            "{name} is what a run of {} left, not a scenario: it has no check",
            meta.script()
        );
    }
    let sess = Session::new(g.verbose, g.sandbox, false)?;
    let lua = &sess.lua;
    sess.rt.block_on(async {
        let scen = load(lua, &source_of(&meta)?).await?;
        let p = params_from_meta(lua, &meta)?;
        let s = context(lua, &name, &p)?;
        // Whatever the check itself makes (a client, a probe) is undone after it.
        sess.net.attach_journal(Journal::in_memory());
        let res = call(&scen, "check", &p, &s).await;
        undo_all(&sess.net).await;
        luabind::end_owned(lua, true).await;
        match res {
            Ok(true) => {
                println!("{name}: check passed");
                Ok(())
            }
            Ok(false) => {
                println!("{name}: has no check");
                Ok(())
            }
            Err(e) => bail!("{name}: check failed: {e}"),
        }
    })
}

pub fn status(_g: &Global, only: Option<&str>) -> Result<()> {
    let names = state::instances();
    if names.is_empty() && only.is_none() {
        println!("no scenario is up, and no run left anything");
        return Ok(());
    }
    if let Some(o) = only {
        if !names.iter().any(|n| n == o) {
            bail!("{o} is not up (no scenario or run of that name; `lunet status` lists what is)");
        }
    }
    state::check_dir()?;
    for name in names.iter().filter(|n| only.is_none_or(|o| o == n.as_str())) {
        // One damaged or untrusted instance is shown as such; the others are listed as usual.
        let jpath = state::journal_path(name);
        let j = match state::check_file(&jpath).and_then(|_| Journal::read(&jpath).map_err(|e| anyhow!("{e}"))) {
            Ok(j) => j,
            Err(e) => {
                println!("{name}  (damaged: {e:#}; `lunet down --forget {name}` clears it)");
                continue;
            }
        };
        let (meta, meta_err) = match Meta::read(name) {
            Ok(m) => (m, None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        if let Some(e) = &meta_err {
            println!("{name}  (damaged: {e}; `lunet down {name}` still undoes its journal)");
        }
        if j.damaged > 0 {
            println!(
                "{name}  (damaged: {} unreadable records; `lunet down {name}` undoes the rest, `lunet down --forget {name}` clears it)",
                j.damaged
            );
        }
        let pending = j.entries().iter().any(|e| e.state == State::Pending);
        let about = match &meta {
            Some(m) if m.origin == crate::repl::ORIGIN => format!("REPL, pid {} {}", m.pid, run_state(name, m)),
            Some(m) if m.is_run() => format!("run of {}, pid {} {}", m.script(), m.pid, run_state(name, m)),
            Some(m) => {
                let params = m
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("{}{}{params}", m.origin, if params.is_empty() { "" } else { ", " })
            }
            None => "?".to_string(),
        };
        println!(
            "{name}  ({about})  {} changes{}",
            count_changes(&j),
            if pending {
                format!(", interrupted (run `lunet down {name}` to clean up)")
            } else {
                String::new()
            }
        );
        for e in j
            .entries()
            .iter()
            .filter(|e| matches!(e.state, State::Done | State::Pending))
        {
            println!(
                "    {}{}",
                e.op.to_string().replace('\n', "\n    "),
                if e.state == State::Pending {
                    "   # interrupted"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// A run: still running, ended and kept what it made, or gone without finishing.
fn run_state(name: &str, m: &Meta) -> String {
    if state::lunet_alive(m.pid) {
        "still running".into()
    } else if m.ended.is_some() {
        format!("ended; `lunet down {name}` undoes what it left")
    } else {
        format!("is gone, killed before it finished; `lunet down {name}` undoes what it made")
    }
}

fn describe_params(p: &Table) -> String {
    let mut v: Vec<String> = p
        .pairs::<String, Value>()
        .filter_map(|r| r.ok())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={:?}", s.to_string_lossy()),
            other => format!("{k}={}", other.to_string().unwrap_or_default()),
        })
        .collect();
    v.sort();
    v.join(" ")
}

pub fn list(g: &Global) -> Result<()> {
    let sess = Session::new(g.verbose, false, true)?;
    let mut seen = std::collections::HashSet::new();
    for src in all_sources()? {
        let scen = match sess.rt.block_on(load(&sess.lua, &src)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("lunet: skipping {}: {e}", src.origin);
                continue;
            }
        };
        let name: String = scen.get("name").map_err(lerr)?;
        if !seen.insert(name.clone()) {
            continue; // shadowed by an earlier directory
        }
        let desc: Option<String> = scen.get("description").map_err(lerr)?;
        let where_ = if src.origin.starts_with("bundled:") {
            "bundled".to_string()
        } else {
            src.origin.clone()
        };
        println!("{name:<22} {}  [{where_}]", desc.unwrap_or_default());
        if let Some(p) = scen.get::<Option<Table>>("params").map_err(lerr)? {
            let d = describe_params(&p);
            if !d.is_empty() {
                println!("{:<22} params: {d}", "");
            }
        }
    }
    Ok(())
}

pub fn plan(_g: &Global, spec: &str, sets: &[String]) -> Result<()> {
    let sess = Session::new(false, false, true)?;
    let src = find(spec)?;
    let lua = &sess.lua;
    sess.rt.block_on(async {
        let scen = load(lua, &src).await?;
        let name: String = scen.get("name").map_err(lerr)?;
        state::check_instance_name(&name)?;
        let (p, _) = params(lua, &scen, sets)?;
        println!("#!/bin/sh");
        println!("# lunet plan {name}: what `lunet up {name}` would do, as commands (nothing was changed)");
        println!("# params: {}", describe_params(&p));
        println!("set -e");
        let s = context(lua, &name, &p)?;
        call(&scen, "setup", &p, &s).await.map(|_| ())
    })
}

/// Scenario names for completion: user files (by file name) and bundled ones,
/// without running any of them.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = vec![];
    for d in user_dirs() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "lua") {
                if let Some(stem) = p.file_stem() {
                    v.push(stem.to_string_lossy().into_owned());
                }
            }
        }
    }
    v.extend(crate::bundled::SCENARIOS.iter().map(|(n, _)| n.to_string()));
    v.sort();
    v.dedup();
    v
}
