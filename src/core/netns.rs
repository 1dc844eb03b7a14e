//! Named network namespaces on disk, compatible with iproute2 both ways: a
//! namespace is pinned by a bind mount on `/run/netns/NAME`, and `/run/netns`
//! is a shared mount so the pin is seen by every mount namespace, as `ip netns` does.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::error::{Error, Result};
use super::names::check_nsname;

pub const RUN_DIR: &str = "/run/netns";

/// Which namespace: the one lunet runs in, or a named one under /run/netns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum NsId {
    Host,
    Named(String),
}

impl NsId {
    pub fn named(name: &str) -> Result<NsId> {
        check_nsname(name)?;
        Ok(NsId::Named(name.to_string()))
    }

    /// The `ip` invocation that acts in this namespace: `ip` or `ip -n NAME`.
    pub fn ip(&self) -> String {
        match self {
            NsId::Host => "ip".into(),
            NsId::Named(n) => format!("ip -n {}", super::words::quote(n)),
        }
    }

    /// Prefix that runs a program in this namespace: `` or `ip netns exec NAME `.
    pub fn exec_prefix(&self) -> String {
        match self {
            NsId::Host => String::new(),
            NsId::Named(n) => format!("ip netns exec {} ", super::words::quote(n)),
        }
    }
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsId::Host => f.write_str("host"),
            NsId::Named(n) => f.write_str(n),
        }
    }
}

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(RUN_DIR).join(name)
}

fn not_found(name: &str) -> Error {
    Error::new(format!("namespace {name:?} does not exist")).with_errno(libc::ENOENT)
}

/// Creates /run/netns and makes it a shared mount point (once per process), like `ip netns add`.
pub fn ensure_run_dir() -> Result<()> {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    fs::create_dir_all(RUN_DIR).map_err(|e| Error::io(format!("create {RUN_DIR}"), e))?;
    let shared = |dir: &str| {
        mount(
            None::<&str>,
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared(RUN_DIR) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself first, then share it.
            mount(
                Some(RUN_DIR),
                RUN_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| Error::sys(format!("bind-mount {RUN_DIR}"), e as i32))?;
            shared(RUN_DIR).map_err(|e| Error::sys(format!("make {RUN_DIR} shared"), e as i32))?;
        }
        Err(e) => return Err(Error::sys(format!("make {RUN_DIR} shared"), e as i32)),
    }
    DONE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Creates the empty file the namespace will be bind-mounted on; fails if the name is taken.
pub fn create_pin(name: &str) -> Result<()> {
    ensure_run_dir()?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path(name))
        .map(drop)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => Error::new(format!("namespace {name:?} already exists")),
            _ => Error::io(format!("create {}", path(name).display()), e),
        })
}

/// Pins the calling thread's network namespace on /run/netns/NAME (run on the namespace thread).
pub fn pin_current_thread(name: &str) -> Result<()> {
    mount(
        Some("/proc/thread-self/ns/net"),
        &path(name),
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind-mount namespace {name:?}"), e as i32))
}

/// Pins the namespace open as `file` on /run/netns/NAME (any thread).
pub fn pin_file(name: &str, file: &File) -> Result<()> {
    mount(
        Some(format!("/proc/thread-self/fd/{}", file.as_raw_fd()).as_str()),
        &path(name),
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind-mount namespace {name:?}"), e as i32))
}

/// Unpins and removes /run/netns/NAME; the kernel frees the namespace when its last user goes.
pub fn remove(name: &str) -> Result<()> {
    let p = path(name);
    if !p.exists() {
        return Err(not_found(name));
    }
    match umount2(&p, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(Error::sys(format!("unmount namespace {name:?}"), e as i32)),
    }
    fs::remove_file(&p).map_err(|e| Error::io(format!("remove {}", p.display()), e))
}

/// `remove` for many names, on a few threads at once: each unmount waits for
/// an RCU grace period after it lets go of the mount lock, and waits that
/// overlap share one. Returns the names that could not be removed (a name
/// already gone is fine).
pub fn remove_many(names: &[String]) -> Vec<(String, Error)> {
    const THREADS: usize = 8;
    let serial = |part: &[String]| -> Vec<(String, Error)> {
        part.iter()
            .filter_map(|n| match remove(n) {
                Err(e) if e.errno() != Some(libc::ENOENT) => Some((n.clone(), e)),
                _ => None,
            })
            .collect()
    };
    if names.len() < 2 * THREADS {
        return serial(names);
    }
    let chunk = names.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        // A thread that cannot be started (process limit): its part is done here.
        let workers: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                std::thread::Builder::new()
                    .spawn_scoped(s, move || serial(part))
                    .map_err(|_| part)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w {
                Ok(w) => w
                    .join()
                    .unwrap_or_else(|_| vec![(String::new(), Error::new("a namespace removal thread failed"))]),
                Err(part) => serial(part),
            })
            .collect()
    })
}

/// Removes a pin file that never got its mount (a failed add).
pub fn remove_pin(name: &str) {
    let _ = fs::remove_file(path(name));
}

pub fn open(name: &str) -> Result<File> {
    check_nsname(name)?;
    File::open(path(name)).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_found(name),
        _ => Error::io(format!("open namespace {name:?}"), e),
    })
}

/// `NS_GET_ID`: the kernel's 64-bit id of a namespace (Linux 6.18 on).
const NS_GET_ID: libc::c_ulong = 0x8008_b70d;

/// The kernel's id of the network namespace behind `file`: unique for as long
/// as the machine runs, never given to another namespace (unlike the nsfs
/// inode number, which a namespace made after this one is deleted often gets
/// again), and the same number as the netns cookie of a socket inside it.
/// None where the kernel has no `NS_GET_ID`.
pub fn id_of(file: &File) -> Option<u64> {
    let mut id: u64 = 0;
    // SAFETY: NS_GET_ID writes one u64 into `id`, which outlives the call.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_ID as _, &mut id as *mut u64) };
    (r == 0).then_some(id)
}

pub fn exists(name: &str) -> bool {
    check_nsname(name).is_ok() && path(name).exists()
}

/// Names under /run/netns, sorted (as `ip netns list`, without ids).
pub fn list() -> Result<Vec<String>> {
    let rd = match fs::read_dir(RUN_DIR) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(format!("read {RUN_DIR}"), e)),
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

fn ns_key(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// The named namespace process `pid` is in, like `ip netns identify PID`.
pub fn identify(pid: i32) -> Result<Option<String>> {
    let meta = fs::metadata(format!("/proc/{pid}/ns/net")).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::new(format!("no process with pid {pid}")),
        _ => Error::io(format!("read the namespace of pid {pid}"), e),
    })?;
    let want = ns_key(&meta);
    for name in list()? {
        if let Ok(m) = fs::metadata(path(&name)) {
            if ns_key(&m) == want {
                return Ok(Some(name));
            }
        }
    }
    Ok(None)
}

/// Processes whose network namespace is `ns`, like `ip netns pids NAME`.
pub fn pids(ns: &File) -> Result<Vec<i32>> {
    pids_in(ns_key(&ns.metadata().map_err(|e| Error::io("stat namespace", e))?))
}

/// Processes in the named namespace, found without opening it (no fd needed).
pub fn pids_of(name: &str) -> Result<Vec<i32>> {
    check_nsname(name)?;
    let meta = fs::metadata(path(name)).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_found(name),
        _ => Error::io(format!("stat namespace {name:?}"), e),
    })?;
    pids_in(ns_key(&meta))
}

/// The processes in each of these named namespaces, with one pass over /proc
/// (a batched delete); names that do not exist are left out.
pub fn pids_of_many(names: &[String]) -> Result<Vec<i32>> {
    let want: std::collections::HashSet<(u64, u64)> = names
        .iter()
        .filter_map(|n| fs::metadata(path(n)).ok())
        .map(|m| ns_key(&m))
        .collect();
    if want.is_empty() {
        return Ok(vec![]);
    }
    pids_in_any(&want)
}

fn pids_in(want: (u64, u64)) -> Result<Vec<i32>> {
    let mut out = pids_in_any(&std::collections::HashSet::from([want]))?;
    out.sort();
    Ok(out)
}

/// Every process whose network namespace is one of `want` (device, inode).
fn pids_in_any(want: &std::collections::HashSet<(u64, u64)>) -> Result<Vec<i32>> {
    let mut out = vec![];
    let rd = fs::read_dir("/proc").map_err(|e| Error::io("read /proc", e))?;
    for entry in rd.filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(m) = fs::metadata(format!("/proc/{pid}/ns/net")) {
            if want.contains(&ns_key(&m)) {
                out.push(pid);
            }
        }
    }
    Ok(out)
}

pub const ETC_DIR: &str = "/etc/netns";

/// The longest part of a path under /etc/netns/NS: NAME_MAX, less what the
/// atomic write's temporary name (`.NAME.lunet-tmp`) adds.
const ETC_PART_MAX: usize = 255 - ".lunet-tmp".len() - 1;

/// Checks a path under /etc/netns/NS: relative, made of plain names.
pub fn check_etc_path(file: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::new(format!("bad /etc file name {file:?}: {why}")));
    if file.is_empty() || file.starts_with('/') {
        return bad("expected a relative path like \"hosts\" or \"ssh/sshd_config\"");
    }
    if file.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return bad("no empty, \".\" or \"..\" parts");
    }
    if file.chars().any(|c| c.is_control()) {
        return bad("no control characters");
    }
    if file.split('/').any(|c| c.len() > ETC_PART_MAX) {
        return bad(&format!("a part is longer than {ETC_PART_MAX} bytes"));
    }
    Ok(())
}

/// The directories of /etc/netns/NS/FILE that do not exist yet, deepest
/// first, as paths relative to /etc/netns/NS ("" = /etc/netns/NS itself).
pub fn missing_etc_dirs(ns: &str, file: &str) -> Vec<String> {
    let base = PathBuf::from(ETC_DIR).join(ns);
    let mut out = vec![];
    let mut dir = file.rsplit_once('/').map(|(d, _)| d.to_string());
    while let Some(d) = dir {
        if base.join(&d).exists() {
            return out;
        }
        dir = d.rsplit_once('/').map(|(p, _)| p.to_string());
        out.push(d);
    }
    if !base.exists() {
        out.push(String::new());
    }
    out
}

/// Writes /etc/netns/NS/FILE (mode 0644 unless given; directories 0755),
/// which `exec` binds over /etc/FILE inside NS. A symlink anywhere below
/// /etc/netns is refused, never written through.
pub fn write_etc(ns: &str, file: &str, content: &str, mode: Option<u32>) -> Result<()> {
    check_nsname(ns)?;
    check_etc_path(file)?;
    if !path(ns).exists() {
        return Err(not_found(ns));
    }
    // A write that fails (no space, a name the file system refuses) takes back
    // the directories it made: a failed change leaves nothing behind.
    let made = missing_etc_dirs(ns, file);
    let res = super::etcfiles::fs::write(ns, file, content.as_bytes(), mode.unwrap_or(0o644));
    if res.is_err() {
        for dir in &made {
            let _ = remove_etc_dir(ns, dir);
        }
    }
    res
}

/// Removes /etc/netns/NS/FILE (never through a symlinked directory).
pub fn remove_etc_file(ns: &str, file: &str) -> Result<()> {
    super::etcfiles::fs::remove(ns, file, false)
}

/// Removes /etc/netns/NS/DIR if it is empty (lunet made it); files someone
/// else put there keep it.
pub fn remove_etc_dir(ns: &str, rel: &str) -> Result<()> {
    super::etcfiles::fs::remove(ns, rel, true)
}
