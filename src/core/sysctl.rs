//! `net.*` sysctls. /proc/sys/net shows the namespace of the thread that opens
//! the file, so these run on the namespace thread, inside the namespace.

use std::fs;

use super::error::{Error, Result};
use super::names::sysctl_path;

pub fn check(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    Ok(path)
}

pub fn read(key: &str) -> Result<String> {
    let path = check(key)?;
    let v = through(&FreshProc::new(), &path, |p| fs::read_to_string(p)).map_err(|e| missing_or(key, e))?;
    Ok(v.trim_end().to_string())
}

pub fn write(key: &str, value: &str) -> Result<()> {
    write_all(&[(key, value)])
}

/// Writes several keys, in order, through one look-up of /proc/sys.
pub fn write_all(pairs: &[(&str, &str)]) -> Result<()> {
    let fresh = FreshProc::new();
    for (key, value) in pairs {
        let path = check(key)?;
        through(&fresh, &path, |p| fs::write(p, value)).map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) => Error::new(format!("sysctl {key}: invalid value {value:?}")),
            _ => missing_or(key, e),
        })?;
    }
    Ok(())
}

/// `op` on a /proc/sys path, through lunet's own procfs when there is one; a
/// refusal there (a security module may allow /proc/sys but not another proc)
/// is retried through /proc.
fn through<T>(fresh: &Option<FreshProc>, path: &str, op: impl Fn(&str) -> std::io::Result<T>) -> std::io::Result<T> {
    match fresh {
        Some(p) => match op(&p.path(path)) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => op(path),
            r => r,
        },
        None => op(path),
    }
}

/// An instance of procfs of our own, attached nowhere (`fsopen` + `fsmount`),
/// gone when dropped. Why: the kernel's dentries for /proc/sys/net of every
/// namespace share one name and one parent, so a look-up through the
/// machine's /proc walks a hash chain as long as the number of namespaces
/// (`proc_sys_compare`): O(N) per sysctl. A fresh instance has only this
/// thread's namespace in it. Like /proc/sys, its sys/net shows the namespace
/// of the thread that looks. None where it cannot be made (no new mount API,
/// or no right to mount proc, as in a user namespace), and never when something
/// is mounted over /proc/sys (a read-only /proc/sys is a decision lunet must
/// not get around): /proc is used then.
struct FreshProc(std::os::fd::OwnedFd);

impl FreshProc {
    fn new() -> Option<FreshProc> {
        if !proc_sys_is_plain() {
            return None;
        }
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        const FSOPEN_CLOEXEC: libc::c_uint = 1;
        const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
        const FSMOUNT_CLOEXEC: libc::c_uint = 1;
        // SAFETY: plain system calls on a NUL-terminated name and fds we own.
        unsafe {
            let fs = libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC);
            if fs < 0 {
                return None;
            }
            let fs = OwnedFd::from_raw_fd(fs as i32);
            let null = std::ptr::null::<libc::c_char>();
            if libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_CMD_CREATE, null, null, 0) < 0 {
                return None;
            }
            let m = libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0);
            (m >= 0).then(|| FreshProc(OwnedFd::from_raw_fd(m as i32)))
        }
    }

    /// `/proc/sys/…` as a path into this instance.
    fn path(&self, proc_path: &str) -> String {
        use std::os::fd::AsRawFd;
        let rel = proc_path.strip_prefix("/proc/").unwrap_or(proc_path);
        format!("/proc/thread-self/fd/{}/{rel}", self.0.as_raw_fd())
    }
}

fn missing_or(key: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(format!("sysctl {key}: no such key in this namespace"))
    } else {
        Error::io(format!("sysctl {key}"), e)
    }
}

/// Whether nothing is mounted at or below /proc/sys (looked at once per process).
fn proc_sys_is_plain() -> bool {
    static PLAIN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PLAIN.get_or_init(|| {
        fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
            // The fifth field is the mount point.
            !info.lines().any(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|m| m == "/proc/sys" || m.starts_with("/proc/sys/"))
            })
        })
    })
}
