//! Programs inside namespaces: `exec` (run to completion) and `spawn` (a
//! background process), with the semantics of `ip netns exec`: the child joins
//! the namespace, gets its own mount namespace with /sys remounted and each
//! file of /etc/netns/NAME bound over its twin in /etc. Optional extra
//! isolation (PID, UTS, IPC, mount namespaces) makes a light container.

use std::ffi::CString;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::{Error, Result};
use super::netns::NsId;
use super::proctree::OWNER_VAR;
pub use super::proctree::{any_alive, end_all, kill_all, kill_now, new_tag, KillTarget};
use super::words::quote;

/// Extra namespaces for one process (`unshare --pid --fork --mount-proc --uts --ipc`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Isolation {
    pub pid: bool,
    pub uts: Option<String>,
    pub ipc: bool,
    pub mount: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub iso: Isolation,
    /// The program gets lunet's terminal (stdin, stdout, stderr inherited); an `exec`
    /// makes its process group the terminal's foreground group while it runs.
    pub tty: bool,
}

impl ExecSpec {
    /// The words of the equivalent command, with `unshare …` in front when isolated.
    pub fn words(&self) -> Vec<String> {
        let iso = &self.iso;
        let mut w: Vec<String> = vec![];
        if iso.pid || iso.uts.is_some() || iso.ipc || iso.mount {
            w.push("unshare".into());
            if iso.pid {
                w.extend(["--pid".into(), "--fork".into(), "--mount-proc".into()]);
            } else if iso.mount {
                w.push("--mount".into());
            }
            if iso.uts.is_some() {
                w.push("--uts".into());
            }
            if iso.ipc {
                w.push("--ipc".into());
            }
            if let Some(h) = &iso.uts {
                w.extend([
                    "sh".into(),
                    "-c".into(),
                    format!("hostname {} && exec \"$@\"", quote(h)),
                    "sh".into(),
                ]);
            }
        }
        w.extend(self.argv.iter().cloned());
        w
    }

    pub fn command_line(&self) -> String {
        self.words().iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone)]
pub struct ExecResult {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
}

/// Everything the child needs, prepared before fork (no allocation after it).
struct ChildSetup {
    netns: Option<OwnedFd>,
    /// (source under /etc/netns/NAME, target under /etc)
    etc_binds: Vec<(CString, CString)>,
    remount_sys: bool,
    new_mount_ns: bool,
    uts: Option<CString>,
    ipc: bool,
    pid: bool,
    /// Take the terminal on fd 0 (`tcsetpgrp`) for the process group the child leads.
    foreground: bool,
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Whether a file under /etc/netns may be bound over the real /etc: it must
/// belong to lunet's own user (root) and be writable by no one else, or
/// anyone could put a `passwd` there for root's programs to read.
fn trusted(p: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(p).map_err(|e| Error::io(format!("read {}", p.display()), e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(Error::new(format!(
            "{} is not owned by uid {me} or is writable by others: refusing to bind it over /etc (fix its owner and mode)",
            p.display()
        ))
        .with_errno(libc::EPERM));
    }
    Ok(())
}

fn etc_binds(name: &str) -> Result<Vec<(CString, CString)>> {
    let dir = Path::new("/etc/netns").join(name);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(vec![]);
    };
    trusted(&dir)?;
    let mut out = vec![];
    for e in rd.filter_map(|e| e.ok()) {
        let fname = e.file_name();
        let Some(fname) = fname.to_str() else { continue };
        if fname.starts_with('.') && fname.ends_with(".lunet-tmp") {
            continue;
        }
        trusted(&e.path())?;
        let target = Path::new("/etc").join(fname);
        // /etc/resolv.conf is often a symlink: bind over what it points to,
        // which in our private mount namespace hides it from this process only.
        let target = std::fs::canonicalize(&target).unwrap_or(target);
        if !target.exists() {
            continue;
        }
        out.push((c(&e.path().to_string_lossy()), c(&target.to_string_lossy())));
    }
    Ok(out)
}

impl ChildSetup {
    fn new(ns: &NsId, ns_file: Option<&File>, iso: &Isolation) -> Result<ChildSetup> {
        let netns = match ns_file {
            Some(f) => Some(f.try_clone().map_err(|e| Error::io("dup a namespace fd", e))?.into()),
            None => None,
        };
        let named = matches!(ns, NsId::Named(_));
        Ok(ChildSetup {
            netns,
            etc_binds: match ns {
                NsId::Named(n) => etc_binds(n)?,
                NsId::Host => vec![],
            },
            remount_sys: named,
            new_mount_ns: named || iso.mount || iso.pid,
            uts: iso.uts.as_deref().map(c),
            ipc: iso.ipc,
            pid: iso.pid,
            foreground: false,
        })
    }

    /// Runs in the forked child, before exec. Only async-signal-safe calls.
    fn apply(&self) -> std::io::Result<()> {
        let check = |r: libc::c_int| {
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: plain system calls on fds and C strings prepared before fork.
        unsafe {
            if self.foreground {
                take_terminal(libc::getpgrp());
            }
            if let Some(fd) = &self.netns {
                check(libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET))?;
            }
            if self.new_mount_ns {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                check(libc::mount(
                    c"".as_ptr(),
                    c"/".as_ptr(),
                    c"none".as_ptr(),
                    libc::MS_SLAVE | libc::MS_REC,
                    std::ptr::null(),
                ))?;
            }
            if self.remount_sys {
                libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH);
                check(libc::mount(
                    c"sysfs".as_ptr(),
                    c"/sys".as_ptr(),
                    c"sysfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ))?;
            }
            for (src, dst) in &self.etc_binds {
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    c"none".as_ptr(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
            if self.ipc {
                check(libc::unshare(libc::CLONE_NEWIPC))?;
            }
            if let Some(h) = &self.uts {
                check(libc::unshare(libc::CLONE_NEWUTS))?;
                check(libc::sethostname(h.as_ptr(), h.as_bytes().len()))?;
            }
            if self.pid {
                check(libc::unshare(libc::CLONE_NEWPID))?;
                become_pid1()?;
            }
        }
        Ok(())
    }
}

/// Makes `pgrp` the foreground process group of the terminal on fd 0, if it is
/// one. SIGTTOU is blocked meanwhile: a background group may not otherwise do this.
/// Async-signal-safe.
fn take_terminal(pgrp: libc::pid_t) {
    // SAFETY: isatty, sigprocmask and tcsetpgrp on fd 0 and local signal sets.
    unsafe {
        if libc::isatty(0) != 1 {
            return;
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        libc::tcsetpgrp(0, pgrp);
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

static PID1: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let child = PID1.load(Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, sig) };
    }
}

/// After unshare(CLONE_NEWPID): fork; the child (PID 1 of the new namespace)
/// mounts its own /proc and goes on to exec; this process stays behind as its
/// parent, forwards signals to it and exits with its status (as `unshare --fork`).
unsafe fn become_pid1() -> std::io::Result<()> {
    let child = libc::fork();
    if child < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if child == 0 {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        return Ok(());
    }
    PID1.store(child, Ordering::Relaxed);
    // Let go of every fd (pipes to the parent included) so only the real program holds them.
    libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = forward as *const () as usize;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
    let mut status = 0;
    loop {
        let r = libc::waitpid(child, &mut status, 0);
        if r == child {
            break;
        }
        if r < 0 && *libc::__errno_location() != libc::EINTR {
            libc::_exit(127);
        }
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig);
    }
    libc::_exit(libc::WEXITSTATUS(status));
}

/// The process is started with `LUNET_OWNER=<tag>` (set last: the user's `env` cannot
/// override it) and as the leader of a process group of its own (out of the
/// terminal's group too: Ctrl-C in lunet does not reach it).
/// With `spec.tty` and `foreground`, the new group also takes the terminal.
fn command(
    ns: &NsId,
    ns_file: Option<&File>,
    spec: &ExecSpec,
    tag: &str,
    foreground: bool,
) -> Result<tokio::process::Command> {
    let Some(prog) = spec.argv.first() else {
        return Err(Error::new("empty command"));
    };
    let mut setup = ChildSetup::new(ns, ns_file, &spec.iso)?;
    setup.foreground = spec.tty && foreground;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(&spec.argv[1..]);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.env(OWNER_VAR, tag);
    cmd.process_group(0);
    if let Some(d) = &spec.cwd {
        cmd.current_dir(d);
    }
    // SAFETY: `apply` only makes async-signal-safe system calls on data prepared above.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
    Ok(cmd)
}

fn spawn_error(spec: &ExecSpec, e: std::io::Error) -> Error {
    let prog = spec.argv.first().cloned().unwrap_or_default();
    match e.kind() {
        ErrorKind::NotFound => match &spec.cwd {
            Some(d) if !d.exists() => Error::new(format!("working directory {} does not exist", d.display())),
            _ => Error::new(format!("program {prog:?} not found")),
        },
        ErrorKind::PermissionDenied => Error::new(format!("program {prog:?}: permission denied")),
        _ => Error::io(format!("cannot start {prog:?}"), e),
    }
}

fn split_status(s: ExitStatus) -> (Option<i32>, Option<i32>) {
    (s.code(), s.signal())
}

/// The tree of an `exec` while it runs: if the exec is abandoned (its future
/// dropped, e.g. Ctrl-C in the REPL), the whole tree gets SIGKILL at once.
/// It holds the child, unreaped, so the group id stays pinned until then.
struct ExecTree {
    child: tokio::process::Child,
    target: KillTarget,
    armed: bool,
}

impl Drop for ExecTree {
    fn drop(&mut self) {
        if self.armed {
            kill_now(std::slice::from_ref(&self.target));
        }
    }
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![];
    if let Some(mut p) = pipe {
        p.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

/// Runs a program inside a namespace to completion (`ip netns exec NS CMD`).
/// `tag`: its `LUNET_OWNER` (empty: a fresh one). On timeout the whole tree
/// (its process group and everything with the tag) gets SIGKILL and the result
/// says `timed_out`; if this future is dropped before the end, the same happens.
pub async fn exec(ns: &NsId, ns_file: Option<&File>, spec: &ExecSpec, tag: &str) -> Result<ExecResult> {
    let tag = if tag.is_empty() { new_tag() } else { tag.to_string() };
    let mut cmd = command(ns, ns_file, spec, &tag, true)?;
    if spec.tty {
        cmd.stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    } else {
        cmd.stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    }
    let child = cmd.spawn().map_err(|e| spawn_error(spec, e))?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    // The terminal comes back to lunet however the program ends (also on a timeout or Ctrl-C).
    let _terminal = spec.tty.then(|| {
        take_terminal(pid);
        Terminal
    });
    let mut tree = ExecTree {
        child,
        target: KillTarget {
            pid,
            start: start_time(pid).unwrap_or(0),
            tag,
        },
        armed: true,
    };
    if let (Some(data), Some(mut stdin)) = (spec.stdin.clone(), tree.child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
    }
    let (stdout, stderr) = (tree.child.stdout.take(), tree.child.stderr.take());
    let run = async {
        let (status, out, err) = tokio::join!(tree.child.wait(), read_all(stdout), read_all(stderr));
        Ok::<_, std::io::Error>((status?, out?, err?))
    };
    let finished = match spec.timeout {
        None => Some(run.await),
        Some(t) => tokio::time::timeout(t, run).await.ok(),
    };
    let Some(res) = finished else {
        // Timed out: the whole tree, at once (the timeout was its grace period).
        end_all(std::slice::from_ref(&tree.target), Duration::ZERO).await;
        let status = tokio::time::timeout(Duration::from_secs(2), tree.child.wait()).await;
        tree.armed = false;
        let (code, signal) = match status {
            Ok(Ok(s)) => split_status(s),
            _ => (None, Some(libc::SIGKILL)),
        };
        return Ok(ExecResult {
            code,
            signal,
            stdout: vec![],
            stderr: vec![],
            timed_out: true,
        });
    };
    tree.armed = false;
    let (status, stdout, stderr) = res.map_err(|e| Error::io("wait for the program", e))?;
    let (code, signal) = split_status(status);
    Ok(ExecResult {
        code,
        signal,
        stdout,
        stderr,
        timed_out: false,
    })
}

/// Gives the terminal back to lunet's own process group when dropped.
struct Terminal;

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: getpgrp cannot fail.
        take_terminal(unsafe { libc::getpgrp() });
    }
}

/// `ip netns exec NS PROG ARGS…` in place: this process joins the namespace (a
/// mount namespace of its own, /sys remounted, /etc/netns/NAME bound over /etc)
/// and becomes the program, which keeps the terminal, stdio, signals and exit
/// status. Must be called while the process has one thread. Returns only on failure.
pub fn exec_in_place(ns: &NsId, ns_file: Option<&File>, argv: &[String], env: &[(String, String)]) -> Error {
    use std::os::unix::process::CommandExt;
    let Some(prog) = argv.first() else {
        return Error::new("empty command");
    };
    let setup = match ChildSetup::new(ns, ns_file, &Isolation::default()) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.args(&argv[1..]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: `apply` only makes plain system calls on data prepared above.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
    let e = cmd.exec();
    let spec = ExecSpec {
        argv: argv.to_vec(),
        ..Default::default()
    };
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EACCES) => spawn_error(&spec, e),
        _ => Error::io(format!("cannot enter namespace {ns} to run {prog:?}"), e),
    }
}

/// A background process started by `spawn`.
pub struct Proc {
    pub pid: i32,
    /// Its start time (0 if it could not be read), which tells it apart from a later process with the same pid.
    pub start: u64,
    /// Its `LUNET_OWNER`, inherited by its descendants.
    pub tag: String,
    pub argv: Vec<String>,
    pub ns: NsId,
    child: std::sync::Mutex<Option<tokio::process::Child>>,
    status: std::sync::Mutex<Option<ExitStatus>>,
    /// Where stdout and stderr go; read back by `output`.
    log: File,
    pub log_path: Option<PathBuf>,
}

/// Where a spawned process's output goes.
pub enum Output {
    /// An anonymous file (unlinked at once), read back with `Proc::output`.
    Capture,
    /// A file the user names, appended to (`>>`); kept.
    File(PathBuf),
    /// A file the user names, emptied first (`>`); kept.
    Truncate(PathBuf),
    Null,
}

/// Starts a background process inside a namespace (`ip netns exec NS CMD &`),
/// leader of its own process group, with `LUNET_OWNER=<tag>` (empty: a fresh tag).
pub fn spawn(ns: &NsId, ns_file: Option<&File>, spec: &ExecSpec, output: Output, tag: &str) -> Result<Proc> {
    let tag = if tag.is_empty() { new_tag() } else { tag.to_string() };
    let mut cmd = command(ns, ns_file, spec, &tag, false)?;
    let (log, log_path) = match output {
        Output::File(ref p) | Output::Truncate(ref p) => {
            let truncate = matches!(output, Output::Truncate(_));
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(!truncate)
                .write(true)
                .truncate(truncate)
                .read(true)
                .open(p)
                .map_err(|e| Error::io(format!("open log {}", p.display()), e))?;
            (f, Some(p.clone()))
        }
        Output::Capture | Output::Null => (anonymous_file()?, None),
    };
    let dup = || log.try_clone().map_err(|e| Error::io("dup the log file", e));
    if spec.tty {
        // Its output goes to the terminal; it stays in a background group (it may not read it).
        cmd.stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null());
        cmd.stdout(Stdio::from(dup()?)).stderr(Stdio::from(dup()?));
    }
    let child = cmd.spawn().map_err(|e| spawn_error(spec, e))?;
    let pid = child.id().map(|p| p as i32).unwrap_or(-1);
    Ok(Proc {
        pid,
        start: start_time(pid).unwrap_or(0),
        tag,
        argv: spec.argv.clone(),
        ns: ns.clone(),
        child: std::sync::Mutex::new(Some(child)),
        status: std::sync::Mutex::new(None),
        log,
        log_path,
    })
}

fn anonymous_file() -> Result<File> {
    let name = c"lunet-output";
    // SAFETY: memfd_create with a valid C string; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("create an output buffer", std::io::Error::last_os_error()));
    }
    // SAFETY: memfd_create just returned this fd; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

impl Proc {
    /// `None` while it runs.
    pub fn try_status(&self) -> Option<ExitStatus> {
        if let Some(s) = *self.status.lock().unwrap() {
            return Some(s);
        }
        let mut guard = self.child.lock().unwrap();
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(s)) => {
                *self.status.lock().unwrap() = Some(s);
                Some(s)
            }
            _ => None,
        }
    }

    /// With PID isolation: the program itself, PID 1 of its namespace (`pid` is its waiting parent).
    pub fn init_pid(&self) -> Option<i32> {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid)).ok()?;
        let first: i32 = children.split_whitespace().next()?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{first}/status")).ok()?;
        // NSpid: <pid here> <pid inside>: inside, it must be 1.
        let nspid = status.lines().find(|l| l.starts_with("NSpid:"))?;
        (nspid.split_whitespace().last() == Some("1")).then_some(first)
    }

    pub fn alive(&self) -> bool {
        self.try_status().is_none()
    }

    /// Waits for it to end; `None` if `timeout` passed first.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<Option<(Option<i32>, Option<i32>)>> {
        if let Some(s) = self.try_status() {
            return Ok(Some(split_status(s)));
        }
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return Err(Error::new("already being waited for"));
        };
        let res = match timeout {
            None => Some(child.wait().await),
            Some(t) => tokio::time::timeout(t, child.wait()).await.ok(),
        };
        *self.child.lock().unwrap() = Some(child);
        match res {
            None => Ok(None),
            Some(Ok(s)) => {
                *self.status.lock().unwrap() = Some(s);
                Ok(Some(split_status(s)))
            }
            Some(Err(e)) => Err(Error::io("wait for the process", e)),
        }
    }

    pub fn signal(&self, sig: i32) -> Result<()> {
        if !self.alive() {
            return Ok(());
        }
        // SAFETY: kill on a pid we started and have not reaped (so it cannot be reused).
        if unsafe { libc::kill(self.pid, sig) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::io(format!("signal pid {}", self.pid), e));
            }
        }
        Ok(())
    }

    /// What ends its whole tree: its process group (while it is not reaped) and its tag.
    pub fn kill_target(&self) -> KillTarget {
        KillTarget {
            pid: self.pid,
            start: self.start,
            tag: self.tag.clone(),
        }
    }

    /// Ends its whole tree (process group and everything with its tag): SIGTERM,
    /// then SIGKILL after `grace`; waits until it is gone, and reaps it.
    pub async fn terminate(&self, grace: Duration) -> Result<()> {
        terminate_all(&[self], grace).await;
        Ok(())
    }

    /// Everything it wrote to stdout and stderr so far.
    pub fn output(&self) -> Result<Vec<u8>> {
        let len = self.log.metadata().map_err(|e| Error::io("read output", e))?.len();
        let mut buf = vec![0; len as usize];
        self.log
            .read_exact_at(&mut buf, 0)
            .map_err(|e| Error::io("read output", e))?;
        Ok(buf)
    }
}

/// Ends the trees of several processes at once (one grace period for all), and reaps them.
pub async fn terminate_all(procs: &[&Proc], grace: Duration) {
    let targets: Vec<KillTarget> = procs.iter().map(|p| p.kill_target()).collect();
    end_all(&targets, grace).await;
    for p in procs {
        // Reaps it (it is gone, or a zombie, by now); a concurrent waiter does that instead.
        let _ = p.wait(Some(Duration::from_millis(200))).await;
    }
}

/// A signal by name (`"TERM"`, `"SIGKILL"`) or number.
pub fn signal_number(s: &str) -> Option<i32> {
    let name = s.strip_prefix("SIG").unwrap_or(s);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        _ => return name.parse().ok().filter(|n| (1..=64).contains(n)),
    })
}

/// The start time of a process (field 22 of /proc/PID/stat), which tells it
/// apart from a later process that got the same pid.
pub fn start_time(pid: i32) -> Option<u64> {
    super::proctree::read_stat(pid).map(|s| s.start)
}

/// Ends `pid` if it is still the process that was started at `start`.
/// (Kept for callers not yet passing a tag: `end_all` of that one pid, grace 1 s.)
pub async fn kill_verified(pid: i32, start: u64) {
    end_all(
        &[KillTarget {
            pid,
            start,
            tag: String::new(),
        }],
        Duration::from_secs(1),
    )
    .await;
}
