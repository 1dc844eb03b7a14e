//! The Lua binding: a thin layer that turns Lua values into core calls and core
//! results into plain tables. `install` registers everything in one place.

mod args;
pub mod docs;
mod errors;
mod firewall;
mod ipcmd;
mod link;
mod monitor;
mod ns;
mod process;
pub mod scenario;
mod specs;
mod stdlib;
mod tables;
mod values;

use std::rc::Rc;

use mlua::{Lua, MultiValue, Table};

use crate::core::{netns, Net, NsId};
use args::{Args, Named};
pub use errors::{describe, user_frames};
pub use link::Link;
pub use ns::Ns;
pub use process::end_owned;

/// The core handle shared by every binding call.
pub(crate) fn net(lua: &Lua) -> Rc<Net> {
    lua.app_data_ref::<Rc<Net>>()
        .expect("lunet binding not installed")
        .clone()
}

/// Installs `net` (global and `require "lunet"`) and the Lua standard library modules.
pub fn install(lua: &Lua, core: Rc<Net>) -> mlua::Result<Table> {
    lua.set_app_data(core);
    let t = lua.create_table()?;
    t.set("ns", ns_module(lua)?)?;
    t.set("host", Ns { id: NsId::Host })?;
    t.set("version", env!("CARGO_PKG_VERSION"))?;
    t.set("monitor", lua.create_async_function(monitor::monitor)?)?;
    t.set("sleep", lua.create_async_function(process::sleep)?)?;
    t.set(
        "ip",
        lua.create_async_function(|lua, args: MultiValue| ipcmd::ip(lua, NsId::Host, "net.ip", args))?,
    )?;
    t.set(
        "undo",
        lua.create_async_function(|lua, ()| async move {
            Ok(net(&lua).undo_last().await.named("net.undo")?.map(|op| op.to_string()))
        })?,
    )?;
    t.set(
        "reset",
        lua.create_async_function(|lua, ()| async move {
            let errors = net(&lua).rollback().await.errors;
            match errors.first() {
                None => Ok(()),
                Some(_) => {
                    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                    Err(args::fail("net.reset", all.join("; ")))
                }
            }
        })?,
    )?;
    scenario::register(lua, &t)?;
    lua.globals().set("net", t.clone())?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let module = t.clone();
    preload.set("lunet", lua.create_function(move |_, ()| Ok(module.clone()))?)?;
    stdlib::install(lua, &preload)?;
    errors::install(lua)?;
    Ok(t)
}

fn ns_module(lua: &Lua) -> mlua::Result<Table> {
    let m = lua.create_table()?;
    m.set(
        "add",
        lua.create_async_function(|lua, args: MultiValue| async move {
            let a = Args::new("net.ns.add", args);
            let name = a.string(1, "name")?;
            let o = a.opts(2, &["lo", "ipv6"])?;
            NsId::named(&name).named(a.f)?;
            let net = net(&lua);
            let ipv6 = o.bool("ipv6")?.unwrap_or_else(|| net.ipv6_default());
            net.ns_add(&name, o.bool("lo")?.unwrap_or(true), ipv6)
                .await
                .named(a.f)?;
            Ok(Ns { id: NsId::Named(name) })
        })?,
    )?;
    m.set(
        "get",
        lua.create_async_function(|lua, args: MultiValue| async move {
            let a = Args::new("net.ns.get", args);
            let id = NsId::named(&a.string(1, "name")?).named(a.f)?;
            let net = net(&lua);
            if !net.is_plan() {
                net.ns(&id).await.named(a.f)?;
            }
            Ok(Ns { id })
        })?,
    )?;
    m.set(
        "exists",
        lua.create_function(|_, args: MultiValue| {
            let a = Args::new("net.ns.exists", args);
            Ok(netns::exists(&a.string(1, "name")?))
        })?,
    )?;
    m.set("list", lua.create_function(|_, ()| netns::list().named("net.ns.list"))?)?;
    m.set("each_exec", lua.create_async_function(process::each_exec)?)?;
    m.set(
        "delete",
        lua.create_async_function(|lua, args: MultiValue| async move {
            let a = Args::new("net.ns.delete", args);
            let o = a.opts(2, &["kill"])?;
            let kill = o.bool("kill")?.unwrap_or(true);
            match a.get(1) {
                // A list: all deleted together (one pass over /proc, unmounts in a tight loop).
                mlua::Value::Table(t) => {
                    let mut names = vec![];
                    for v in t.sequence_values::<mlua::Value>() {
                        match v? {
                            mlua::Value::String(s) => names.push(s.to_str()?.to_string()),
                            mlua::Value::UserData(ud) => match ud.borrow::<Ns>() {
                                Ok(ns) => names.push(ns.id.to_string()),
                                Err(_) => return Err(args::fail(a.f, "the list must hold namespace names or Ns")),
                            },
                            _ => return Err(args::fail(a.f, "the list must hold namespace names or Ns")),
                        }
                    }
                    net(&lua).ns_delete_many(&names, kill).await.named(a.f)
                }
                _ => {
                    let name = a.string(1, "name")?;
                    net(&lua).ns_delete(&name, kill).await.named(a.f)
                }
            }
        })?,
    )?;
    m.set(
        "identify",
        lua.create_function(|_, args: MultiValue| {
            let a = Args::new("net.ns.identify", args);
            let pid = values::pid(a.f, "argument #1 (pid)", &a.get(1))?;
            netns::identify(pid).named(a.f)
        })?,
    )?;
    Ok(m)
}
