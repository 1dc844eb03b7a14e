//! What parsed commands need when they run: `ip route replace` (which route it
//! replaces), `ip -all netns exec` (which namespaces there are), and applying
//! a command's changes as one transaction. Programs (`Exec`, `Spawn`) are run
//! by the caller, which knows where their output goes.

use std::collections::BTreeSet;

use super::script::command;
use super::Action;
use crate::core::error::{Error, Result};
use crate::core::names::Dest;
use crate::core::netns::{self, NsId};
use crate::core::op::{Op, RouteSpec};
use crate::core::route::{self, RouteFilter};
use crate::core::Net;

/// `ip route replace`: the route in its place (same destination, table and
/// metric) is deleted and the new one added, as one transaction; undo puts
/// the old one back. Without one, it is an add.
pub async fn route_replace(net: &Net, ns: &NsId, new: &RouteSpec) -> Result<()> {
    let mut ops = vec![];
    if !net.is_plan() {
        let handle = net.ns(ns).await?;
        let v6 = new.is_ipv6();
        let filter = RouteFilter {
            table: Some(new.table.unwrap_or(route::MAIN_TABLE)),
            v6: Some(v6),
            dev: None,
        };
        let want = new.to.unwrap_or(Dest::Default { v6 });
        let default_metric = if v6 { 1024 } else { 0 };
        let metric = |m: Option<u32>| m.unwrap_or(default_metric);
        let old = route::list(&handle, &filter).await?.into_iter().find(|x| {
            x.kind == "unicast"
                && Dest::parse(&x.to, v6).is_ok_and(|d| d == want)
                && metric(x.metric) == metric(new.metric)
        });
        if let Some(old) = old {
            let spec = crate::core::apply::respec(&old)
                .ok_or_else(|| Error::new(format!("route {} cannot be put back as it is", old.to)))?;
            ops.push(Op::RouteDel {
                ns: ns.clone(),
                route: spec,
            });
        }
    }
    ops.push(Op::RouteAdd {
        ns: ns.clone(),
        route: new.clone(),
    });
    net.transaction(&ops).await
}

/// `ip route del PREFIX [via …] [dev …]` names a route by what the user
/// remembers of it: the route it deletes is looked up, so that undo puts back
/// all of it (gateway, device, metric, source, protocol). None if no route matches.
async fn route_to_delete(net: &Net, ns: &NsId, r: &RouteSpec) -> Result<Option<RouteSpec>> {
    if net.is_plan() {
        return Ok(None);
    }
    let handle = net.ns(ns).await?;
    let v6 = r.is_ipv6();
    let filter = RouteFilter {
        table: Some(r.table.unwrap_or(route::MAIN_TABLE)),
        v6: Some(v6),
        dev: r.dev.clone(),
    };
    let want = r.to.unwrap_or(Dest::Default { v6 });
    let found = route::list(&handle, &filter).await?.into_iter().find(|x| {
        x.kind == "unicast"
            && Dest::parse(&x.to, v6).is_ok_and(|d| d == want)
            && r.via.is_none_or(|v| x.via == Some(v))
            && r.metric.is_none_or(|m| x.metric.unwrap_or(0) == m)
            && r.src.is_none_or(|s| x.src == Some(s))
    });
    Ok(found.as_ref().and_then(crate::core::apply::respec))
}

/// Applies a command's changes (`Ops`, `RouteReplace`); other actions are the caller's.
pub async fn apply(net: &Net, action: &Action) -> Result<()> {
    match action {
        Action::Ops(ops) => {
            let mut resolved = Vec::with_capacity(ops.len());
            for op in ops {
                match op {
                    Op::RouteDel { ns, route } => match route_to_delete(net, ns, route).await? {
                        Some(full) => resolved.push(Op::RouteDel {
                            ns: ns.clone(),
                            route: full,
                        }),
                        None => resolved.push(op.clone()),
                    },
                    _ => resolved.push(op.clone()),
                }
            }
            net.transaction(&resolved).await
        }
        Action::RouteReplace { ns, route } => route_replace(net, ns, route).await,
        _ => Ok(()),
    }
}

/// Namespaces a script has made and not deleted so far: what `ip -all` sees in a plan.
#[derive(Default, Debug)]
pub struct Seen(BTreeSet<String>);

impl Seen {
    pub fn note(&mut self, action: &Action) {
        if let Action::Ops(ops) = action {
            for op in ops {
                match op {
                    Op::NsAdd { name, .. } => {
                        self.0.insert(name.clone());
                    }
                    Op::NsDel { name } => {
                        self.0.remove(name);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `ip -all netns exec CMD`: CMD for every namespace there is now (in a plan,
/// those the script made), in name order.
pub fn for_all(net: &Net, seen: &Seen, words: &[String], background: bool) -> Result<Vec<(String, Action)>> {
    let names: Vec<String> = if net.is_plan() {
        seen.0.iter().cloned().collect()
    } else {
        let mut v = netns::list()?;
        v.sort();
        v
    };
    names
        .into_iter()
        .map(|n| {
            let a = command(words, &NsId::Named(n.clone()))?;
            let a = match (a, background) {
                (Action::Exec { ns, argv }, true) => Action::Spawn {
                    ns,
                    argv,
                    log: None,
                    truncate: false,
                },
                (a, _) => a,
            };
            Ok((n, a))
        })
        .collect()
}
