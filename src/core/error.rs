//! The core's one error type: a message that names the object and the operation,
//! the errno when the kernel gave one, and a hint where the usual cause is known.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
    errno: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How much of a long value a message shows.
const SHOWN: usize = 60;
/// A value (or a word of a message) longer than this is cut.
const LONG: usize = 200;

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn head(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// A value for a message, quoted as `{:?}` does; one longer than 200 bytes shows
/// its first 60 bytes and its length: `"xxxx…"…(20971520 bytes)`. Every message
/// that embeds a user's word goes through this (or through `cut_long`).
pub fn shown(s: &str) -> String {
    if s.len() <= LONG {
        return format!("{s:?}");
    }
    format!("{:?}…({} bytes)", head(s, SHOWN), s.len())
}

/// A message with every word (a run without whitespace) longer than 200 bytes
/// cut to its first 60 and its length, and cut whole when it stays longer than
/// 4 KiB (a long value with spaces in it): no message repeats a 20 MB value.
pub fn cut_long(msg: String) -> String {
    if msg.len() <= LONG {
        return msg;
    }
    let mut out = String::with_capacity(LONG * 2);
    let mut rest = msg.as_str();
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.len() > LONG {
            out.push_str(head(word, SHOWN));
            out.push_str(&format!("…({} bytes)", word.len()));
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
        let ws = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
    }
    if out.len() > 4096 {
        let tail_at = out.len() - 512;
        let mut t = tail_at;
        while !out.is_char_boundary(t) {
            t += 1;
        }
        out = format!("{}…({} bytes)…{}", head(&out, 1024), msg.len(), &out[t..]);
    }
    out
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: cut_long(msg.into()),
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
            msg: cut_long(format!("{what}: {text}{hint}")),
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
            msg: cut_long(msg.into()),
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
    fn long_values_are_cut() {
        let big = "x".repeat(20 << 20);
        assert_eq!(shown("ab\"c"), "\"ab\\\"c\"");
        assert_eq!(shown(&big), format!("\"{}\"…(20971520 bytes)", "x".repeat(60)));
        let e = Error::new(format!("bad name {}: too long", shown(&big)));
        assert!(
            e.to_string().len() < 200 && e.to_string().ends_with(": too long"),
            "{e}"
        );
        let e = Error::new(format!("\"{big}\" not understood"));
        assert!(e.to_string().len() < 200 && e.to_string().ends_with("…(20971522 bytes) not understood"));
        let spaced = "a b ".repeat(5 << 20);
        let e = Error::new(format!("bad {spaced}: why"));
        assert!(e.to_string().len() < 2000 && e.to_string().ends_with(": why"));
        let short = "é".repeat(150);
        assert_eq!(Error::new(short.clone()).to_string().len(), 60 + "…(300 bytes)".len());
        assert_eq!(Error::new("short one").to_string(), "short one");
    }

    #[test]
    fn plain_errno_text() {
        let e = Error::sys("interface \"x\"", libc::ENODEV);
        assert_eq!(e.to_string(), "interface \"x\": no such device");
    }
}
