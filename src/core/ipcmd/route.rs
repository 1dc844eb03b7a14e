//! `ip route add|delete|replace` (iproute2's `iproute.c`); `show`/`get` are reads.

use super::{matches, number, pick, table_id, Action, Global, Words};
use crate::core::error::Result;
use crate::core::names::{check_ifname, parse_ip, Dest};
use crate::core::op::{parse_proto, Op, RouteSpec, Scope};

pub const VERBS: &[&str] = &[
    "add", "change", "replace", "prepend", "append", "test", "delete", "list", "show", "lst", "get", "flush", "save",
    "restore", "showdump", "help",
];

pub const KEYWORDS: &[&str] = &["via", "dev", "table", "metric", "src", "scope", "proto", "default"];

pub fn parse(g: &Global, verb: Option<&str>, rest: &[String], what: impl Fn(&str) -> String) -> Result<Option<Action>> {
    let Some(verb) = verb else { return Ok(None) };
    match pick(verb, VERBS) {
        Some(v @ ("add" | "delete" | "replace")) => {
            let w = &mut Words::new(rest, what(v));
            let mut route = spec(g, w)?;
            if v != "delete" && route.proto.is_none() {
                // iproute2's default: what `ip route add` makes is `proto boot` (lunet's own are static).
                route.proto = Some(3);
            }
            let ns = g.ns.clone();
            Ok(Some(match v {
                "add" => Action::Ops(vec![Op::RouteAdd { ns, route }]),
                "delete" => Action::Ops(vec![Op::RouteDel { ns, route }]),
                _ => Action::RouteReplace { ns, route },
            }))
        }
        Some("list" | "show" | "lst" | "get" | "save" | "showdump" | "help") => Ok(None),
        Some(other) => Err(Words::new(rest, what(other)).err("not supported by lunet")),
        None => Err(Words::new(rest, "ip route").unknown(verb)),
    }
}

/// `[to] [unicast] PREFIX|default [via ADDR] [dev D] [table T] [metric N] [src A] [scope S] [proto P]`
fn spec(g: &Global, w: &mut Words) -> Result<RouteSpec> {
    let mut r = RouteSpec::default();
    let mut to: Option<&str> = None;
    while let Some(word) = w.next() {
        match word {
            "src" => r.src = Some(w.value_with(word, |w, v| w.parsed(parse_ip("source address", v)))?),
            "via" => {
                let mut a = w.value(word)?;
                if a == "inet" || a == "inet6" {
                    a = w.value(word)?;
                }
                r.via = Some(w.parsed(parse_ip("gateway", a))?);
            }
            "scope" => {
                let s = w.value(word)?;
                r.scope = Some(
                    Scope::parse(s).ok_or_else(|| w.err(format!("bad scope {s:?}: expected global, link or host")))?,
                );
            }
            "dev" | "oif" => {
                let d = w.value(word)?;
                w.parsed(check_ifname(d))?;
                r.dev = Some(d.to_string());
            }
            "to" => to = Some(w.value(word)?),
            "unicast" => {}
            "onlink" | "nexthop" | "nhid" | "encap" | "from" | "tos" | "expires" | "mtu" | "hoplimit" | "advmss"
            | "rtt" | "rto_min" | "as" | "ttl-propagate" | "blackhole" | "unreachable" | "prohibit" | "local"
            | "broadcast" | "throw" | "nat" | "anycast" | "multicast" => return Err(w.unsupported(word)),
            _ if matches(word, "metric") || matches(word, "priority") || word == "preference" => {
                r.metric = Some(w.value_with(word, |w, v| number(w, "metric", v))?)
            }
            _ if matches(word, "protocol") => {
                let p = w.value(word)?;
                r.proto = Some(parse_proto(p).ok_or_else(|| w.err(format!("bad proto {p:?}")))?);
            }
            _ if matches(word, "table") => r.table = Some(w.value_with(word, table_id)?),
            _ if [
                "dsfield",
                "reordering",
                "window",
                "cwnd",
                "initcwnd",
                "initrwnd",
                "features",
                "quickack",
                "congctl",
                "rttvar",
                "ssthresh",
                "realms",
                "vrf",
                "pref",
                "fastopen_no_cookie",
            ]
            .iter()
            .any(|k| matches(word, k)) =>
            {
                return Err(w.unsupported(word))
            }
            _ if to.is_none() => to = Some(word),
            _ => return Err(w.unknown(word)),
        }
    }
    let to = to.ok_or_else(|| w.err("which destination? (a prefix like 10.0.0.0/24, or default)"))?;
    let v6 = g.v6.unwrap_or(false) || r.via.is_some_and(|v| v.is_ipv6());
    let dest = w.parsed(Dest::parse(to, v6))?;
    if g.v6.is_some_and(|v6| v6 != dest.is_ipv6()) {
        return Err(w.err(format!("{to} is not of the family asked for (-4/-6)")));
    }
    if let Some(via) = r.via {
        if via.is_ipv6() != dest.is_ipv6() {
            return Err(w.err(format!("gateway {via} is not of the family of {to}")));
        }
    }
    r.to = Some(dest);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::parse_line;
    use super::*;
    use crate::core::netns::NsId;

    fn run(line: &str) -> crate::core::Result<Action> {
        parse_line(line, &NsId::Host)
    }

    fn op(line: &str) -> String {
        match run(line).unwrap() {
            Action::Ops(ops) => ops[0].to_string(),
            Action::RouteReplace { route, .. } => format!("replace {route}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(
            op("route add default via 10.0.0.1"),
            "ip route add default via 10.0.0.1 proto boot"
        );
        assert_eq!(
            op("r a 10.1.0.0/16 dev eth0"),
            "ip route add 10.1.0.0/16 dev eth0 proto boot"
        );
        assert_eq!(
            op("ro add to 10.1.0.0/16 via 10.0.0.1 dev eth0 table 100 metric 5 src 10.0.0.2 scope global proto boot"),
            "ip route add 10.1.0.0/16 via 10.0.0.1 dev eth0 table 100 metric 5 src 10.0.0.2 scope global proto boot"
        );
        assert_eq!(
            op("-6 route add default dev eth0"),
            "ip -6 route add default dev eth0 proto boot"
        );
        assert_eq!(
            op("route add default via fd00::1"),
            "ip -6 route add default via fd00::1 proto boot"
        );
        assert_eq!(op("route del 10.1.0.0/16"), "ip route del 10.1.0.0/16");
        assert_eq!(
            op("route replace 10.1.0.0/16 dev eth0 t main"),
            "replace 10.1.0.0/16 dev eth0 table 254 proto boot"
        );
        assert_eq!(
            op("route add 10.2.0.0/24 dev eth0 pri 7"),
            "ip route add 10.2.0.0/24 dev eth0 metric 7 proto boot"
        );
        assert!(matches!(run("r").unwrap(), Action::Exec { .. }));
        assert!(matches!(run("r get 1.1.1.1").unwrap(), Action::Exec { .. }));
    }

    #[test]
    fn route_errors() {
        let e = |l: &str| run(l).unwrap_err().to_string();
        assert!(e("route add 10.0.0.1/24 dev x").contains("host bits set"));
        assert_eq!(
            e("route add 10.0.0.0/24 dev x onlink"),
            "ip route add: \"onlink\" is not supported by lunet"
        );
        assert_eq!(
            e("route add dev x"),
            "ip route add: which destination? (a prefix like 10.0.0.0/24, or default)"
        );
        assert_eq!(
            e("route add 10.0.0.0/24 via fd00::1"),
            "ip route add: gateway fd00::1 is not of the family of 10.0.0.0/24"
        );
        assert_eq!(
            e("route add 10.0.0.0/24 dev x table bogus"),
            "ip route add: bad table \"bogus\": expected a number, main, local or default"
        );
        assert_eq!(e("route flush table main"), "ip route flush: not supported by lunet");
        assert_eq!(e("route add 10.0.0.0/24 dev x y"), "ip route add: \"y\" not understood");
    }
}
