//! The core's one error type: a message that names the object and the operation,
//! the errno when the kernel gave one, and a hint where the usual cause is known.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
    errno: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            errno: None,
        }
    }

    /// `what` failed with `errno`: "what: strerror" plus a hint for the usual causes.
    pub fn sys(what: impl fmt::Display, errno: i32) -> Self {
        let text = nix::errno::Errno::from_raw(errno).desc().to_lowercase();
        let hint = match errno {
            libc::EPERM | libc::EACCES => " (run lunet as root, or use --sandbox)",
            _ => "",
        };
        Error {
            msg: format!("{what}: {text}{hint}"),
            errno: Some(errno),
        }
    }

    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) => Error::sys(what, errno),
            None => Error::new(format!("{what}: {err}")),
        }
    }

    /// An rtnetlink failure, keeping the kernel's errno.
    pub fn netlink(what: impl fmt::Display, err: rtnetlink::Error) -> Self {
        match err {
            rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Error::sys(what, m.raw_code().abs()),
            other => Error::new(format!("{what}: {other}")),
        }
    }

    /// The same failure (same errno) told in other words.
    pub fn reword(&self, msg: impl Into<String>) -> Error {
        Error {
            msg: msg.into(),
            errno: self.errno,
        }
    }

    pub fn with_errno(mut self, errno: i32) -> Error {
        self.errno = Some(errno);
        self
    }

    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Self {
        Error::sys("system call failed", e as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_has_a_hint() {
        let e = Error::sys("namespace \"a\"", libc::EPERM);
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert!(e.to_string().contains("run lunet as root, or use --sandbox"));
    }

    #[test]
    fn plain_errno_text() {
        let e = Error::sys("interface \"x\"", libc::ENODEV);
        assert_eq!(e.to_string(), "interface \"x\": no such device");
    }
}
