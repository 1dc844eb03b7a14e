//! Argument checking for binding functions: every error names the function and
//! the bad value, and option tables reject keys they do not know.

use mlua::{MultiValue, Table, Value};

use crate::core;

/// Turns a core error into a Lua error prefixed with the function name: `net.ns.add: …`.
pub fn lerr(f: &str, e: core::Error) -> mlua::Error {
    mlua::Error::runtime(format!("{f}: {e}"))
}

pub fn fail(f: &str, msg: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(core::error::cut_long(format!("{f}: {msg}")))
}

pub fn type_name(v: &Value) -> String {
    match v {
        Value::UserData(ud) => ud
            .metatable()
            .and_then(|mt| mt.get::<String>("__name"))
            .unwrap_or_else(|_| "userdata".into()),
        other => other.type_name().to_string(),
    }
}

/// Positional arguments of one call.
pub struct Args {
    pub f: &'static str,
    vals: Vec<Value>,
}

impl Args {
    pub fn new(f: &'static str, vals: MultiValue) -> Args {
        Args {
            f,
            vals: vals.into_vec(),
        }
    }

    pub fn get(&self, i: usize) -> Value {
        self.vals.get(i - 1).cloned().unwrap_or(Value::Nil)
    }

    fn bad(&self, i: usize, what: &str, expected: &str) -> mlua::Error {
        fail(
            self.f,
            format!(
                "argument #{i} ({what}) must be {expected}, got {}",
                type_name(&self.get(i))
            ),
        )
    }

    pub fn string(&self, i: usize, what: &str) -> mlua::Result<String> {
        match self.get(i) {
            Value::String(s) => Ok(s.to_str()?.to_string()),
            _ => Err(self.bad(i, what, "a string")),
        }
    }

    pub fn opt_string(&self, i: usize, what: &str) -> mlua::Result<Option<String>> {
        match self.get(i) {
            Value::Nil => Ok(None),
            _ => self.string(i, what).map(Some),
        }
    }

    pub fn integer(&self, i: usize, what: &str) -> mlua::Result<i64> {
        super::values::integer(
            self.f,
            &format!("argument #{i} ({what})"),
            &self.get(i),
            i64::MIN,
            i64::MAX,
        )
    }

    pub fn table(&self, i: usize, what: &str) -> mlua::Result<Table> {
        match self.get(i) {
            Value::Table(t) => Ok(t),
            _ => Err(self.bad(i, what, "a table")),
        }
    }

    /// An optional trailing options table, checked against the keys it may hold.
    pub fn opts(&self, i: usize, allowed: &'static [&'static str]) -> mlua::Result<Opts> {
        match self.get(i) {
            Value::Nil => Ok(Opts { f: self.f, table: None }),
            Value::Table(t) => Opts::new(self.f, t, allowed),
            _ => Err(self.bad(i, "opts", "a table")),
        }
    }
}

/// A table of named options (`{mtu = 1400, up = true}`).
pub struct Opts {
    pub f: &'static str,
    table: Option<Table>,
}

impl Opts {
    pub fn new(f: &'static str, t: Table, allowed: &'static [&'static str]) -> mlua::Result<Opts> {
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let key = match &k {
                Value::String(s) => s.to_str()?.to_string(),
                other => {
                    return Err(fail(
                        f,
                        format!("option keys must be strings, got {}", type_name(other)),
                    ))
                }
            };
            if !allowed.contains(&key.as_str()) {
                return Err(fail(
                    f,
                    format!("unknown option {key:?} (expected one of: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(Opts { f, table: Some(t) })
    }

    pub fn value(&self, key: &str) -> mlua::Result<Value> {
        match &self.table {
            Some(t) => t.raw_get(key),
            None => Ok(Value::Nil),
        }
    }

    fn bad(&self, key: &str, expected: &str, v: &Value) -> mlua::Error {
        fail(
            self.f,
            format!("option {key:?} must be {expected}, got {}", type_name(v)),
        )
    }

    pub fn string(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.value(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_str()?.to_string())),
            v => Err(self.bad(key, "a string", &v)),
        }
    }

    pub fn bool(&self, key: &str) -> mlua::Result<Option<bool>> {
        match self.value(key)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            v => Err(self.bad(key, "a boolean", &v)),
        }
    }

    pub fn int(&self, key: &str, min: i64, max: i64) -> mlua::Result<Option<i64>> {
        match self.value(key)? {
            Value::Nil => Ok(None),
            v => super::values::integer(self.f, &format!("option {key:?}"), &v, min, max).map(Some),
        }
    }

    /// A number of seconds (`positive`: more than zero).
    pub fn seconds(&self, key: &str, positive: bool) -> mlua::Result<Option<std::time::Duration>> {
        super::values::seconds(self.f, &format!("option {key:?}"), &self.value(key)?, positive)
    }

    pub fn u32(&self, key: &str) -> mlua::Result<Option<u32>> {
        Ok(self.int(key, 0, u32::MAX as i64)?.map(|n| n as u32))
    }
}

/// Converts a core result into a Lua one, naming the function.
pub trait Named<T> {
    fn named(self, f: &str) -> mlua::Result<T>;
}

impl<T> Named<T> for core::Result<T> {
    fn named(self, f: &str) -> mlua::Result<T> {
        self.map_err(|e| lerr(f, e))
    }
}

/// The `__index` fallback of lunet's objects: a key that is a method of another kind
/// of object gives a function that says which object this is and the right call
/// (instead of Lua's "attempt to call a nil value"); any other key is nil.
pub fn wrong_object(lua: &mlua::Lua, kind: &'static str, this: String, key: Value) -> mlua::Result<Value> {
    let Value::String(k) = key else { return Ok(Value::Nil) };
    let k = k.to_str()?.to_string();
    let Some(owner) = super::docs::owner_of(&k, kind) else {
        return Ok(Value::Nil);
    };
    let what = match kind {
        "ns" => "a namespace",
        "link" => "an interface",
        _ => "a process",
    };
    let (owner_name, hint) = match (owner, kind) {
        ("link", _) => ("a Link", format!("ns:link(\"NAME\"):{k}(…)")),
        ("ns", "link") => ("an Ns", format!("link.ns:{k}(…)")),
        ("ns", _) => ("an Ns", format!("net.ns.get(\"NAME\"):{k}(…)")),
        _ => ("a Proc", format!("ns:spawn(…):{k}(…)")),
    };
    let msg = format!("{kind}:{k}: {this} is {what}; {k} is {owner_name} method: {hint}");
    Ok(Value::Function(lua.create_function(
        move |_, _: mlua::MultiValue| Err::<(), _>(mlua::Error::runtime(msg.clone())),
    )?))
}
