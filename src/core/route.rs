//! Routes, IPv4 and IPv6, in any table (`ip route add/del/show`).

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;

use super::error::{Error, Result};
use super::link;
use super::names::{Cidr, Dest};
use super::net::Namespace;
use super::op::{RouteSpec, Scope};

pub const MAIN_TABLE: u32 = 254;

/// One route as `ip -j route` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RouteInfo {
    pub family: &'static str,
    pub to: String,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: u32,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub scope: String,
    pub proto: String,
    /// `unicast`, `local`, `blackhole`, … (`type` in Lua and JSON)
    #[serde(rename = "type")]
    pub kind: String,
}

/// Which routes `list` returns.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    /// `None` = every table.
    pub table: Option<u32>,
    pub v6: Option<bool>,
    pub dev: Option<String>,
}

fn addr_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

async fn message(ns: &Namespace, r: &RouteSpec, adding: bool) -> Result<RouteMessage> {
    let v6 = r.is_ipv6();
    if let (Some(to), Some(via)) = (r.to, r.via) {
        if to.is_ipv6() != via.is_ipv6() {
            return Err(Error::new(format!("gateway {via} is not of the same family as {to}")));
        }
    }
    let mut m = RouteMessage::default();
    m.header.address_family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
    m.header.kind = RouteType::Unicast;
    m.header.protocol = match (r.proto, adding) {
        (Some(p), _) => RouteProtocol::from(p),
        (None, true) => RouteProtocol::Static,
        (None, false) => RouteProtocol::Unspec,
    };
    m.header.scope = match (r.scope, adding) {
        (Some(Scope::Global), _) => RouteScope::Universe,
        (Some(Scope::Link), _) => RouteScope::Link,
        (Some(Scope::Host), _) => RouteScope::Host,
        // As ip does: a route without a gateway is on-link.
        (None, true) if r.via.is_none() => RouteScope::Link,
        (None, true) => RouteScope::Universe,
        (None, false) => RouteScope::NoWhere,
    };
    let table = r.table.unwrap_or(MAIN_TABLE);
    if table < 256 {
        m.header.table = table as u8;
    } else {
        m.header.table = RouteHeader::RT_TABLE_UNSPEC;
        m.attributes.push(RouteAttribute::Table(table));
    }
    if let Some(Dest::Net(c)) = r.to {
        m.header.destination_prefix_length = c.prefix;
        m.attributes.push(RouteAttribute::Destination(c.addr.into()));
    }
    if let Some(via) = r.via {
        m.attributes.push(RouteAttribute::Gateway(via.into()));
    }
    if let Some(dev) = &r.dev {
        m.attributes.push(RouteAttribute::Oif(link::index(ns, dev).await?));
    }
    if let Some(metric) = r.metric {
        m.attributes.push(RouteAttribute::Priority(metric));
    }
    if let Some(src) = r.src {
        m.attributes.push(RouteAttribute::PrefSource(src.into()));
    }
    Ok(m)
}

fn fail(ns: &Namespace, r: &RouteSpec, e: rtnetlink::Error) -> Error {
    let err = Error::netlink(format!("route {r} in {}", ns.describe()), e);
    let ctx = format!("route {r} in {}", ns.describe());
    match err.errno() {
        Some(libc::EEXIST) => err.reword(format!("{ctx}: already exists")),
        Some(libc::ESRCH) => err.reword(format!("{ctx}: no such route")),
        Some(libc::ENETUNREACH) => err.reword(format!(
            "{ctx}: gateway {} is unreachable (no address on its subnet; add one first)",
            r.via.map(|v| v.to_string()).unwrap_or_default()
        )),
        Some(libc::EINVAL) if r.src.is_some() => err.reword(format!("{ctx}: src is not an address of this namespace")),
        _ => err,
    }
}

/// `ip route add …`
pub async fn add(ns: &Namespace, r: &RouteSpec) -> Result<()> {
    let m = message(ns, r, true).await?;
    ns.nl.route().add(m).execute().await.map_err(|e| fail(ns, r, e))
}

/// `ip route del …`
pub async fn del(ns: &Namespace, r: &RouteSpec) -> Result<()> {
    let m = message(ns, r, false).await?;
    ns.nl.route().del(m).execute().await.map_err(|e| fail(ns, r, e))
}

/// `ip -j route show [table T] [dev D]`, both families unless filtered.
pub async fn list(ns: &Namespace, f: &RouteFilter) -> Result<Vec<RouteInfo>> {
    // Naming every route's device needs a dump of all links (O(links), and the
    // kernel's work per veth grows with the namespaces): only when asked for.
    let names: HashMap<u32, String> = match &f.dev {
        Some(d) => ns.ifindex(d).ok().map(|i| (i, d.clone())).into_iter().collect(),
        None => link::list(ns).await?.into_iter().map(|l| (l.index, l.name)).collect(),
    };
    list_named(ns, f, &names).await
}

/// The routes of one table and family, without their devices' names (for a
/// look before a change: only destinations matter).
pub async fn list_unnamed(ns: &Namespace, table: u32, v6: bool) -> Result<Vec<RouteInfo>> {
    let f = RouteFilter {
        table: Some(table),
        v6: Some(v6),
        dev: None,
    };
    list_named(ns, &f, &HashMap::new()).await
}

async fn list_named(ns: &Namespace, f: &RouteFilter, names: &HashMap<u32, String>) -> Result<Vec<RouteInfo>> {
    let mut out = vec![];
    for v6 in [false, true] {
        if f.v6.is_some_and(|w| w != v6) {
            continue;
        }
        let mut q = RouteMessage::default();
        q.header.address_family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        let msgs: Vec<RouteMessage> = ns
            .nl
            .route()
            .get(q)
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(format!("list routes of {}", ns.describe()), e))?;
        for m in msgs {
            let info = info_of(&m, v6, names);
            if f.table.is_some_and(|t| t != info.table) {
                continue;
            }
            if f.dev.as_ref().is_some_and(|d| info.dev.as_ref() != Some(d)) {
                continue;
            }
            out.push(info);
        }
    }
    Ok(out)
}

fn info_of(m: &RouteMessage, v6: bool, names: &HashMap<u32, String>) -> RouteInfo {
    let mut table = m.header.table as u32;
    let mut dst = None;
    let mut info = RouteInfo {
        family: if v6 { "inet6" } else { "inet" },
        to: String::new(),
        via: None,
        dev: None,
        table: 0,
        metric: None,
        src: None,
        scope: match m.header.scope {
            RouteScope::Universe => "global".into(),
            RouteScope::Link => "link".into(),
            RouteScope::Host => "host".into(),
            RouteScope::Site => "site".into(),
            RouteScope::NoWhere => "nowhere".into(),
            other => u8::from(other).to_string(),
        },
        proto: super::op::proto_name(u8::from(m.header.protocol)),
        kind: format!("{:?}", m.header.kind).to_lowercase(),
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = addr_of(d),
            RouteAttribute::Gateway(g) => info.via = addr_of(g),
            RouteAttribute::Oif(i) => info.dev = names.get(i).cloned(),
            RouteAttribute::Priority(p) => info.metric = Some(*p),
            RouteAttribute::PrefSource(s) => info.src = addr_of(s),
            _ => {}
        }
    }
    info.table = table;
    info.to = match dst {
        Some(addr) if m.header.destination_prefix_length == if v6 { 128 } else { 32 } => addr.to_string(),
        Some(addr) => Cidr {
            addr,
            prefix: m.header.destination_prefix_length,
        }
        .to_string(),
        None if m.header.destination_prefix_length == 0 => "default".into(),
        None => String::new(),
    };
    info
}
