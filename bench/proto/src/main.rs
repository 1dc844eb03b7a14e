//! A sketch, not part of lunet: the setup of the star workload W(N) with lunet's own stack
//! (tokio current-thread + rtnetlink, one thread that enters namespaces), but no Lua, in a few
//! netlink sequences, to price what lunet could save. Teardown: bench/peers/batch_teardown.sh.
//!
//!   star-proto MODE N      (run only inside bench/run.sh's sandbox: METHODS="lunet proto-min …")
//!
//! MODE:
//!   lunet     lunet's sequence today: 13 requests per host (7 RTM_GETLINK name→index look-ups)
//!   min       6 per host: lo up by ifindex 1; the veth created with master and up in its
//!             RTM_NEWLINK; one look-up of eth0; eth0 up; address; route
//!   minioctl  as min, the look-up by ioctl(SIOCGIFINDEX) on the namespace's netlink socket
//!   *-pipe    (lunet-pipe, min-pipe) host i+1's namespace is created on the namespace thread
//!             while host i is configured over netlink
use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc;

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::AddressFamily;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec};

type Job = Box<dyn FnOnce(&File) + Send>;
type Res<T> = Result<T, String>;

fn route_socket() -> Res<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
    s.bind_auto().map_err(|e| format!("bind: {e}"))?;
    Ok(s)
}

/// An open namespace: its fd and a netlink connection inside it (as lunet's `Namespace`).
struct Ns {
    file: File,
    nl: Handle,
    raw: RawFd,
}

fn connect(file: File, s: Socket) -> Ns {
    let raw = s.as_raw_fd();
    // SAFETY: the fd comes straight from a socket we own and give up here.
    let s = unsafe { TokioSocket::from_raw_fd(s.into_raw_fd()) };
    let (conn, nl, _) = rtnetlink::from_socket(s);
    tokio::spawn(conn);
    Ns { file, nl, raw }
}

/// `ip netns add NAME` as lunet does it: pin file, unshare + bind-mount + socket on the
/// namespace thread, back home.
async fn create(tx: mpsc::Sender<Job>, name: String) -> Res<Ns> {
    let p = format!("/run/netns/{name}");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&p)
        .map_err(|e| format!("create {p}: {e}"))?;
    let (done, wait) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |home: &File| {
        let made = (|| -> Res<(File, Socket)> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
            let flags = MsFlags::MS_BIND;
            mount(
                Some("/proc/thread-self/ns/net"),
                p.as_str(),
                Some("none"),
                flags,
                None::<&str>,
            )
            .map_err(|e| format!("bind-mount {p}: {e}"))?;
            let f = File::open("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
            Ok((f, route_socket()?))
        })();
        if let Err(e) = setns(home.as_fd(), CloneFlags::CLONE_NEWNET) {
            eprintln!("star-proto: cannot go home: {e}");
            std::process::abort();
        }
        let _ = done.send(made);
    });
    tx.send(job).map_err(|_| "namespace thread gone".to_string())?;
    let (f, s) = wait.await.map_err(|_| "namespace thread dropped a job".to_string())??;
    Ok(connect(f, s))
}

async fn getlink(h: &Handle, name: &str) -> Res<u32> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(m.header.index),
        Ok(None) => Err(format!("no link {name}")),
        Err(e) => Err(format!("getlink {name}: {e}")),
    }
}

/// name → ifindex without a netlink message: the ioctl reaches dev_ioctl() in the socket's
/// namespace, under RCU, no RTNL.
fn ioctl_index(fd: RawFd, name: &str) -> Res<u32> {
    // SAFETY: ifreq is plain old data; the name fits (IFNAMSIZ checked by the kernel).
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in name.bytes().enumerate().take(libc::IFNAMSIZ - 1) {
        ifr.ifr_name[i] = b as libc::c_char;
    }
    if unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut ifr) } != 0 {
        return Err(format!("SIOCGIFINDEX {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex } as u32)
}

async fn send_link(h: &Handle, m: LinkMessage, what: &str) -> Res<()> {
    h.link().set(m).execute().await.map_err(|e| format!("{what}: {e}"))
}

async fn add_link(h: &Handle, m: LinkMessage, what: &str) -> Res<()> {
    h.link().add(m).execute().await.map_err(|e| format!("{what}: {e}"))
}

fn up(idx: u32) -> LinkMessage {
    LinkUnspec::new_with_index(idx).up().build()
}

fn default_route(via: Ipv4Addr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.kind = RouteType::Unicast;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = RouteScope::Universe;
    m.header.table = 254;
    m.attributes.push(RouteAttribute::Gateway(IpAddr::V4(via).into()));
    m
}

async fn host(mode: &str, h: &Handle, br: u32, i: u32, ns: &Ns) -> Res<()> {
    let j = i + 1;
    let addr = IpAddr::V4(Ipv4Addr::new(10, 0, (j / 256) as u8, (j % 256) as u8));
    let veth = format!("veth{i}");
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name("eth0")
        .setns_by_fd(ns.file.as_raw_fd())
        .build();
    let veth_msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
        .name(veth.clone())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)));
    let n = &ns.nl;
    let eth0 = match mode {
        "lunet" => {
            let lo = getlink(n, "lo").await?;
            send_link(n, up(lo), "lo up").await?;
            add_link(h, veth_msg.build(), "veth").await?;
            let (v, b) = (getlink(h, &veth).await?, getlink(h, "br0").await?);
            let m = LinkUnspec::new_with_index(v).controller(b).up().build();
            send_link(h, m, "veth master up").await?;
            let e = getlink(n, "eth0").await?;
            send_link(n, up(e), "eth0 up").await?;
            getlink(h, &veth).await?; // the two Link objects veth() returns
            getlink(n, "eth0").await?;
            getlink(n, "eth0").await? // addr_add's look-up
        }
        "min" | "minioctl" => {
            send_link(n, up(1), "lo up").await?; // lo is ifindex 1 in every namespace
            add_link(h, veth_msg.controller(br).up().build(), "veth").await?;
            let e = if mode == "min" {
                getlink(n, "eth0").await?
            } else {
                ioctl_index(ns.raw, "eth0")?
            };
            // A veth peer cannot be created up (its peer is not linked yet: ENOTCONN).
            send_link(n, up(e), "eth0 up").await?;
            e
        }
        m => return Err(format!("unknown mode {m:?}")),
    };
    n.address()
        .add(eth0, addr, 16)
        .execute()
        .await
        .map_err(|e| format!("addr: {e}"))?;
    let r = n.route().add(default_route(Ipv4Addr::new(10, 0, 0, 1)));
    r.execute().await.map_err(|e| format!("route: {e}"))
}

async fn run(mode: &str, count: u32) -> Res<()> {
    let pipe = mode.ends_with("-pipe");
    let mode = mode.trim_end_matches("-pipe");
    if !["lunet", "min", "minioctl"].contains(&mode) {
        return Err(format!("unknown mode {mode:?} (lunet, min, minioctl, and *-pipe)"));
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let home = File::open("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for job in rx {
            job(&home)
        }
    });
    std::fs::create_dir_all("/run/netns").map_err(|e| e.to_string())?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    mount(None::<&str>, "/run/netns", Some("none"), shared, None::<&str>)
        .map_err(|e| format!("/run/netns must be a mount point (run in the sandbox): {e}"))?;
    let home_ns = File::open("/proc/self/ns/net").map_err(|e| e.to_string())?;
    let hostns = connect(home_ns, route_socket()?);
    let h = &hostns.nl;
    let bridge = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Bridge).name("br0");
    add_link(h, bridge.build(), "br0").await?;
    let br = getlink(h, "br0").await?;
    send_link(h, up(br), "br0 up").await?;
    let bra = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    h.address()
        .add(br, bra, 16)
        .execute()
        .await
        .map_err(|e| format!("br0 addr: {e}"))?;
    let spawn = |i: u32| tokio::spawn(create(tx.clone(), format!("h{i}")));
    let mut next = if pipe { Some(spawn(1)) } else { None };
    let mut keep = vec![];
    for i in 1..=count {
        let ns = match next.take() {
            Some(job) => {
                let ns = job.await.map_err(|e| e.to_string())??;
                if i < count {
                    next = Some(spawn(i + 1));
                }
                ns
            }
            None => create(tx.clone(), format!("h{i}")).await?,
        };
        host(mode, h, br, i, &ns).await?;
        keep.push(ns);
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = args.get(2).and_then(|n| n.parse::<u32>().ok()).filter(|n| *n >= 1);
    let (Some(mode), Some(count)) = (args.get(1), count) else {
        eprintln!("usage: star-proto lunet|min|minioctl[-pipe] N");
        std::process::exit(2);
    };
    if let Err(e) = run(mode, count).await {
        eprintln!("star-proto: {e}");
        std::process::exit(1);
    }
}
