//! Links: veth, bridge, dummy, vlan, macvlan, vxlan (`ip link add/set/del/show`).

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, InfoVlan, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo as NlInfo,
    LinkMessage, MacVlanMode,
};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};

use super::error::{Error, Result};
use super::names::{check_ifname, format_mac};
use super::net::{describe, Namespace, Net};
use super::netns::NsId;
use super::op::{LinkChange, LinkKind, MacvlanMode as Mode, NewLink, Op};
use super::qdisc::{self, ShapeSpec};

/// What `ip -j link show` tells about one link.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    pub kind: Option<String>,
    pub up: bool,
    pub mtu: u32,
    pub mac: Option<String>,
    pub master: Option<String>,
    /// For a veth: the peer's name (also in another namespace, once `resolve_peers` ran).
    pub peer: Option<String>,
    /// For a veth: the peer's ifindex (in its own namespace).
    pub peer_index: Option<u32>,
    /// The kind of its root qdisc (`noqueue`, `tbf`, …: `tc qdisc show dev DEV root`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdisc: Option<String>,
    /// How its egress is conditioned, read back from a tbf or netem root qdisc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeSpec>,
    /// For a veth: the namespace its peer is in (`host` for lunet's own), from `resolve_peers`.
    pub peer_ns: Option<String>,
    /// For a veth whose peer is in another namespace: that namespace's id as this one
    /// knows it (IFLA_LINK_NETNSID), resolved to a name by `resolve_peers`.
    #[serde(skip)]
    pub link_netnsid: Option<i32>,
}

fn missing(ns: &Namespace, dev: &str) -> Error {
    Error::new(format!("no interface {dev:?} in {}", ns.describe())).with_errno(libc::ENODEV)
}

/// Maps a kernel error on `dev` to a message that names it.
fn fail(ns: &Namespace, dev: &str, e: rtnetlink::Error) -> Error {
    let err = Error::netlink(format!("interface {dev:?} in {}", ns.describe()), e);
    match err.errno() {
        Some(libc::ENODEV) => missing(ns, dev),
        Some(libc::EEXIST) => err.reword(format!("interface {dev:?} already exists in {}", ns.describe())),
        Some(libc::EOPNOTSUPP) => err.reword(format!(
            "interface {dev:?}: this kernel does not support that link type here (is its module loaded?)"
        )),
        Some(libc::EXFULL) => err.reword(format!(
            "interface {dev:?}: its bridge is full: a Linux bridge holds at most 1024 ports \
             (use several bridges, or routed veths without a bridge: see API.md)"
        )),
        _ => err,
    }
}

/// The sysctls that turn IPv6 off for the given `net.ipv6.conf.X` entries
/// (`all`, `default`, or a link's name).
pub fn ipv6_off_ops(ns: &NsId, confs: &[&str]) -> Vec<Op> {
    confs
        .iter()
        .map(|c| Op::Sysctl {
            ns: ns.clone(),
            key: format!("net.ipv6.conf.{c}.disable_ipv6"),
            value: "1".into(),
            expect: None,
        })
        .collect()
}

/// The changes that make `link`: with `ipv6` off, it is made down, IPv6 is
/// turned off on it, and only then is it brought up (so it never sends an
/// IPv6 packet: no DAD, MLD or router solicitation flooded to a bridge's ports).
pub fn add_ops(ns: &NsId, link: NewLink, ipv6: bool) -> Vec<Op> {
    if ipv6 || matches!(link.kind, LinkKind::Veth { .. }) {
        return vec![Op::LinkAdd { ns: ns.clone(), link }];
    }
    let (name, up) = (link.name.clone(), link.up);
    let mut ops = vec![Op::LinkAdd {
        ns: ns.clone(),
        link: NewLink { up: false, ..link },
    }];
    ops.extend(ipv6_off_ops(ns, &[&name]));
    if up {
        ops.push(Op::LinkSet {
            ns: ns.clone(),
            dev: name,
            change: LinkChange {
                up: Some(true),
                ..Default::default()
            },
        });
    }
    ops
}

/// The kernel's message for a link, `ip link show DEV`.
pub async fn find(ns: &Namespace, dev: &str) -> Result<LinkMessage> {
    check_ifname(dev)?;
    let mut s = ns.nl.link().get().match_name(dev.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(missing(ns, dev)),
        Err(e) => Err(fail(ns, dev, e)),
    }
}

pub async fn index(ns: &Namespace, dev: &str) -> Result<u32> {
    check_ifname(dev)?;
    ns.ifindex(dev)
}

fn macvlan_mode(m: Mode) -> MacVlanMode {
    match m {
        Mode::Private => MacVlanMode::Private,
        Mode::Vepa => MacVlanMode::Vepa,
        Mode::Bridge => MacVlanMode::Bridge,
        Mode::Passthru => MacVlanMode::Passthrough,
    }
}

/// `ip link add NAME … type KIND …`
pub async fn add(net: &Net, ns: &Namespace, link: &NewLink) -> Result<()> {
    check_ifname(&link.name)?;
    let mut b = match &link.kind {
        LinkKind::Veth { peer, peer_ns } => {
            check_ifname(peer)?;
            let mut p = LinkMessageBuilder::<LinkUnspec>::new().name(peer.clone());
            let peer_handle = net.ns(peer_ns).await?;
            if *peer_ns != ns.id {
                // Created directly in its namespace: nothing to leak if we die half-way.
                p = p.setns_by_fd(peer_handle.file.as_raw_fd());
            }
            if let Some(m) = link.mtu {
                p = p.mtu(m);
            }
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
        }
        LinkKind::Bridge => LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Bridge),
        LinkKind::Dummy => LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Dummy),
        LinkKind::Vlan { parent, id } => {
            let parent = index(ns, parent).await?;
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Vlan)
                .set_info_data(InfoData::Vlan(vec![InfoVlan::Id(*id)]))
                .link(parent)
        }
        LinkKind::Macvlan { parent, mode } => {
            let parent = index(ns, parent).await?;
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::MacVlan)
                .set_info_data(InfoData::MacVlan(vec![InfoMacVlan::Mode(macvlan_mode(*mode))]))
                .link(parent)
        }
        LinkKind::Vxlan(v) => {
            let mut info = vec![InfoVxlan::Id(v.id), InfoVxlan::Port(v.port.unwrap_or(4789))];
            for (addr, remote) in [(v.remote, true), (v.group, true), (v.local, false)] {
                match (addr, remote) {
                    (Some(std::net::IpAddr::V4(a)), true) => info.push(InfoVxlan::Group(a)),
                    (Some(std::net::IpAddr::V6(a)), true) => info.push(InfoVxlan::Group6(a)),
                    (Some(std::net::IpAddr::V4(a)), false) => info.push(InfoVxlan::Local(a)),
                    (Some(std::net::IpAddr::V6(a)), false) => info.push(InfoVxlan::Local6(a)),
                    (None, _) => {}
                }
            }
            if let Some(dev) = &v.dev {
                info.push(InfoVxlan::Link(index(ns, dev).await?));
            }
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Vxlan).set_info_data(InfoData::Vxlan(info))
        }
    };
    b = b.name(link.name.clone());
    if let Some(m) = link.mtu {
        b = b.mtu(m);
    }
    if let Some(m) = link.mac {
        b = b.address(m.to_vec());
    }
    if let Some(m) = &link.master {
        b = b.controller(index(ns, m).await?);
    }
    if link.up {
        b = b.up();
    }
    let err = match ns.nl.link().add(b.build()).execute().await {
        Ok(()) => return veth_peer_up(net, ns, link).await,
        Err(e) => add_fail(ns, link, e),
    };
    match &link.kind {
        // EEXIST for a veth: the name, or its peer's name in the peer's namespace?
        LinkKind::Veth { peer, peer_ns }
            if err.errno() == Some(libc::EEXIST) && find(ns, &link.name).await.is_err() =>
        {
            Err(err.reword(format!("veth peer {peer:?} already exists in {}", describe(peer_ns))))
        }
        _ => Err(err),
    }
}

/// A veth peer cannot be created up (ENOTCONN): it is brought up right after,
/// and if that fails the pair is deleted again, so the change is all or nothing.
async fn veth_peer_up(net: &Net, ns: &Namespace, link: &NewLink) -> Result<()> {
    let LinkKind::Veth { peer, peer_ns } = &link.kind else {
        return Ok(());
    };
    if !link.up {
        return Ok(());
    }
    let peer_handle = net.ns(peer_ns).await?;
    let up = async {
        let idx = index(&peer_handle, peer).await?;
        peer_handle
            .nl
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| fail(&peer_handle, peer, e))
    };
    if let Err(e) = up.await {
        let _ = del(ns, &link.name).await;
        return Err(e);
    }
    Ok(())
}

fn add_fail(ns: &Namespace, link: &NewLink, e: rtnetlink::Error) -> Error {
    let err = fail(ns, &link.name, e);
    match (err.errno(), link.mtu) {
        (Some(libc::EINVAL), Some(mtu)) => err.reword(format!("interface {:?}: invalid mtu {mtu}", link.name)),
        _ => err,
    }
}

/// `ip link set dev DEV …`
pub async fn set(net: &Net, ns: &Namespace, dev: &str, ch: &LinkChange) -> Result<()> {
    let idx = index(ns, dev).await?;
    if let Some(new_name) = &ch.name {
        check_ifname(new_name)?;
    }
    let name = ch.name.clone().unwrap_or_else(|| dev.to_string());
    let target = ch.ns.as_ref().filter(|t| **t != ns.id);
    let moved = match target {
        Some(t) => Some(net.ns(t).await?),
        None => None,
    };
    if ch.name.is_some() || moved.is_some() {
        // Move and rename first; the rest applies to the link where it now is.
        let mut b = LinkUnspec::new_with_index(idx).name(name.clone());
        if let Some(dest) = &moved {
            b = b.setns_by_fd(dest.file.as_raw_fd());
        }
        let dest_desc = moved.as_ref().map(|d| d.describe()).unwrap_or_else(|| ns.describe());
        let taken = || {
            Error::new(format!(
                "cannot rename or move {dev:?}: {name:?} already exists in {dest_desc}"
            ))
        };
        // The kernel moves first and renames after: a clash must be found before anything happens.
        if let Some(dest) = &moved {
            if find(dest, &name).await.is_ok() {
                return Err(taken().with_errno(libc::EEXIST));
            }
        }
        ns.nl.link().set(b.build()).execute().await.map_err(|e| {
            let err = fail(ns, dev, e);
            match err.errno() {
                Some(libc::EEXIST) => err.reword(taken().message()),
                Some(libc::EINVAL) if moved.is_some() => err.reword(format!(
                    "cannot move {dev:?} to {dest_desc}: the kernel keeps this kind of link (e.g. a bridge) in its namespace"
                )),
                _ => err,
            }
        })?;
    }
    let here: &Namespace = moved.as_deref().unwrap_or(ns);
    let idx = if moved.is_some() {
        index(here, &name).await?
    } else {
        idx
    };
    let mut b = LinkUnspec::new_with_index(idx);
    let mut any = false;
    if let Some(m) = ch.mtu {
        b = b.mtu(m);
        any = true;
    }
    if let Some(m) = ch.mac {
        b = b.address(m.to_vec());
        any = true;
    }
    match &ch.master {
        Some(Some(m)) => {
            b = b.controller(index(here, m).await?);
            any = true;
        }
        Some(None) => {
            b = b.nocontroller();
            any = true;
        }
        None => {}
    }
    match ch.up {
        Some(true) => {
            b = b.up();
            any = true;
        }
        Some(false) => {
            b = b.down();
            any = true;
        }
        None => {}
    }
    if !any {
        return Ok(());
    }
    here.nl.link().set(b.build()).execute().await.map_err(|e| {
        let err = fail(here, &name, e);
        match (err.errno(), ch.mtu, &ch.master) {
            (Some(libc::EINVAL), Some(mtu), _) => err.reword(format!("interface {name:?}: invalid mtu {mtu}")),
            (Some(libc::ELOOP), _, Some(Some(m))) => err.reword(format!(
                "interface {name:?} cannot be enslaved to {m:?}: that would make a loop of masters"
            )),
            _ => err,
        }
    })
}

/// `ip link del dev DEV`
pub async fn del(ns: &Namespace, dev: &str) -> Result<()> {
    let idx = index(ns, dev).await?;
    ns.nl.link().del(idx).execute().await.map_err(|e| fail(ns, dev, e))
}

/// Every link of the namespace, as the kernel reports it (one dump).
pub async fn dump(ns: &Namespace) -> Result<Vec<LinkMessage>> {
    ns.nl
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink(format!("list links of {}", ns.describe()), e))
}

/// `ip -j link show`: every link of the namespace.
pub async fn list(ns: &Namespace) -> Result<Vec<LinkInfo>> {
    let msgs = dump(ns).await?;
    let names: HashMap<u32, String> = msgs.iter().filter_map(|m| Some((m.header.index, ifname(m)?))).collect();
    let roots = qdisc::roots(ns).await?;
    Ok(msgs.iter().map(|m| with_qdisc(info_of(m, &names), &roots)).collect())
}

fn with_qdisc(mut info: LinkInfo, roots: &HashMap<u32, qdisc::Root>) -> LinkInfo {
    if let Some(r) = roots.get(&info.index) {
        info.qdisc = Some(r.saved.kind.clone());
        info.shape = r.shape();
    }
    info
}

/// What undo needs of a link before it is changed: up, mtu, mac, and its
/// master's name only when `master` is asked for. One request (no qdisc dump).
pub async fn state(ns: &Namespace, dev: &str, master: bool) -> Result<LinkInfo> {
    let m = find(ns, dev).await?;
    let names = if master {
        names_of(ns, &m, false).await
    } else {
        HashMap::new()
    };
    Ok(info_of(&m, &names))
}

/// The names of the links `m` points to: its master, and its peer when `peer`.
async fn names_of(ns: &Namespace, m: &LinkMessage, peer: bool) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for a in &m.attributes {
        let idx = match a {
            LinkAttribute::Controller(i) => *i,
            LinkAttribute::Link(i) if peer => *i,
            _ => continue,
        };
        let mut s = ns.nl.link().get().match_index(idx).execute();
        if let Ok(Some(other)) = s.try_next().await {
            if let Some(n) = ifname(&other) {
                names.insert(idx, n);
            }
        }
    }
    names
}

/// `ip -j link show DEV`
pub async fn get(ns: &Namespace, dev: &str) -> Result<LinkInfo> {
    let m = find(ns, dev).await?;
    let names = names_of(ns, &m, true).await;
    let roots = qdisc::roots(ns).await?;
    Ok(with_qdisc(info_of(&m, &names), &roots))
}

fn ifname(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn info_of(m: &LinkMessage, names: &HashMap<u32, String>) -> LinkInfo {
    let mut info = LinkInfo {
        name: ifname(m).unwrap_or_default(),
        index: m.header.index,
        kind: None,
        up: m.header.flags.contains(LinkFlags::Up),
        mtu: 0,
        mac: None,
        master: None,
        peer: None,
        peer_index: None,
        qdisc: None,
        shape: None,
        peer_ns: None,
        link_netnsid: None,
    };
    let mut link = None;
    let mut other_ns = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::Mtu(v) => info.mtu = *v,
            LinkAttribute::Address(b) if b.len() == 6 => info.mac = Some(format_mac(b)),
            LinkAttribute::Controller(i) => info.master = names.get(i).cloned(),
            LinkAttribute::Link(i) => link = Some(*i),
            LinkAttribute::LinkNetNsId(id) => other_ns = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let NlInfo::Kind(k) = i {
                        info.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if info.kind.as_deref() == Some("veth") {
        info.peer_index = link;
        info.link_netnsid = other_ns;
        if other_ns.is_none() {
            info.peer = link.and_then(|i| names.get(&i).cloned());
        }
    }
    info
}

/// The id namespace `ns` knows the namespace of `target` by (`ip netns list-id`), if any.
async fn nsid_of(ns: &Namespace, target: &std::fs::File) -> Option<i32> {
    use futures::StreamExt;
    use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
    use netlink_packet_route::RouteNetlinkMessage;
    use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(target.as_raw_fd() as u32)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST;
    let mut nl = ns.nl.clone();
    let mut resp = nl.request(req).ok()?;
    while let Some(m) = resp.next().await {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) = m.payload {
            return m.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            });
        }
    }
    None
}

/// Fills in `peer_ns` of every veth in `links` (listed in `ns`), and `peer` of those
/// whose peer is in another namespace: the kernel gives that namespace only as an id
/// (IFLA_LINK_NETNSID) local to `ns`, matched here against the host namespace and
/// every one in /run/netns, as `ip link` does. A peer in a namespace with no name stays unknown.
pub async fn resolve_peers(net: &Net, ns: &Namespace, links: &mut [LinkInfo]) {
    for l in links
        .iter_mut()
        .filter(|l| l.peer_index.is_some() && l.link_netnsid.is_none())
    {
        l.peer_ns = Some(ns.id.to_string());
    }
    if !links.iter().any(|l| l.link_netnsid.is_some()) {
        return;
    }
    let mut known: HashMap<i32, super::NsId> = HashMap::new();
    let mut others = vec![super::NsId::Host];
    others.extend(
        super::netns::list()
            .unwrap_or_default()
            .into_iter()
            .map(super::NsId::Named),
    );
    for id in others.into_iter().filter(|id| *id != ns.id) {
        let file = match &id {
            super::NsId::Named(n) => super::netns::open(n).ok(),
            super::NsId::Host => net.ns(&id).await.ok().and_then(|h| h.file.try_clone().ok()),
        };
        if let Some(nsid) = match &file {
            Some(f) => nsid_of(ns, f).await,
            None => None,
        } {
            known.insert(nsid, id);
        }
    }
    for l in links.iter_mut() {
        let (Some(nsid), Some(pi)) = (l.link_netnsid, l.peer_index) else {
            continue;
        };
        let Some(id) = known.get(&nsid) else { continue };
        l.peer_ns = Some(id.to_string());
        if let Ok(peer_ns) = net.ns(id).await {
            let mut s = peer_ns.nl.link().get().match_index(pi).execute();
            if let Ok(Some(m)) = s.try_next().await {
                l.peer = ifname(&m);
            }
        }
    }
}
