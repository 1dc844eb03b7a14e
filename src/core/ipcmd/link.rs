//! `ip link add|set|delete` (iproute2's `iplink.c`); `show` is a read.

use super::{matches, number, pick, Action, Global, Words};
use crate::core::error::Result;
use crate::core::names::{check_ifname, parse_ip, parse_mac};
use crate::core::netns::NsId;
use crate::core::op::{LinkChange, LinkKind, MacvlanMode, NewLink, Op, VxlanSpec};

pub const VERBS: &[&str] = &[
    "add", "set", "change", "replace", "delete", "show", "lst", "list", "xstats", "afstats", "property", "help",
];

/// Link kinds lunet creates.
pub const KINDS: &[&str] = &["veth", "bridge", "dummy", "vlan", "macvlan", "vxlan"];

/// Keywords of `ip link add/set` lunet knows, for completion.
pub const KEYWORDS: &[&str] = &[
    "up", "down", "name", "link", "address", "mtu", "netns", "master", "nomaster", "type", "dev",
];

/// `None`: a read (`ip link show`), run as is.
pub fn parse(g: &Global, verb: Option<&str>, rest: &[String], what: impl Fn(&str) -> String) -> Result<Option<Action>> {
    let Some(verb) = verb else { return Ok(None) };
    match pick(verb, VERBS) {
        Some("add") => add(g, &mut Words::new(rest, what("add"))).map(Some),
        Some("set" | "change") => set(g, &mut Words::new(rest, what("set"))).map(Some),
        Some("delete") => del(g, &mut Words::new(rest, what("delete"))).map(Some),
        Some("show" | "lst" | "list" | "xstats" | "afstats" | "help") => Ok(None),
        Some(other) => Err(Words::new(rest, what(other)).err("not supported by lunet")),
        None => Err(Words::new(rest, "ip link").unknown(verb)),
    }
}

fn netns_arg(w: &Words, s: &str) -> Result<NsId> {
    // `netns 1` is PID 1's namespace: the one lunet (and the plan it prints) calls host.
    if s == "1" {
        return Ok(NsId::Host);
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Err(w.err(format!(
            "netns {s}: a namespace by PID is not supported by lunet (name it)"
        )));
    }
    w.parsed(NsId::named(s))
}

fn ifname<'a>(w: &Words, s: &'a str) -> Result<&'a str> {
    w.parsed(check_ifname(s))?;
    Ok(s)
}

/// `ip link add [link DEV] [name] NAME [address MAC] [mtu N] [up] [master M] [netns NS] type KIND [ARGS]`
fn add(g: &Global, w: &mut Words) -> Result<Action> {
    let mut name: Option<String> = None;
    let mut parent: Option<String> = None;
    let (mut mtu, mut mac, mut up, mut master, mut in_ns) = (None, None, false, None, None);
    let mut kind_word = None;
    while let Some(word) = w.next() {
        match word {
            "up" => up = true,
            "down" => up = false,
            "name" | "dev" => name = Some(w.value_with(word, ifname)?.into()),
            "mtu" => mtu = Some(w.value_with(word, |w, v| number(w, "mtu", v))?),
            "netns" => in_ns = Some(w.value_with(word, netns_arg)?),
            _ if matches(word, "link") => parent = Some(w.value_with(word, ifname)?.into()),
            _ if matches(word, "address") => mac = Some(w.value_with(word, |w, v| w.parsed(parse_mac(v)))?),
            _ if matches(word, "master") => master = Some(w.value_with(word, ifname)?.to_string()),
            _ if matches(word, "type") => {
                kind_word = Some(w.value(word)?);
                break;
            }
            _ if is_link_keyword(word) => return Err(w.unsupported(word)),
            _ if name.is_none() => name = Some(ifname(w, word)?.into()),
            _ => return Err(w.unknown(word)),
        }
    }
    let name = name.ok_or_else(|| w.err("which interface? (ip link add NAME type KIND)"))?;
    let Some(kind_word) = kind_word else {
        return Err(w.err(format!("{name}: \"type\" is required ({})", KINDS.join(", "))));
    };
    let here = in_ns.clone().unwrap_or_else(|| g.ns.clone());
    let mut after = vec![];
    let kind = match kind_word {
        "veth" => {
            let (peer, peer_ns, peer_mtu) = veth_peer(g, w)?;
            // lunet gives both ends a veth's mtu; iproute2 gives each end its own.
            for (ns, dev, m) in [(&here, &name, mtu.take()), (&peer_ns, &peer, peer_mtu)] {
                if let Some(m) = m {
                    after.push(Op::LinkSet {
                        ns: ns.clone(),
                        dev: dev.clone(),
                        change: LinkChange {
                            mtu: Some(m),
                            ..Default::default()
                        },
                    });
                }
            }
            LinkKind::Veth { peer, peer_ns }
        }
        "bridge" | "dummy" => {
            if let Some(x) = w.next() {
                return Err(w.unsupported(x));
            }
            if kind_word == "bridge" {
                LinkKind::Bridge
            } else {
                LinkKind::Dummy
            }
        }
        "vlan" => {
            let parent = parent
                .clone()
                .ok_or_else(|| w.err("type vlan needs \"link DEV\" (its parent)"))?;
            let mut id = None;
            while let Some(word) = w.next() {
                match word {
                    "id" => {
                        let n = w.value_with(word, |w, v| number(w, "vlan id", v))?;
                        if !(1..=4094).contains(&n) {
                            return Err(w.err(format!("vlan id must be 1..4094, got {n}")));
                        }
                        id = Some(n as u16);
                    }
                    _ => return Err(w.unsupported(word)),
                }
            }
            let id = id.ok_or_else(|| w.err("type vlan needs \"id N\""))?;
            LinkKind::Vlan { parent, id }
        }
        "macvlan" => {
            let parent = parent
                .clone()
                .ok_or_else(|| w.err("type macvlan needs \"link DEV\" (its parent)"))?;
            let mut mode = MacvlanMode::Vepa;
            while let Some(word) = w.next() {
                match word {
                    "mode" => {
                        let m = w.value(word)?;
                        mode = MacvlanMode::parse(m).ok_or_else(|| {
                            w.err(format!(
                                "bad macvlan mode {m:?}: expected private, vepa, bridge or passthru"
                            ))
                        })?;
                    }
                    _ => return Err(w.unsupported(word)),
                }
            }
            LinkKind::Macvlan { parent, mode }
        }
        "vxlan" => LinkKind::Vxlan(vxlan(w)?),
        other => {
            return Err(w.err(format!(
                "type \"{other}\" is not supported by lunet ({} are)",
                KINDS.join(", ")
            )))
        }
    };
    if in_ns.as_ref().is_some_and(|n| *n != g.ns)
        && !matches!(kind, LinkKind::Veth { .. } | LinkKind::Bridge | LinkKind::Dummy)
    {
        return Err(w.err("\"netns\" at creation is supported by lunet for veth, bridge and dummy only"));
    }
    if parent.is_some() && !matches!(kind, LinkKind::Vlan { .. } | LinkKind::Macvlan { .. }) {
        return Err(w.err("\"link DEV\" is only for vlan and macvlan"));
    }
    let mut ops = vec![Op::LinkAdd {
        ns: here.clone(),
        link: NewLink {
            name: name.clone(),
            kind,
            mtu,
            mac,
            master,
            // `ip link add … up` brings up this end only (lunet's own `up` would bring up a veth's peer too).
            up: false,
        },
    }];
    ops.extend(after);
    if up {
        ops.push(Op::LinkSet {
            ns: here,
            dev: name,
            change: LinkChange {
                up: Some(true),
                ..Default::default()
            },
        });
    }
    Ok(Action::Ops(ops))
}

/// Words iproute2 knows after `ip link add/set` that lunet does not do.
fn is_link_keyword(word: &str) -> bool {
    [
        "index",
        "broadcast",
        "brd",
        "txqueuelen",
        "qlen",
        "txqlen",
        "inet",
        "xdp",
        "xdpgeneric",
        "xdpdrv",
        "multicast",
        "allmulticast",
        "promisc",
        "trailers",
        "arp",
        "carrier",
        "vf",
        "vrf",
        "dynamic",
        "alias",
        "group",
        "mode",
        "state",
        "numtxqueues",
        "numrxqueues",
        "addrgenmode",
        "link-netns",
        "link-netnsid",
        "protodown",
        "gso_max_size",
        "gso_max_segs",
        "gro_max_size",
        "parentdev",
    ]
    .contains(&word)
}

/// `peer [name] NAME [mtu N] [netns NS]`
fn veth_peer(g: &Global, w: &mut Words) -> Result<(String, NsId, Option<u32>)> {
    let mut peer = None;
    let mut mtu = None;
    let mut peer_ns = g.ns.clone();
    match w.next() {
        Some("peer") => {}
        Some(x) => return Err(w.unsupported(x)),
        None => return Err(w.err("type veth needs \"peer name NAME\" (lunet names both ends)")),
    }
    while let Some(word) = w.next() {
        match word {
            "name" | "dev" => peer = Some(w.value_with(word, ifname)?.to_string()),
            "netns" => peer_ns = w.value_with(word, netns_arg)?,
            "mtu" => mtu = Some(w.value_with(word, |w, v| number(w, "mtu", v))?),
            _ if is_link_keyword(word) || matches(word, "address") || matches(word, "master") => {
                return Err(w.err(format!("\"{word}\" for a veth peer is not supported by lunet")))
            }
            _ if peer.is_none() => peer = Some(ifname(w, word)?.to_string()),
            _ => return Err(w.unknown(word)),
        }
    }
    let peer = peer.ok_or_else(|| w.err("type veth needs \"peer name NAME\" (lunet names both ends)"))?;
    Ok((peer, peer_ns, mtu))
}

fn vxlan(w: &mut Words) -> Result<VxlanSpec> {
    let mut v = VxlanSpec::default();
    let mut id = None;
    while let Some(word) = w.next() {
        match word {
            "id" | "vni" => id = Some(w.value_with(word, |w, v| number(w, "vxlan id", v))?),
            "remote" | "local" | "group" => {
                let a = w.value_with(word, |w, v| w.parsed(parse_ip("address", v)))?;
                match word {
                    "remote" => v.remote = Some(a),
                    "local" => v.local = Some(a),
                    _ => v.group = Some(a),
                }
            }
            "dev" => v.dev = Some(w.value_with(word, ifname)?.to_string()),
            "dstport" => {
                let p = w.value_with(word, |w, v| number(w, "port", v))?;
                v.port = Some(u16::try_from(p).map_err(|_| w.err(format!("bad port {p}")))?);
            }
            _ => return Err(w.unsupported(word)),
        }
    }
    v.id = id.ok_or_else(|| w.err("type vxlan needs \"id VNI\""))?;
    if v.id >= 1 << 24 {
        return Err(w.err(format!("vxlan id must be below 16777216, got {}", v.id)));
    }
    if v.remote.is_some() && v.group.is_some() {
        return Err(w.err("give either \"remote\" or \"group\", not both"));
    }
    // Without dstport, iproute2 leaves the kernel's default port (8472), not IANA's 4789.
    if v.port.is_none() {
        v.port = Some(8472);
    }
    Ok(v)
}

/// `ip link set [dev] DEV [up|down] [master M|nomaster] [mtu N] [address MAC] [name NEW] [netns NS]`
fn set(g: &Global, w: &mut Words) -> Result<Action> {
    let mut dev: Option<String> = None;
    let mut c = LinkChange::default();
    while let Some(word) = w.next() {
        match word {
            "up" => c.up = Some(true),
            "down" => c.up = Some(false),
            "name" => c.name = Some(w.value_with(word, ifname)?.to_string()),
            "mtu" => c.mtu = Some(w.value_with(word, |w, v| number(w, "mtu", v))?),
            "netns" => c.ns = Some(w.value_with(word, netns_arg)?),
            "dev" => dev = Some(w.value_with(word, ifname)?.to_string()),
            _ if matches(word, "link") => return Err(w.unsupported(word)),
            _ if matches(word, "address") => c.mac = Some(w.value_with(word, |w, v| w.parsed(parse_mac(v)))?),
            _ if matches(word, "master") => c.master = Some(Some(w.value_with(word, ifname)?.to_string())),
            _ if matches(word, "nomaster") => c.master = Some(None),
            _ if matches(word, "type") => return Err(w.unsupported(word)),
            _ if is_link_keyword(word) => return Err(w.unsupported(word)),
            _ if dev.is_none() => dev = Some(ifname(w, word)?.to_string()),
            _ => return Err(w.unknown(word)),
        }
    }
    let dev = dev.ok_or_else(|| w.err("which interface? (ip link set DEV …)"))?;
    if c == LinkChange::default() {
        return Err(w.err(format!("{dev}: nothing to change")));
    }
    Ok(Action::Ops(vec![Op::LinkSet {
        ns: g.ns.clone(),
        dev,
        change: c,
    }]))
}

/// `ip link delete [dev] DEV [type KIND]`
fn del(g: &Global, w: &mut Words) -> Result<Action> {
    let mut dev = None;
    while let Some(word) = w.next() {
        match word {
            "dev" | "name" => dev = Some(w.value_with(word, ifname)?.to_string()),
            _ if matches(word, "type") => {
                w.value(word)?;
            }
            _ if dev.is_none() => dev = Some(ifname(w, word)?.to_string()),
            _ => return Err(w.unknown(word)),
        }
    }
    let dev = dev.ok_or_else(|| w.err("which interface? (ip link delete DEV)"))?;
    Ok(Action::Ops(vec![Op::LinkDel { ns: g.ns.clone(), dev }]))
}

#[cfg(test)]
mod tests {
    use super::super::parse_ip;
    use super::*;

    fn ops(line: &str) -> Vec<String> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        match parse_ip(&words, &NsId::Host).unwrap() {
            Action::Ops(ops) => ops.iter().map(|o| o.to_string()).collect(),
            other => panic!("{line}: {other:?}"),
        }
    }

    fn err(line: &str) -> String {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_ip(&words, &NsId::Host).unwrap_err().to_string()
    }

    #[test]
    fn link_add() {
        assert_eq!(
            ops("link add veth0 type veth peer name veth1"),
            ["ip link add veth0 type veth peer name veth1"]
        );
        assert_eq!(
            ops("l a name v0 up type veth peer v1 netns left"),
            [
                "ip link add v0 type veth peer name v1 netns left",
                "ip link set dev v0 up"
            ]
        );
        assert_eq!(
            ops("link add v0 netns a type veth peer name v1"),
            ["ip -n a link add v0 type veth peer name v1 netns 1"]
        );
        assert_eq!(ops("link add br0 type bridge"), ["ip link add br0 type bridge"]);
        assert_eq!(
            ops("link add link eth0 name eth0.10 type vlan id 10"),
            ["ip link add eth0.10 link eth0 type vlan id 10"]
        );
        assert_eq!(
            ops("link add mv0 link eth0 type macvlan mode bridge"),
            ["ip link add mv0 link eth0 type macvlan mode bridge"]
        );
        assert_eq!(
            ops("link add vx0 type vxlan id 42 remote 10.0.0.2 dev eth0 dstport 4789"),
            ["ip link add vx0 type vxlan id 42 remote 10.0.0.2 dev eth0 dstport 4789"]
        );
        assert_eq!(
            ops("link add d0 mtu 1400 addr 02:00:00:00:00:01 type dummy"),
            ["ip link add d0 mtu 1400 address 02:00:00:00:00:01 type dummy"]
        );
    }

    #[test]
    fn link_set_and_del() {
        assert_eq!(ops("link set dev x up"), ["ip link set dev x up"]);
        assert_eq!(ops("l s x m br0"), ["ip link set dev x master br0"]);
        assert_eq!(ops("link set x nomaster down"), ["ip link set dev x nomaster down"]);
        assert_eq!(ops("link set x netns left"), ["ip link set dev x netns left"]);
        assert_eq!(ops("link set x name y mtu 1000"), ["ip link set dev x name y mtu 1000"]);
        assert_eq!(ops("link del x"), ["ip link del dev x"]);
        assert_eq!(ops("link d dev x type veth"), ["ip link del dev x"]);
    }

    #[test]
    fn link_errors() {
        assert_eq!(
            err("link add x type wireguard"),
            "ip link add: type \"wireguard\" is not supported by lunet (veth, bridge, dummy, vlan, macvlan, vxlan are)"
        );
        assert_eq!(
            err("link add x type veth peer name"),
            "ip link add: \"name\" needs a value"
        );
        assert_eq!(
            err("link add x"),
            "ip link add: x: \"type\" is required (veth, bridge, dummy, vlan, macvlan, vxlan)"
        );
        assert_eq!(err("link set x up bogus"), "ip link set: \"bogus\" not understood");
        assert_eq!(err("link set x"), "ip link set: x: nothing to change");
        assert_eq!(
            err("link set x promisc on"),
            "ip link set: \"promisc\" is not supported by lunet"
        );
        assert_eq!(
            err("link add x type vlan id 3"),
            "ip link add: type vlan needs \"link DEV\" (its parent)"
        );
        assert_eq!(
            err("link add x type veth"),
            "ip link add: type veth needs \"peer name NAME\" (lunet names both ends)"
        );
        assert!(err("link add a23456789012345678 type dummy").contains("longer than 15 bytes"));
        assert!(err("link set x mtu big").contains("bad mtu \"big\""));
        assert_eq!(err("link frob x"), "ip link: \"frob\" not understood");
        assert_eq!(err("link replace x"), "ip link replace: not supported by lunet");
    }
}
