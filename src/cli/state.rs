//! What lunet keeps under /run/lunet (0700): per instance, its journal
//! (`NAME.journal`) and how it came to be (`NAME.json`). An instance is a
//! scenario brought up by `lunet up`, or a run (`lunet run`, `-e`, a script on
//! standard input, the REPL), named `run-SCRIPT-PID`, `e-PID`, `stdin-PID` or `repl-PID`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub fn dir() -> PathBuf {
    PathBuf::from(std::env::var("LUNET_STATE_DIR").unwrap_or_else(|_| super::STATE_DIR.to_string()))
}

/// Creates the state directory (0700), or checks the one that is there: it
/// must be lunet's user's own directory; if others may read or write it, it
/// is tightened to 0700.
pub fn ensure_dir() -> Result<PathBuf> {
    let d = dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .with_context(|| format!("cannot create {} (run as root, or use --sandbox)", d.display()))?;
    check_dir()?;
    Ok(d)
}

/// The state directory, if there is one, is a directory of lunet's own user
/// (tightened to 0700 if it was open to others).
pub fn check_dir() -> Result<()> {
    let d = dir();
    let meta = match fs::symlink_metadata(&d) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", d.display())),
    };
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me {
        bail!(
            "refusing to use {}: it is not a directory owned by uid {me} (someone else could have written lunet's journals)",
            d.display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (chmod 700)", d.display()))?;
    }
    Ok(())
}

/// A state file lunet may trust: a plain file of lunet's own user that no
/// one else may write.
pub fn check_file(p: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        bail!(
            "refusing to use {}: not a plain file owned by uid {me} and writable by it alone (someone else could have written it)",
            p.display()
        );
    }
    Ok(())
}

pub fn journal_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.journal"))
}

pub fn meta_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.json"))
}

/// The origin of a run's instance starts with this (`run:/path/lab.lua`, `run:-e`, `run:stdin`).
pub const RUN_ORIGIN: &str = "run:";

/// How an instance came to be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    /// `bundled:NAME` or the file's path for a scenario; `run:…` for a run.
    pub origin: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    pub pid: u32,
    /// Seconds since the epoch.
    pub started: u64,
    /// Milliseconds since the epoch (orders instances made within the same second).
    #[serde(default)]
    pub started_ms: u64,
    /// A run that finished normally and kept what it made: when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<u64>,
    /// A scenario brought up from a file: the file's full path (`down FILE` finds it by this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Meta {
    pub fn new(name: &str, origin: &str, params: BTreeMap<String, serde_json::Value>) -> Meta {
        let ms = now_ms();
        Meta {
            name: name.to_string(),
            origin: origin.to_string(),
            params,
            pid: std::process::id(),
            started: ms / 1000,
            started_ms: ms,
            ended: None,
            file: None,
        }
    }

    /// Whether this instance was made from the file at `full` (a full path): a run of it, or
    /// a scenario brought up from it (one brought up before lunet recorded `file`: by its
    /// origin, if that was a full path).
    pub fn made_from(&self, full: &Path) -> bool {
        if self.is_run() {
            return Path::new(self.script()) == full;
        }
        match &self.file {
            Some(f) => Path::new(f) == full,
            None => Path::new(&self.origin).is_absolute() && fs::canonicalize(&self.origin).is_ok_and(|p| p == full),
        }
    }

    /// Written 0600 whatever the umask, beside the target and renamed over it. If
    /// that fails (a full state dir), the temporary file is removed again.
    pub fn write(&self) -> Result<()> {
        let p = meta_path(&self.name);
        let tmp = dir().join(format!(".{}.json.tmp", self.name));
        let text = serde_json::to_string_pretty(self)?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let res = f
            .set_permissions(fs::Permissions::from_mode(0o600))
            .and_then(|_| f.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", tmp.display()))
            .and_then(|_| fs::rename(&tmp, &p).with_context(|| format!("cannot write {}", p.display())));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// `Ok(None)` when there is none; an error when it is damaged or not to be trusted.
    pub fn read(name: &str) -> Result<Option<Meta>> {
        let p = meta_path(name);
        if !p.exists() {
            return Ok(None);
        }
        check_file(&p)?;
        let text = fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        Ok(Some(
            serde_json::from_slice(&text).with_context(|| format!("{} is damaged", p.display()))?,
        ))
    }

    /// Made by `lunet run`, `-e` or a script on standard input (not a scenario).
    pub fn is_run(&self) -> bool {
        self.origin.starts_with(RUN_ORIGIN)
    }

    /// What the run ran: a path, `-e` or `stdin`.
    pub fn script(&self) -> &str {
        self.origin.strip_prefix(RUN_ORIGIN).unwrap_or(&self.origin)
    }

    /// For ordering, newest last.
    pub fn started_key(&self) -> (u64, u32) {
        let ms = if self.started_ms > 0 {
            self.started_ms
        } else {
            self.started * 1000
        };
        (ms, self.pid)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether `pid` is a live lunet process other than this one.
pub fn lunet_alive(pid: u32) -> bool {
    if pid == 0 || pid == std::process::id() {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: a zombie is dead already.
    let Some((head, rest)) = stat.rsplit_once(") ") else {
        return false;
    };
    let comm = head.split_once(" (").map(|(_, c)| c).unwrap_or("");
    comm == "lunet" && !rest.starts_with('Z') && !rest.starts_with('X')
}

/// Names of the instances that have a journal, sorted by name.
pub fn instances() -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir()) else { return vec![] };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".journal").map(String::from))
        .collect();
    names.sort();
    names
}

/// Instances, newest first (by when they started; an instance without meta counts as oldest).
pub fn instances_newest_first() -> Vec<String> {
    let mut v: Vec<((u64, u32), String)> = instances()
        .into_iter()
        .map(|n| {
            let key = Meta::read(&n).ok().flatten().map(|m| m.started_key()).unwrap_or((0, 0));
            (key, n)
        })
        .collect();
    v.sort_by(|a, b| b.cmp(a));
    v.into_iter().map(|(_, n)| n).collect()
}

/// An instance name is a file name under the state dir and a word in the
/// hints lunet prints: `[A-Za-z0-9_.-]`, not starting with `-` or `.`.
pub fn check_instance_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("bad scenario name {name:?}: use letters, digits, '_', '.' and '-' (not first), at most 64");
    }
    Ok(())
}

/// A name made only of `[A-Za-z0-9_.-]` (anything else becomes `_`), at most 40 characters.
pub fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if out.is_empty() {
        "script".into()
    } else {
        out
    }
}

pub fn remove(name: &str) {
    let _ = fs::remove_file(journal_path(name));
    let _ = fs::remove_file(meta_path(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize("lab"), "lab");
        assert_eq!(sanitize("my lab (2)"), "my_lab__2_");
        assert_eq!(sanitize("é.x-y_z"), "_.x-y_z");
        assert_eq!(sanitize(""), "script");
        assert_eq!(sanitize(&"a".repeat(99)).len(), 40);
    }
}
