//! Core results as plain Lua tables (the shapes `ip -j` users expect).

use mlua::{Lua, LuaSerdeExt, Table};

use crate::core::addr::AddrInfo;
use crate::core::link::LinkInfo;
use crate::core::qdisc::ShapeSpec;
use crate::core::route::RouteInfo;
use crate::core::rule::RuleInfo;

/// The one shape of a core result, in Lua as in `lunet show --json`: its serde form
/// (absent values are absent keys, arrays are plain tables).
fn plain<T: serde::Serialize>(lua: &Lua, v: &T) -> mlua::Result<Table> {
    let opts = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    match lua.to_value_with(v, opts)? {
        mlua::Value::Table(t) => Ok(t),
        other => Err(mlua::Error::runtime(format!(
            "expected a table, got {}",
            other.type_name()
        ))),
    }
}

pub fn link(lua: &Lua, l: &LinkInfo) -> mlua::Result<Table> {
    let t = plain(lua, l)?;
    // The shape in the units link:shape takes (so `b:shape(a:info().shape)` copies it).
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
    plain(lua, a)
}

pub fn route(lua: &Lua, r: &RouteInfo) -> mlua::Result<Table> {
    plain(lua, r)
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
