//! `ip netns add|delete|exec` and `ip -all netns exec` (iproute2's `ipnetns.c`).
//! `ip netns exec NS` followed by a line lunet understands (`ip …`, `sysctl -w`,
//! `iptables …`) is that line acting in NS; followed by any other program, it
//! runs the program there.

use super::{pick, Action, Global, Words};
use crate::core::error::Result;
use crate::core::netns::NsId;
use crate::core::op::Op;

pub const VERBS: &[&str] = &[
    "list", "show", "lst", "list-id", "help", "add", "set", "delete", "identify", "pids", "exec", "monitor",
];

/// A stand-in namespace to check `ip -all netns exec CMD` once, before it runs for each namespace.
pub const EACH: &str = "EACH";

pub fn parse(g: &Global, all: bool, verb: Option<&str>, rest: &[String]) -> Result<Option<Action>> {
    let Some(verb) = verb else { return Ok(None) };
    let v = pick(verb, VERBS);
    let w = &mut Words::new(rest, format!("ip netns {}", v.unwrap_or(verb)));
    let name = |w: &mut Words| -> Result<String> {
        let n = w.next().ok_or_else(|| w.err("which namespace?"))?;
        w.parsed(NsId::named(n))?;
        Ok(n.to_string())
    };
    let action = match v {
        Some("add") => Action::Ops(vec![Op::NsAdd {
            name: name(w)?,
            ipv6_off: false,
        }]),
        Some("delete") => Action::Ops(vec![Op::NsDel { name: name(w)? }]),
        Some("exec") if all => {
            let cmd = w.rest();
            if cmd.is_empty() {
                return Err(w.err("which command?"));
            }
            // Checked now, run later in every namespace there is then.
            super::script::command(cmd, &NsId::Named(EACH.into()))?;
            return Ok(Some(Action::ForAll {
                words: cmd.to_vec(),
                background: false,
            }));
        }
        Some("exec") => {
            let ns = NsId::Named(name(w)?);
            let cmd = w.rest();
            if cmd.is_empty() {
                return Err(w.err("which command?"));
            }
            return super::script::command(cmd, &ns).map(Some);
        }
        Some("list" | "show" | "lst" | "list-id" | "help" | "identify" | "pids" | "monitor") => return Ok(None),
        Some(_) => return Err(w.err("not supported by lunet")),
        None => return Err(Words::new(rest, "ip netns").unknown(verb)),
    };
    if let Some(extra) = w.next() {
        return Err(w.unknown(extra));
    }
    let _ = g;
    Ok(Some(action))
}

#[cfg(test)]
mod tests {
    use super::super::parse_line;
    use super::*;

    fn run(line: &str) -> Result<Action> {
        parse_line(line, &NsId::Host)
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            run("netns add a").unwrap(),
            Action::Ops(vec![Op::NsAdd {
                name: "a".into(),
                ipv6_off: false
            }])
        );
        assert_eq!(
            run("net d a").unwrap(),
            Action::Ops(vec![Op::NsDel { name: "a".into() }])
        );
        let Action::Ops(ops) = run("netns exec a ip link set lo up").unwrap() else {
            panic!()
        };
        assert_eq!(ops[0].to_string(), "ip -n a link set dev lo up");
        let Action::Ops(ops) = run("netns exec a sysctl -w net.ipv4.ip_forward=1").unwrap() else {
            panic!()
        };
        assert_eq!(ops[0].to_string(), "ip netns exec a sysctl -qw net.ipv4.ip_forward=1");
        assert_eq!(
            run("netns e a ping -c1 10.0.0.1").unwrap(),
            Action::Exec {
                ns: NsId::Named("a".into()),
                argv: ["ping", "-c1", "10.0.0.1"].map(String::from).to_vec()
            }
        );
        assert!(matches!(
            run("-all netns exec ip route add default via 10.0.0.1").unwrap(),
            Action::ForAll { .. }
        ));
        assert!(matches!(run("netns").unwrap(), Action::Exec { .. }));
        let e = |l: &str| run(l).unwrap_err().to_string();
        assert_eq!(e("netns add"), "ip netns add: which namespace?");
        assert_eq!(e("netns add a b"), "ip netns add: \"b\" not understood");
        assert_eq!(e("netns exec a"), "ip netns exec: which command?");
        assert_eq!(e("netns set a 1"), "ip netns set: not supported by lunet");
        assert_eq!(
            e("-all netns del"),
            "ip -all: only `ip -all netns exec CMD` is supported by lunet (ip netns)"
        );
        assert!(e("-all netns exec ip link frob").contains("\"frob\" not understood"));
    }
}
