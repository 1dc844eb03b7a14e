//! Addresses, IPv4 and IPv6 (`ip addr add/del/show`).

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::AddressFamily;

use super::error::{Error, Result};
use super::link;
use super::names::Cidr;
use super::net::Namespace;

/// One line of `ip -j addr`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddrInfo {
    pub dev: String,
    pub cidr: Cidr,
}

/// The shape users see, in Lua and in `lunet show --json` alike:
/// `{dev, family, cidr = "10.0.0.1/24", address, prefix}`.
impl serde::Serialize for AddrInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("AddrInfo", 5)?;
        st.serialize_field("dev", &self.dev)?;
        st.serialize_field("family", self.family())?;
        st.serialize_field("cidr", &self.cidr.to_string())?;
        st.serialize_field("address", &self.cidr.addr.to_string())?;
        st.serialize_field("prefix", &self.cidr.prefix)?;
        st.end()
    }
}

impl AddrInfo {
    pub fn family(&self) -> &'static str {
        if self.cidr.is_ipv6() {
            "inet6"
        } else {
            "inet"
        }
    }
}

/// `ip addr add CIDR dev DEV`
pub async fn add(ns: &Namespace, dev: &str, cidr: &Cidr) -> Result<()> {
    let idx = link::index(ns, dev).await?;
    ns.nl
        .address()
        .add(idx, cidr.addr, cidr.prefix)
        .execute()
        .await
        .map_err(|e| {
            let err = Error::netlink(format!("address {cidr} on {dev:?} in {}", ns.describe()), e);
            match err.errno() {
                Some(libc::EEXIST) => err.reword(format!("address {cidr} is already on {dev:?} in {}", ns.describe())),
                _ => err,
            }
        })
}

/// `ip addr del CIDR dev DEV`
pub async fn del(ns: &Namespace, dev: &str, cidr: &Cidr) -> Result<()> {
    let idx = link::index(ns, dev).await?;
    let mut m = AddressMessage::default();
    m.header.family = if cidr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.prefix_len = cidr.prefix;
    m.header.index = idx;
    if cidr.addr.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(cidr.addr));
    }
    m.attributes.push(AddressAttribute::Address(cidr.addr));
    ns.nl.address().del(m).execute().await.map_err(|e| {
        let err = Error::netlink(format!("address {cidr} on {dev:?}"), e);
        match err.errno() {
            Some(libc::EADDRNOTAVAIL) => err.reword(format!("address {cidr} is not on {dev:?} in {}", ns.describe())),
            _ => err,
        }
    })
}

/// `ip -j addr [show dev DEV]`
pub async fn list(ns: &Namespace, dev: Option<&str>) -> Result<Vec<AddrInfo>> {
    let want = match dev {
        Some(d) => Some(link::index(ns, d).await?),
        None => None,
    };
    let names: HashMap<u32, String> = link::list(ns).await?.into_iter().map(|l| (l.index, l.name)).collect();
    let msgs: Vec<AddressMessage> = ns
        .nl
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink(format!("list addresses of {}", ns.describe()), e))?;
    let mut out = vec![];
    for m in msgs {
        if want.is_some_and(|w| w != m.header.index) {
            continue;
        }
        let mut addr: Option<IpAddr> = None;
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => addr = Some(*ip),
                AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
                _ => {}
            }
        }
        if let Some(addr) = addr {
            out.push(AddrInfo {
                dev: names.get(&m.header.index).cloned().unwrap_or_default(),
                cidr: Cidr {
                    addr,
                    prefix: m.header.prefix_len,
                },
            });
        }
    }
    Ok(out)
}

/// Address flags a user can set (`nodad`, `home`, `mngtmpaddr`, `noprefixroute`,
/// `autojoin`); the others are the kernel's own (secondary, permanent, tentative, …).
const SETTABLE_FLAGS: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;

/// An address with every attribute the kernel reports for it, to put it back
/// exactly as it was (`ip addr add` with peer, brd, scope, label, lifetimes,
/// metric and flags).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedAddr {
    /// The local address and prefix.
    pub cidr: Cidr,
    /// The peer (IFA_ADDRESS) of a point-to-point address, when it is not the local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    /// IPv4 broadcast; None: the address had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<std::net::Ipv4Addr>,
    pub scope: u8,
    /// The user-settable flags (see `SETTABLE_FLAGS`).
    #[serde(default)]
    pub flags: u32,
    /// IPv4 label, when it is not the link's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// (preferred, valid) lifetimes left, in seconds; None: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<(u32, u32)>,
    /// The metric of its prefix route, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
}

impl std::fmt::Display for SavedAddr {
    /// As the arguments of `ip addr add` (before `dev`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.peer {
            Some(p) => write!(f, "{} peer {p}/{}", self.cidr.addr, self.cidr.prefix)?,
            None => write!(f, "{}", self.cidr)?,
        }
        if let Some(b) = self.broadcast {
            write!(f, " brd {b}")?;
        }
        let scope = match self.scope {
            0 => "global".to_string(),
            200 => "site".to_string(),
            253 => "link".to_string(),
            254 => "host".to_string(),
            n => n.to_string(),
        };
        write!(f, " scope {scope}")?;
        if let Some(l) = &self.label {
            write!(f, " label {}", super::words::quote(l))?;
        }
        if let Some((p, v)) = self.lifetime {
            write!(f, " valid_lft {v} preferred_lft {p}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        for (bit, name) in [
            (0x02, "nodad"),
            (0x10, "home"),
            (0x100, "mngtmpaddr"),
            (0x200, "noprefixroute"),
            (0x400, "autojoin"),
        ] {
            if self.flags & bit != 0 {
                write!(f, " {name}")?;
            }
        }
        Ok(())
    }
}

fn saved_of(m: &AddressMessage, ifname: &str) -> Option<SavedAddr> {
    let (mut local, mut address, mut broadcast, mut label, mut lifetime, mut metric) =
        (None, None, None, None, None, None);
    let mut flags = m.header.flags.bits() as u32;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Broadcast(ip) => broadcast = Some(*ip),
            AddressAttribute::Label(l) if l != ifname => label = Some(l.clone()),
            AddressAttribute::Flags(fl) => flags = fl.bits(),
            AddressAttribute::CacheInfo(c) if c.ifa_valid != u32::MAX => {
                lifetime = Some((c.ifa_preferred, c.ifa_valid))
            }
            AddressAttribute::RoutePriority(p) => metric = Some(*p),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    Some(SavedAddr {
        cidr: Cidr {
            addr,
            prefix: m.header.prefix_len,
        },
        peer: address.filter(|a| local.is_some() && *a != addr),
        broadcast,
        scope: m.header.scope.into(),
        flags: flags & SETTABLE_FLAGS,
        label,
        lifetime,
        metric,
    })
}

/// Every address of `dev` with all its attributes (`ip -d addr show dev DEV`).
pub async fn list_saved(ns: &Namespace, dev: &str) -> Result<Vec<SavedAddr>> {
    let idx = link::index(ns, dev).await?;
    let msgs: Vec<AddressMessage> = ns
        .nl
        .address()
        .get()
        .set_link_index_filter(idx)
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink(format!("list addresses of {dev:?} in {}", ns.describe()), e))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.index == idx)
        .filter_map(|m| saved_of(m, dev))
        .collect())
}

/// Adds back an address exactly as it was saved.
pub async fn restore(ns: &Namespace, dev: &str, s: &SavedAddr) -> Result<()> {
    let idx = link::index(ns, dev).await?;
    let mut m = AddressMessage::default();
    m.header.family = if s.cidr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.prefix_len = s.cidr.prefix;
    m.header.index = idx;
    m.header.scope = s.scope.into();
    m.attributes.push(AddressAttribute::Local(s.cidr.addr));
    m.attributes
        .push(AddressAttribute::Address(s.peer.unwrap_or(s.cidr.addr)));
    if let Some(b) = s.broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if let Some(l) = &s.label {
        m.attributes.push(AddressAttribute::Label(l.clone()));
    }
    if s.flags != 0 {
        m.attributes.push(AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::from_bits_retain(s.flags),
        ));
    }
    if let Some((p, v)) = s.lifetime {
        let mut c = netlink_packet_route::address::CacheInfo::default();
        c.ifa_preferred = p;
        c.ifa_valid = v;
        m.attributes.push(AddressAttribute::CacheInfo(c));
    }
    if let Some(p) = s.metric {
        m.attributes.push(AddressAttribute::RoutePriority(p));
    }
    let mut req = ns.nl.address().add(idx, s.cidr.addr, s.cidr.prefix);
    *req.message_mut() = m;
    req.execute().await.map_err(|e| {
        let err = Error::netlink(format!("address {} on {dev:?} in {}", s.cidr, ns.describe()), e);
        match err.errno() {
            Some(libc::EEXIST) => err.reword(format!("address {} is already on {dev:?} in {}", s.cidr, ns.describe())),
            _ => err,
        }
    })
}
