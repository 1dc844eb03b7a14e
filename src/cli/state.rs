//! What lunet keeps under /run/lunet (0700): per scenario instance, its
//! journal (`NAME.journal`) and how it was brought up (`NAME.json`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub fn dir() -> PathBuf {
    PathBuf::from(std::env::var("LUNET_STATE_DIR").unwrap_or_else(|_| super::STATE_DIR.to_string()))
}

pub fn ensure_dir() -> Result<PathBuf> {
    let d = dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .with_context(|| format!("cannot create {} (run as root, or use --sandbox)", d.display()))?;
    Ok(d)
}

pub fn journal_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.journal"))
}

pub fn meta_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.json"))
}

/// How a scenario instance was brought up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    /// `bundled:NAME` or the file's path.
    pub origin: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub pid: u32,
    pub started: u64,
}

impl Meta {
    pub fn write(&self) -> Result<()> {
        let p = meta_path(&self.name);
        fs::write(&p, serde_json::to_string_pretty(self)?).with_context(|| format!("cannot write {}", p.display()))
    }

    pub fn read(name: &str) -> Result<Option<Meta>> {
        match fs::read_to_string(meta_path(name)) {
            Ok(s) => Ok(Some(
                serde_json::from_str(&s).with_context(|| format!("corrupt {}", meta_path(name).display()))?,
            )),
            Err(_) => Ok(None),
        }
    }
}

/// Names of the scenario instances that have a journal.
pub fn instances() -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir()) else { return vec![] };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".journal").map(String::from))
        .collect();
    names.sort();
    names
}

pub fn remove(name: &str) {
    let _ = fs::remove_file(journal_path(name));
    let _ = fs::remove_file(meta_path(name));
}
