//! The files lunet writes under /etc/netns/NAME (`hosts`, `resolv.conf`, or
//! any file a script asks for), as `Op`s. Every word that ends up in a file is
//! checked here: no newline, no whitespace where a word is expected, so a value
//! can never add a line of its own.

use std::net::IpAddr;

use super::error::{shown, Error, Result};
use super::names::parse_ip;
use super::netns::check_etc_path;
use super::op::Op;

/// One word of a config line: not empty, no whitespace or control characters.
fn word(what: &str, w: &str) -> Result<()> {
    if w.is_empty() || w.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::new(format!(
            "bad {what} {}: expected one word (no spaces or line breaks)",
            shown(w)
        )));
    }
    Ok(())
}

/// `/etc/netns/NS/hosts`: localhost lines, then each address with its names (sorted).
pub fn hosts(ns: &str, entries: &[(String, Vec<String>)]) -> Result<Op> {
    let mut lines = vec![];
    for (addr, names) in entries {
        let ip: IpAddr = parse_ip("address", addr)?;
        if names.is_empty() {
            return Err(Error::new(format!("no host names for {addr}")));
        }
        for n in names {
            word("host name", n)?;
        }
        lines.push(format!("{ip}\t{}", names.join(" ")));
    }
    lines.sort();
    let mut content = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for l in lines {
        content += &l;
        content.push('\n');
    }
    Ok(file(ns, "hosts", content, None))
}

/// `/etc/netns/NS/resolv.conf`.
pub fn resolv(ns: &str, nameservers: &[String], search: &[String], options: &[String]) -> Result<Op> {
    let mut content = String::new();
    for n in nameservers {
        content += &format!("nameserver {}\n", parse_ip("nameserver", n)?);
    }
    for (key, words, what) in [("search", search, "search domain"), ("options", options, "option")] {
        for w in words {
            word(what, w)?;
        }
        if !words.is_empty() {
            content += &format!("{key} {}\n", words.join(" "));
        }
    }
    Ok(file(ns, "resolv.conf", content, None))
}

/// Any file under /etc/netns/NS (a relative path such as `ssh/sshd_config`).
pub fn any(ns: &str, path: &str, content: String, mode: Option<u32>) -> Result<Op> {
    check_etc_path(path)?;
    if let Some(m) = mode {
        if m > 0o7777 {
            return Err(Error::new(format!("bad mode {m:o}: expected 0..7777 (octal)")));
        }
    }
    Ok(file(ns, path, content, mode))
}

fn file(ns: &str, path: &str, content: String, mode: Option<u32>) -> Op {
    Op::EtcFile {
        ns: ns.to_string(),
        file: path.to_string(),
        content,
        mode,
    }
}

/// Files under /etc/netns/NS touched without following a symlink: each directory
/// below /etc/netns (NS itself and every one under it) is opened with `O_NOFOLLOW`
/// from the one above, and the file too, so a symlink anywhere in the path is
/// refused instead of written through (it could point at any file of the machine).
pub mod fs {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use crate::core::error::{Error, Result};
    use crate::core::netns::ETC_DIR;

    fn c(s: &str) -> Result<CString> {
        CString::new(s).map_err(|_| Error::new(format!("{}: a NUL byte in a path", super::shown(s))))
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
    }

    fn openat(dir: Option<&OwnedFd>, name: &str, flags: i32, mode: u32) -> std::result::Result<OwnedFd, i32> {
        let name = CString::new(name).map_err(|_| libc::EINVAL)?;
        let at = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
        // SAFETY: a valid C string and a directory fd (or AT_FDCWD); the result is checked.
        let fd = unsafe { libc::openat(at, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        if fd < 0 {
            return Err(errno());
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn symlink_refused(path: &str) -> Error {
        Error::new(format!(
            "{path} is a symlink (or not a directory): lunet will not write through it"
        ))
        .with_errno(libc::ELOOP)
    }

    /// /etc/netns/NS/DIR opened as a directory (`rel` "" = /etc/netns/NS), no
    /// component a symlink. Missing components are made (0755) when `create`;
    /// otherwise a missing one is `None`.
    pub fn open_dir(ns: &str, rel: &str, create: bool) -> Result<Option<OwnedFd>> {
        let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        if create {
            std::fs::create_dir_all(ETC_DIR).map_err(|e| Error::io(format!("create {ETC_DIR}"), e))?;
        }
        let mut dir = match openat(None, ETC_DIR, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(d) => d,
            Err(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::sys(format!("open {ETC_DIR}"), e)),
        };
        let mut path = ETC_DIR.to_string();
        for part in std::iter::once(ns).chain(rel.split('/').filter(|p| !p.is_empty())) {
            path = format!("{path}/{part}");
            let next = match openat(Some(&dir), part, dir_flags, 0) {
                Err(libc::ENOENT) if create => {
                    let name = c(part)?;
                    // SAFETY: a valid C string and directory fd; the result is checked.
                    if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } < 0 && errno() != libc::EEXIST {
                        return Err(Error::sys(format!("create {path}"), errno()));
                    }
                    openat(Some(&dir), part, dir_flags, 0)
                }
                other => other,
            };
            dir = match next {
                Ok(d) => d,
                Err(libc::ENOENT) => return Ok(None),
                Err(libc::ELOOP | libc::ENOTDIR) => return Err(symlink_refused(&path)),
                Err(e) => return Err(Error::sys(format!("open {path}"), e)),
            };
        }
        Ok(Some(dir))
    }

    /// (directory part, file name) of a relative path.
    fn split(file: &str) -> (&str, &str) {
        file.rsplit_once('/').unwrap_or(("", file))
    }

    /// The contents and mode of /etc/netns/NS/FILE, `None` when it (or a directory
    /// on its way) does not exist; an error when any part is a symlink or the
    /// file is not a plain file.
    pub fn read(ns: &str, file: &str) -> Result<Option<(Vec<u8>, u32)>> {
        let path = format!("{ETC_DIR}/{ns}/{file}");
        let (dir, name) = split(file);
        let Some(dir) = open_dir(ns, dir, false)? else {
            return Ok(None);
        };
        let not_plain = || Error::new(format!("{path} is not a plain file: lunet will not replace it"));
        let f = match openat(
            Some(&dir),
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        ) {
            Ok(f) => std::fs::File::from(f),
            Err(libc::ENOENT) => return Ok(None),
            Err(libc::ELOOP) => return Err(not_plain()),
            Err(e) => return Err(Error::sys(format!("read {path}"), e)),
        };
        let meta = f.metadata().map_err(|e| Error::io(format!("read {path}"), e))?;
        if !meta.is_file() {
            return Err(not_plain());
        }
        let mut buf = vec![];
        std::io::Read::read_to_end(&mut &f, &mut buf).map_err(|e| Error::io(format!("read {path}"), e))?;
        Ok(Some((
            buf,
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
        )))
    }

    /// Writes /etc/netns/NS/FILE (directories made 0755): written beside and
    /// renamed over, so a crash leaves the old file or the new one.
    pub fn write(ns: &str, file: &str, content: &[u8], mode: u32) -> Result<()> {
        let path = format!("{ETC_DIR}/{ns}/{file}");
        let (dir, name) = split(file);
        let Some(dir) = open_dir(ns, dir, true)? else {
            return Err(Error::new(format!("create {path}: its directory vanished")));
        };
        let tmp = format!(".{name}.lunet-tmp");
        let f = openat(
            Some(&dir),
            &tmp,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW,
            0o600,
        )
        .map_err(|e| Error::sys(format!("write {path}"), e))?;
        let mut f = std::fs::File::from(f);
        std::io::Write::write_all(&mut f, content).map_err(|e| Error::io(format!("write {path}"), e))?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
            .map_err(|e| Error::io(format!("chmod {path}"), e))?;
        let (from, to) = (c(&tmp)?, c(name)?);
        // SAFETY: valid C strings and directory fds; the result is checked.
        if unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) } < 0 {
            return Err(Error::sys(format!("write {path}"), errno()));
        }
        Ok(())
    }

    /// Removes /etc/netns/NS/FILE (a file: `dir` false) or the empty directory
    /// /etc/netns/NS/FILE (`dir` true; FILE "" = /etc/netns/NS). Gone already, or
    /// a directory someone else put files in: left as it is.
    pub fn remove(ns: &str, file: &str, is_dir: bool) -> Result<()> {
        let path = format!("{ETC_DIR}/{ns}/{file}");
        let (parent, name) = match (file.is_empty(), split(file)) {
            (true, _) => (None, ns),
            (false, (d, n)) => (Some(d), n),
        };
        let dir = match parent {
            // A symlink on the way: what lunet made is not there (and what is there
            // is someone else's), so there is nothing of lunet's to remove.
            Some(d) => match open_dir(ns, d, false) {
                Err(e) if e.errno() == Some(libc::ELOOP) => return Ok(()),
                other => other?,
            },
            None => openat(None, ETC_DIR, libc::O_RDONLY | libc::O_DIRECTORY, 0).ok(),
        };
        let Some(dir) = dir else { return Ok(()) };
        let name = c(name)?;
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: a valid C string and directory fd; the result is checked.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) } < 0 {
            return match errno() {
                libc::ENOENT => Ok(()),
                // Not empty (someone else's files), or no longer a directory (a symlink
                // put in its place): not lunet's to remove.
                libc::ENOTEMPTY | libc::EEXIST | libc::ENOTDIR if is_dir => Ok(()),
                e => Err(Error::sys(format!("remove {path}"), e)),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(op: Op) -> String {
        match op {
            Op::EtcFile { content, .. } => content,
            _ => unreachable!(),
        }
    }

    #[test]
    fn no_value_can_add_a_line() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(resolv("a", &s(&["10.0.0.1"]), &s(&[]), &s(&["ndots:1\nnameserver 7.7.7.7"])).is_err());
        assert!(resolv("a", &s(&[]), &s(&["lab\nnameserver 7.7.7.7"]), &s(&[])).is_err());
        assert!(resolv("a", &s(&["10.0.0.1\n"]), &s(&[]), &s(&[])).is_err());
        assert!(hosts("a", &[("10.0.0.1".into(), s(&["x\n10.6.6.6 evil"]))]).is_err());
        let ok = content(resolv("a", &s(&["10.0.0.1"]), &s(&["lab"]), &s(&["ndots:1"])).unwrap());
        assert_eq!(ok, "nameserver 10.0.0.1\nsearch lab\noptions ndots:1\n");
        assert!(any("a", "../passwd", String::new(), None).is_err());
        assert!(any("a", "ssh/sshd_config", String::new(), Some(0o600)).is_ok());
    }
}
