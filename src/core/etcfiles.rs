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
