//! `ip monitor`: link, address and route events of one namespace, from a
//! netlink socket subscribed inside it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr, TokioSocket};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE, RTMGRP_LINK};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};

use super::error::{Error, Result};
use super::names::Cidr;
use super::net::Net;
use super::netns::NsId;

/// One event, as `ip monitor` would print it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// "link", "addr" or "route"
    pub kind: &'static str,
    /// "new" or "del"
    pub action: &'static str,
    /// The interface (link and addr events; route events with an output device).
    pub dev: Option<String>,
    pub up: Option<bool>,
    pub cidr: Option<String>,
    /// A route's destination.
    pub to: Option<String>,
}

type Rx = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

pub struct Monitor {
    rx: Rx,
    conn: tokio::task::JoinHandle<()>,
    names: HashMap<u32, String>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Net {
    /// Subscribes to link, address and route events inside `id` (from now on).
    pub async fn monitor(&self, id: &NsId) -> Result<Monitor> {
        self.trace_read(|| format!("{} monitor link address route", id.ip()));
        let file = self.ns_file(id).await?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
        let sock = self
            .thread
            .run_in(file, move || {
                let mut s = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io("open a netlink socket", e))?;
                s.bind(&SocketAddr::new(0, groups))
                    .map_err(|e| Error::io("subscribe to netlink events", e))?;
                Ok(s)
            })
            .await?;
        // SAFETY: the fd comes straight from a socket we own and give up here.
        let sock = unsafe { TokioSocket::from_raw_fd(sock.into_raw_fd()) };
        let (conn, _, rx) = rtnetlink::from_socket(sock);
        let names = match self.ns(id).await {
            Ok(ns) => super::link::list(&ns)
                .await?
                .into_iter()
                .map(|l| (l.index, l.name))
                .collect(),
            Err(_) => HashMap::new(),
        };
        Ok(Monitor {
            rx,
            conn: tokio::spawn(conn),
            names,
        })
    }
}

fn ifname(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

impl Monitor {
    /// The next event; None once `timeout` passes without one.
    pub async fn next(&mut self, timeout: Option<Duration>) -> Option<Event> {
        loop {
            let msg = match timeout {
                Some(t) => tokio::time::timeout(t, self.rx.next()).await.ok()??,
                None => self.rx.next().await?,
            };
            if let Some(ev) = self.event(msg.0) {
                return Some(ev);
            }
        }
    }

    fn link(&mut self, m: &LinkMessage, action: &'static str) -> Event {
        let name = ifname(m);
        if let Some(n) = &name {
            self.names.insert(m.header.index, n.clone());
        }
        Event {
            kind: "link",
            action,
            dev: name,
            up: Some(m.header.flags.contains(LinkFlags::Up)),
            cidr: None,
            to: None,
        }
    }

    fn addr(&self, m: &AddressMessage, action: &'static str) -> Event {
        let ip: Option<IpAddr> = m.attributes.iter().fold(None, |acc, a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            AddressAttribute::Address(ip) if acc.is_none() => Some(*ip),
            _ => acc,
        });
        Event {
            kind: "addr",
            action,
            dev: self.names.get(&m.header.index).cloned(),
            up: None,
            cidr: ip.map(|addr| {
                Cidr {
                    addr,
                    prefix: m.header.prefix_len,
                }
                .to_string()
            }),
            to: None,
        }
    }

    fn route(&self, m: &RouteMessage, action: &'static str) -> Event {
        let mut to = None;
        let mut dev = None;
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => {
                    to = match d {
                        netlink_packet_route::route::RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
                        netlink_packet_route::route::RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
                        _ => None,
                    }
                }
                RouteAttribute::Oif(i) => dev = self.names.get(i).cloned(),
                _ => {}
            }
        }
        let to = match to {
            Some(addr) => Cidr {
                addr,
                prefix: m.header.destination_prefix_length,
            }
            .to_string(),
            None => "default".into(),
        };
        Event {
            kind: "route",
            action,
            dev,
            up: None,
            cidr: None,
            to: Some(to),
        }
    }

    fn event(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<Event> {
        let NetlinkPayload::InnerMessage(m) = msg.payload else {
            return None;
        };
        Some(match m {
            RouteNetlinkMessage::NewLink(l) => self.link(&l, "new"),
            RouteNetlinkMessage::DelLink(l) => self.link(&l, "del"),
            RouteNetlinkMessage::NewAddress(a) => self.addr(&a, "new"),
            RouteNetlinkMessage::DelAddress(a) => self.addr(&a, "del"),
            RouteNetlinkMessage::NewRoute(r) => self.route(&r, "new"),
            RouteNetlinkMessage::DelRoute(r) => self.route(&r, "del"),
            _ => return None,
        })
    }
}
