//! `--sandbox`: a private network, mount and PID namespace for everything lunet
//! does, entered at the very start of `main`, before any thread exists (a
//! process with threads cannot unshare its mount namespace, or a user namespace).
//!
//! A sandbox touches nothing outside itself and leaves nothing behind, however it
//! ends:
//! - lunet forks: the child is PID 1 of a new PID namespace and does the work; the
//!   parent waits for it, forwards the signals it is sent, and exits as it does.
//!   The child dies with its parent (`PR_SET_PDEATHSIG`), and when a PID 1 dies the
//!   kernel kills every process of its namespace: `kill -9` of lunet leaves no
//!   process behind (daemons that left their session included).
//! - `/run` is a fresh tmpfs (holding `/run/netns` and `/run/lunet`), `/proc` shows the
//!   new PID namespace, `/sys` the new network namespace; `/etc/netns` is a fresh
//!   tmpfs, and where the machine has no `/etc/netns`, `/etc` is first overlaid with
//!   a private, writable layer (in the sandbox's own tmpfs) to hold it. Nothing is
//!   created on the machine, so this also works for an unprivileged user.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// Where lunet keeps its state (journals); a fresh tmpfs in the sandbox.
pub const STATE_DIR: &str = "/run/lunet";

/// Where the private layer over `/etc` lives, inside the sandbox's `/run`.
const ETC_LAYER: &str = "/run/.lunet-sandbox/etc";

/// Signals the parent forwards to the child (and the child turns into an exit).
const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The child's pid, for the parent's signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

pub fn enter() -> Result<()> {
    let (uid, gid) = (geteuid(), getegid());
    let mut flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
    if !uid.is_root() {
        // Unprivileged: become root of a fresh user namespace that owns the sandbox.
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    unshare(flags).map_err(|e| match e {
        nix::errno::Errno::EPERM => anyhow::anyhow!(
            "--sandbox: cannot create a private network namespace: permission denied (run as root, or enable unprivileged user namespaces)"
        ),
        e => anyhow::anyhow!("--sandbox: cannot create a private network namespace: {e}"),
    })?;
    if !uid.is_root() {
        fs::write("/proc/self/setgroups", "deny").context("--sandbox: write setgroups")?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1")).context("--sandbox: write uid_map")?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1")).context("--sandbox: write gid_map")?;
    }
    // Nothing mounted in here may propagate back to the machine.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("--sandbox: make mounts private")?;
    fork_pid1()?;
    mounts()
}

/// Forks; the parent never returns (it waits for the child and exits as the child
/// did); the child, PID 1 of the new PID namespace, returns and does the work.
fn fork_pid1() -> Result<()> {
    // The parent holds the write end of this pipe until it exits: the child sees it
    // closed if the parent died before the parent-death signal was set.
    let mut alive = [0; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(alive.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        bail!("--sandbox: pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the process has one thread (see the module's doc).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("--sandbox: fork: {}", std::io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(alive[0]) };
        wait_child(pid);
    }
    // SAFETY: plain prctl, close and poll on our own fds; the handlers below only call _exit.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
        libc::close(alive[1]);
        // (getppid() is 0 here: the parent is outside this PID namespace.)
        let mut p = libc::pollfd {
            fd: alive[0],
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut p, 1, 0) != 0 {
            // The parent died before the parent-death signal was set: nothing would end us with it.
            libc::_exit(137);
        }
        libc::close(alive[0]);
        // A PID 1 ignores every signal it has no handler for: these end lunet as they
        // would end any other program (a running script replaces them, to roll back).
        // One ignored when lunet started (`nohup`, a shell's `&`) stays ignored.
        for sig in FORWARDED.into_iter().chain([libc::SIGPIPE]) {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = exit_on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    Ok(())
}

extern "C" fn exit_on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) };
}

/// The parent's handler: a signal sent to lunet (`kill PID`) goes on to the child.
/// One the kernel sent (Ctrl-C, a hang-up) went to the whole foreground group, the
/// child included, already.
extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: reading the siginfo the kernel handed us; kill is async-signal-safe.
    unsafe {
        let kernel = !info.is_null() && (*info).si_code > 0;
        let child = CHILD.load(Ordering::SeqCst);
        if !kernel && child > 0 {
            libc::kill(child, sig);
        }
    }
}

/// The parent: waits for the child and exits with its status (a child killed by a
/// signal is reported as 128 + the signal, as a shell does).
fn wait_child(child: libc::pid_t) -> ! {
    CHILD.store(child, Ordering::SeqCst);
    // SAFETY: sigaction on local structs; the handler only reads an atomic and calls kill.
    unsafe {
        for sig in FORWARDED {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    wait_and_exit(child)
}

/// Waits for `child` and exits with its status (128 + the signal that killed it).
fn wait_and_exit(child: libc::pid_t) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            std::process::exit(1);
        }
        if libc::WIFEXITED(status) {
            std::process::exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            std::process::exit(128 + libc::WTERMSIG(status));
        }
    }
}

/// Before `exec`/`shell` replaces lunet with a program in a sandbox: the program must
/// not become PID 1 (which ignores signals it has no handler for: Ctrl-C would not stop
/// it). lunet forks once more and stays PID 1, waiting for the program and exiting as it
/// did; Ctrl-C and Ctrl-\ are the program's alone (PID 1 ignores them meanwhile).
pub fn fork_for_program() -> Result<()> {
    // SAFETY: no thread exists yet (nothing has started a runtime).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("--sandbox: fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        // The program: exec resets lunet's handlers to the default.
        return Ok(());
    }
    // SAFETY: setting dispositions of this process only.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    wait_and_exit(pid)
}

fn tmpfs(dir: &str, mode: &str) -> Result<()> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode={mode}").as_str()),
    )
    .with_context(|| format!("--sandbox: mount a tmpfs on {dir}"))
}

fn mkdir(dir: &str, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .with_context(|| format!("--sandbox: create {dir} (in the sandbox's own tmpfs)"))
}

/// The child's view: fresh /proc, /run, /etc/netns and /sys; nothing created outside.
fn mounts() -> Result<()> {
    // /proc of the new PID namespace (pids lunet sees are the ones it spawned).
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .context("--sandbox: mount /proc")?;
    tmpfs("/run", "0755")?;
    mkdir("/run/netns", 0o755)?;
    mkdir(STATE_DIR, 0o700)?;
    if !Path::new("/etc/netns").is_dir() {
        // Nowhere to mount a tmpfs without creating /etc/netns on the machine: a private,
        // writable layer over /etc holds it instead.
        let (upper, work) = (format!("{ETC_LAYER}/upper"), format!("{ETC_LAYER}/work"));
        mkdir(&upper, 0o755)?;
        mkdir(&work, 0o755)?;
        mount(
            Some("overlay"),
            "/etc",
            Some("overlay"),
            MsFlags::empty(),
            Some(format!("lowerdir=/etc,upperdir={upper},workdir={work}").as_str()),
        )
        .context(
            "--sandbox: /etc/netns does not exist and /etc cannot be overlaid here to hold it \
             (as root: mkdir /etc/netns)",
        )?;
        mkdir("/etc/netns", 0o755)?;
    }
    tmpfs("/etc/netns", "0755")?;
    // /sys as seen from the sandbox's network namespace (so /sys/class/net is ours).
    if let Err(e) = mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    ) {
        bail!("--sandbox: mount sysfs: {e}");
    }
    Ok(())
}
