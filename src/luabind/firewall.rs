//! iptables from Lua: `ns:iptables(args)`, `ns:ip6tables(args)`,
//! `ns:iptables_restore(text)`, and the helpers people use most
//! (`nat_masquerade`, `forward_accept`, `port_forward`, `ip_forward`).
//! Every rule added is journaled, so teardown deletes exactly those rules.

use mlua::{Lua, MultiValue, Value};

use super::args::{fail, type_name, Args, Named, Opts};
use super::net;
use crate::core::firewall::{self, Parsed};
use crate::core::names::{parse_ip, Cidr};
use crate::core::op::Op;
use crate::core::{fwrules, words, NsId};

fn arg_words(f: &str, v: Value) -> mlua::Result<Vec<String>> {
    match v {
        Value::String(s) => words::split(&s.to_str()?).named(f),
        Value::Table(t) => t.sequence_values::<String>().collect(),
        other => Err(fail(
            f,
            format!(
                "argument #1 (args) must be a string or an array, got {}",
                type_name(&other)
            ),
        )),
    }
}

/// `ns:iptables(args)` / `ns:ip6tables(args)`: changes are journaled; reads (`-S`, `-L`) return their output.
pub async fn iptables(lua: Lua, ns: NsId, v6: bool, args: MultiValue) -> mlua::Result<String> {
    let f = if v6 { "ns:ip6tables" } else { "ns:iptables" };
    let a = Args::new(f, args);
    let words = arg_words(f, a.get(1))?;
    if words.is_empty() {
        return Err(fail(f, "no arguments"));
    }
    let net = net(&lua);
    match firewall::parse_args(v6, &words).named(f)? {
        Parsed::Change(change) => {
            net.apply(&Op::Ipt { ns, change }).await.named(f)?;
            Ok(String::new())
        }
        Parsed::Other(args) if net.is_plan() => {
            let words: Vec<String> = args.iter().map(|w| words::quote(w)).collect();
            net.plan_out(&format!(
                "{}{} {}",
                ns.exec_prefix(),
                if v6 { "ip6tables" } else { "iptables" },
                words.join(" ")
            ));
            Ok(String::new())
        }
        Parsed::Other(args) => {
            let mut full = vec!["-w".to_string()];
            full.extend(args);
            let out = net.ipt_run(&ns, v6, "", &full, None).await.named(f)?;
            if out.code != 0 {
                let bin = if v6 { "ip6tables" } else { "iptables" };
                return Err(super::args::lerr(f, firewall::failure(bin, &full, &out)));
            }
            Ok(out.stdout)
        }
    }
}

/// `ns:iptables_restore(text, {v6 = false})`: one atomic batch per table, all
/// tables as one transaction (a later table failing takes the earlier back out).
pub async fn restore(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:iptables_restore", args);
    let text = a.string(1, "text")?;
    let o = a.opts(2, &["v6"])?;
    let v6 = o.bool("v6")?.unwrap_or(false);
    let batch = firewall::parse_batch(&text).named(a.f)?;
    let ops: Vec<Op> = batch
        .tables
        .into_iter()
        .map(|batch| Op::IptRestore {
            ns: ns.clone(),
            v6,
            batch,
        })
        .collect();
    net(&lua).transaction(&ops).await.named(a.f)
}

fn dev(o: &Opts, key: &str) -> mlua::Result<Option<String>> {
    o.string(key)
}

/// `ns:nat_masquerade{source = CIDR, out = dev?}`
pub async fn nat_masquerade(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:nat_masquerade", args);
    let o = Opts::new(a.f, a.table(1, "spec")?, &["source", "out"])?;
    let source = o
        .string("source")?
        .ok_or_else(|| fail(a.f, "option \"source\" (a CIDR) is required"))?;
    let source: Cidr = source.parse().named(a.f)?;
    let op = fwrules::masquerade(&ns, source, dev(&o, "out")?.as_deref()).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `ns:forward_accept{iif = dev?, oif = dev?}`
pub async fn forward_accept(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:forward_accept", args);
    let o = a.opts(1, &["iif", "oif"])?;
    let op = fwrules::forward_accept(&ns, dev(&o, "iif")?.as_deref(), dev(&o, "oif")?.as_deref()).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `ns:port_forward{proto = "tcp", port = N, to = "addr:port", iif = dev?}`
pub async fn port_forward(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:port_forward", args);
    let o = Opts::new(a.f, a.table(1, "spec")?, &["proto", "port", "to", "iif"])?;
    let proto = o.string("proto")?.unwrap_or_else(|| "tcp".into());
    let port = o
        .int("port", 1, 65535)?
        .ok_or_else(|| fail(a.f, "option \"port\" is required"))?;
    let to = o
        .string("to")?
        .ok_or_else(|| fail(a.f, "option \"to\" (\"addr:port\") is required"))?;
    let (addr, to_port) = to
        .rsplit_once(':')
        .ok_or_else(|| fail(a.f, format!("bad target {to:?}: expected \"addr:port\"")))?;
    let addr = parse_ip("target address", addr.trim_start_matches('[').trim_end_matches(']')).named(a.f)?;
    let to_port = to_port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| fail(a.f, format!("bad target port in {to:?}")))?;
    let op = fwrules::port_forward(&ns, &proto, port as u16, (addr, to_port), dev(&o, "iif")?.as_deref()).named(a.f)?;
    net(&lua).apply(&op).await.named(a.f)
}

/// `ns:ip_forward(on)`: IPv4 and IPv6 forwarding, as one transaction.
pub async fn ip_forward(lua: Lua, ns: NsId, args: MultiValue) -> mlua::Result<()> {
    let a = Args::new("ns:ip_forward", args);
    let on = match a.get(1) {
        Value::Nil => true,
        Value::Boolean(b) => b,
        other => {
            return Err(fail(
                a.f,
                format!("argument #1 must be a boolean, got {}", type_name(&other)),
            ))
        }
    };
    net(&lua).transaction(&fwrules::ip_forward(&ns, on)).await.named(a.f)
}
