//! The one thread that ever changes its network namespace.
//!
//! `setns` moves only the calling thread, so lunet never calls it on a tokio
//! worker: jobs that must run *inside* a namespace (creating one, opening a
//! netlink socket there, touching its /proc/sys/net) are sent to this thread,
//! which enters, does the job, and returns home before taking the next one.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc;

use nix::sched::{setns, unshare, CloneFlags};

use super::error::{Error, Result};

type Job = Box<dyn FnOnce(&File) + Send>;

pub struct NsThread {
    tx: mpsc::Sender<Job>,
}

impl NsThread {
    pub fn start() -> Result<NsThread> {
        let (tx, rx) = mpsc::channel::<Job>();
        // On a helper thread /proc/self is the main thread's view: use thread-self.
        let home = File::open("/proc/thread-self/ns/net").map_err(|e| Error::io("open /proc/thread-self/ns/net", e))?;
        std::thread::Builder::new()
            .name("lunet-netns".into())
            .spawn(move || {
                for job in rx {
                    job(&home);
                    // Stranded in another namespace: take no more jobs (each later
                    // call then fails with "the namespace thread is gone").
                    if LOST.with(|l| l.get()) {
                        break;
                    }
                }
            })
            .map_err(|e| Error::io("start the namespace thread", e))?;
        Ok(NsThread { tx })
    }

    /// Runs `f` on the namespace thread (in its home namespace) and awaits its result.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&File) -> Result<R> + Send + 'static,
    {
        let (done, wait) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |home: &File| {
            let _ = done.send(f(home));
        });
        self.tx
            .send(job)
            .map_err(|_| Error::new("the namespace thread is gone"))?;
        wait.await
            .map_err(|_| Error::new("the namespace thread dropped a job"))?
    }

    /// Runs `f` inside the namespace `ns` (an open /run/netns file or /proc/…/ns/net).
    pub async fn run_in<R, F>(&self, ns: File, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R> + Send + 'static,
    {
        self.run(move |home| {
            enter(ns.as_fd())?;
            let out = f();
            go_home(home)?;
            out
        })
        .await
    }

    /// Queues `f` to run inside a brand-new network namespace and returns at
    /// once: the result arrives on the receiver when the thread gets to it
    /// (namespace creation overlaps with whatever the caller does meanwhile).
    pub fn queue_in_new<R, F>(&self, f: F) -> Result<tokio::sync::oneshot::Receiver<Result<R>>>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R> + Send + 'static,
    {
        let (done, wait) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |home: &File| {
            let out = unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("create a network namespace", e as i32))
                .and_then(|()| {
                    let out = f();
                    go_home(home)?;
                    out
                });
            let _ = done.send(out);
        });
        self.tx
            .send(job)
            .map_err(|_| Error::new("the namespace thread is gone"))?;
        Ok(wait)
    }

    /// Runs `f` inside a brand-new network namespace; `f` must pin it (bind mount) if it is to outlive the call.
    pub async fn run_in_new<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R> + Send + 'static,
    {
        self.run(move |home| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("create a network namespace", e as i32))?;
            let out = f();
            go_home(home)?;
            out
        })
        .await
    }
}

fn enter(ns: BorrowedFd) -> Result<()> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EINVAL => Error::new("not a network namespace"),
        e => Error::sys("enter the namespace", e as i32),
    })
}

thread_local! {
    /// Set on the namespace thread when it could not return home.
    static LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Back to lunet's own namespace. Failing cannot happen short of a kernel bug;
/// staying in the wrong one would silently misdirect every later job, so the
/// thread then stops and every later call fails (the caller reports it).
fn go_home(home: &File) -> Result<()> {
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
        LOST.with(|l| l.set(true));
        Error::sys("the namespace thread cannot return to lunet's own namespace", e as i32)
    })
}
