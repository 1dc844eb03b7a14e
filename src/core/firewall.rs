//! iptables per namespace, through the real `iptables`/`iptables-restore`
//! binaries run inside the target namespace (setns in the child, no
//! `ip netns exec` round trip). Appends are unique (`-C` before `-A`, as
//! netavark does) and batches are atomic (`iptables-restore --noflush`).

use std::fmt;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{Error, Result};
use super::nft;
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

/// The iptables lock of one network namespace: an exclusive `flock` on its
/// nsfs inode (every open of a namespace, `/run/netns/NAME` or
/// `/proc/PID/ns/net`, is that one inode), held by lunet while it looks at a
/// table and changes it, so that two lunet processes never both find a rule
/// missing and both add it, or both delete one. Released when dropped, or when
/// the process ends however it ends.
pub struct NsLock {
    _file: File,
}

/// Tries to take the lock of the namespace `ns` (a fresh open of it; None:
/// lunet's own) once, without waiting: None when someone holds it.
pub fn try_lock_ns(ns: Option<File>) -> Result<Option<NsLock>> {
    let file = match ns {
        Some(f) => f,
        None => File::open("/proc/self/ns/net").map_err(|e| Error::io("open lunet's own namespace", e))?,
    };
    // SAFETY: flock on an fd this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(NsLock { _file: file }));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(None),
        _ => Err(Error::io("lock the namespace's iptables", e)),
    }
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

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableBatch {
    pub table: String,
    /// The section as given, `*table` … `COMMIT`.
    pub text: String,
    /// User chains it declares (`:NAME - [0:0]`), deleted on undo.
    pub new_chains: Vec<String>,
    /// `-A`/`-I` lines (without the flag), deleted on undo.
    pub rules: Vec<(String, Vec<String>)>,
    /// Chains it declares with a policy (`:INPUT DROP [0:0]`). In an undo
    /// batch: the built-in chains' policies before, put back on undo.
    #[serde(default)]
    pub policies: Vec<(String, String)>,
    /// Only in an undo batch: user chains that existed before the batch, which
    /// `--noflush` flushed when the batch declared them, with their rules
    /// then (`iptables -S` words after `-A CHAIN`), put back in place on undo.
    #[serde(default)]
    pub kept: Vec<(String, Vec<Vec<String>>)>,
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
                policies: vec![],
                kept: vec![],
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
            let mut w = decl.split_whitespace();
            let name = w.next().unwrap_or("");
            if name.is_empty() {
                return Err(bad("missing chain name"));
            }
            match w.next() {
                Some("-") => {}
                Some(policy) => tb.policies.push((name.to_string(), policy.to_string())),
                None => return Err(bad("missing policy (`-` for a user chain)")),
            }
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
    /// The batch that removes what this one added: the policies put back,
    /// its rules deleted (newest first), the rules of the user chains it
    /// flushed put back in place (`-I CHAIN 1`, `-I CHAIN 2`, …), its new
    /// chains deleted. `self` is an undo batch ([`restore_undo`]): `policies`
    /// and `kept` hold what was there before.
    pub fn undo_text(&self) -> String {
        let mut s = format!("*{}\n", self.table);
        for (chain, policy) in &self.policies {
            s += &format!(":{chain} {policy} [0:0]\n");
        }
        for (chain, rule) in self.rules.iter().rev() {
            s += &format!("-D {chain} {}\n", restore_words(rule));
        }
        for (chain, rules) in &self.kept {
            for (i, rule) in rules.iter().enumerate() {
                s += &format!("-I {chain} {} {}\n", i + 1, restore_words(rule));
            }
        }
        for c in &self.new_chains {
            s += &format!("-X {c}\n");
        }
        s + "COMMIT\n"
    }

    /// The single changes that undo this batch, in the order the undo batch
    /// makes them (see [`TableBatch::undo_text`]). When the atomic undo batch
    /// fails (some of its rules already gone), these can be undone one by one
    /// with [`apply_undo`].
    pub fn undo_changes(&self, v6: bool) -> Vec<IptChange> {
        let one = |cmd: IptCmd, chain: &str, rule: &[String]| IptChange {
            v6,
            table: self.table.clone(),
            cmd,
            chain: chain.to_string(),
            rule: rule.to_vec(),
        };
        let mut v: Vec<IptChange> = self
            .policies
            .iter()
            .map(|(c, p)| one(IptCmd::Policy(p.clone()), c, &[]))
            .collect();
        v.extend(self.rules.iter().rev().map(|(c, r)| one(IptCmd::Delete, c, r)));
        for (c, rules) in &self.kept {
            v.extend(
                rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| one(IptCmd::Insert(Some(i as u32 + 1)), c, r)),
            );
        }
        v.extend(self.new_chains.iter().map(|c| one(IptCmd::DeleteChain, c, &[])));
        v
    }
}

/// Words as `iptables-restore` reads them: plain, or in double quotes with
/// `\` before `"` and `\` (it knows no single quotes).
pub fn restore_words(words: &[String]) -> String {
    let q: Vec<String> = words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%!".contains(c))
            {
                w.clone()
            } else {
                format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    q.join(" ")
}

/// A table's `iptables -S` listing, as what undoing a restore batch needs.
#[derive(Debug, Default)]
pub struct Listing {
    /// Built-in chains and their policies.
    pub policies: Vec<(String, String)>,
    /// User chains.
    pub chains: Vec<String>,
    /// Rules in order: chain, words after `-A CHAIN`.
    pub rules: Vec<(String, Vec<String>)>,
}

/// Parses `iptables -t T -S` output; any line that is not `-P`, `-N` or `-A`
/// (a warning of iptables-nft about rules it cannot show) is an error: what it
/// shows could not be put back.
pub fn parse_listing(text: &str) -> Result<Listing> {
    let mut l = Listing::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let w = super::words::split(line).map_err(|e| Error::new(format!("cannot read `{line}`: {e}")))?;
        match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["-P", c, p] => l.policies.push((c.to_string(), p.to_string())),
            ["-N", c] => l.chains.push(c.to_string()),
            ["-A", c, ..] => l.rules.push((c.to_string(), w[2..].to_vec())),
            _ => return Err(Error::new(format!("cannot read `{line}`"))),
        }
    }
    Ok(l)
}

/// The undo batch of restore batch `batch`, worked out by looking at the table
/// before the batch runs (`listing`): policies it changes (their values now),
/// user chains it declares that exist already (`--noflush` flushes them: their
/// rules now, to put back), and the chains it really creates.
pub fn undo_batch(batch: &TableBatch, listing: &Listing) -> TableBatch {
    let mut undo = TableBatch {
        table: batch.table.clone(),
        text: String::new(),
        new_chains: vec![],
        rules: batch.rules.clone(),
        policies: vec![],
        kept: vec![],
    };
    for (c, p) in &batch.policies {
        if let Some((_, old)) = listing.policies.iter().find(|(b, _)| b == c) {
            if old != p && !undo.policies.iter().any(|(u, _)| u == c) {
                undo.policies.push((c.clone(), old.clone()));
            }
        }
    }
    for c in &batch.new_chains {
        if undo.new_chains.contains(c) || undo.kept.iter().any(|(k, _)| k == c) {
            continue;
        }
        if listing.chains.contains(c) {
            let rules = listing
                .rules
                .iter()
                .filter(|(rc, _)| rc == c)
                .map(|(_, r)| r.clone())
                .collect();
            undo.kept.push((c.clone(), rules));
        } else if !listing.policies.iter().any(|(b, _)| b == c) {
            undo.new_chains.push(c.clone());
        }
    }
    undo.text = undo.undo_text();
    undo
}

/// [`undo_batch`] for a batch about to run in `ns`: lists its table first.
pub fn restore_undo(ns: Option<&File>, backend: Backend, v6: bool, batch: &TableBatch) -> Result<TableBatch> {
    let bin = backend.binary(v6, "");
    let args = vec!["-w".to_string(), "-t".into(), batch.table.clone(), "-S".into()];
    let out = run(ns, &bin, &args, None)?;
    if out.code != 0 {
        return Err(failure(&bin, &args, &out));
    }
    let listing = parse_listing(&out.stdout).map_err(|e| {
        Error::new(format!(
            "iptables_restore: table {}: {e}: lunet could not put it back after the batch",
            batch.table
        ))
    })?;
    Ok(undo_batch(batch, &listing))
}

/// The single changes of an undo batch's text (what [`TableBatch::undo_text`]
/// writes: `*table`, `:CHAIN POLICY`, `-D CHAIN RULE…`, `-I CHAIN N RULE…`,
/// `-X CHAIN`, `COMMIT`), for undo batches
/// already in a journal, which keep only their text.
pub fn undo_text_changes(v6: bool, text: &str) -> Result<Vec<IptChange>> {
    let mut table: Option<String> = None;
    let mut out = vec![];
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l == "COMMIT" {
            continue;
        }
        if let Some(t) = l.strip_prefix('*') {
            table = Some(t.to_string());
            continue;
        }
        let bad = || Error::new(format!("not an undo batch line: {l:?}"));
        if let Some(decl) = l.strip_prefix(':') {
            let w: Vec<&str> = decl.split_whitespace().collect();
            let (Some(table), [chain, policy, ..]) = (&table, w.as_slice()) else {
                return Err(bad());
            };
            out.push(IptChange {
                v6,
                table: table.clone(),
                cmd: IptCmd::Policy(policy.to_string()),
                chain: chain.to_string(),
                rule: vec![],
            });
            continue;
        }
        let words = super::words::split(l)?;
        let (cmd, rest) = match words.first().map(String::as_str) {
            Some("-D") => (IptCmd::Delete, &words[1..]),
            Some("-X") => (IptCmd::DeleteChain, &words[1..]),
            Some("-I") => match words.get(2).and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if words.len() > 3 => (IptCmd::Insert(Some(n)), &words[1..]),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        let (Some(table), Some(chain)) = (&table, rest.first()) else {
            return Err(bad());
        };
        let skip = if matches!(cmd, IptCmd::Insert(_)) { 2 } else { 1 };
        out.push(IptChange {
            v6,
            table: table.clone(),
            cmd,
            chain: chain.clone(),
            rule: rest[skip..].to_vec(),
        });
    }
    Ok(out)
}

/// Whether the rule `change` is about is in its chain, by `iptables -C`'s exit
/// code: 0 present, 1 absent (also when the chain or table is missing). Any
/// other code is an error carrying iptables' message, unless the table's
/// listing proves the rule absent (its chain is gone, or no rule of the chain
/// has its target: a jump to a user chain that was deleted). For a Delete
/// change: the rule it deletes. Policies and chains have no rule: an error.
pub fn rule_present(ns: Option<&File>, bin: &str, change: &IptChange) -> Result<bool> {
    if matches!(change.cmd, IptCmd::NewChain | IptCmd::DeleteChain | IptCmd::Policy(_)) {
        return Err(Error::new(format!("`{change}` is not about a rule")));
    }
    let mut args = vec![
        "-w".to_string(),
        "-t".into(),
        change.table.clone(),
        "-C".into(),
        change.chain.clone(),
    ];
    args.extend(change.rule.iter().cloned());
    let out = run(ns, bin, &args, None)?;
    match out.code {
        0 => Ok(true),
        1 => Ok(false),
        // iptables refuses to check some rules that cannot be there (a jump to
        // a chain that is gone: exit 2): look at the table before calling it an error.
        _ if absent_by_listing(ns, bin, change)? => Ok(false),
        _ => Err(failure(bin, &args, &out)),
    }
}

/// The chain a rule jumps or goes to, or its target (`-j X`, `-g X`).
fn rule_target(rule: &[String]) -> Option<&str> {
    rule.windows(2)
        .rev()
        .find(|w| matches!(w[0].as_str(), "-j" | "--jump" | "-g" | "--goto"))
        .map(|w| w[1].as_str())
}

/// Whether `iptables -t T -S` output proves a rule with this target absent
/// from `chain`: the chain is not listed, or none of its rules has that target.
pub fn listing_lacks(listing: &str, chain: &str, target: &str) -> bool {
    if !listed_chains(listing).iter().any(|c| c == chain) {
        return true;
    }
    !listing.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() > 2
            && w[0] == "-A"
            && w[1] == chain
            && w.windows(2).any(|p| matches!(p[0], "-j" | "-g") && p[1] == target)
    })
}

/// Whether the table's listing shows the rule of `change` cannot be in its chain.
fn absent_by_listing(ns: Option<&File>, bin: &str, change: &IptChange) -> Result<bool> {
    let Some(target) = rule_target(&change.rule) else {
        return Ok(false);
    };
    let args = vec!["-w".to_string(), "-t".into(), change.table.clone(), "-S".into()];
    let out = run(ns, bin, &args, None)?;
    Ok(out.code == 0 && listing_lacks(&out.stdout, &change.chain, target))
}

/// Chains in `iptables -S` output: `-P NAME …` (built-in) and `-N NAME` (user).
pub fn listed_chains(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some("-P" | "-N"), Some(name)) => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Whether a chain exists in `table`, by looking: `iptables -t TABLE -S` must
/// succeed (exit 0), and the chain is there when it is listed as `-N`/`-P`.
/// (`-S CHAIN`'s exit code alone cannot tell: iptables exits 1 for a missing
/// chain and for other failures alike.)
pub fn chain_exists(ns: Option<&File>, bin: &str, table: &str, chain: &str) -> Result<bool> {
    let args = vec!["-w".to_string(), "-t".into(), table.into(), "-S".into()];
    let out = run(ns, bin, &args, None)?;
    if out.code != 0 {
        return Err(failure(bin, &args, &out));
    }
    Ok(listed_chains(&out.stdout).iter().any(|c| c == chain))
}

/// Whether the undo `change` has nothing left to do (the state it wants is
/// already there), by looking; None for a policy (setting one is idempotent).
pub fn undo_is_noop(ns: Option<&File>, bin: &str, change: &IptChange) -> Result<Option<bool>> {
    Ok(match &change.cmd {
        IptCmd::Append | IptCmd::Insert(_) => Some(rule_present(ns, bin, change)?),
        IptCmd::Delete => Some(!rule_present(ns, bin, change)?),
        IptCmd::NewChain => Some(chain_exists(ns, bin, &change.table, &change.chain)?),
        IptCmd::DeleteChain => Some(!chain_exists(ns, bin, &change.table, &change.chain)?),
        IptCmd::Policy(_) => None,
    })
}

/// What an idempotent undo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoOutcome {
    /// The change was made.
    Done,
    /// Nothing to do: the state was already the wanted one (a rule or chain someone else removed).
    AlreadyDone,
}

/// Makes one undo change idempotently: it looks first (a rule to delete that
/// is gone, a chain to delete that is gone, a rule to re-add that is there:
/// AlreadyDone), then makes the change; if that fails, it looks again (someone
/// may have got there in between) before reporting iptables' message.
pub fn apply_undo(ns: Option<&File>, backend: Backend, change: &IptChange) -> Result<UndoOutcome> {
    let bin = backend.binary(change.v6, "");
    if undo_is_noop(ns, &bin, change)? == Some(true) {
        return Ok(UndoOutcome::AlreadyDone);
    }
    let args = change.args();
    let out = run(ns, &bin, &args, None)?;
    if out.code == 0 {
        return Ok(UndoOutcome::Done);
    }
    if undo_is_noop(ns, &bin, change)? == Some(true) {
        return Ok(UndoOutcome::AlreadyDone);
    }
    Err(failure(&bin, &args, &out))
}

/// Undoes a restore batch (one table's section): atomically with
/// `iptables-restore --noflush` when it can; when that fails (some of its rules
/// already gone), change by change with [`apply_undo`]. `batch.text` is an
/// undo text ([`TableBatch::undo_text`]).
pub fn apply_undo_batch(ns: Option<&File>, backend: Backend, v6: bool, batch: &TableBatch) -> Result<UndoOutcome> {
    let bin = backend.binary(v6, "restore");
    let args = vec!["-w".to_string(), "--noflush".to_string()];
    let out = run(ns, &bin, &args, Some(&batch.text))?;
    if out.code == 0 {
        return Ok(UndoOutcome::Done);
    }
    let Ok(changes) = undo_text_changes(v6, &batch.text) else {
        return Err(failure(&bin, &args, &out));
    };
    let mut outcome = UndoOutcome::AlreadyDone;
    let mut first_err = None;
    for c in &changes {
        match apply_undo(ns, backend, c) {
            Ok(UndoOutcome::Done) => outcome = UndoOutcome::Done,
            Ok(UndoOutcome::AlreadyDone) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Whether `iptables -V`'s first line names the nf_tables backend.
pub fn version_is_nft(version: &str) -> bool {
    version.lines().next().unwrap_or("").contains("(nf_tables)")
}

/// Whether `backend` (for v4 or v6) is iptables-nft. For the default
/// `iptables`, asks `iptables -V` once per binary and remembers.
pub fn is_nft(backend: Backend, v6: bool) -> Result<bool> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    match backend {
        Backend::Nft => return Ok(true),
        Backend::Legacy => return Ok(false),
        Backend::Default => {}
    }
    let bin = backend.binary(v6, "");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(&v) = cache.lock().unwrap().get(&bin) {
        return Ok(v);
    }
    let args = vec!["-V".to_string()];
    // `-V` reads nothing of the kernel: run where lunet is.
    let out = run(None, &bin, &args, None)?;
    if out.code != 0 {
        return Err(failure(&bin, &args, &out));
    }
    let nft = version_is_nft(&out.stdout);
    cache.lock().unwrap().insert(bin, nft);
    Ok(nft)
}

/// Whether the nft table behind iptables table `table` exists. With legacy
/// iptables tables are built into the kernel: always true.
pub fn table_exists(ns: Option<&File>, backend: Backend, v6: bool, table: &str) -> Result<bool> {
    if !is_nft(backend, v6)? {
        return Ok(true);
    }
    Ok(nft::Socket::open(ns)?.table(nft::family(v6), table)?.is_some())
}

/// What [`drop_table_if_empty`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropOutcome {
    /// The empty table was deleted.
    Dropped,
    /// There was no such table (any more).
    AlreadyGone,
    /// It holds rules, user chains, sets, or a policy other than ACCEPT: kept.
    NotEmpty,
    /// Legacy iptables: its tables are part of the kernel, nothing to drop.
    NotNft,
    /// The table looked empty but was left; why, and how to remove it by hand.
    Left(String),
    /// `Note::Only`: no note of lunet's names this table: nothing done.
    NotNoted,
}

/// Whether `iptables -t T -S` output shows an empty table: only `-P CHAIN
/// ACCEPT` lines (no rules, no user chains, no other policy). Returns the number
/// of built-in chains when empty.
pub fn empty_listing(listing: &str) -> Option<u32> {
    let mut base = 0;
    for l in listing.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            [] => {}
            ["-P", _, "ACCEPT"] => base += 1,
            _ => return None,
        }
    }
    Some(base)
}

/// Deletes the nft table (family `ip`/`ip6`, named as the iptables table) only
/// if it is empty, as the kernel has it: no rules, no chains but base chains
/// with policy accept, no sets or other objects (so nft-only content that
/// `iptables -S` does not show keeps it too). The delete is one nfnetlink batch
/// that the kernel refuses (ERESTART) if the ruleset changed since it was
/// looked at (its generation); it then looks again, a few times.
pub fn drop_table_if_empty(ns: Option<&File>, backend: Backend, v6: bool, table: &str) -> Result<DropOutcome> {
    drop_table(ns, backend, v6, table, Note::Never)
}

/// What [`drop_table`] does with lunet's note of a table it made (see [`table_note`]).
#[derive(Debug, Clone, Copy)]
pub enum Note<'a> {
    /// No note.
    Never,
    /// The table was made by this lunet: if it is kept (someone's rules in
    /// it, perhaps another lunet instance's), note it in this file.
    IfKept(&'a Path),
    /// Only a table noted in this file is dropped (then the note goes).
    Only(&'a Path),
}

/// The file where lunet notes that the nft table `table` (v6: family ip6) of
/// the namespace with inode `ns_ino` was made by lunet and outlived the undo
/// of the instance that made it, because someone else's rules were in it then
/// (another instance's). It holds the namespace's cookie and the table's
/// handle, so that it names that very table, never a namesake made later.
/// The undo of a rule in that table, by any instance, then drops the table
/// once it is empty: the last one out drops it. None for a table name that is
/// not a plain word.
pub fn table_note(dir: &Path, ns_ino: u64, v6: bool, table: &str) -> Option<PathBuf> {
    (!table.is_empty() && table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| dir.join(format!(".nft-table-{ns_ino}-{}-{table}", nft::family_name(v6))))
}

/// The inode of a namespace (None: lunet's own).
pub fn ns_inode(ns: Option<&File>) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = match ns {
        Some(f) => f.metadata(),
        None => std::fs::metadata("/proc/self/ns/net"),
    };
    meta.map(|m| m.ino()).map_err(|e| Error::io("look at the namespace", e))
}

fn read_note(path: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut w = text.split_whitespace();
    Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
}

fn remove_note(note: Note) {
    if let Note::IfKept(p) | Note::Only(p) = note {
        let _ = std::fs::remove_file(p);
    }
}

/// [`drop_table_if_empty`], with lunet's note of the table (see [`Note`]).
pub fn drop_table(ns: Option<&File>, backend: Backend, v6: bool, table: &str, note: Note) -> Result<DropOutcome> {
    if !is_nft(backend, v6)? {
        return Ok(DropOutcome::NotNft);
    }
    let noted = match note {
        Note::Only(p) => match read_note(p) {
            Some(n) => Some(n),
            None => return Ok(DropOutcome::NotNoted),
        },
        _ => None,
    };
    let fam = nft::family_name(v6);
    let mut sock = match nft::Socket::open(ns) {
        Ok(s) => s,
        Err(e) => {
            return Ok(DropOutcome::Left(format!(
                "empty nft table {fam} {table} left ({e}); remove it with `nft delete table {fam} {table}`"
            )))
        }
    };
    let cookie = sock.netns_cookie()?;
    if noted.is_some_and(|(c, _)| c != cookie) {
        remove_note(note); // a note of a namespace gone long ago
        return Ok(DropOutcome::NotNoted);
    }
    for _ in 0..5 {
        let genid = sock.genid()?;
        let Some(content) = sock.table_content(nft::family(v6), table)? else {
            remove_note(note);
            return Ok(DropOutcome::AlreadyGone);
        };
        if noted.is_some_and(|(_, h)| content.handle != Some(h)) {
            remove_note(note); // the noted table is gone; this one is someone else's
            return Ok(DropOutcome::NotNoted);
        }
        if !content.is_empty() {
            if let (Note::IfKept(p), Some(h)) = (note, content.handle) {
                std::fs::write(p, format!("{cookie} {h}\n"))
                    .map_err(|e| Error::io(format!("write {}", p.display()), e))?;
            }
            return Ok(DropOutcome::NotEmpty);
        }
        match sock.delete_table(nft::family(v6), table, genid) {
            Ok(()) => {
                remove_note(note);
                return Ok(DropOutcome::Dropped);
            }
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                remove_note(note);
                return Ok(DropOutcome::AlreadyGone);
            }
            Err(e) if e.errno() == Some(libc::ERESTART) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(DropOutcome::Left(format!(
        "empty nft table {fam} {table} left: the ruleset kept changing while lunet looked; \
         remove it with `nft delete table {fam} {table}`"
    )))
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

    #[test]
    fn undo_changes_match_the_undo_text() {
        let b = parse_batch("*filter\n:MYCHAIN - [0:0]\n-A FORWARD -i br0 -j ACCEPT\n-I MYCHAIN 1 -m comment --comment \"a b\" -j RETURN\nCOMMIT\n").unwrap();
        let tb = &b.tables[0];
        let changes = tb.undo_changes(true);
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].cmd, IptCmd::Delete);
        assert_eq!(changes[0].chain, "MYCHAIN");
        assert_eq!(
            changes[0].rule,
            s(&["-m", "comment", "--comment", "a b", "-j", "RETURN"])
        );
        assert!(changes[0].v6);
        assert_eq!(changes[1].chain, "FORWARD");
        assert_eq!(changes[2].cmd, IptCmd::DeleteChain);
        assert_eq!(changes[2].chain, "MYCHAIN");
        assert!(changes[2].rule.is_empty());
        assert_eq!(undo_text_changes(true, &tb.undo_text()).unwrap(), changes);
        assert!(undo_text_changes(false, "*filter\n-A INPUT -j DROP\nCOMMIT\n").is_err());
        assert!(undo_text_changes(false, "-D INPUT -j DROP\n").is_err());
    }

    #[test]
    fn undo_batches_put_back_policies_and_flushed_chains() {
        let b = parse_batch(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:MINE - [0:0]\n:NEW - [0:0]\n-A MINE -j DROP\nCOMMIT\n",
        )
        .unwrap();
        let tb = &b.tables[0];
        assert_eq!(
            tb.policies,
            [
                ("INPUT".to_string(), "DROP".to_string()),
                ("FORWARD".into(), "DROP".into())
            ]
        );
        let listing = parse_listing(
            "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N MINE\n-A INPUT -j MINE\n-A MINE -s 1.1.1.1/32 -m comment --comment \"a \\\"b\\\"\" -j ACCEPT\n",
        )
        .unwrap();
        assert_eq!(
            listing.rules[1].1,
            s(&[
                "-s",
                "1.1.1.1/32",
                "-m",
                "comment",
                "--comment",
                "a \"b\"",
                "-j",
                "ACCEPT"
            ])
        );
        let undo = undo_batch(tb, &listing);
        // FORWARD was DROP already: nothing to put back; MINE existed: kept, not deleted.
        assert_eq!(undo.policies, [("INPUT".to_string(), "ACCEPT".to_string())]);
        assert_eq!(undo.new_chains, ["NEW"]);
        assert_eq!(undo.kept, [("MINE".to_string(), vec![listing.rules[1].1.clone()])]);
        assert_eq!(
            undo.text,
            "*filter\n:INPUT ACCEPT [0:0]\n-D MINE -j DROP\n-I MINE 1 -s 1.1.1.1/32 -m comment --comment \"a \\\"b\\\"\" -j ACCEPT\n-X NEW\nCOMMIT\n"
        );
        assert_eq!(undo_text_changes(false, &undo.text).unwrap(), undo.undo_changes(false));
        assert!(parse_listing("# Warning: iptables-legacy tables present\n").is_err());
        assert!(parse_batch("*filter\n:INPUT\nCOMMIT\n").is_err());
    }

    #[test]
    fn listings_tell_chains_and_emptiness() {
        let empty = "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n";
        assert_eq!(empty_listing(empty), Some(4));
        assert_eq!(empty_listing(""), Some(0));
        assert_eq!(empty_listing(&format!("{empty}-N X\n")), None);
        assert_eq!(empty_listing(&format!("{empty}-A POSTROUTING -j MASQUERADE\n")), None);
        assert_eq!(empty_listing("-P INPUT DROP\n-P OUTPUT ACCEPT\n"), None);
        assert_eq!(
            empty_listing("# Warning: something iptables does not understand\n"),
            None
        );
        assert_eq!(
            listed_chains(&format!("{empty}-N LUNET\n-A LUNET -j RETURN\n")),
            ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "LUNET"]
        );
    }

    #[test]
    fn listings_prove_rules_absent() {
        let l = "-P INPUT ACCEPT\n-N LUNET\n-A INPUT -s 1.2.3.4/32 -j DROP\n-A LUNET -g OTHER\n";
        assert!(!listing_lacks(l, "INPUT", "DROP"));
        assert!(listing_lacks(l, "INPUT", "LUNET"));
        assert!(!listing_lacks(l, "LUNET", "OTHER"));
        assert!(listing_lacks(l, "NOPE", "DROP"));
        assert!(listing_lacks(l, "OUTPUT", "DROP"));
        assert_eq!(rule_target(&s(&["-s", "1.2.3.4", "-j", "LUNET"])), Some("LUNET"));
        assert_eq!(rule_target(&s(&["-p", "tcp", "--goto", "X"])), Some("X"));
        assert_eq!(rule_target(&s(&["-p", "tcp"])), None);
    }

    #[test]
    fn versions_name_the_backend() {
        assert!(version_is_nft("iptables v1.8.9 (nf_tables)\n"));
        assert!(!version_is_nft("iptables v1.8.9 (legacy)\n"));
        assert!(!version_is_nft("iptables v1.6.1\n"));
        assert!(is_nft(Backend::Nft, false).unwrap());
        assert!(!is_nft(Backend::Legacy, true).unwrap());
    }

    #[test]
    fn rule_present_refuses_chain_changes() {
        let c = IptChange {
            v6: false,
            table: "filter".into(),
            cmd: IptCmd::DeleteChain,
            chain: "X".into(),
            rule: vec![],
        };
        // Refused before anything runs (no binary needed).
        assert!(rule_present(None, "/nonexistent/iptables", &c).is_err());
    }
}
