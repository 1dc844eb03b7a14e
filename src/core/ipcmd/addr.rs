//! `ip address add|delete` (iproute2's `ipaddress.c`); `show` is a read.

use super::{matches, pick, Action, Global, Words};
use crate::core::error::Result;
use crate::core::names::{check_ifname, Cidr};
use crate::core::op::Op;

pub const VERBS: &[&str] = &[
    "add", "change", "replace", "delete", "list", "show", "lst", "flush", "save", "showdump", "restore", "help",
];

pub const KEYWORDS: &[&str] = &["dev", "brd", "broadcast", "local", "scope", "label"];

pub fn parse(g: &Global, verb: Option<&str>, rest: &[String], what: impl Fn(&str) -> String) -> Result<Option<Action>> {
    let Some(verb) = verb else { return Ok(None) };
    match pick(verb, VERBS) {
        Some("add") => modify(g, &mut Words::new(rest, what("add")), true).map(Some),
        Some("delete") => modify(g, &mut Words::new(rest, what("delete")), false).map(Some),
        Some("list" | "show" | "lst" | "save" | "showdump" | "help") => Ok(None),
        Some(other) => Err(Words::new(rest, what(other)).err("not supported by lunet")),
        None => Err(Words::new(rest, "ip address").unknown(verb)),
    }
}

/// The broadcast address lunet sets (it always sets one, as `brd +` does).
fn broadcast(c: &Cidr) -> Option<std::net::Ipv4Addr> {
    match c.addr {
        std::net::IpAddr::V4(a) if c.prefix < 31 => Some((u32::from(a) | (u32::MAX >> c.prefix)).into()),
        _ => None,
    }
}

/// `ip addr add|del [local] CIDR [brd +|ADDR] [scope global] dev DEV`
fn modify(g: &Global, w: &mut Words, add: bool) -> Result<Action> {
    let (mut cidr, mut dev, mut brd, mut label) = (None, None, None::<Option<String>>, None);
    while let Some(word) = w.next() {
        match word {
            "dev" => {
                let d = w.value(word)?;
                w.parsed(check_ifname(d))?;
                dev = Some(d.to_string());
            }
            "local" => cidr = Some(w.value_with(word, |w, v| w.parsed(v.parse::<Cidr>()))?),
            "scope" => {
                let s = w.value(word)?;
                if s != "global" && s != "universe" && s != "0" {
                    return Err(w.err(format!(
                        "scope {s} is not supported by lunet (addresses are scope global)"
                    )));
                }
            }
            "label" => label = Some(w.value(word)?),
            "brd" => brd = Some(Some(w.value(word)?.to_string())),
            _ if matches(word, "broadcast") => brd = Some(Some(w.value(word)?.to_string())),
            "peer" | "remote" | "anycast" | "proto" | "noprefixroute" | "home" | "nodad" | "mngtmpaddr"
            | "optimistic" | "autojoin" => return Err(w.unsupported(word)),
            _ if ["metric", "priority", "preference", "valid_lft", "preferred_lft"]
                .iter()
                .any(|k| matches(word, k)) =>
            {
                return Err(w.unsupported(word))
            }
            _ if cidr.is_none() => cidr = Some(w.parsed(word.parse::<Cidr>())?),
            _ => return Err(w.unknown(word)),
        }
    }
    let cidr = cidr.ok_or_else(|| w.err("which address? (ip address add CIDR dev DEV)"))?;
    let dev = dev.ok_or_else(|| w.err(format!("{cidr}: \"dev DEV\" is required")))?;
    if label.is_some_and(|l| l != dev) {
        return Err(w.err("\"label\" (other than the device's name) is not supported by lunet"));
    }
    if let Some(Some(b)) = &brd {
        let ok = match b.as_str() {
            "+" => true,
            "-" => broadcast(&cidr).is_none(),
            a => broadcast(&cidr).is_some_and(|x| a.parse::<std::net::Ipv4Addr>().is_ok_and(|y| y == x)),
        };
        if !ok {
            return Err(w.err(format!(
                "brd {b}: lunet sets the usual broadcast address ({}), as brd + does",
                broadcast(&cidr).map(|a| a.to_string()).unwrap_or_else(|| "none".into())
            )));
        }
    }
    let ns = g.ns.clone();
    Ok(Action::Ops(vec![if add {
        Op::AddrAdd { ns, dev, cidr }
    } else {
        Op::AddrDel { ns, dev, cidr }
    }]))
}

#[cfg(test)]
mod tests {
    use super::super::parse_line;
    use super::*;
    use crate::core::netns::NsId;

    fn run(line: &str) -> crate::core::Result<Action> {
        parse_line(line, &NsId::Named("n".into()))
    }

    #[test]
    fn addresses() {
        let Action::Ops(ops) = run("a a 10.0.0.1/24 brd + dev eth0").unwrap() else {
            panic!()
        };
        assert_eq!(ops[0].to_string(), "ip -n n addr add 10.0.0.1/24 dev eth0");
        let Action::Ops(ops) = run("addr del fd00::1/64 dev eth0").unwrap() else {
            panic!()
        };
        assert_eq!(ops[0].to_string(), "ip -n n addr del fd00::1/64 dev eth0");
        assert!(run("address add 10.0.0.1/24 broadcast 10.0.0.255 dev eth0").is_ok());
        assert!(run("a a local 10.0.0.1/24 dev eth0 label eth0").is_ok());
        assert!(matches!(run("a s dev eth0").unwrap(), Action::Exec { .. }));
        assert!(matches!(run("a").unwrap(), Action::Exec { .. }));
    }

    #[test]
    fn address_errors() {
        let e = |l: &str| run(l).unwrap_err().to_string();
        assert!(e("addr add 10.0.0.300/24 dev x").starts_with("ip address add: bad address \"10.0.0.300/24\""));
        assert_eq!(
            e("addr add 10.0.0.1/24"),
            "ip address add: 10.0.0.1/24: \"dev DEV\" is required"
        );
        assert_eq!(
            e("addr add 10.0.0.1/24 dev x foo"),
            "ip address add: \"foo\" not understood"
        );
        assert!(e("addr add 10.0.0.1/24 brd 10.0.0.7 dev x").contains("as brd + does"));
        assert_eq!(e("addr flush dev x"), "ip address flush: not supported by lunet");
        assert_eq!(e("addr add 10.0.0.1/24 dev"), "ip address add: \"dev\" needs a value");
    }
}
