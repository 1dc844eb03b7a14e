//! `net.monitor`: `ip monitor` from Lua, as a callback or an iterator.
//!
//!   for ev in net.monitor{ ns = left, timeout = 1 } do print(ev.kind, ev.action, ev.dev) end
//!   net.monitor(function(ev) print(ev.kind) return ev.kind ~= "route" end, { count = 10 })

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::args::{fail, Args, Named, Opts};
use super::net;
use super::ns::ns_arg;
use crate::core::monitor::{Event, Monitor};
use crate::core::NsId;

const KEYS: &[&str] = &["ns", "timeout", "count"];

fn event_table(lua: &Lua, e: &Event) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("kind", e.kind)?;
    t.set("action", e.action)?;
    t.set("dev", e.dev.as_deref())?;
    t.set("up", e.up)?;
    t.set("cidr", e.cidr.as_deref())?;
    t.set("to", e.to.as_deref())?;
    Ok(t)
}

fn timeout(o: &Opts) -> mlua::Result<Option<Duration>> {
    o.seconds("timeout", true)
}

pub async fn monitor(lua: Lua, args: MultiValue) -> mlua::Result<Value> {
    let a = Args::new("net.monitor", args);
    let (callback, o) = match a.get(1) {
        Value::Function(f) => (Some(f), a.opts(2, KEYS)?),
        Value::Table(_) | Value::Nil => (None, a.opts(1, KEYS)?),
        _ => return Err(fail(a.f, "expects a function, an options table, or both")),
    };
    let id = match o.value("ns")? {
        Value::Nil => NsId::Host,
        v => ns_arg(a.f, &v)?,
    };
    let wait = timeout(&o)?;
    let count = o.int("count", 1, i64::MAX)?;
    let mon = net(&lua).monitor(&id).await.named(a.f)?;
    match callback {
        Some(f) => run_callback(&lua, mon, f, wait, count).await.map(|_| Value::Nil),
        None => {
            let mon = Rc::new(RefCell::new(Some(mon)));
            let left = Rc::new(std::cell::Cell::new(count));
            let iter = lua.create_async_function(move |lua, ()| {
                let mon = mon.clone();
                let done = left.get() == Some(0);
                if let Some(n) = left.get() {
                    left.set(Some(n - 1));
                }
                async move {
                    let Some(mut m) = mon.borrow_mut().take() else {
                        return Ok(Value::Nil);
                    };
                    let ev = if done { None } else { m.next(wait).await };
                    match ev {
                        Some(e) => {
                            *mon.borrow_mut() = Some(m);
                            Ok(Value::Table(event_table(&lua, &e)?))
                        }
                        None => Ok(Value::Nil),
                    }
                }
            })?;
            Ok(Value::Function(iter))
        }
    }
}

async fn run_callback(
    lua: &Lua,
    mut mon: Monitor,
    f: Function,
    wait: Option<Duration>,
    count: Option<i64>,
) -> mlua::Result<()> {
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        let Some(ev) = mon.next(wait).await else { break };
        seen += 1;
        let keep: Value = f.call_async(event_table(lua, &ev)?).await?;
        if keep == Value::Boolean(false) {
            break;
        }
    }
    Ok(())
}
