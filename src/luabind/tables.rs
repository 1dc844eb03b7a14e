//! Core results as plain Lua tables (the shapes `ip -j` users expect).

use mlua::{Lua, Table};

use crate::core::addr::AddrInfo;
use crate::core::link::LinkInfo;
use crate::core::qdisc::ShapeSpec;
use crate::core::route::RouteInfo;
use crate::core::rule::RuleInfo;

pub fn link(lua: &Lua, l: &LinkInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("name", l.name.as_str())?;
    t.set("index", l.index)?;
    t.set("kind", l.kind.as_deref())?;
    t.set("up", l.up)?;
    t.set("mtu", l.mtu)?;
    t.set("mac", l.mac.as_deref())?;
    t.set("master", l.master.as_deref())?;
    t.set("peer", l.peer.as_deref())?;
    t.set("peer_index", l.peer_index)?;
    t.set("qdisc", l.qdisc.as_deref())?;
    if let Some(s) = &l.shape {
        t.set("shape", shape(lua, s)?)?;
    }
    Ok(t)
}

/// A shape in the units `link:shape` takes as numbers: bits/s, bytes, seconds, percent
/// (so `b:shape(a:info().shape)` copies it).
pub fn shape(lua: &Lua, s: &ShapeSpec) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("rate", s.rate)?;
    t.set("burst", s.burst)?;
    t.set("limit", s.limit)?;
    t.set("delay", s.delay.map(|d| d as f64 / 1e9))?;
    t.set("jitter", s.jitter.map(|d| d as f64 / 1e9))?;
    t.set("loss", s.loss)?;
    t.set("duplicate", s.duplicate)?;
    t.set("reorder", s.reorder)?;
    t.set("corrupt", s.corrupt)?;
    Ok(t)
}

pub fn addr(lua: &Lua, a: &AddrInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("dev", a.dev.as_str())?;
    t.set("family", a.family())?;
    t.set("cidr", a.cidr.to_string())?;
    t.set("address", a.cidr.addr.to_string())?;
    t.set("prefix", a.cidr.prefix)?;
    Ok(t)
}

pub fn route(lua: &Lua, r: &RouteInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("family", r.family)?;
    t.set("to", r.to.as_str())?;
    t.set("via", r.via.map(|v| v.to_string()))?;
    t.set("dev", r.dev.as_deref())?;
    t.set("table", r.table)?;
    t.set("metric", r.metric)?;
    t.set("src", r.src.map(|v| v.to_string()))?;
    t.set("scope", r.scope.as_str())?;
    t.set("proto", r.proto.as_str())?;
    t.set("type", r.kind.as_str())?;
    Ok(t)
}

pub fn rule(lua: &Lua, r: &RuleInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("family", r.family)?;
    t.set("priority", r.priority)?;
    t.set("from", r.from.map(|c| c.to_string()))?;
    t.set("to", r.to.map(|c| c.to_string()))?;
    t.set("iif", r.iif.as_deref())?;
    t.set("fwmark", r.fwmark)?;
    t.set("table", r.table)?;
    t.set("action", r.action.as_str())?;
    Ok(t)
}

pub fn list<T>(lua: &Lua, items: &[T], f: fn(&Lua, &T) -> mlua::Result<Table>) -> mlua::Result<Table> {
    let out = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        out.raw_set(i + 1, f(lua, it)?)?;
    }
    Ok(out)
}
