//! `Ns`: a thin Lua handle on a namespace (its id); every call looks it up again.

use mlua::{AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataMethods, UserDataRef, Value};

use super::args::{fail, type_name, Args, Named};
use super::link::Link;
use super::{net, specs, tables};
use crate::core::names::{parse_mac, sysctl_path};
use crate::core::op::{LinkKind, MacvlanMode, NewLink, Op, VxlanSpec};
use crate::core::{addr, link, route, rule, Net, NsId};

#[derive(Clone, Debug)]
pub struct Ns {
    pub id: NsId,
}

/// A namespace given as an `Ns` or a name.
pub fn ns_arg(f: &str, v: &Value) -> mlua::Result<NsId> {
    match v {
        Value::UserData(ud) => match ud.borrow::<Ns>() {
            Ok(ns) => Ok(ns.id.clone()),
            Err(_) => Err(fail(
                f,
                format!("expected a namespace (Ns or name), got {}", type_name(v)),
            )),
        },
        Value::String(s) if s.as_bytes() == b"host" => Ok(NsId::Host),
        Value::String(s) => NsId::named(&s.to_str()?).named(f),
        other => Err(fail(
            f,
            format!("expected a namespace (Ns or name), got {}", type_name(other)),
        )),
    }
}

/// Applies `ops` as one transaction: a failed call leaves nothing behind.
async fn apply_all(net: &Net, f: &str, ops: &[Op]) -> mlua::Result<()> {
    net.transaction(ops).await.map_err(|e| super::args::lerr(f, e))
}

/// A handle on a link just made (its index is looked up when first asked for).
fn made_link(lua: &Lua, ns: &NsId, name: &str) -> mlua::Result<AnyUserData> {
    lua.create_userdata(Link::new(ns.clone(), name.to_string()))
}

/// A handle on an existing link: an error if there is none.
async fn existing_link(lua: &Lua, net: &Net, f: &'static str, ns: &NsId, name: &str) -> mlua::Result<AnyUserData> {
    if !net.is_plan() {
        let handle = net.ns(ns).await.named(f)?;
        link::index(&handle, name).await.named(f)?;
    }
    made_link(lua, ns, name)
}

async fn veth(lua: Lua, id: NsId, args: MultiValue) -> mlua::Result<(AnyUserData, AnyUserData)> {
    let f = "ns:veth";
    let a = Args::new(f, args);
    let name = a.string(1, "name")?;
    let peer = a.string(2, "peer")?;
    let o = a.opts(3, &["peer_ns", "mtu", "master", "up", "shape", "peer_shape"])?;
    let peer_ns = match o.value("peer_ns")? {
        Value::Nil => id.clone(),
        v => ns_arg(f, &v)?,
    };
    let up = o.bool("up")?.unwrap_or(false);
    let master = super::link::master_arg(f, &id, o.value("master")?)?.flatten();
    let shape = specs::shape(f, Some("shape"), o.value("shape")?)?;
    let peer_shape = specs::shape(f, Some("peer_shape"), o.value("peer_shape")?)?;
    let net = net(&lua);
    let add = Op::LinkAdd {
        ns: id.clone(),
        link: NewLink {
            name: name.clone(),
            kind: LinkKind::Veth {
                peer: peer.clone(),
                peer_ns: peer_ns.clone(),
            },
            mtu: o.u32("mtu")?,
            mac: None,
            master,
            up,
        },
    };
    let mut ops = vec![add];
    for (ns, dev, shape) in [(&id, &name, shape), (&peer_ns, &peer, peer_shape)] {
        if shape.is_some() {
            ops.push(Op::Shape {
                ns: ns.clone(),
                dev: dev.clone(),
                shape,
            });
        }
    }
    apply_all(&net, f, &ops).await?;
    let a = made_link(&lua, &id, &name)?;
    let b = made_link(&lua, &peer_ns, &peer)?;
    Ok((a, b))
}

/// The shared tail of bridge/vlan/macvlan/vxlan/dummy: create, then mtu/mac/up.
async fn simple_link(
    lua: &Lua,
    f: &'static str,
    id: NsId,
    name: String,
    kind: LinkKind,
    o: &super::args::Opts,
) -> mlua::Result<AnyUserData> {
    let net = net(lua);
    // Every option is read before anything is made: a bad one must leave nothing behind.
    let up = o.bool("up")?.unwrap_or(false);
    let mac = o.string("mac")?.map(|m| parse_mac(&m)).transpose().named(f)?;
    let ipv6 = o.bool("ipv6")?.unwrap_or_else(|| net.ipv6_default());
    let shape = specs::shape(f, Some("shape"), o.value("shape")?)?;
    let link = NewLink {
        name: name.clone(),
        kind,
        mtu: o.u32("mtu")?,
        mac,
        master: None,
        up,
    };
    let mut ops = link::add_ops(&id, link, ipv6);
    if shape.is_some() {
        ops.push(Op::Shape {
            ns: id.clone(),
            dev: name.clone(),
            shape,
        });
    }
    apply_all(&net, f, &ops).await?;
    made_link(lua, &id, &name)
}

impl UserData for Ns {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("name", |_, this| Ok(this.id.to_string()));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            super::args::wrong_object(lua, "ns", format!("Ns({})", this.id), key)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(format!("Ns({})", this.id)));
        m.add_meta_method(
            MetaMethod::Eq,
            |_, this, other: UserDataRef<Ns>| Ok(this.id == other.id),
        );

        m.add_async_method("veth", |lua, this, args: MultiValue| async move {
            veth(lua, this.id.clone(), args).await
        });
        m.add_async_method("bridge", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:bridge", args);
            let o = a.opts(2, &["mtu", "mac", "up", "shape", "ipv6"])?;
            simple_link(&lua, a.f, this.id.clone(), a.string(1, "name")?, LinkKind::Bridge, &o).await
        });
        m.add_async_method("dummy", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:dummy", args);
            let o = a.opts(2, &["mtu", "mac", "up", "shape"])?;
            simple_link(&lua, a.f, this.id.clone(), a.string(1, "name")?, LinkKind::Dummy, &o).await
        });
        m.add_async_method("vlan", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:vlan", args);
            let (name, parent) = (a.string(1, "name")?, a.string(2, "parent")?);
            let id = a.integer(3, "id")?;
            if !(1..=4094).contains(&id) {
                return Err(fail(a.f, format!("vlan id must be 1..4094, got {id}")));
            }
            let o = a.opts(4, &["mtu", "mac", "up", "shape"])?;
            simple_link(
                &lua,
                a.f,
                this.id.clone(),
                name,
                LinkKind::Vlan { parent, id: id as u16 },
                &o,
            )
            .await
        });
        m.add_async_method("macvlan", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:macvlan", args);
            let (name, parent) = (a.string(1, "name")?, a.string(2, "parent")?);
            let o = a.opts(3, &["mode", "mtu", "mac", "up", "shape"])?;
            let mode = match o.string("mode")? {
                None => MacvlanMode::Bridge,
                Some(s) => MacvlanMode::parse(&s).ok_or_else(|| {
                    fail(
                        a.f,
                        format!("bad mode {s:?}: expected private, vepa, bridge or passthru"),
                    )
                })?,
            };
            simple_link(&lua, a.f, this.id.clone(), name, LinkKind::Macvlan { parent, mode }, &o).await
        });
        m.add_async_method("vxlan", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:vxlan", args);
            let name = a.string(1, "name")?;
            let o = a.opts(
                2,
                &[
                    "id", "remote", "local", "group", "dev", "port", "mtu", "mac", "up", "shape",
                ],
            )?;
            let ip = |k: &str| -> mlua::Result<Option<std::net::IpAddr>> {
                o.string(k)?
                    .map(|s| crate::core::names::parse_ip(k, &s))
                    .transpose()
                    .named(a.f)
            };
            if !o.value("remote")?.is_nil() && !o.value("group")?.is_nil() {
                return Err(fail(
                    a.f,
                    "give either \"remote\" (unicast) or \"group\" (multicast), not both",
                ));
            }
            let spec = VxlanSpec {
                id: o
                    .int("id", 0, (1 << 24) - 1)?
                    .ok_or_else(|| fail(a.f, "option \"id\" (the VNI) is required"))? as u32,
                remote: ip("remote")?,
                local: ip("local")?,
                group: ip("group")?,
                dev: o.string("dev")?,
                port: o.int("port", 1, 65535)?.map(|p| p as u16),
            };
            simple_link(&lua, a.f, this.id.clone(), name, LinkKind::Vxlan(spec), &o).await
        });
        m.add_async_method("link", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:link", args);
            let name = a.string(1, "name")?;
            existing_link(&lua, &net(&lua), a.f, &this.id, &name).await
        });
        m.add_async_method("links", |lua, this, ()| async move {
            let net = net(&lua);
            net.trace_read(|| format!("{} -j link show", this.id.ip()));
            if net.is_plan() {
                return lua.create_table();
            }
            let ns = net.ns(&this.id).await.named("ns:links")?;
            let mut links = link::list(&ns).await.named("ns:links")?;
            link::resolve_peers(&net, &ns, &mut links).await;
            tables::list(&lua, &links, tables::link)
        });
        m.add_async_method("addrs", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:addrs", args);
            let dev = a.opt_string(1, "dev")?;
            let net = net(&lua);
            net.trace_read(|| format!("{} -j addr show", this.id.ip()));
            if net.is_plan() {
                return lua.create_table();
            }
            let ns = net.ns(&this.id).await.named(a.f)?;
            let addrs = addr::list(&ns, dev.as_deref()).await.named(a.f)?;
            tables::list(&lua, &addrs, tables::addr)
        });
        m.add_async_method("route_add", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:route_add", args);
            let route = specs::route(a.f, a.table(1, "spec")?)?;
            net(&lua)
                .apply(&Op::RouteAdd {
                    ns: this.id.clone(),
                    route,
                })
                .await
                .named(a.f)
        });
        m.add_async_method("route_del", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:route_del", args);
            let route = specs::route(a.f, a.table(1, "spec")?)?;
            net(&lua)
                .apply(&Op::RouteDel {
                    ns: this.id.clone(),
                    route,
                })
                .await
                .named(a.f)
        });
        m.add_async_method("routes", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:routes", args);
            let filter = match a.get(1) {
                Value::Nil => None,
                _ => Some(a.table(1, "filter")?),
            };
            let filter = specs::route_filter(a.f, filter)?;
            let net = net(&lua);
            if let (Some(dev), false) = (&filter.dev, net.is_plan()) {
                let ns = net.ns(&this.id).await.named(a.f)?;
                link::index(&ns, dev).await.named(a.f)?;
            }
            net.trace_read(|| format!("{} -j route show", this.id.ip()));
            if net.is_plan() {
                return lua.create_table();
            }
            let ns = net.ns(&this.id).await.named(a.f)?;
            let routes = route::list(&ns, &filter).await.named(a.f)?;
            tables::list(&lua, &routes, tables::route)
        });
        m.add_async_method("rule_add", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:rule_add", args);
            let rule = specs::rule(a.f, a.table(1, "spec")?)?;
            net(&lua)
                .apply(&Op::RuleAdd {
                    ns: this.id.clone(),
                    rule,
                })
                .await
                .named(a.f)
        });
        m.add_async_method("rule_del", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:rule_del", args);
            let rule = specs::rule(a.f, a.table(1, "spec")?)?;
            net(&lua)
                .apply(&Op::RuleDel {
                    ns: this.id.clone(),
                    rule,
                })
                .await
                .named(a.f)
        });
        m.add_async_method("rules", |lua, this, ()| async move {
            let net = net(&lua);
            net.trace_read(|| format!("{} -j rule show", this.id.ip()));
            if net.is_plan() {
                return lua.create_table();
            }
            let ns = net.ns(&this.id).await.named("ns:rules")?;
            let rules = rule::list(&ns).await.named("ns:rules")?;
            tables::list(&lua, &rules, tables::rule)
        });
        m.add_async_method("sysctl", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:sysctl", args);
            let key = a.string(1, "key")?;
            sysctl_path(&key).named(a.f)?;
            let value = match a.get(2) {
                Value::Nil => None,
                Value::Boolean(b) => Some(if b { "1".to_string() } else { "0".to_string() }),
                Value::Integer(n) => Some(n.to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.to_str()?.to_string()),
                other => {
                    return Err(fail(
                        a.f,
                        format!(
                            "argument #2 (value) must be a string, number or boolean, got {}",
                            type_name(&other)
                        ),
                    ))
                }
            };
            let net = net(&lua);
            let old = net.sysctl_get(&this.id, &key).await.named(a.f)?;
            if let Some(value) = value {
                net.apply(&Op::Sysctl {
                    ns: this.id.clone(),
                    key,
                    value,
                    expect: None,
                })
                .await
                .named(a.f)?;
            }
            Ok(old)
        });
        m.add_async_method("exec", |lua, this, args: MultiValue| async move {
            super::process::ns_exec(lua, this.id.clone(), args).await
        });
        m.add_async_method("sh", |lua, this, args: MultiValue| async move {
            super::process::ns_sh(lua, this.id.clone(), args).await
        });
        m.add_method("spawn", |lua, this, args: MultiValue| {
            super::process::ns_spawn(lua, this.id.clone(), args)
        });
        m.add_async_method("ping", |lua, this, args: MultiValue| async move {
            super::process::ns_ping(lua, this.id.clone(), args).await
        });
        m.add_async_method("tcp_connect", |lua, this, args: MultiValue| async move {
            super::process::ns_tcp_connect(lua, this.id.clone(), args).await
        });
        m.add_async_method("wait_tcp", |lua, this, args: MultiValue| async move {
            super::process::ns_wait_tcp(lua, this.id.clone(), args).await
        });
        m.add_async_method("hosts", |lua, this, args: MultiValue| async move {
            super::process::ns_hosts(lua, this.id.clone(), args).await
        });
        m.add_async_method("resolv", |lua, this, args: MultiValue| async move {
            super::process::ns_resolv(lua, this.id.clone(), args).await
        });
        m.add_async_method("etc", |lua, this, args: MultiValue| async move {
            super::process::ns_etc(lua, this.id.clone(), args).await
        });
        m.add_async_method("iptables", |lua, this, args: MultiValue| async move {
            super::firewall::iptables(lua, this.id.clone(), false, args).await
        });
        m.add_async_method("ip6tables", |lua, this, args: MultiValue| async move {
            super::firewall::iptables(lua, this.id.clone(), true, args).await
        });
        m.add_async_method("iptables_restore", |lua, this, args: MultiValue| async move {
            super::firewall::restore(lua, this.id.clone(), args).await
        });
        m.add_async_method("nat_masquerade", |lua, this, args: MultiValue| async move {
            super::firewall::nat_masquerade(lua, this.id.clone(), args).await
        });
        m.add_async_method("forward_accept", |lua, this, args: MultiValue| async move {
            super::firewall::forward_accept(lua, this.id.clone(), args).await
        });
        m.add_async_method("port_forward", |lua, this, args: MultiValue| async move {
            super::firewall::port_forward(lua, this.id.clone(), args).await
        });
        m.add_async_method("ip_forward", |lua, this, args: MultiValue| async move {
            super::firewall::ip_forward(lua, this.id.clone(), args).await
        });
        m.add_async_method("ip", |lua, this, args: MultiValue| async move {
            super::ipcmd::ip(lua, this.id.clone(), "ns:ip", args).await
        });
        m.add_async_method("pids", |lua, this, ()| async move {
            net(&lua).ns_pids(&this.id).await.named("ns:pids")
        });
        m.add_async_method("delete", |lua, this, args: MultiValue| async move {
            let a = Args::new("ns:delete", args);
            let o = a.opts(1, &["kill"])?;
            let NsId::Named(name) = &this.id else {
                return Err(fail(a.f, "the host namespace cannot be deleted"));
            };
            net(&lua)
                .ns_delete(name, o.bool("kill")?.unwrap_or(true))
                .await
                .named(a.f)
        });
    }
}
