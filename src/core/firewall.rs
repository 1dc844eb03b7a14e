//! iptables per namespace, through the real `iptables`/`iptables-restore`
//! binaries run inside the target namespace (setns in the child, no
//! `ip netns exec` round trip). Appends are unique (`-C` before `-A`, as
//! netavark does) and batches are atomic (`iptables-restore --noflush`).

use std::fmt;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::error::{Error, Result};
use super::words::quote;

/// Which iptables: what `iptables` is on the machine, or a chosen backend
/// (`LUNET_IPTABLES=nft|legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Default,
    Nft,
    Legacy,
}

impl Backend {
    /// From the value of `LUNET_IPTABLES` (handed over by the CLI).
    pub fn parse(v: Option<&str>) -> Result<Backend> {
        match v {
            None | Some("") => Ok(Backend::Default),
            Some("nft") => Ok(Backend::Nft),
            Some("legacy") => Ok(Backend::Legacy),
            Some(other) => Err(Error::new(format!(
                "LUNET_IPTABLES={other:?}: expected \"nft\" or \"legacy\""
            ))),
        }
    }

    /// `iptables`, `ip6tables-legacy-restore`, …
    pub fn binary(&self, v6: bool, tool: &str) -> String {
        let base = if v6 { "ip6tables" } else { "iptables" };
        let suffix = match self {
            Backend::Default => "",
            Backend::Nft => "-nft",
            Backend::Legacy => "-legacy",
        };
        let tool = if tool.is_empty() {
            String::new()
        } else {
            format!("-{tool}")
        };
        format!("{base}{suffix}{tool}")
    }
}

/// One iptables change, with what is needed to undo it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IptChange {
    pub v6: bool,
    pub table: String,
    pub cmd: IptCmd,
    pub chain: String,
    pub rule: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum IptCmd {
    /// `-A`, skipped when the rule is already there.
    Append,
    /// `-I CHAIN [N]`, skipped when the rule is already there.
    Insert(Option<u32>),
    Delete,
    NewChain,
    DeleteChain,
    Policy(String),
}

impl IptChange {
    /// The arguments after the binary name.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["-w".to_string(), "-t".into(), self.table.clone()];
        match &self.cmd {
            IptCmd::Append => a.extend(["-A".into(), self.chain.clone()]),
            IptCmd::Insert(n) => {
                a.extend(["-I".into(), self.chain.clone()]);
                if let Some(n) = n {
                    a.push(n.to_string());
                }
            }
            IptCmd::Delete => a.extend(["-D".into(), self.chain.clone()]),
            IptCmd::NewChain => a.extend(["-N".into(), self.chain.clone()]),
            IptCmd::DeleteChain => a.extend(["-X".into(), self.chain.clone()]),
            IptCmd::Policy(p) => a.extend(["-P".into(), self.chain.clone(), p.clone()]),
        }
        a.extend(self.rule.iter().cloned());
        a
    }

    /// The `-C` probe for appends and inserts.
    pub fn check_args(&self) -> Option<Vec<String>> {
        match self.cmd {
            IptCmd::Append | IptCmd::Insert(_) => {
                let mut a = vec![
                    "-w".to_string(),
                    "-t".into(),
                    self.table.clone(),
                    "-C".into(),
                    self.chain.clone(),
                ];
                a.extend(self.rule.iter().cloned());
                Some(a)
            }
            _ => None,
        }
    }

    /// What undoes this change (after it was applied).
    pub fn inverse(&self, old_policy: Option<String>) -> Option<IptChange> {
        let cmd = match &self.cmd {
            IptCmd::Append | IptCmd::Insert(_) => IptCmd::Delete,
            IptCmd::NewChain => IptCmd::DeleteChain,
            IptCmd::Policy(_) => IptCmd::Policy(old_policy?),
            IptCmd::Delete => IptCmd::Append,
            IptCmd::DeleteChain => IptCmd::NewChain,
        };
        Some(IptChange { cmd, ..self.clone() })
    }
}

impl fmt::Display for IptChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.args().iter().skip(1).map(|w| quote(w)).collect();
        write!(
            f,
            "{} {}",
            if self.v6 { "ip6tables" } else { "iptables" },
            words.join(" ")
        )
    }
}

/// What a user's `ns:iptables(args)` asks for: a change lunet records, or anything else (run as is).
pub enum Parsed {
    Change(IptChange),
    Other(Vec<String>),
}

/// Splits iptables arguments into table, command, chain and rule.
pub fn parse_args(v6: bool, args: &[String]) -> Result<Parsed> {
    let mut table = "filter".to_string();
    let mut cmd: Option<(IptCmd, String)> = None;
    let mut rule = vec![];
    let mut it = args.iter().peekable();
    let need = |it: &mut std::iter::Peekable<std::slice::Iter<String>>, flag: &str| -> Result<String> {
        it.next()
            .cloned()
            .ok_or_else(|| Error::new(format!("iptables: {flag} needs an argument")))
    };
    let mut other = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-t" | "--table" => table = need(&mut it, a)?,
            "-w" | "--wait" => {
                if it.peek().is_some_and(|n| n.parse::<f64>().is_ok()) {
                    it.next();
                }
            }
            "-A" | "--append" => cmd = Some((IptCmd::Append, need(&mut it, a)?)),
            "-I" | "--insert" => {
                let chain = need(&mut it, a)?;
                let n = match it.peek().and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => {
                        it.next();
                        Some(n)
                    }
                    None => None,
                };
                cmd = Some((IptCmd::Insert(n), chain));
            }
            "-D" | "--delete" => cmd = Some((IptCmd::Delete, need(&mut it, a)?)),
            "-N" | "--new-chain" => cmd = Some((IptCmd::NewChain, need(&mut it, a)?)),
            "-X" | "--delete-chain" => match it.peek() {
                Some(c) if !c.starts_with('-') => cmd = Some((IptCmd::DeleteChain, need(&mut it, a)?)),
                _ => other = true,
            },
            "-P" | "--policy" => {
                let chain = need(&mut it, a)?;
                let target = need(&mut it, a)?;
                cmd = Some((IptCmd::Policy(target), chain));
            }
            "-F" | "--flush" | "-Z" | "--zero" | "-E" | "--rename-chain" | "-L" | "--list" | "-S" | "--list-rules"
            | "-C" | "--check" | "-R" | "--replace" => other = true,
            _ => rule.push(a.clone()),
        }
    }
    match cmd {
        Some((cmd, chain)) if !other => {
            if matches!(cmd, IptCmd::Delete) && rule.iter().all(|w| w.parse::<u32>().is_ok()) {
                // `-D CHAIN N` deletes by number: nothing to re-add exactly.
                return Ok(Parsed::Other(args.to_vec()));
            }
            Ok(Parsed::Change(IptChange {
                v6,
                table,
                cmd,
                chain,
                rule,
            }))
        }
        _ => Ok(Parsed::Other(args.to_vec())),
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs an iptables tool inside the namespace `ns` (None = lunet's own).
pub fn run(ns: Option<&File>, bin: &str, args: &[String], stdin: Option<&str>) -> Result<Output> {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    if let Some(f) = ns {
        let fd: OwnedFd = f.try_clone().map_err(|e| Error::io("dup a namespace fd", e))?.into();
        // SAFETY: setns is async-signal-safe; the fd was opened before fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new(format!(
            "{bin} not found: install it with `apt-get install iptables` (Debian package iptables)"
        )),
        _ => Error::io(format!("cannot run {bin}"), e),
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("write to {bin}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("wait for {bin}"), e))?;
    Ok(Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// iptables' own message for a failure.
pub fn failure(bin: &str, args: &[String], out: &Output) -> Error {
    let shown: Vec<String> = args.iter().filter(|a| *a != "-w").map(|w| quote(w)).collect();
    let msg = if out.stderr.is_empty() {
        format!("exit code {}", out.code)
    } else {
        out.stderr.clone()
    };
    Error::new(format!("`{bin} {}` failed: {msg}", shown.join(" ")))
}

/// The current policy of a built-in chain (for undoing `-P`).
pub fn policy_of(ns: Option<&File>, bin: &str, table: &str, chain: &str) -> Result<Option<String>> {
    let args = vec!["-w".into(), "-t".into(), table.into(), "-S".into(), chain.into()];
    let out = run(ns, bin, &args, None)?;
    if out.code != 0 {
        return Err(failure(bin, &args, &out));
    }
    Ok(out.stdout.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() == 3 && w[0] == "-P" && w[1] == chain).then(|| w[2].to_string())
    }))
}

/// A batch for `iptables-restore --noflush`, split per table: each table's
/// section commits on its own, so each is applied (and undone) on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub tables: Vec<TableBatch>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableBatch {
    pub table: String,
    /// The section as given, `*table` … `COMMIT`.
    pub text: String,
    /// User chains it declares (`:NAME - [0:0]`), deleted on undo.
    pub new_chains: Vec<String>,
    /// `-A`/`-I` lines (without the flag), deleted on undo.
    pub rules: Vec<(String, Vec<String>)>,
}

const BUILTIN: &[&str] = &["INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"];

pub fn parse_batch(text: &str) -> Result<Batch> {
    let mut tables = vec![];
    let mut cur: Option<TableBatch> = None;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        let bad = |why: &str| Error::new(format!("iptables_restore: line {}: {why}: {l:?}", n + 1));
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(t) = l.strip_prefix('*') {
            if cur.is_some() {
                return Err(bad("missing COMMIT before a new table"));
            }
            cur = Some(TableBatch {
                table: t.to_string(),
                text: String::new(),
                new_chains: vec![],
                rules: vec![],
            });
        }
        let Some(tb) = cur.as_mut() else {
            return Err(bad("rule outside a *table section"));
        };
        tb.text.push_str(l);
        tb.text.push('\n');
        if l == "COMMIT" {
            tables.push(cur.take().unwrap());
            continue;
        }
        if let Some(decl) = l.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if !BUILTIN.contains(&name) {
                tb.new_chains.push(name.to_string());
            }
        } else if l.starts_with("-A ") || l.starts_with("-I ") {
            let words = super::words::split(l)?;
            if words.len() < 2 {
                return Err(bad("missing chain"));
            }
            let rest = if words[0] == "-I" && words.get(2).is_some_and(|w| w.parse::<u32>().is_ok()) {
                words[3..].to_vec()
            } else {
                words[2..].to_vec()
            };
            tb.rules.push((words[1].clone(), rest));
        } else if !l.starts_with('*') {
            return Err(bad("only *table, :CHAIN, -A, -I and COMMIT lines are supported"));
        }
    }
    if cur.is_some() {
        return Err(Error::new("iptables_restore: missing COMMIT at the end"));
    }
    if tables.is_empty() {
        return Err(Error::new("iptables_restore: no *table section"));
    }
    Ok(Batch { tables })
}

impl TableBatch {
    /// The batch that removes what this one added.
    pub fn undo_text(&self) -> String {
        let mut s = format!("*{}\n", self.table);
        for (chain, rule) in self.rules.iter().rev() {
            let words: Vec<String> = rule.iter().map(|w| quote(w)).collect();
            s += &format!("-D {chain} {}\n", words.join(" "));
        }
        for c in &self.new_chains {
            s += &format!("-X {c}\n");
        }
        s + "COMMIT\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_appends_with_tables() {
        let Parsed::Change(c) = parse_args(
            false,
            &s(&[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "10.0.0.0/24",
                "-j",
                "MASQUERADE",
            ]),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.table, "nat");
        assert_eq!(c.cmd, IptCmd::Append);
        assert_eq!(c.chain, "POSTROUTING");
        assert_eq!(c.rule, s(&["-s", "10.0.0.0/24", "-j", "MASQUERADE"]));
        assert_eq!(
            c.to_string(),
            "iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"
        );
        assert_eq!(c.inverse(None).unwrap().cmd, IptCmd::Delete);
        let Parsed::Change(c) = parse_args(false, &s(&["-I", "INPUT", "2", "-j", "DROP"])).unwrap() else {
            panic!()
        };
        assert_eq!(c.cmd, IptCmd::Insert(Some(2)));
        assert_eq!(c.table, "filter");
        assert!(matches!(parse_args(false, &s(&["-S"])).unwrap(), Parsed::Other(_)));
        assert!(matches!(
            parse_args(false, &s(&["-F", "INPUT"])).unwrap(),
            Parsed::Other(_)
        ));
        assert!(matches!(
            parse_args(false, &s(&["-D", "INPUT", "1"])).unwrap(),
            Parsed::Other(_)
        ));
    }

    #[test]
    fn batches_split_per_table_and_invert() {
        let b = parse_batch("*filter\n:MYCHAIN - [0:0]\n-A FORWARD -i br0 -j ACCEPT\n-A MYCHAIN -j RETURN\nCOMMIT\n*nat\n-A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE\nCOMMIT\n").unwrap();
        assert_eq!(b.tables.len(), 2);
        assert_eq!(b.tables[0].new_chains, ["MYCHAIN"]);
        assert_eq!(
            b.tables[0].undo_text(),
            "*filter\n-D MYCHAIN -j RETURN\n-D FORWARD -i br0 -j ACCEPT\n-X MYCHAIN\nCOMMIT\n"
        );
        assert!(parse_batch("-A INPUT -j DROP\n").is_err());
        assert!(parse_batch("*filter\n-A INPUT -j DROP\n").is_err());
    }

    #[test]
    fn backends() {
        assert_eq!(Backend::Legacy.binary(true, "restore"), "ip6tables-legacy-restore");
        assert_eq!(Backend::Default.binary(false, ""), "iptables");
    }
}
