//! Lua tables → typed route and rule specs (unknown keys are errors).

use mlua::{Table, Value};

use super::args::{fail, Named, Opts};
use crate::core::names::{parse_ip, Cidr, Dest};
use crate::core::op::{RouteSpec, RuleSpec, Scope};
use crate::core::qdisc::{self, Given, ShapeSpec};
use crate::core::route::RouteFilter;

const ROUTE_KEYS: &[&str] = &["to", "via", "dev", "table", "metric", "src", "scope", "proto"];
const RULE_KEYS: &[&str] = &["from", "to", "table", "priority", "iif", "fwmark", "family"];
const FILTER_KEYS: &[&str] = &["table", "family", "dev"];

/// `table = 100 | "main" | "local" | "default"`; `"all"` only where `all` is allowed.
fn table_id(o: &Opts, all: bool) -> mlua::Result<Option<Option<u32>>> {
    match o.value("table")? {
        Value::Nil => Ok(None),
        Value::String(s) => match &*s.to_str()? {
            "main" => Ok(Some(Some(254))),
            "local" => Ok(Some(Some(255))),
            "default" => Ok(Some(Some(253))),
            "all" if all => Ok(Some(None)),
            other => Err(fail(
                o.f,
                format!("bad table {other:?}: expected a number, \"main\", \"local\" or \"default\""),
            )),
        },
        _ => Ok(o.int("table", 1, u32::MAX as i64)?.map(|n| Some(n as u32))),
    }
}

pub fn route(f: &'static str, t: Table) -> mlua::Result<RouteSpec> {
    let o = Opts::new(f, t, ROUTE_KEYS)?;
    let via = o.string("via")?.map(|v| parse_ip("gateway", &v)).transpose().named(f)?;
    let to = match o.string("to")? {
        Some(s) => Dest::parse(&s, via.is_some_and(|v| v.is_ipv6())).named(f)?,
        None => {
            return Err(fail(
                f,
                "the route needs a destination: to = \"10.0.0.0/24\" or \"default\"",
            ))
        }
    };
    let scope = match o.string("scope")? {
        Some(s) => {
            Some(Scope::parse(&s).ok_or_else(|| fail(f, format!("bad scope {s:?}: expected global, link or host")))?)
        }
        None => None,
    };
    Ok(RouteSpec {
        to: Some(to),
        via,
        dev: o.string("dev")?,
        table: table_id(&o, false)?.flatten(),
        metric: o.u32("metric")?,
        src: o
            .string("src")?
            .map(|v| parse_ip("source address", &v))
            .transpose()
            .named(f)?,
        scope,
        proto: match o.value("proto")? {
            Value::Nil => None,
            Value::Integer(n) if (0..=255).contains(&n) => Some(n as u8),
            Value::String(s) => Some(crate::core::op::parse_proto(&s.to_str()?).ok_or_else(|| {
                fail(
                    f,
                    format!(
                        "bad proto {:?}: expected a name (static, boot, dhcp, …) or 0..255",
                        s.to_string_lossy()
                    ),
                )
            })?),
            other => {
                return Err(fail(
                    f,
                    format!(
                        "option \"proto\" must be a name or number, got {}",
                        super::args::type_name(&other)
                    ),
                ))
            }
        },
    })
}

pub fn route_filter(f: &'static str, t: Option<Table>) -> mlua::Result<RouteFilter> {
    let Some(t) = t else {
        return Ok(RouteFilter {
            table: Some(254),
            ..Default::default()
        });
    };
    let o = Opts::new(f, t, FILTER_KEYS)?;
    Ok(RouteFilter {
        table: table_id(&o, true)?.unwrap_or(Some(254)),
        v6: family(&o)?,
        dev: o.string("dev")?,
    })
}

fn family(o: &Opts) -> mlua::Result<Option<bool>> {
    match o.string("family")?.as_deref() {
        None => Ok(None),
        Some("inet") | Some("ipv4") => Ok(Some(false)),
        Some("inet6") | Some("ipv6") => Ok(Some(true)),
        Some(other) => Err(fail(
            o.f,
            format!("bad family {other:?}: expected \"inet\" or \"inet6\""),
        )),
    }
}

pub fn rule(f: &'static str, t: Table) -> mlua::Result<RuleSpec> {
    let o = Opts::new(f, t, RULE_KEYS)?;
    let cidr =
        |k: &str| -> mlua::Result<Option<Cidr>> { o.string(k)?.map(|s| Cidr::parse_host(&s)).transpose().named(f) };
    let from = cidr("from")?;
    let to = cidr("to")?;
    let v6 = match family(&o)? {
        Some(v6) => v6,
        None => from.or(to).is_some_and(|c| c.is_ipv6()),
    };
    for c in [from, to].into_iter().flatten() {
        if c.is_ipv6() != v6 {
            return Err(fail(f, format!("{c} is not of the rule's family")));
        }
    }
    Ok(RuleSpec {
        from,
        to,
        table: table_id(&o, false)?.flatten(),
        priority: o.u32("priority")?,
        iif: o.string("iif")?,
        fwmark: o.u32("fwmark")?,
        v6,
    })
}

/// A shape table (`{rate = "10mbit", delay = "5ms", loss = 1, …}`), or nil
/// for none. `what` names the option it came in (`"peer_shape"`), if any.
pub fn shape(f: &str, what: Option<&str>, v: Value) -> mlua::Result<Option<ShapeSpec>> {
    let at = |msg: String| match what {
        Some(w) => fail(f, format!("{w}: {msg}")),
        None => fail(f, msg),
    };
    let t = match v {
        Value::Nil => return Ok(None),
        Value::Table(t) => t,
        other => {
            return Err(at(format!(
                "a shape must be a table (or nil to remove it), got {}",
                super::args::type_name(&other)
            )))
        }
    };
    let mut spec = ShapeSpec::default();
    let mut given: Vec<(String, Given)> = vec![];
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(at(format!(
                "option keys must be strings, got {}",
                super::args::type_name(&k)
            )));
        };
        let key = k.to_string_lossy();
        if !qdisc::KEYS.contains(&key.as_str()) {
            return Err(at(format!(
                "unknown option {key:?} (expected one of: {})",
                qdisc::KEYS.join(", ")
            )));
        }
        let g = match v {
            Value::Integer(n) => Given::Number(n as f64),
            Value::Number(n) => Given::Number(n),
            Value::String(s) => Given::Text(s.to_string_lossy()),
            other => {
                return Err(at(format!(
                    "option {key:?} must be a number or a string, got {}",
                    super::args::type_name(&other)
                )))
            }
        };
        given.push((key, g));
    }
    // In the documented order, so the first bad value reported does not depend on table order.
    given.sort_by_key(|(k, _)| qdisc::KEYS.iter().position(|x| x == k));
    for (k, g) in &given {
        spec.set(k, g).map_err(|e| at(e.to_string()))?;
    }
    spec.check().map_err(|e| at(e.to_string()))?;
    Ok(Some(spec))
}
