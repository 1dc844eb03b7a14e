//! `Link`: a thin Lua handle on an interface (namespace + name), looked up again on each call.

use std::cell::RefCell;

use mlua::{Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value};

use super::args::{fail, type_name, Args, Named};
use super::ns::{ns_arg, Ns};
use super::{net, tables};
use crate::core::names::{parse_mac, Cidr};
use crate::core::op::{LinkChange, Op};
use crate::core::{addr, link, NsId};

pub struct Link {
    at: RefCell<(NsId, String)>,
    /// Looked up on first use (by ioctl, no netlink round trip), forgotten on rename or move.
    index: std::cell::Cell<Option<u32>>,
}

impl Link {
    pub fn new(ns: NsId, name: String) -> Link {
        Link {
            at: RefCell::new((ns, name)),
            index: std::cell::Cell::new(None),
        }
    }

    fn at(&self) -> (NsId, String) {
        self.at.borrow().clone()
    }
}

async fn set(lua: &Lua, this: &Link, f: &'static str, change: LinkChange) -> mlua::Result<()> {
    let (ns, dev) = this.at();
    let net = net(lua);
    net.apply(&Op::LinkSet {
        ns: ns.clone(),
        dev: dev.clone(),
        change: change.clone(),
    })
    .await
    .named(f)?;
    let new_ns = change.ns.unwrap_or(ns);
    let new_name = change.name.unwrap_or(dev);
    if *this.at.borrow() != (new_ns.clone(), new_name.clone()) {
        this.index.set(None);
        *this.at.borrow_mut() = (new_ns, new_name);
    }
    Ok(())
}

/// `master = Link | "name" | false`
pub(crate) fn master_arg(f: &str, this_ns: &NsId, v: Value) -> mlua::Result<Option<Option<String>>> {
    match v {
        Value::Nil => Ok(None),
        Value::Boolean(false) => Ok(Some(None)),
        Value::String(s) => Ok(Some(Some(s.to_str()?.to_string()))),
        Value::UserData(ud) => match ud.borrow::<Link>() {
            Ok(l) => {
                let (ns, name) = l.at();
                if ns != *this_ns {
                    return Err(fail(
                        f,
                        format!("master {name:?} is in namespace {ns}, not in {this_ns}"),
                    ));
                }
                Ok(Some(Some(name)))
            }
            Err(_) => Err(fail(f, "option \"master\" must be a Link, a name or false")),
        },
        other => Err(fail(
            f,
            format!(
                "option \"master\" must be a Link, a name or false, got {}",
                type_name(&other)
            ),
        )),
    }
}

impl UserData for Link {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("name", |_, this| Ok(this.at().1));
        fields.add_field_method_get("index", |lua, this| {
            if let Some(i) = this.index.get() {
                return Ok(i);
            }
            let (ns, dev) = this.at();
            let net = net(lua);
            if net.is_plan() {
                return Ok(0);
            }
            let handle = net
                .cached(&ns)
                .ok_or_else(|| fail("link.index", format!("namespace {ns} is not open")))?;
            let i = handle.ifindex(&dev).named("link.index")?;
            this.index.set(Some(i));
            Ok(i)
        });
        fields.add_field_method_get("ns", |_, this| Ok(Ns { id: this.at().0 }));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            super::args::wrong_object(
                lua,
                "link",
                {
                    let (ns, name) = this.at();
                    format!("Link({name}@{ns})")
                },
                key,
            )
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let (ns, name) = this.at();
            Ok(format!("Link({name}@{ns})"))
        });
        m.add_async_method("up", |lua, this, ()| async move {
            set(
                &lua,
                &this,
                "link:up",
                LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            )
            .await
        });
        m.add_async_method("down", |lua, this, ()| async move {
            set(
                &lua,
                &this,
                "link:down",
                LinkChange {
                    up: Some(false),
                    ..Default::default()
                },
            )
            .await
        });
        m.add_async_method("set", |lua, this, args: MultiValue| async move {
            let a = Args::new("link:set", args);
            let t = a.table(1, "changes")?;
            let o = super::args::Opts::new(a.f, t, &["master", "mtu", "mac", "name", "ns", "up"])?;
            let change = LinkChange {
                up: o.bool("up")?,
                mtu: o.u32("mtu")?,
                mac: o.string("mac")?.map(|m| parse_mac(&m)).transpose().named(a.f)?,
                master: master_arg(a.f, &this.at().0, o.value("master")?)?,
                name: o.string("name")?,
                ns: match o.value("ns")? {
                    Value::Nil => None,
                    v => Some(ns_arg(a.f, &v)?),
                },
            };
            set(&lua, &this, a.f, change).await
        });
        m.add_async_method("addr_add", |lua, this, args: MultiValue| async move {
            let a = Args::new("link:addr_add", args);
            let cidr: Cidr = a.string(1, "cidr")?.parse().named(a.f)?;
            let (ns, dev) = this.at();
            net(&lua).apply(&Op::AddrAdd { ns, dev, cidr }).await.named(a.f)
        });
        m.add_async_method("addr_del", |lua, this, args: MultiValue| async move {
            let a = Args::new("link:addr_del", args);
            let cidr: Cidr = a.string(1, "cidr")?.parse().named(a.f)?;
            let (ns, dev) = this.at();
            net(&lua).apply(&Op::AddrDel { ns, dev, cidr }).await.named(a.f)
        });
        m.add_async_method("addrs", |lua, this, ()| async move {
            let (ns, dev) = this.at();
            let net = net(&lua);
            net.trace_read(|| format!("{} -j addr show dev {dev}", ns.ip()));
            let handle = net.ns(&ns).await.named("link:addrs")?;
            let addrs = addr::list(&handle, Some(&dev)).await.named("link:addrs")?;
            tables::list(&lua, &addrs, tables::addr)
        });
        m.add_async_method("info", |lua, this, ()| async move {
            let (ns, dev) = this.at();
            let net = net(&lua);
            net.trace_read(|| format!("{} -j link show dev {dev}", ns.ip()));
            let handle = net.ns(&ns).await.named("link:info")?;
            let mut info = [link::get(&handle, &dev).await.named("link:info")?];
            link::resolve_peers(&net, &handle, &mut info).await;
            tables::link(&lua, &info[0])
        });
        m.add_async_method("shape", |lua, this, args: MultiValue| async move {
            let a = Args::new("link:shape", args);
            let shape = super::specs::shape(a.f, None, a.get(1))?;
            let (ns, dev) = this.at();
            net(&lua).apply(&Op::Shape { ns, dev, shape }).await.named(a.f)
        });
        m.add_async_method("delete", |lua, this, ()| async move {
            let (ns, dev) = this.at();
            net(&lua).apply(&Op::LinkDel { ns, dev }).await.named("link:delete")
        });
    }
}
