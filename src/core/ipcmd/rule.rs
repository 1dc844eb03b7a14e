//! `ip rule add|delete` (iproute2's `iprule.c`); `show` is a read.

use super::{matches, number, pick, table_id, Action, Global, Words};
use crate::core::error::Result;
use crate::core::names::{check_ifname, Cidr};
use crate::core::op::{Op, RuleSpec};

pub const VERBS: &[&str] = &[
    "list", "lst", "show", "save", "restore", "add", "delete", "flush", "help",
];

pub const KEYWORDS: &[&str] = &["from", "to", "table", "lookup", "priority", "pref", "iif", "fwmark"];

pub fn parse(g: &Global, verb: Option<&str>, rest: &[String], what: impl Fn(&str) -> String) -> Result<Option<Action>> {
    let Some(verb) = verb else { return Ok(None) };
    match pick(verb, VERBS) {
        Some(v @ ("add" | "delete")) => {
            let rule = spec(g, &mut Words::new(rest, what(v)))?;
            let ns = g.ns.clone();
            Ok(Some(Action::Ops(vec![if v == "add" {
                Op::RuleAdd { ns, rule }
            } else {
                Op::RuleDel { ns, rule }
            }])))
        }
        Some("list" | "lst" | "show" | "save" | "help") => Ok(None),
        Some(other) => Err(Words::new(rest, what(other)).err("not supported by lunet")),
        None => Err(Words::new(rest, "ip rule").unknown(verb)),
    }
}

fn prefix(w: &Words, s: &str) -> Result<Option<Cidr>> {
    if s == "all" {
        return Ok(None);
    }
    w.parsed(s.parse::<Cidr>()).map(Some)
}

/// `[from P|all] [to P|all] [iif DEV] [fwmark N] [priority N] [table T]`
fn spec(g: &Global, w: &mut Words) -> Result<RuleSpec> {
    let mut r = RuleSpec::default();
    while let Some(word) = w.next() {
        match word {
            "from" => r.from = w.value_with(word, prefix)?,
            "to" => r.to = w.value_with(word, prefix)?,
            "fwmark" => {
                let m = w.value(word)?;
                if m.contains('/') {
                    return Err(w.err("fwmark with a mask is not supported by lunet"));
                }
                r.fwmark = Some(number(w, "fwmark", m)?);
            }
            "lookup" => r.table = Some(w.value_with(word, table_id)?),
            "dev" | "iif" => {
                let d = w.value(word)?;
                w.parsed(check_ifname(d))?;
                r.iif = Some(d.to_string());
            }
            "not" | "tos" | "oif" | "l3mdev" | "uidrange" | "nat" | "ipproto" | "sport" | "dport" | "dscp"
            | "flowlabel" | "type" | "unicast" | "blackhole" | "unreachable" | "prohibit" => {
                return Err(w.unsupported(word))
            }
            _ if matches(word, "preference") || matches(word, "order") || matches(word, "priority") => {
                r.priority = Some(w.value_with(word, |w, v| number(w, "priority", v))?)
            }
            _ if matches(word, "table") => r.table = Some(w.value_with(word, table_id)?),
            _ if [
                "dsfield",
                "realms",
                "protocol",
                "tun_id",
                "suppress_prefixlength",
                "suppress_ifgroup",
                "map-to",
                "goto",
                "nop",
            ]
            .iter()
            .any(|k| matches(word, k)) =>
            {
                return Err(w.unsupported(word))
            }
            _ => return Err(w.unknown(word)),
        }
    }
    r.v6 = g.v6.unwrap_or_else(|| r.from.or(r.to).is_some_and(|c| c.is_ipv6()));
    for c in [r.from, r.to].into_iter().flatten() {
        if c.is_ipv6() != r.v6 {
            return Err(w.err(format!("{c} is not of the rule's family")));
        }
    }
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

    #[test]
    fn rules() {
        let Action::Ops(ops) = run("rule add from 10.0.0.0/24 lookup 100 pref 500").unwrap() else {
            panic!()
        };
        assert_eq!(
            ops[0].to_string(),
            "ip rule add priority 500 from 10.0.0.0/24 table 100"
        );
        let Action::Ops(ops) = run("ru a to 10.9.0.0/16 fwmark 0x10 iif eth0 t 7").unwrap() else {
            panic!()
        };
        assert_eq!(
            ops[0].to_string(),
            "ip rule add to 10.9.0.0/16 iif eth0 fwmark 0x10 table 7"
        );
        let Action::Ops(ops) = run("-6 rule del from all table 9").unwrap() else {
            panic!()
        };
        assert_eq!(ops[0].to_string(), "ip -6 rule del table 9");
        assert!(matches!(run("ru").unwrap(), Action::Exec { .. }));
        let e = run("rule add not from 10.0.0.0/8 table 1").unwrap_err().to_string();
        assert_eq!(e, "ip rule add: \"not\" is not supported by lunet");
        let e = run("rule add from fd00::/64 to 10.0.0.0/8").unwrap_err().to_string();
        assert!(e.contains("not of the rule's family"), "{e}");
    }
}
