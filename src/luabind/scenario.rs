//! `net.scenario{…}`: validates a scenario definition and marks it as one.
//! Running it (up, check, down, plan) is the command line's business.

use mlua::{Function, Lua, Table, Value};

use super::args::{fail, type_name};

const KEYS: &[&str] = &[
    "name",
    "description",
    "params",
    "requires",
    "setup",
    "check",
    "teardown",
    "ipv6",
];
const F: &str = "net.scenario";

fn expect_kind(t: &Table, key: &str, kind: &str, required: bool) -> mlua::Result<()> {
    let v: Value = t.raw_get(key)?;
    let ok = match (&v, kind) {
        (Value::Nil, _) => !required,
        (Value::String(_), "string")
        | (Value::Table(_), "table")
        | (Value::Function(_), "function")
        | (Value::Boolean(_), "boolean") => true,
        _ => false,
    };
    if !ok {
        let what = if v.is_nil() {
            "missing".to_string()
        } else {
            format!("a {}", type_name(&v))
        };
        return Err(fail(F, format!("{key:?} must be a {kind}, got {what}")));
    }
    Ok(())
}

pub fn scenario(lua: &Lua, t: Value) -> mlua::Result<Table> {
    let Value::Table(t) = t else {
        return Err(fail(F, format!("expected a table, got {}", type_name(&t))));
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let key = match &k {
            Value::String(s) => s.to_str()?.to_string(),
            other => return Err(fail(F, format!("keys must be strings, got {}", type_name(other)))),
        };
        if !KEYS.contains(&key.as_str()) {
            return Err(fail(
                F,
                format!("unknown key {key:?} (expected one of: {})", KEYS.join(", ")),
            ));
        }
    }
    expect_kind(&t, "name", "string", true)?;
    expect_kind(&t, "description", "string", false)?;
    expect_kind(&t, "params", "table", false)?;
    expect_kind(&t, "requires", "table", false)?;
    expect_kind(&t, "setup", "function", true)?;
    expect_kind(&t, "check", "function", false)?;
    expect_kind(&t, "teardown", "function", false)?;
    expect_kind(&t, "ipv6", "boolean", false)?;
    let name: String = t.get("name")?;
    crate::core::names::check_nsname(&name).map_err(|e| fail(F, format!("bad scenario name: {e}")))?;
    if let Some(params) = t.get::<Option<Table>>("params")? {
        for pair in params.pairs::<Value, Value>() {
            let (k, v) = pair?;
            if !matches!(k, Value::String(_)) {
                return Err(fail(F, format!("param names must be strings, got {}", type_name(&k))));
            }
            if !matches!(
                v,
                Value::String(_) | Value::Integer(_) | Value::Number(_) | Value::Boolean(_)
            ) {
                return Err(fail(
                    F,
                    format!(
                        "param {k:?} must default to a string, number or boolean, got {}",
                        type_name(&v)
                    ),
                ));
            }
        }
    }
    if let Some(req) = t.get::<Option<Table>>("requires")? {
        for v in req.sequence_values::<Value>() {
            if !matches!(v?, Value::String(_)) {
                return Err(fail(F, "\"requires\" must list program names (strings)"));
            }
        }
    }
    let mt = lua.create_table()?;
    mt.set("__name", "lunet.Scenario")?;
    t.set_metatable(Some(mt))?;
    Ok(t)
}

/// Whether a value is a table made by `net.scenario`.
pub fn is_scenario(t: &Table) -> bool {
    t.metatable()
        .and_then(|mt| mt.get::<Option<String>>("__name").ok().flatten())
        .is_some_and(|n| n == "lunet.Scenario")
}

pub fn register(lua: &Lua, net: &Table) -> mlua::Result<()> {
    let f: Function = lua.create_function(scenario)?;
    net.set("scenario", f)
}
