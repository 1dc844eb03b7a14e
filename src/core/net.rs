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

pub struct Net {
    pub(super) thread: NsThread,
    open: Mutex<HashMap<NsId, Arc<Namespace>>>,
    verbose: bool,
    pub(super) journal: Mutex<Option<Journal>>,
    pub(super) backend: Backend,
    /// Test hooks: make the k-th journaled change fail, or kill the process around it.
    pub(super) faults: Faults,
    /// Plan mode: changes are printed as commands, never made.
    plan: bool,
}

impl Net {
    /// Must be called inside a tokio runtime (netlink connections are tasks).
    pub fn new(verbose: bool) -> Result<Net> {
        Ok(Net {
            thread: NsThread::start()?,
            open: Mutex::new(HashMap::new()),
            verbose,
            journal: Mutex::new(None),
            backend: Backend::from_env()?,
            faults: Faults::from_env(),
            plan: false,
        })
    }

    /// A `Net` that changes nothing: every change is printed (stdout) as the
    /// equivalent shell command, and reads see an empty system.
    pub fn new_plan() -> Result<Net> {
        let mut n = Net::new(false)?;
        n.plan = true;
        Ok(n)
    }

    pub fn is_plan(&self) -> bool {
        self.plan
    }

    /// The handle of a namespace already opened (no I/O).
    pub fn cached(&self, id: &NsId) -> Option<Arc<Namespace>> {
        self.open.lock().unwrap().get(id).cloned()
    }

    fn remember(&self, ns: Namespace) -> Arc<Namespace> {
        let ns = Arc::new(ns);
        self.open.lock().unwrap().insert(ns.id.clone(), ns.clone());
        ns
    }

    pub(super) fn forget(&self, id: &NsId) {
        self.open.lock().unwrap().remove(id);
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
    pub async fn ns_add(&self, name: &str, lo_up: bool) -> Result<()> {
        let mark = self.mark();
        self.apply(&Op::NsAdd { name: name.into() }).await?;
        if lo_up {
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            let lo = Op::LinkSet {
                ns: NsId::Named(name.into()),
                dev: "lo".into(),
                change: up,
            };
            if let Err(e) = self.apply(&lo).await {
                self.undo_since(mark).await;
                return Err(e);
            }
        }
        Ok(())
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A read, traced like a change when verbose.
    pub fn trace_read(&self, what: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("+ {}", what());
        }
    }

    pub(super) async fn ns_file(&self, id: &NsId) -> Result<File> {
        self.ns(id)
            .await?
            .file
            .try_clone()
            .map_err(|e| Error::io("dup a namespace fd", e))
    }

    /// Creates the namespace on the namespace thread: unshare, pin, open a socket inside, go home.
    pub(super) async fn create_ns(&self, name: &str) -> Result<()> {
        netns::create_pin(name)?;
        let n = name.to_string();
        let made = self
            .thread
            .run_in_new(move || {
                netns::pin_current_thread(&n)?;
                let file =
                    File::open("/proc/thread-self/ns/net").map_err(|e| Error::io("open the new namespace", e))?;
                Ok((file, route_socket()?))
            })
            .await;
        match made {
            Ok((file, sock)) => {
                self.remember(Namespace::connect(NsId::Named(name.into()), file, sock)?);
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
            println!("{}{}", id.exec_prefix(), spec.command_line());
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
    /// journaled so that undo ends it.
    pub fn spawn(&self, id: &NsId, spec: &ExecSpec, output: Output) -> Result<Proc> {
        let op = Op::Spawn {
            ns: id.clone(),
            argv: spec.words(),
        };
        if self.verbose {
            eprintln!("+ {op}");
        }
        if self.plan {
            match &output {
                Output::File(p) => {
                    let line = op.to_string();
                    let cmd = line.strip_suffix(" &").unwrap_or(&line);
                    println!("{cmd} >>{} 2>&1 &", super::words::quote(&p.display().to_string()));
                }
                _ => println!("{op}"),
            }
            // A stand-in that does nothing (and opens no log), so the script can go on.
            let stand_in = ExecSpec {
                argv: vec!["true".into()],
                ..Default::default()
            };
            return process::spawn(&NsId::Host, None, &stand_in, Output::Null, "");
        }
        let file = self.exec_target(id)?;
        // The tag is journaled before the process starts: a teardown finds it even if
        // lunet dies before it learns the pid.
        let tag = process::new_tag();
        let early = vec![Op::Kill {
            pid: 0,
            start: 0,
            tag: tag.clone(),
        }];
        let seq = self.journal_intent(&op, early)?;
        let res = process::spawn(id, file.as_ref(), spec, output, &tag);
        if let Some(seq) = seq {
            self.faults.crash_if(seq, true);
            match &res {
                Ok(p) => {
                    let undo = vec![Op::Kill {
                        pid: p.pid,
                        start: p.start,
                        tag,
                    }];
                    self.with_journal(|j| j.set_undo(seq, undo).and_then(|_| j.done(seq, true)))?;
                }
                Err(e) => {
                    self.with_journal(|j| j.failed(seq, e))?;
                }
            }
        }
        res
    }
}
