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
