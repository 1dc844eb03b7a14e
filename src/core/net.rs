//! `Net`: the entry point of the core. It owns the namespace thread and one open
//! handle per namespace (its fd plus a netlink socket created inside it), and
//! `apply` is the one place every kernel change goes through.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};

use super::apply::Faults;
use super::error::{Error, Result};
use super::firewall::Backend;
use super::journal::Journal;
use super::netns::{self, NsId};
use super::nsthread::NsThread;
use super::op::{LinkChange, Op};
use super::process::{self, ExecResult, ExecSpec, Output, Proc};
use super::sysctl;

/// An open network namespace: its fd and a netlink connection living inside it.
pub struct Namespace {
    pub id: NsId,
    pub file: File,
    pub nl: rtnetlink::Handle,
    ctl: OwnedFd,
    conn: tokio::task::JoinHandle<()>,
}

impl Namespace {
    fn connect(id: NsId, file: File, sock: Socket) -> Result<Namespace> {
        // A second fd on the same socket, for ioctls: it belongs to the namespace too.
        let ctl = sock
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::io("dup a netlink socket", e))?;
        // SAFETY: the fd comes straight from a socket we own and give up here.
        let sock = unsafe { TokioSocket::from_raw_fd(sock.into_raw_fd()) };
        let (conn, nl, _) = rtnetlink::from_socket(sock);
        let conn = tokio::spawn(conn);
        Ok(Namespace {
            id,
            file,
            nl,
            ctl,
            conn,
        })
    }

    /// The ifindex of `dev` here, by `ioctl(SIOCGIFINDEX)`: no netlink round trip.
    pub fn ifindex(&self, dev: &str) -> Result<u32> {
        // SAFETY: a zeroed ifreq with a NUL-terminated name (checked ≤ 15 bytes by the caller).
        unsafe {
            let mut req: libc::ifreq = std::mem::zeroed();
            for (d, s) in req.ifr_name.iter_mut().zip(dev.bytes().take(libc::IFNAMSIZ - 1)) {
                *d = s as libc::c_char;
            }
            if libc::ioctl(self.ctl.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) < 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::ENODEV) => {
                        Error::new(format!("no interface {dev:?} in {}", self.describe())).with_errno(libc::ENODEV)
                    }
                    _ => Error::io(format!("interface {dev:?} in {}", self.describe()), e),
                });
            }
            Ok(req.ifr_ifru.ifru_ifindex as u32)
        }
    }

    /// The namespace's netns cookie (`SO_NETNS_COOKIE` of the socket inside it,
    /// Linux 5.14 on): what identifies it beyond its name, never reused. None
    /// on a kernel too old to tell.
    pub fn cookie(&self) -> Option<u64> {
        const SO_NETNS_COOKIE: libc::c_int = 71;
        let mut v: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `v`.
        let r = unsafe {
            libc::getsockopt(
                self.ctl.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                &mut v as *mut u64 as *mut libc::c_void,
                &mut len,
            )
        };
        (r == 0 && len as usize == std::mem::size_of::<u64>()).then_some(v)
    }

    /// "namespace "left"" or "the host namespace", for messages.
    pub fn describe(&self) -> String {
        describe(&self.id)
    }
}

pub fn describe(id: &NsId) -> String {
    match id {
        NsId::Host => "the host namespace".into(),
        NsId::Named(n) => format!("namespace {n:?}"),
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The socket pins the namespace in the kernel: close it with the handle.
        self.conn.abort();
    }
}

/// A netlink route socket, created in whatever namespace the calling thread is in.
fn route_socket() -> Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io("open a netlink socket", e))?;
    s.bind_auto().map_err(|e| Error::io("bind a netlink socket", e))?;
    Ok(s)
}

/// How far long work has got, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Changes made so far by this process.
    Made(u64),
    /// Steps undone so far in the current undo walk.
    Undone(usize),
}

/// How the CLI sets up the core: the core reads no environment and prints nothing itself.
pub struct Config {
    /// Trace every change (`trace` gets `+ ip …` lines).
    pub verbose: bool,
    /// Plan mode: changes are handed to `plan_out` as commands, never made,
    /// and reads see an empty system.
    pub plan: bool,
    pub backend: Backend,
    /// Test hooks: make the k-th journaled change fail, or kill the process around it.
    pub faults: Faults,
    pub trace: Box<dyn Fn(&str)>,
    pub plan_out: Box<dyn Fn(&str)>,
    pub progress: Box<dyn Fn(Progress)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            verbose: false,
            plan: false,
            backend: Backend::Default,
            faults: Faults::default(),
            trace: Box::new(|_| {}),
            plan_out: Box::new(|_| {}),
            progress: Box::new(|_| {}),
        }
    }
}

/// How many namespace handles stay open at most: each holds 3 fds and a
/// netlink connection with its buffers, so a lab of thousands of namespaces
/// keeps only the most recent ones (a handle closed is opened again on use).
const MAX_OPEN: usize = 256;

/// File descriptors lunet keeps free for the rest (the journal, iptables and
/// the programs it runs, an undo's own needs) when it caps the open namespace
/// handles, each of which holds three (the namespace, its netlink socket twice).
const FDS_FREE: usize = 32;

/// How many namespace handles stay open: `MAX_OPEN`, fewer when the limit on
/// open files (`ulimit -n`) would not leave `FDS_FREE` besides them.
fn handle_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return MAX_OPEN;
    }
    let soft = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    (soft.saturating_sub(FDS_FREE) / 3).clamp(2, MAX_OPEN)
}

/// How many descriptors an undo gets back first ([`Net::release_reserve`]).
const FDS_RESERVED: usize = 8;

/// The open namespace handles, oldest first out once there are `MAX_OPEN`.
#[derive(Default)]
struct OpenHandles {
    map: HashMap<NsId, Arc<Namespace>>,
    order: std::collections::VecDeque<NsId>,
    /// At most this many stay open ([`handle_cap`]).
    cap: usize,
}

impl OpenHandles {
    fn insert(&mut self, ns: Arc<Namespace>) {
        let id = ns.id.clone();
        if self.map.insert(id.clone(), ns).is_none() {
            self.order.push_back(id);
        }
        while self.map.len() > self.cap.max(1) {
            let Some(old) = self.order.pop_front() else { break };
            // lunet's own namespace is used all the time: it stays.
            if old == NsId::Host {
                self.order.push_back(old);
                continue;
            }
            self.map.remove(&old);
        }
        // Names forgotten by `forget` may linger in `order`: drop them now and then.
        if self.order.len() > 2 * self.cap.max(1) {
            let map = &self.map;
            self.order.retain(|id| map.contains_key(id));
        }
    }
}

pub struct Net {
    pub(super) thread: NsThread,
    open: Mutex<OpenHandles>,
    verbose: bool,
    /// Every change is journaled (in memory until a file is attached).
    pub(super) journal: Mutex<Journal>,
    pub(super) backend: Backend,
    pub(super) faults: Faults,
    pub(super) tracer: Box<dyn Fn(&str)>,
    plan_out: Box<dyn Fn(&str)>,
    pub(super) progress: Box<dyn Fn(Progress)>,
    pub(super) made: std::sync::atomic::AtomicU64,
    plan: bool,
    /// Destinations of the routes in each (namespace, table, v6), learned with
    /// one dump and kept up to date with lunet's own changes: the look before a
    /// route is added costs O(1), not a dump of the table.
    pub(super) routes_seen: Mutex<HashMap<(NsId, u32, bool), std::collections::HashSet<super::names::Dest>>>,
    /// The addresses of each link (namespace → ifindex → addresses) lunet looked
    /// at before adding one, learned with one dump and kept up to date with
    /// lunet's own changes: adding many addresses to one link costs O(1) each.
    pub(super) addrs_seen: Mutex<HashMap<NsId, HashMap<u32, std::collections::HashSet<super::names::Cidr>>>>,
    /// See `ipv6_default`.
    ipv6: std::sync::atomic::AtomicBool,
    /// The first step of the transaction under way, if any.
    pub(super) txn: Mutex<Option<u64>>,
    /// iptables tables known to exist (namespace, v6, table): looked up once.
    pub(super) ipt_tables: Mutex<std::collections::HashSet<(NsId, bool, String)>>,
    /// A namespace made ahead on the namespace thread (unnamed: it vanishes
    /// with lunet if never used), taken by the next `ip netns add`.
    spare: Mutex<Option<SpareNs>>,
    /// Descriptors held in reserve (of /dev/null), given back when an undo
    /// starts: a rollback after running out of file descriptors can still run
    /// iptables and open what it needs.
    reserve: Mutex<Vec<File>>,
    /// `ns_add` calls so far: a spare is made from the second one on.
    adds: std::sync::atomic::AtomicU64,
}

/// `FDS_RESERVED` descriptors of /dev/null (fewer if they cannot be had).
fn reserve_fds() -> Vec<File> {
    (0..FDS_RESERVED).map_while(|_| File::open("/dev/null").ok()).collect()
}

type SpareNs = (bool, tokio::sync::oneshot::Receiver<Result<(File, Socket)>>);

/// On the namespace thread, just inside a new namespace: turns IPv6 off if
/// asked (before any link exists), then opens the namespace and a netlink socket in it.
fn new_ns_inside(ipv6_off: bool) -> Result<(File, Socket)> {
    if ipv6_off {
        sysctl::write_all(&[
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ])?;
    }
    let file = File::open("/proc/thread-self/ns/net").map_err(|e| Error::io("open the new namespace", e))?;
    Ok((file, route_socket()?))
}

impl Net {
    /// Must be called inside a tokio runtime (netlink connections are tasks).
    pub fn new(cfg: Config) -> Result<Net> {
        Ok(Net {
            thread: NsThread::start()?,
            open: Mutex::new(OpenHandles {
                cap: handle_cap(),
                ..Default::default()
            }),
            reserve: Mutex::new(reserve_fds()),
            verbose: cfg.verbose,
            journal: Mutex::new(Journal::in_memory()),
            backend: cfg.backend,
            faults: cfg.faults,
            tracer: cfg.trace,
            plan_out: cfg.plan_out,
            progress: cfg.progress,
            made: std::sync::atomic::AtomicU64::new(0),
            plan: cfg.plan,
            ipt_tables: Mutex::new(Default::default()),
            txn: Mutex::new(None),
            ipv6: std::sync::atomic::AtomicBool::new(true),
            routes_seen: Mutex::new(HashMap::new()),
            addrs_seen: Mutex::new(HashMap::new()),
            spare: Mutex::new(None),
            adds: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Gives the reserved descriptors back (an undo is about to start).
    pub(super) fn release_reserve(&self) {
        self.reserve.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Takes the reserve again (an undo has ended).
    pub(super) fn refill_reserve(&self) {
        let mut r = self.reserve.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_empty() {
            *r = reserve_fds();
        }
    }

    /// In plan mode: one line of the plan.
    pub fn plan_out(&self, line: &str) {
        (self.plan_out)(line);
    }

    pub fn is_plan(&self) -> bool {
        self.plan
    }

    /// The handle of a namespace already opened (no I/O).
    pub fn cached(&self, id: &NsId) -> Option<Arc<Namespace>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).map.get(id).cloned()
    }

    fn remember(&self, ns: Namespace) -> Arc<Namespace> {
        let ns = Arc::new(ns);
        self.open.lock().unwrap_or_else(|e| e.into_inner()).insert(ns.clone());
        ns
    }

    pub(super) fn forget(&self, id: &NsId) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).map.remove(id);
    }

    /// The open handle of a namespace (opened on first use, then cached).
    pub async fn ns(&self, id: &NsId) -> Result<Arc<Namespace>> {
        if let Some(ns) = self.cached(id) {
            return Ok(ns);
        }
        let file = match id {
            NsId::Host => {
                File::open("/proc/thread-self/ns/net").map_err(|e| Error::io("open the host namespace", e))?
            }
            NsId::Named(n) => netns::open(n)?,
        };
        let inside = file.try_clone().map_err(|e| Error::io("dup a namespace fd", e))?;
        let sock = self
            .thread
            .run_in(inside, route_socket)
            .await
            .map_err(|e| Error::new(format!("{}: {e}", describe(id))))?;
        Ok(self.remember(Namespace::connect(id.clone(), file, sock)?))
    }

    /// `ip netns add NAME` (and `ip -n NAME link set lo up` when `lo_up`).
    /// All or nothing: if bringing lo up fails, the namespace is removed again.
    pub async fn ns_add(&self, name: &str, lo_up: bool, ipv6: bool) -> Result<()> {
        let id = NsId::Named(name.into());
        let mut ops = vec![Op::NsAdd {
            name: name.into(),
            ipv6_off: !ipv6,
        }];
        if lo_up {
            ops.push(Op::LinkSet {
                ns: id,
                dev: "lo".into(),
                change: LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            });
        }
        self.transaction(&ops).await?;
        // A lab of many namespaces: make the next one (alike) while the caller sets this one up.
        if self.adds.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 1 {
            self.make_spare(!ipv6);
        }
        Ok(())
    }

    /// Starts making a spare namespace on the namespace thread, if none is under way.
    fn make_spare(&self, ipv6_off: bool) {
        if self.plan {
            return;
        }
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.is_none() {
            *spare = self
                .thread
                .queue_in_new(move || new_ns_inside(ipv6_off))
                .ok()
                .map(|rx| (ipv6_off, rx));
        }
    }

    /// The spare namespace if it is made like `ipv6_off` asks (None if there is
    /// none, it is not alike, or making it failed: the caller then makes one
    /// itself, and reports its own error).
    async fn take_spare(&self, ipv6_off: bool) -> Option<(File, Socket)> {
        let (off, rx) = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        let made = rx.await.ok()?.ok()?;
        (off == ipv6_off).then_some(made)
    }

    /// Whether new namespaces and bridges get IPv6 unless told otherwise
    /// (a scenario with `ipv6 = false` turns it off for all it makes).
    pub fn ipv6_default(&self) -> bool {
        self.ipv6.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_ipv6_default(&self, on: bool) {
        self.ipv6.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A read, traced like a change when verbose.
    pub fn trace_read(&self, what: impl FnOnce() -> String) {
        if self.verbose {
            (self.tracer)(&format!("+ {}", what()));
        }
    }

    pub(super) async fn ns_file(&self, id: &NsId) -> Result<File> {
        self.ns(id)
            .await?
            .file
            .try_clone()
            .map_err(|e| Error::io("dup a namespace fd", e))
    }

    /// Creates the namespace: the spare made ahead if it is made alike, else a
    /// new one on the namespace thread; pins it on /run/netns/NAME and keeps a
    /// netlink socket inside.
    pub(super) async fn create_ns(&self, name: &str, ipv6_off: bool) -> Result<()> {
        netns::create_pin(name)?;
        let made = match self.take_spare(ipv6_off).await {
            Some((file, sock)) => netns::pin_file(name, &file).map(|()| (file, sock)),
            None => {
                let n = name.to_string();
                self.thread
                    .run_in_new(move || {
                        netns::pin_current_thread(&n)?;
                        new_ns_inside(ipv6_off)
                    })
                    .await
            }
        };
        match made.and_then(|(file, sock)| Namespace::connect(NsId::Named(name.into()), file, sock)) {
            Ok(ns) => {
                self.remember(ns);
                Ok(())
            }
            Err(e) => {
                // It may already be pinned (a later step failed): unmount too.
                let _ = netns::remove(name);
                netns::remove_pin(name);
                Err(Error::new(format!("namespace {name:?}: {e}")))
            }
        }
    }

    /// Reads a `net.` sysctl inside a namespace.
    pub async fn sysctl_get(&self, id: &NsId, key: &str) -> Result<String> {
        sysctl::check(key)?;
        if self.plan {
            return Ok(String::new());
        }
        self.trace_read(|| format!("{}sysctl -n {key}", id.exec_prefix()));
        let file = self.ns_file(id).await?;
        let k = key.to_string();
        self.thread.run_in(file, move || sysctl::read(&k)).await
    }

    /// Processes inside a namespace (`ip netns pids`).
    pub async fn ns_pids(&self, id: &NsId) -> Result<Vec<i32>> {
        if self.plan {
            return Ok(vec![]);
        }
        let file = match id {
            NsId::Named(n) => netns::open(n)?,
            NsId::Host => self.ns_file(id).await?,
        };
        netns::pids(&file)
    }

    /// `ip netns del NAME`; with `kill = false` it refuses while processes are inside.
    pub async fn ns_delete(&self, name: &str, kill: bool) -> Result<()> {
        let id = NsId::named(name)?;
        // (with kill, NsDel itself ends what runs inside: one /proc scan, not two)
        if !kill {
            let pids = self.ns_pids(&id).await?;
            if !pids.is_empty() {
                return Err(Error::new(format!(
                    "namespace {name:?} still has processes {pids:?} (pass kill = true to end them)"
                )));
            }
        }
        self.apply(&Op::NsDel { name: name.into() }).await
    }

    /// `ip netns del` of many namespaces at once: each is journaled, then all
    /// are deleted together (one pass over /proc, unmounts in a tight loop).
    pub async fn ns_delete_many(&self, names: &[String], kill: bool) -> Result<()> {
        for n in names {
            NsId::named(n)?;
            if !netns::exists(n) {
                return Err(Error::new(format!("namespace {n:?} does not exist")).with_errno(libc::ENOENT));
            }
        }
        if !kill {
            let pids = netns::pids_of_many(names)?;
            if !pids.is_empty() {
                return Err(Error::new(format!(
                    "these namespaces still have processes {pids:?} (pass kill = true to end them)"
                )));
            }
        }
        if self.plan {
            for n in names {
                self.plan_out(&Op::NsDel { name: n.clone() }.to_string());
            }
            return Ok(());
        }
        let mut seqs = vec![];
        for n in names {
            let op = Op::NsDel { name: n.clone() };
            self.trace(&op);
            seqs.push((n, self.journal_intent(&op, vec![], false)?));
        }
        let failed = self.ns_del_many(names).await;
        let mut first = None;
        for (n, seq) in seqs {
            let err = failed.iter().find(|(f, _)| f == n).map(|(_, e)| e);
            self.journal_outcome(seq, err.map_or(Ok(true), Err))?;
            if let Some(e) = err {
                first.get_or_insert_with(|| e.clone());
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn exec_target(&self, id: &NsId) -> Result<Option<File>> {
        match id {
            NsId::Named(n) => netns::open(n).map(Some),
            NsId::Host => Ok(None),
        }
    }

    /// Runs a program inside a namespace to completion (`ip netns exec NS CMD`).
    pub async fn exec(&self, id: &NsId, spec: &ExecSpec) -> Result<ExecResult> {
        self.trace_read(|| format!("{}{}", id.exec_prefix(), spec.command_line()));
        if self.plan {
            self.plan_out(&format!("{}{}", id.exec_prefix(), spec.command_line()));
            return Ok(ExecResult {
                code: Some(0),
                signal: None,
                stdout: vec![],
                stderr: vec![],
                timed_out: false,
            });
        }
        let file = self.exec_target(id)?;
        process::exec(id, file.as_ref(), spec, &process::new_tag()).await
    }

    /// Starts a background process inside a namespace (`ip netns exec NS CMD &`),
    /// journaled like any change: the intent (with the tag that marks its
    /// whole process tree) is written before it starts, so undo ends it even
    /// if lunet dies before learning its pid.
    pub fn spawn(&self, id: &NsId, spec: &ExecSpec, output: Output) -> Result<Proc> {
        let tag = process::new_tag();
        let op = Op::Spawn {
            ns: id.clone(),
            argv: spec.words(),
            tag: tag.clone(),
        };
        self.trace(&op);
        if self.plan {
            match &output {
                Output::File(p) | Output::Truncate(p) => {
                    let line = op.to_string();
                    let cmd = line.strip_suffix(" &").unwrap_or(&line);
                    self.plan_out(&format!(
                        "{cmd} {}{} 2>&1 &",
                        if matches!(output, Output::Truncate(_)) {
                            ">"
                        } else {
                            ">>"
                        },
                        super::words::quote(&p.display().to_string())
                    ));
                }
                _ => self.plan_out(&op.to_string()),
            }
            // A stand-in that does nothing (and opens no log), so the script can go on.
            let stand_in = ExecSpec {
                argv: vec!["true".into()],
                ..Default::default()
            };
            return process::spawn(&NsId::Host, None, &stand_in, Output::Null, &process::new_tag());
        }
        let file = self.exec_target(id)?;
        let undo = vec![Op::Kill {
            pid: 0,
            start: 0,
            tag: tag.clone(),
        }];
        let seq = self.journal_intent(&op, undo, false)?;
        let res = process::spawn(id, file.as_ref(), spec, output, &tag);
        self.faults_after(seq);
        if let Ok(p) = &res {
            // Now the pid is known too: its group can be ended, not only its tag.
            let undo = vec![Op::Kill {
                pid: p.pid,
                start: p.start,
                tag,
            }];
            self.journal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .set_undo(seq, undo)?;
        }
        self.journal_outcome(seq, res.as_ref().map(|_| true))?;
        res
    }
}
