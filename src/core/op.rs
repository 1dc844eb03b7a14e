//! Every change lunet makes to the kernel is one `Op`. All of them pass through
//! `Net::apply`, which traces them (as the equivalent `ip` command) and executes
//! them; the same list is what a journal records and what a plan prints.

use std::fmt;
use std::net::IpAddr;

use super::addr::SavedAddr;
use super::firewall::{IptChange, TableBatch};
use super::names::{format_mac, Cidr, Dest};
use super::netns::NsId;
use super::qdisc::{tc, SavedQdisc, ShapeSpec};
use super::words::quote;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    NsAdd {
        name: String,
        /// IPv6 turned off inside (`all` and `default` `disable_ipv6`) as part
        /// of making it, before any link exists: no IPv6 packet is ever sent.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ipv6_off: bool,
    },
    NsDel {
        name: String,
    },
    LinkAdd {
        ns: NsId,
        link: NewLink,
    },
    LinkSet {
        ns: NsId,
        dev: String,
        change: LinkChange,
    },
    LinkDel {
        ns: NsId,
        dev: String,
    },
    AddrAdd {
        ns: NsId,
        dev: String,
        cidr: Cidr,
    },
    AddrDel {
        ns: NsId,
        dev: String,
        cidr: Cidr,
    },
    /// Undo only: puts back an address lunet deleted (or the kernel dropped
    /// along with a change), with every attribute it had.
    AddrRestore {
        ns: NsId,
        dev: String,
        saved: SavedAddr,
    },
    RouteAdd {
        ns: NsId,
        route: RouteSpec,
    },
    RouteDel {
        ns: NsId,
        route: RouteSpec,
    },
    RuleAdd {
        ns: NsId,
        rule: RuleSpec,
    },
    RuleDel {
        ns: NsId,
        rule: RuleSpec,
    },
    Sysctl {
        ns: NsId,
        key: String,
        value: String,
        /// Undo only: write `value` only if the key still holds this (what lunet set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
    },
    /// Writes /etc/netns/NS/FILE (seen as /etc/FILE by programs run in NS);
    /// FILE may be a relative path (`ssh/sshd_config`). Mode 0644 unless given.
    EtcFile {
        ns: String,
        file: String,
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
    /// Removes /etc/netns/NS/FILE.
    EtcRemove {
        ns: String,
        file: String,
    },
    /// Removes the directory /etc/netns/NS/DIR (DIR "" = /etc/netns/NS) if it
    /// is empty (undo only: lunet made it).
    EtcRmdir {
        ns: String,
        #[serde(default)]
        dir: String,
    },
    /// Conditions a link's egress (`tc qdisc replace dev DEV root tbf|netem …`);
    /// `None` takes lunet's shape off (`tc qdisc del dev DEV root`: the kernel's default comes back).
    Shape {
        ns: NsId,
        dev: String,
        shape: Option<ShapeSpec>,
    },
    /// Undo only: puts back the root qdisc a shape replaced, as the kernel reported it.
    QdiscRestore {
        ns: NsId,
        dev: String,
        saved: SavedQdisc,
    },
    /// One iptables change (`iptables -t T -A/-I/-D/-N/-X/-P …`), run inside the namespace.
    Ipt {
        ns: NsId,
        change: IptChange,
    },
    /// One table's section of an `iptables-restore --noflush` batch (atomic).
    IptRestore {
        ns: NsId,
        v6: bool,
        batch: TableBatch,
    },
    /// Undo only: deletes the nft table behind an iptables table that lunet's
    /// first rule made iptables-nft create, if it is empty again.
    IptDropTable {
        ns: NsId,
        v6: bool,
        table: String,
    },
    /// A background process (`ip netns exec NS CMD &`), started by `Net::spawn`.
    /// `tag` is set as `LUNET_OWNER` in its environment: it marks the whole tree.
    Spawn {
        ns: NsId,
        argv: Vec<String>,
        #[serde(default)]
        tag: String,
    },
    /// Ends a process tree lunet started: the process (if it is still the one
    /// started at `start`), its group, and every process carrying `tag`.
    /// `pid` 0: never learned (lunet died right after starting it).
    Kill {
        pid: i32,
        start: u64,
        #[serde(default)]
        tag: String,
    },
}

/// A link to create (`ip link add`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewLink {
    pub name: String,
    pub kind: LinkKind,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Enslaved at creation (one request instead of two).
    #[serde(default)]
    pub master: Option<String>,
    /// Up at creation (for a veth: this end; its peer cannot be created up).
    #[serde(default)]
    pub up: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LinkKind {
    /// The peer is created directly in `peer_ns` (by fd), never moved there afterwards.
    Veth {
        peer: String,
        peer_ns: NsId,
    },
    Bridge,
    Dummy,
    Vlan {
        parent: String,
        id: u16,
    },
    Macvlan {
        parent: String,
        mode: MacvlanMode,
    },
    Vxlan(VxlanSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
}

impl MacvlanMode {
    pub fn parse(s: &str) -> Option<MacvlanMode> {
        Some(match s {
            "private" => MacvlanMode::Private,
            "vepa" => MacvlanMode::Vepa,
            "bridge" => MacvlanMode::Bridge,
            "passthru" => MacvlanMode::Passthru,
            _ => return None,
        })
    }
    fn as_str(&self) -> &'static str {
        match self {
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct VxlanSpec {
    pub id: u32,
    pub remote: Option<IpAddr>,
    pub local: Option<IpAddr>,
    pub group: Option<IpAddr>,
    pub dev: Option<String>,
    pub port: Option<u16>,
}

/// Changes to an existing link (`ip link set`); `None` leaves a property alone.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// `Some(None)` = nomaster.
    #[serde(default, with = "double_option")]
    pub master: Option<Option<String>>,
    pub name: Option<String>,
    pub ns: Option<NsId>,
}

/// `Option<Option<T>>` in JSON: absent = None, `{"some": null}` = Some(None)
/// (plain serde would read `null` back as None, losing a `nomaster`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Inner<T> {
        some: Option<T>,
    }

    pub fn serialize<S: Serializer, T: Serialize + Clone>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|i| Inner { some: i.clone() }).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Ok(Option::<Inner<T>>::deserialize(d)?.map(|i| i.some))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    Global,
    Link,
    Host,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "universe" => Scope::Global,
            "link" => Scope::Link,
            "host" => Scope::Host,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Link => "link",
            Scope::Host => "host",
        }
    }
}

/// A route (`ip route add/del`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RouteSpec {
    pub to: Option<Dest>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub scope: Option<Scope>,
    /// Who installed it (`proto static`, `boot`, `dhcp`, …); `None`: static when adding, any when deleting.
    #[serde(default)]
    pub proto: Option<u8>,
}

/// Route protocol names as `ip` knows them (/etc/iproute2/rt_protos).
const PROTOS: &[(u8, &str)] = &[
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (9, "ra"),
    (16, "dhcp"),
];

pub fn proto_name(p: u8) -> String {
    PROTOS
        .iter()
        .find(|(n, _)| *n == p)
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| p.to_string())
}

pub fn parse_proto(s: &str) -> Option<u8> {
    PROTOS
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(p, _)| *p)
        .or_else(|| s.parse().ok())
}

impl RouteSpec {
    pub fn is_ipv6(&self) -> bool {
        self.to.map(|d| d.is_ipv6()).unwrap_or(false) || self.via.map(|v| v.is_ipv6()).unwrap_or(false)
    }
}

/// A policy routing rule (`ip rule add/del`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RuleSpec {
    pub from: Option<Cidr>,
    pub to: Option<Cidr>,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub v6: bool,
}

fn family_flag(v6: bool) -> &'static str {
    if v6 {
        " -6"
    } else {
        ""
    }
}

fn ip6(ns: &NsId, v6: bool) -> String {
    let ip = ns.ip();
    format!("ip{}{}", family_flag(v6), &ip[2..])
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.to {
            Some(to) => write!(f, "{to}")?,
            None => f.write_str("default")?,
        }
        if let Some(v) = &self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {}", quote(d))?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(s) = &self.src {
            write!(f, " src {s}")?;
        }
        if let Some(s) = self.scope {
            write!(f, " scope {}", s.as_str())?;
        }
        if let Some(p) = self.proto {
            write!(f, " proto {}", proto_name(p))?;
        }
        Ok(())
    }
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![];
        if let Some(p) = self.priority {
            parts.push(format!("priority {p}"));
        }
        if let Some(c) = &self.from {
            parts.push(format!("from {c}"));
        }
        if let Some(c) = &self.to {
            parts.push(format!("to {c}"));
        }
        if let Some(i) = &self.iif {
            parts.push(format!("iif {}", quote(i)));
        }
        if let Some(m) = self.fwmark {
            parts.push(format!("fwmark {m:#x}"));
        }
        parts.push(format!("table {}", self.table.unwrap_or(254)));
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Display for LinkChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.ns {
            match ns {
                NsId::Host => f.write_str(" netns 1")?,
                NsId::Named(n) => write!(f, " netns {}", quote(n))?,
            }
        }
        if let Some(n) = &self.name {
            write!(f, " name {}", quote(n))?;
        }
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        if let Some(m) = &self.mac {
            write!(f, " address {}", format_mac(m))?;
        }
        match &self.master {
            Some(Some(m)) => write!(f, " master {}", quote(m))?,
            Some(None) => f.write_str(" nomaster")?,
            None => {}
        }
        match self.up {
            Some(true) => f.write_str(" up")?,
            Some(false) => f.write_str(" down")?,
            None => {}
        }
        Ok(())
    }
}

impl Op {
    /// The namespace the op acts in (None for ops that are not about one).
    pub fn ns(&self) -> Option<NsId> {
        match self {
            Op::NsAdd { name, .. } | Op::NsDel { name } => Some(NsId::Named(name.clone())),
            Op::EtcFile { ns, .. } | Op::EtcRemove { ns, .. } | Op::EtcRmdir { ns, .. } => {
                Some(NsId::Named(ns.clone()))
            }
            Op::LinkAdd { ns, .. }
            | Op::LinkSet { ns, .. }
            | Op::LinkDel { ns, .. }
            | Op::AddrAdd { ns, .. }
            | Op::AddrDel { ns, .. }
            | Op::AddrRestore { ns, .. }
            | Op::RouteAdd { ns, .. }
            | Op::RouteDel { ns, .. }
            | Op::RuleAdd { ns, .. }
            | Op::RuleDel { ns, .. }
            | Op::Sysctl { ns, .. }
            | Op::Shape { ns, .. }
            | Op::QdiscRestore { ns, .. }
            | Op::Ipt { ns, .. }
            | Op::IptRestore { ns, .. }
            | Op::IptDropTable { ns, .. }
            | Op::Spawn { ns, .. } => Some(ns.clone()),
            Op::Kill { .. } => None,
        }
    }
}

impl fmt::Display for Op {
    /// The equivalent iproute2 (or sysctl) command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::NsAdd { name, ipv6_off } => {
                write!(f, "ip netns add {}", quote(name))?;
                if *ipv6_off {
                    write!(
                        f,
                        " && ip netns exec {} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                        quote(name)
                    )?;
                }
                Ok(())
            }
            Op::NsDel { name } => write!(f, "ip netns del {}", quote(name)),
            Op::LinkAdd { ns, link } => {
                write!(f, "{} link add {}", ns.ip(), quote(&link.name))?;
                if let Some(m) = link.mtu {
                    write!(f, " mtu {m}")?;
                }
                if let Some(m) = &link.mac {
                    write!(f, " address {}", format_mac(m))?;
                }
                if link.up {
                    f.write_str(" up")?;
                }
                if let Some(m) = &link.master {
                    write!(f, " master {}", quote(m))?;
                }
                match &link.kind {
                    LinkKind::Veth { peer, peer_ns } => {
                        write!(f, " type veth peer name {}", quote(peer))?;
                        if let Some(m) = link.mtu {
                            write!(f, " mtu {m}")?;
                        }
                        if peer_ns != ns {
                            match peer_ns {
                                NsId::Host => f.write_str(" netns 1")?,
                                NsId::Named(n) => write!(f, " netns {}", quote(n))?,
                            }
                        }
                        if link.up {
                            // A veth peer cannot be created up: it is brought up right after.
                            write!(f, "\n{} link set dev {} up", peer_ns.ip(), quote(peer))?;
                        }
                        Ok(())
                    }
                    LinkKind::Bridge => f.write_str(" type bridge"),
                    LinkKind::Dummy => f.write_str(" type dummy"),
                    LinkKind::Vlan { parent, id } => write!(f, " link {} type vlan id {id}", quote(parent)),
                    LinkKind::Macvlan { parent, mode } => {
                        write!(f, " link {} type macvlan mode {}", quote(parent), mode.as_str())
                    }
                    LinkKind::Vxlan(v) => {
                        write!(f, " type vxlan id {}", v.id)?;
                        if let Some(a) = v.remote {
                            write!(f, " remote {a}")?;
                        }
                        if let Some(a) = v.local {
                            write!(f, " local {a}")?;
                        }
                        if let Some(a) = v.group {
                            write!(f, " group {a}")?;
                        }
                        if let Some(d) = &v.dev {
                            write!(f, " dev {}", quote(d))?;
                        }
                        write!(f, " dstport {}", v.port.unwrap_or(4789))
                    }
                }
            }
            Op::LinkSet { ns, dev, change } => write!(f, "{} link set dev {}{change}", ns.ip(), quote(dev)),
            Op::LinkDel { ns, dev } => write!(f, "{} link del dev {}", ns.ip(), quote(dev)),
            Op::AddrAdd { ns, dev, cidr } => write!(f, "{} addr add {cidr} dev {}", ns.ip(), quote(dev)),
            Op::AddrDel { ns, dev, cidr } => write!(f, "{} addr del {cidr} dev {}", ns.ip(), quote(dev)),
            Op::AddrRestore { ns, dev, saved } => write!(f, "{} addr add {saved} dev {}", ns.ip(), quote(dev)),
            Op::RouteAdd { ns, route } => {
                let proto = if route.proto.is_none() { " proto static" } else { "" };
                write!(f, "{} route add {route}{proto}", ip6(ns, route.is_ipv6()))
            }
            Op::RouteDel { ns, route } => {
                write!(f, "{} route del {route}", ip6(ns, route.is_ipv6()))
            }
            Op::RuleAdd { ns, rule } => write!(f, "{} rule add {rule}", ip6(ns, rule.v6)),
            Op::RuleDel { ns, rule } => write!(f, "{} rule del {rule}", ip6(ns, rule.v6)),
            Op::Sysctl { ns, key, value, .. } => {
                write!(f, "{}sysctl -qw {}", ns.exec_prefix(), quote(&format!("{key}={value}")))
            }
            Op::EtcFile {
                ns,
                file,
                content,
                mode,
            } => {
                let path = format!("/etc/netns/{ns}/{file}");
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(&path);
                write!(
                    f,
                    "mkdir -p {} && printf '%s' {} > {} && chmod {:o} {}",
                    quote(dir),
                    quote(content),
                    quote(&path),
                    mode.unwrap_or(0o644),
                    quote(&path)
                )
            }
            Op::EtcRemove { ns, file } => write!(f, "rm -f {}", quote(&format!("/etc/netns/{ns}/{file}"))),
            Op::EtcRmdir { ns, dir } if dir.is_empty() => write!(f, "rmdir {}", quote(&format!("/etc/netns/{ns}"))),
            Op::EtcRmdir { ns, dir } => write!(f, "rmdir {}", quote(&format!("/etc/netns/{ns}/{dir}"))),
            Op::Shape {
                ns,
                dev,
                shape: Some(s),
            } => write!(f, "{} qdisc replace dev {dev} root {s}", tc(ns)),
            Op::Shape { ns, dev, shape: None } => write!(f, "{} qdisc del dev {dev} root", tc(ns)),
            Op::QdiscRestore { ns, dev, saved } => write!(f, "{} qdisc replace dev {dev} root {saved}", tc(ns)),
            Op::Ipt { ns, change } => write!(f, "{}{change}", ns.exec_prefix()),
            Op::IptRestore { ns, v6, batch } => write!(
                f,
                "printf '%s' {} | {}{}-restore --noflush",
                quote(&batch.text),
                ns.exec_prefix(),
                if *v6 { "ip6tables" } else { "iptables" }
            ),
            Op::IptDropTable { ns, v6, table } => write!(
                f,
                "{}nft delete table {} {table}",
                ns.exec_prefix(),
                if *v6 { "ip6" } else { "ip" }
            ),
            Op::Spawn { ns, argv, .. } => {
                let words: Vec<String> = argv.iter().map(|w| quote(w)).collect();
                write!(f, "{}{} &", ns.exec_prefix(), words.join(" "))
            }
            Op::Kill { pid, tag, .. } if *pid <= 0 => write!(f, "kill processes with LUNET_OWNER={tag}"),
            Op::Kill { pid, .. } => write!(f, "kill {pid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(n: &str) -> NsId {
        NsId::Named(n.into())
    }

    #[test]
    fn ops_print_as_ip_commands() {
        let op = Op::LinkAdd {
            ns: NsId::Host,
            link: NewLink {
                name: "veth1".into(),
                kind: LinkKind::Veth {
                    peer: "eth0".into(),
                    peer_ns: named("h1"),
                },
                mtu: None,
                mac: None,
                master: Some("br0".into()),
                up: true,
            },
        };
        assert_eq!(
            op.to_string(),
            "ip link add veth1 up master br0 type veth peer name eth0 netns h1\nip -n h1 link set dev eth0 up"
        );
        let op = Op::RouteAdd {
            ns: named("h1"),
            route: RouteSpec {
                to: Some(Dest::Default { v6: false }),
                via: Some("10.0.0.1".parse().unwrap()),
                ..Default::default()
            },
        };
        assert_eq!(op.to_string(), "ip -n h1 route add default via 10.0.0.1 proto static");
        let op = Op::RouteAdd {
            ns: named("h1"),
            route: RouteSpec {
                to: Some(Dest::parse("fd00::/64", false).unwrap()),
                dev: Some("eth0".into()),
                ..Default::default()
            },
        };
        assert_eq!(op.to_string(), "ip -6 -n h1 route add fd00::/64 dev eth0 proto static");
        let op = Op::LinkSet {
            ns: named("a"),
            dev: "x".into(),
            change: LinkChange {
                master: Some(None),
                up: Some(true),
                ..Default::default()
            },
        };
        assert_eq!(op.to_string(), "ip -n a link set dev x nomaster up");
        let back: Op = serde_json::from_str(&serde_json::to_string(&op).unwrap()).unwrap();
        assert_eq!(back, op, "nomaster survives the journal");
        let op = Op::Sysctl {
            ns: named("r"),
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
            expect: None,
        };
        assert_eq!(op.to_string(), "ip netns exec r sysctl -qw net.ipv4.ip_forward=1");
        let op = Op::Shape {
            ns: named("a"),
            dev: "eth0".into(),
            shape: Some(ShapeSpec {
                rate: Some(10_000_000),
                ..Default::default()
            }),
        };
        assert_eq!(
            op.to_string(),
            "tc -n a qdisc replace dev eth0 root tbf rate 10mbit burst 16384b limit 78884b"
        );
        let back: Op = serde_json::from_str(&serde_json::to_string(&op).unwrap()).unwrap();
        assert_eq!(back, op, "a shape survives the journal");
        let op = Op::Shape {
            ns: NsId::Host,
            dev: "eth0".into(),
            shape: None,
        };
        assert_eq!(op.to_string(), "tc qdisc del dev eth0 root");
    }
}
