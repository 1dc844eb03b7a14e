//! Policy routing rules (`ip rule add/del/show`).

use futures::TryStreamExt;
use netlink_packet_route::route::RouteHeader;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::IpVersion;

use super::error::{Error, Result};
use super::names::Cidr;
use super::net::Namespace;
use super::op::RuleSpec;

/// One rule as `ip -j rule` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub family: &'static str,
    pub priority: u32,
    pub from: Option<Cidr>,
    pub to: Option<Cidr>,
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub table: u32,
    pub action: String,
}

/// `adding`: a rule without a table goes to main; a delete without one matches any table.
fn message(r: &RuleSpec, adding: bool) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if r.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.action = RuleAction::ToTable;
    match r.table.or(adding.then_some(254)) {
        Some(table) => {
            m.header.table = if table < 256 {
                table as u8
            } else {
                RouteHeader::RT_TABLE_UNSPEC
            };
            m.attributes.push(RuleAttribute::Table(table));
        }
        None => {
            m.header.table = RouteHeader::RT_TABLE_UNSPEC;
            m.header.action = RuleAction::Unspec;
        }
    }
    if let Some(c) = r.from {
        m.header.src_len = c.prefix;
        m.attributes.push(RuleAttribute::Source(c.addr));
    }
    if let Some(c) = r.to {
        m.header.dst_len = c.prefix;
        m.attributes.push(RuleAttribute::Destination(c.addr));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(mark) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(mark));
    }
    m
}

fn fail(ns: &Namespace, r: &RuleSpec, e: rtnetlink::Error) -> Error {
    let ctx = format!("rule {r} in {}", ns.describe());
    let err = Error::netlink(&ctx, e);
    match err.errno() {
        Some(libc::EEXIST) => err.reword(format!("{ctx}: already exists")),
        Some(libc::ENOENT) => err.reword(format!("{ctx}: no such rule")),
        _ => err,
    }
}

/// `ip rule add …`
pub async fn add(ns: &Namespace, r: &RuleSpec) -> Result<()> {
    let mut req = ns.nl.rule().add();
    *req.message_mut() = message(r, true);
    req.execute().await.map_err(|e| fail(ns, r, e))
}

/// `ip rule del …`
pub async fn del(ns: &Namespace, r: &RuleSpec) -> Result<()> {
    ns.nl
        .rule()
        .del(message(r, false))
        .execute()
        .await
        .map_err(|e| fail(ns, r, e))
}

/// `ip -j rule show`, IPv4 then IPv6.
pub async fn list(ns: &Namespace) -> Result<Vec<RuleInfo>> {
    let mut out = vec![];
    for (ver, fam) in [(IpVersion::V4, "inet"), (IpVersion::V6, "inet6")] {
        let msgs: Vec<RuleMessage> = ns
            .nl
            .rule()
            .get(ver)
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(format!("list rules of {}", ns.describe()), e))?;
        for m in msgs {
            let mut info = RuleInfo {
                family: fam,
                priority: 0,
                from: None,
                to: None,
                iif: None,
                fwmark: None,
                table: m.header.table as u32,
                action: format!("{:?}", m.header.action).to_lowercase(),
            };
            for a in &m.attributes {
                match a {
                    RuleAttribute::Priority(p) => info.priority = *p,
                    RuleAttribute::Source(ip) => {
                        info.from = Some(Cidr {
                            addr: *ip,
                            prefix: m.header.src_len,
                        })
                    }
                    RuleAttribute::Destination(ip) => {
                        info.to = Some(Cidr {
                            addr: *ip,
                            prefix: m.header.dst_len,
                        })
                    }
                    RuleAttribute::Iifname(i) => info.iif = Some(i.clone()),
                    RuleAttribute::FwMark(v) => info.fwmark = Some(*v),
                    RuleAttribute::Table(t) => info.table = *t,
                    _ => {}
                }
            }
            out.push(info);
        }
    }
    Ok(out)
}
