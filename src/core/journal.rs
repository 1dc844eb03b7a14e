//! The journal: every change is written here *before* the kernel is touched
//! (the intent, with what undoes it), and its outcome after. Undo walks it
//! backwards, so teardown is derived from setup, exact, and survives a crash
//! of the process that did the setup.
//!
//! On disk: one JSON record per line, appended with a single `write`; a
//! process killed at any point leaves every record it wrote (a torn last line
//! is ignored). The file is locked (`flock`) while a lunet process uses it.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::netns::NsId;
use super::op::{LinkKind, Op};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Intent {
        seq: u64,
        op: Op,
        undo: Vec<Op>,
    },
    Done {
        seq: u64,
        changed: bool,
    },
    Failed {
        seq: u64,
        error: String,
    },
    /// The undo learned after the fact (a spawned process's pid).
    Undo {
        seq: u64,
        undo: Vec<Op>,
    },
    Undone {
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Intent written, outcome unknown (the process died in between).
    Pending,
    Done,
    /// Nothing to do (e.g. the iptables rule was already there).
    Unchanged,
    Failed(String),
    Undone,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub op: Op,
    pub undo: Vec<Op>,
    pub state: State,
}

/// One step of an undo walk.
pub struct UndoStep {
    pub seq: u64,
    pub ops: Vec<Op>,
    /// The outcome was never recorded: missing objects are not errors.
    pub tolerant: bool,
}

pub struct Journal {
    file: Option<File>,
    pub path: Option<PathBuf>,
    entries: Vec<Entry>,
    created_ns: HashSet<String>,
    created_links: HashSet<(NsId, String)>,
    /// Every change gets its own inverse (no coverage by later undos), for one-at-a-time undo.
    precise: bool,
}

fn lock(f: &File, path: &Path) -> Result<()> {
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        return Err(Error::new(format!(
            "{} is in use by another lunet process (wait for it to finish)",
            path.display()
        )));
    }
    Ok(())
}

impl Journal {
    /// A journal kept in memory only (a plain `lunet run`).
    pub fn in_memory() -> Journal {
        Journal {
            file: None,
            path: None,
            entries: vec![],
            created_ns: HashSet::new(),
            created_links: HashSet::new(),
            precise: false,
        }
    }

    /// See `precise`: for the REPL's one-at-a-time `.undo`.
    pub fn precise(mut self) -> Journal {
        self.precise = true;
        self
    }

    /// Creates a new journal file; fails if there is one.
    pub fn create(path: &Path) -> Result<Journal> {
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| Error::io(format!("create journal {}", path.display()), e))?;
        lock(&f, path)?;
        let mut j = Journal::in_memory();
        j.file = Some(f);
        j.path = Some(path.to_path_buf());
        Ok(j)
    }

    /// Opens an existing journal and replays its records.
    pub fn open(path: &Path) -> Result<Journal> {
        let f = OpenOptions::new()
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| Error::io(format!("open journal {}", path.display()), e))?;
        lock(&f, path)?;
        let mut j = Journal::in_memory();
        for line in BufReader::new(&f).lines() {
            let line = line.map_err(|e| Error::io(format!("read journal {}", path.display()), e))?;
            // A torn last line (killed mid-write) is not a record.
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                j.replay(r);
            }
        }
        j.file = Some(f);
        j.path = Some(path.to_path_buf());
        Ok(j)
    }

    /// Reads a journal without taking it (for `status`): no lock, no writes.
    pub fn read(path: &Path) -> Result<Journal> {
        let f = File::open(path).map_err(|e| Error::io(format!("open journal {}", path.display()), e))?;
        let mut j = Journal::in_memory();
        for line in BufReader::new(&f).lines().map_while(|l| l.ok()) {
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                j.replay(r);
            }
        }
        j.path = Some(path.to_path_buf());
        Ok(j)
    }

    fn replay(&mut self, r: Record) {
        match r {
            Record::Intent { seq, op, undo } => {
                self.track(&op);
                self.entries.push(Entry {
                    seq,
                    op,
                    undo,
                    state: State::Pending,
                });
            }
            Record::Done { seq, changed } => self.set_state(seq, if changed { State::Done } else { State::Unchanged }),
            Record::Failed { seq, error } => self.set_state(seq, State::Failed(error)),
            Record::Undo { seq, undo } => {
                if let Some(e) = self.entries.iter_mut().find(|e| e.seq == seq) {
                    e.undo = undo;
                }
            }
            Record::Undone { seq } => self.set_state(seq, State::Undone),
        }
    }

    fn set_state(&mut self, seq: u64, state: State) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.seq == seq) {
            e.state = state;
        }
    }

    fn write(&mut self, r: Record) -> Result<()> {
        if let Some(f) = &mut self.file {
            let mut line = serde_json::to_string(&r).map_err(|e| Error::new(format!("journal: {e}")))?;
            line.push('\n');
            // One write per record: a crash leaves whole records (or a torn last line).
            f.write_all(line.as_bytes())
                .map_err(|e| Error::io("write the journal", e))?;
        }
        self.replay(r);
        Ok(())
    }

    fn track(&mut self, op: &Op) {
        match op {
            Op::NsAdd { name } => {
                self.created_ns.insert(name.clone());
            }
            Op::LinkAdd { ns, link } => {
                self.created_links.insert((ns.clone(), link.name.clone()));
                if let LinkKind::Veth { peer, peer_ns } = &link.kind {
                    self.created_links.insert((peer_ns.clone(), peer.clone()));
                }
            }
            _ => {}
        }
    }

    /// Whether undoing `op` is already covered by undoing something made
    /// earlier in this journal (a namespace it made goes with all it holds;
    /// an attribute change on a link it made goes with the link).
    pub fn covered(&self, op: &Op) -> bool {
        if self.precise {
            return false;
        }
        let in_created_ns = matches!(op.ns(), Some(NsId::Named(n)) if self.created_ns.contains(&n));
        match op {
            Op::NsAdd { .. } | Op::NsDel { .. } | Op::Kill { .. } => false,
            // A link moved out of a namespace would outlive it: always undo moves.
            Op::LinkSet { change, .. } if change.ns.is_some() => false,
            Op::Spawn { ns: NsId::Named(_), .. } => false,
            _ if in_created_ns => true,
            Op::LinkSet { ns, dev, change } => {
                change.name.is_none() && self.created_links.contains(&(ns.clone(), dev.clone()))
            }
            Op::AddrAdd { ns, dev, .. } => self.created_links.contains(&(ns.clone(), dev.clone())),
            _ => false,
        }
    }

    pub fn intent(&mut self, op: &Op, undo: Vec<Op>) -> Result<u64> {
        let seq = self.entries.last().map(|e| e.seq + 1).unwrap_or(1);
        self.write(Record::Intent {
            seq,
            op: op.clone(),
            undo,
        })?;
        Ok(seq)
    }

    pub fn done(&mut self, seq: u64, changed: bool) -> Result<()> {
        self.write(Record::Done { seq, changed })
    }

    pub fn failed(&mut self, seq: u64, error: &Error) -> Result<()> {
        self.write(Record::Failed {
            seq,
            error: error.to_string(),
        })
    }

    pub fn set_undo(&mut self, seq: u64, undo: Vec<Op>) -> Result<()> {
        self.write(Record::Undo { seq, undo })
    }

    pub fn undone(&mut self, seq: u64) -> Result<()> {
        self.write(Record::Undone { seq })
    }

    /// The newest sequence number (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.entries.last().map(|e| e.seq).unwrap_or(0)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Steps that undo everything still in effect, newest first.
    pub fn undo_steps(&self) -> Vec<UndoStep> {
        self.entries
            .iter()
            .rev()
            .filter_map(|e| match e.state {
                State::Done => Some(UndoStep {
                    seq: e.seq,
                    ops: e.undo.clone(),
                    tolerant: false,
                }),
                State::Pending => Some(UndoStep {
                    seq: e.seq,
                    ops: e.undo.clone(),
                    tolerant: true,
                }),
                _ => None,
            })
            .collect()
    }

    /// Undo steps back to (not including) `seq` — for `.undo` of the last change.
    pub fn last_step(&self) -> Option<UndoStep> {
        self.undo_steps().into_iter().next()
    }

    /// Whether anything is still in effect.
    pub fn is_empty(&self) -> bool {
        self.undo_steps().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::op::{LinkChange, NewLink};

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("lunet-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn ns_add(n: &str) -> Op {
        Op::NsAdd { name: n.into() }
    }

    #[test]
    fn replays_and_undoes_newest_first() {
        let p = tmp("replay");
        {
            let mut j = Journal::create(&p).unwrap();
            let s1 = j.intent(&ns_add("a"), vec![Op::NsDel { name: "a".into() }]).unwrap();
            j.done(s1, true).unwrap();
            let s2 = j.intent(&ns_add("b"), vec![Op::NsDel { name: "b".into() }]).unwrap();
            j.failed(s2, &Error::new("exists")).unwrap();
            let _s3 = j.intent(&ns_add("c"), vec![Op::NsDel { name: "c".into() }]).unwrap();
            // killed here: no outcome for c
        }
        let j = Journal::open(&p).unwrap();
        let steps = j.undo_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].ops, [Op::NsDel { name: "c".into() }]);
        assert!(steps[0].tolerant);
        assert_eq!(steps[1].ops, [Op::NsDel { name: "a".into() }]);
        assert!(!steps[1].tolerant);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_the_file_is_locked() {
        let p = tmp("torn");
        {
            let mut j = Journal::create(&p).unwrap();
            let s = j.intent(&ns_add("a"), vec![Op::NsDel { name: "a".into() }]).unwrap();
            j.done(s, true).unwrap();
            assert!(Journal::open(&p).err().unwrap().to_string().contains("in use"));
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"intent\":{\"seq\":2,\"op")
            .unwrap();
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert!(Journal::create(&p).is_err(), "create must not clobber");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn changes_inside_what_it_made_are_covered() {
        let mut j = Journal::in_memory();
        j.intent(&ns_add("a"), vec![]).unwrap();
        let a = NsId::Named("a".into());
        let up = LinkChange {
            up: Some(true),
            ..Default::default()
        };
        assert!(j.covered(&Op::LinkSet {
            ns: a.clone(),
            dev: "lo".into(),
            change: up.clone()
        }));
        let veth = NewLink {
            name: "v0".into(),
            kind: LinkKind::Veth {
                peer: "eth0".into(),
                peer_ns: a.clone(),
            },
            mtu: None,
            mac: None,
            master: None,
            up: false,
        };
        assert!(!j.covered(&Op::LinkAdd {
            ns: NsId::Host,
            link: veth.clone()
        }));
        j.intent(
            &Op::LinkAdd {
                ns: NsId::Host,
                link: veth,
            },
            vec![],
        )
        .unwrap();
        assert!(j.covered(&Op::LinkSet {
            ns: NsId::Host,
            dev: "v0".into(),
            change: up.clone()
        }));
        assert!(!j.covered(&Op::LinkSet {
            ns: NsId::Host,
            dev: "eth9".into(),
            change: up
        }));
        let moved = LinkChange {
            ns: Some(NsId::Host),
            ..Default::default()
        };
        assert!(!j.covered(&Op::LinkSet {
            ns: a,
            dev: "eth0".into(),
            change: moved
        }));
    }
}
