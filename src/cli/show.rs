//! `lunet show` (namespaces, links with their shapes, addresses, routes) and `lunet graph`
//! (the live topology as Graphviz), read straight from the kernel.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use super::session::Session;
use super::Global;
use crate::core::addr::{self, AddrInfo};
use crate::core::link::{self, LinkInfo};
use crate::core::route::{self, RouteFilter, RouteInfo};
use crate::core::{netns, Net, NsId};

#[derive(Serialize)]
struct NsView {
    name: String,
    links: Vec<LinkInfo>,
    addrs: Vec<AddrInfo>,
    routes: Vec<RouteInfo>,
}

async fn view(net: &Net, id: &NsId) -> Result<NsView> {
    let ns = net.ns(id).await.map_err(|e| anyhow!("{e}"))?;
    let main = RouteFilter {
        table: Some(route::MAIN_TABLE),
        ..Default::default()
    };
    let mut links = link::list(&ns).await.map_err(|e| anyhow!("{e}"))?;
    link::resolve_peers(net, &ns, &mut links).await;
    Ok(NsView {
        name: id.to_string(),
        links,
        addrs: addr::list(&ns, None).await.map_err(|e| anyhow!("{e}"))?,
        routes: route::list(&ns, &main).await.map_err(|e| anyhow!("{e}"))?,
    })
}

fn views(g: &Global, only: Option<&str>) -> Result<Vec<NsView>> {
    let sess = Session::new(g.verbose, g.sandbox, false)?;
    let ids: Vec<NsId> = match only {
        Some("host") => vec![NsId::Host],
        Some(n) => {
            if !netns::exists(n) {
                bail!("namespace {n:?} does not exist (`lunet show` lists them all)");
            }
            vec![NsId::Named(n.to_string())]
        }
        None => std::iter::once(NsId::Host)
            .chain(netns::list().map_err(|e| anyhow!("{e}"))?.into_iter().map(NsId::Named))
            .collect(),
    };
    sess.rt.block_on(async {
        let mut out = vec![];
        for id in &ids {
            out.push(view(&sess.net, id).await?);
        }
        Ok(out)
    })
}

pub fn show(g: &Global, only: Option<&str>, json: bool) -> Result<()> {
    let views = views(g, only)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    for v in &views {
        println!(
            "{}",
            if v.name == "host" {
                "host (lunet's own namespace)".to_string()
            } else {
                format!("namespace {}", v.name)
            }
        );
        for l in &v.links {
            let addrs: Vec<String> = v
                .addrs
                .iter()
                .filter(|a| a.dev == l.name && !a.cidr.addr.to_string().starts_with("fe80"))
                .map(|a| a.cidr.to_string())
                .collect();
            let mut extra = vec![];
            if let Some(m) = &l.master {
                extra.push(format!("master {m}"));
            }
            match (&l.peer, &l.peer_ns) {
                (Some(p), Some(pns)) if *pns != v.name => extra.push(format!("peer {p} in {pns}")),
                (Some(p), _) => extra.push(format!("peer {p}")),
                _ => {}
            }
            if let Some(sh) = &l.shape {
                extra.push(format!("shaped: {sh}"));
            }
            println!(
                "  {:<15} {:<7} {:<5} mtu {:<6} {}{}",
                l.name,
                l.kind.as_deref().unwrap_or("-"),
                if l.up { "up" } else { "down" },
                l.mtu,
                addrs.join(" "),
                if extra.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", extra.join(", "))
                }
            );
        }
        for r in &v.routes {
            let mut s = format!("  route {}", r.to);
            if let Some(via) = r.via {
                s += &format!(" via {via}");
            }
            if let Some(dev) = &r.dev {
                s += &format!(" dev {dev}");
            }
            if r.family == "inet6" && r.to.starts_with("fe80") {
                continue;
            }
            println!("{s}");
        }
    }
    Ok(())
}

/// A Graphviz string: quotes and backslashes escaped, line breaks as `\n` (a new line in a label).
fn q(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
    )
}

/// The topology as Graphviz: a cluster per namespace, an edge per veth pair, dashed edges to masters.
fn dot(views: &[NsView]) -> String {
    let mut s = String::from("graph lunet {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, v) in views.iter().enumerate() {
        s += &format!("  subgraph cluster_{i} {{\n    label={};\n", q(&v.name));
        for l in v.links.iter().filter(|l| l.name != "lo") {
            let addrs: Vec<String> = v
                .addrs
                .iter()
                .filter(|a| a.dev == l.name && !a.cidr.is_ipv6())
                .map(|a| a.cidr.to_string())
                .collect();
            let label = std::iter::once(l.name.clone())
                .chain(addrs)
                .collect::<Vec<_>>()
                .join("\n");
            let shape = if l.kind.as_deref() == Some("bridge") {
                ", shape=ellipse"
            } else {
                ""
            };
            s += &format!(
                "    {} [label={}{shape}];\n",
                q(&format!("{}/{}", v.name, l.name)),
                q(&label)
            );
        }
        s += "  }\n";
    }
    // veth pairs: each end names its peer and the peer's namespace (resolved from the
    // kernel's netnsid), so an edge joins (namespace, name) to (namespace, name).
    let mut done = std::collections::HashSet::new();
    for v in views {
        for l in &v.links {
            if let Some(m) = &l.master {
                s += &format!(
                    "  {} -- {} [style=dashed];\n",
                    q(&format!("{}/{}", v.name, l.name)),
                    q(&format!("{}/{m}", v.name))
                );
            }
            if l.kind.as_deref() != Some("veth") {
                continue;
            }
            let (Some(peer), Some(pns)) = (&l.peer, &l.peer_ns) else {
                continue;
            };
            let a = format!("{}/{}", v.name, l.name);
            let b = format!("{pns}/{peer}");
            let key = if a < b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            if done.insert(key) {
                s += &format!("  {} -- {};\n", q(&a), q(&b));
            }
        }
    }
    s + "}\n"
}

pub fn graph(g: &Global, format: &str) -> Result<()> {
    let text = dot(&views(g, None)?);
    match format {
        "dot" => print!("{text}"),
        "svg" => {
            let mut child = Command::new("dot")
                .arg("-Tsvg")
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|_| anyhow!("--format svg needs Graphviz's `dot` (apt-get install graphviz); --format dot prints the source"))?;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            if !child.wait()?.success() {
                bail!("dot failed");
            }
        }
        other => bail!("unknown format {other:?}: expected dot or svg"),
    }
    Ok(())
}
