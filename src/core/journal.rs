//! The journal: every change is written here *before* the kernel is touched
//! (the intent, with what undoes it), and its outcome after. Undo walks it
//! backwards, so teardown is derived from setup, exact, and survives a crash
//! of the process that did the setup.
//!
//! On disk: one JSON record per line, appended with a single `write`; a
//! process killed at any point leaves every record it wrote (a torn last line
//! is ignored). The file is locked (`flock`) while a lunet process uses it.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::netns::NsId;
use super::op::{LinkKind, Op};

// A record lives only while it is written or read: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    /// Written before the kernel is touched. For a create, lunet looked first:
    /// the object did not exist (`maybe_theirs` false), so an intent whose
    /// outcome never got written is lunet's to undo; with `maybe_theirs` an
    /// unfinished create is left alone (it may be someone else's).
    Intent {
        seq: u64,
        op: Op,
        undo: Vec<Op>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        maybe_theirs: bool,
        /// The first step of the call this one belongs to (0: itself): `net.undo`
        /// takes back a whole call (`net.ns.add` is the namespace and its `lo`).
        #[serde(default, skip_serializing_if = "is_zero")]
        group: u64,
        /// What the undo acts on, as it was before the change (journals
        /// written before lunet recorded identities have none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checks: Vec<Check>,
    },
    Done {
        seq: u64,
        changed: bool,
        /// What the undo acts on, as the change left it (what it made: a
        /// namespace's id, a link's ifindex); replaces the intent's checks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checks: Vec<Check>,
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
    /// Links about to be deleted at once (teardown.rs): put in link group
    /// `group` of namespace `ns`, then the group deleted. Written before any
    /// member is touched; each member is still recorded `Undone` on its own,
    /// so a walk cut short inside the group leaves the rest to the next one.
    Group {
        ns: NsId,
        group: u32,
        members: Vec<u64>,
    },
}

/// What identifies an object an undo acts on, beyond its name: a name is not
/// an identity (the user may delete lunet's namespace or link and make another
/// of the same name). Undo acts only where every check of its step holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The namespace is still the one with this id (`NS_GET_ID`, the netns
    /// cookie: never reused, unlike the nsfs inode number).
    Ns { ns: NsId, id: u64 },
    /// The link of that name in `ns` is still the one with this ifindex.
    /// `only_mac`: if not, only the step's MAC restore of that link is left
    /// out (a master whose MAC lunet puts back), not the whole step.
    Link {
        ns: NsId,
        dev: String,
        index: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        only_mac: bool,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    pub maybe_theirs: bool,
    /// The first step of the call this one belongs to.
    pub group: u64,
    /// What the undo acts on (see `Check`).
    pub checks: Vec<Check>,
}

/// One step of an undo walk.
#[derive(Debug, Clone)]
pub struct UndoStep {
    pub seq: u64,
    pub op: Op,
    pub ops: Vec<Op>,
    /// The outcome was never recorded.
    pub pending: bool,
    /// Undoing an older step of the same walk (deleting the namespace or link
    /// this step acted in) undoes this one too: it is not run on its own.
    pub covered_by: Option<u64>,
    /// An unfinished create of an object lunet could not prove it made: left alone.
    pub leave: bool,
    /// The undo acts only where these hold (see `Check`).
    pub checks: Vec<Check>,
}

pub struct Journal {
    file: Option<File>,
    pub path: Option<PathBuf>,
    entries: Vec<Entry>,
    /// seq → position in `entries` (outcomes are recorded in O(1)).
    index: HashMap<u64, usize>,
    /// Namespaces and links this journal created and has not undone.
    created_ns: HashSet<String>,
    created_links: HashSet<(NsId, String)>,
    /// Namespaces this journal made and has undone (deleted) since.
    undone_ns: HashSet<String>,
    /// Set when a record could not be written (disk full): the file lags behind memory.
    pub write_error: Option<Error>,
    /// Lines of the file that are not records (damage), not counting a torn last line.
    pub damaged: usize,
}

fn lock(f: &File, path: &Path) -> Result<()> {
    // SAFETY: flock on an fd we own; the lock lives as long as the file.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        return Err(Error::new(format!(
            "{} is in use by another lunet process (wait for it to finish)",
            path.display()
        ))
        .with_errno(libc::EWOULDBLOCK));
    }
    Ok(())
}

/// The link a link-level op acts on, for coverage.
fn link_of(op: &Op) -> Option<(NsId, &str)> {
    match op {
        Op::LinkSet { ns, dev, change } if change.name.is_none() && change.ns.is_none() => Some((ns.clone(), dev)),
        // (Not routes: a route through a link lunet made can hold the place
        // of one to be restored elsewhere, so it is deleted first, in order.)
        Op::AddrAdd { ns, dev, .. } | Op::AddrRestore { ns, dev, .. } => Some((ns.clone(), dev)),
        Op::Shape { ns, dev, .. } | Op::QdiscRestore { ns, dev, .. } => Some((ns.clone(), dev)),
        _ => None,
    }
}

impl Journal {
    /// A journal kept in memory only.
    pub fn in_memory() -> Journal {
        Journal {
            file: None,
            path: None,
            entries: vec![],
            index: HashMap::new(),
            created_ns: HashSet::new(),
            created_links: HashSet::new(),
            undone_ns: HashSet::new(),
            write_error: None,
            damaged: 0,
        }
    }

    /// Creates a new journal file (0600); fails if there is one.
    pub fn create(path: &Path) -> Result<Journal> {
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .mode(0o600)
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
        j.load(&f);
        j.file = Some(f);
        j.path = Some(path.to_path_buf());
        Ok(j)
    }

    /// Reads a journal without taking it (for `status`): no lock, no writes.
    pub fn read(path: &Path) -> Result<Journal> {
        let f = File::open(path).map_err(|e| Error::io(format!("open journal {}", path.display()), e))?;
        let mut j = Journal::in_memory();
        j.load(&f);
        j.path = Some(path.to_path_buf());
        Ok(j)
    }

    /// Replays every whole record; a torn last line (a crash mid-write) is
    /// skipped, and other lines that are not records are counted as damage.
    fn load(&mut self, f: &File) {
        let mut r = BufReader::new(f);
        let mut line = vec![];
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let whole = line.last() == Some(&b'\n');
            match serde_json::from_slice::<Record>(line.trim_ascii_end()) {
                Ok(rec) => self.replay(rec),
                Err(_) if !whole || line.trim_ascii().is_empty() => {}
                Err(_) => self.damaged += 1,
            }
        }
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let i = *self.index.get(&seq)?;
        self.entries.get_mut(i)
    }

    fn replay(&mut self, r: Record) {
        match r {
            Record::Intent {
                seq,
                op,
                undo,
                maybe_theirs,
                group,
                checks,
            } => {
                if self.index.contains_key(&seq) {
                    return;
                }
                self.track(&op, true);
                self.index.insert(seq, self.entries.len());
                self.entries.push(Entry {
                    seq,
                    op,
                    undo,
                    state: State::Pending,
                    maybe_theirs,
                    group: if group == 0 { seq } else { group },
                    checks,
                });
            }
            Record::Done { seq, changed, checks } => {
                if let (false, Some(e)) = (checks.is_empty(), self.entry_mut(seq)) {
                    e.checks = checks;
                }
                self.set_state(seq, if changed { State::Done } else { State::Unchanged })
            }
            Record::Failed { seq, error } => self.set_state(seq, State::Failed(error)),
            Record::Undo { seq, undo } => {
                if let Some(e) = self.entry_mut(seq) {
                    e.undo = undo;
                }
            }
            Record::Undone { seq } => self.set_state(seq, State::Undone),
            Record::Group { .. } => {}
        }
    }

    fn set_state(&mut self, seq: u64, state: State) {
        let gone = matches!(state, State::Failed(_) | State::Undone | State::Unchanged);
        let undone = state == State::Undone;
        let Some(e) = self.entry_mut(seq) else { return };
        e.state = state;
        if gone {
            let op = e.op.clone();
            self.track(&op, false);
            if let (true, Op::NsAdd { name, .. }) = (undone, op) {
                self.undone_ns.insert(name);
            }
        }
    }

    /// Appends a record. If the file cannot take it (disk full), an intent is
    /// refused (so the change is not made), while an outcome is still kept in
    /// memory: this process knows what happened, and a later walk that only
    /// has the file re-checks the step, which undo does safely.
    fn write(&mut self, r: Record) -> Result<()> {
        if let Some(f) = &mut self.file {
            let mut line = serde_json::to_string(&r).map_err(|e| Error::new(format!("journal: {e}")))?;
            line.push('\n');
            // One write per record: a crash leaves whole records (or a torn last line).
            if let Err(e) = f.write_all(line.as_bytes()) {
                let err = Error::io("write the journal", e);
                self.write_error = Some(err.clone());
                if !matches!(r, Record::Intent { .. }) {
                    self.replay(r);
                }
                return Err(err);
            }
        }
        self.replay(r);
        Ok(())
    }

    /// Records what this journal made (namespaces, links), or forgets it again.
    fn track(&mut self, op: &Op, made: bool) {
        let mut links = vec![];
        match op {
            Op::NsAdd { name, .. } => {
                if made {
                    self.created_ns.insert(name.clone());
                } else {
                    self.created_ns.remove(name);
                }
            }
            Op::LinkAdd { ns, link } => {
                links.push((ns.clone(), link.name.clone()));
                if let LinkKind::Veth { peer, peer_ns } = &link.kind {
                    links.push((peer_ns.clone(), peer.clone()));
                }
            }
            _ => {}
        }
        for l in links {
            if made {
                self.created_links.insert(l);
            } else {
                self.created_links.remove(&l);
            }
        }
    }

    /// Whether this journal made namespace `name` (and has not undone it).
    pub fn made_ns(&self, name: &str) -> bool {
        self.created_ns.contains(name)
    }

    /// Whether this journal made link `dev` in `ns` (and has not undone it).
    pub fn made_link(&self, ns: &NsId, dev: &str) -> bool {
        self.created_links.contains(&(ns.clone(), dev.to_string()))
    }

    /// Whether this journal made namespace `name` and deleted it again.
    pub fn undid_ns(&self, name: &str) -> bool {
        self.undone_ns.contains(name)
    }

    /// Whether `op` acts inside something this journal made (a namespace or a
    /// link it created): then an unfinished `op` goes when that goes, and
    /// lunet need not look at the kernel before making it.
    pub fn inside_made(&self, op: &Op) -> bool {
        if matches!(op, Op::NsAdd { .. } | Op::NsDel { .. }) {
            return false;
        }
        if let Some(NsId::Named(n)) = op.ns() {
            if self.created_ns.contains(&n) {
                return true;
            }
        }
        link_of(op).is_some_and(|(ns, dev)| self.created_links.contains(&(ns, dev.to_string())))
    }

    pub fn intent(&mut self, op: &Op, undo: Vec<Op>, maybe_theirs: bool) -> Result<u64> {
        self.intent_in(op, undo, maybe_theirs, 0)
    }

    /// An intent that belongs to the call whose first step is `group` (0: a call of its own).
    pub fn intent_in(&mut self, op: &Op, undo: Vec<Op>, maybe_theirs: bool, group: u64) -> Result<u64> {
        self.intent_checked(op, undo, maybe_theirs, group, vec![])
    }

    /// An intent with what identifies the objects its undo acts on, as they are now.
    pub fn intent_checked(
        &mut self,
        op: &Op,
        undo: Vec<Op>,
        maybe_theirs: bool,
        group: u64,
        checks: Vec<Check>,
    ) -> Result<u64> {
        let seq = self.last_seq() + 1;
        self.write(Record::Intent {
            seq,
            op: op.clone(),
            undo,
            maybe_theirs,
            group: if group == seq { 0 } else { group },
            checks,
        })?;
        Ok(seq)
    }

    pub fn done(&mut self, seq: u64, changed: bool) -> Result<()> {
        self.done_checked(seq, changed, vec![])
    }

    /// The outcome, with what identifies the objects the undo acts on now
    /// (empty: the intent's checks stand).
    pub fn done_checked(&mut self, seq: u64, changed: bool, checks: Vec<Check>) -> Result<()> {
        self.write(Record::Done { seq, changed, checks })
    }

    pub fn failed(&mut self, seq: u64, error: &Error) -> Result<()> {
        self.write(Record::Failed {
            seq,
            error: error.to_string(),
        })
    }

    /// Records a group of link deletions about to be made (see `Record::Group`).
    pub fn group(&mut self, ns: &NsId, group: u32, members: &[u64]) -> Result<()> {
        self.write(Record::Group {
            ns: ns.clone(),
            group,
            members: members.to_vec(),
        })
    }

    pub fn set_undo(&mut self, seq: u64, undo: Vec<Op>) -> Result<()> {
        self.write(Record::Undo { seq, undo })
    }

    /// Records that a step was undone. When the file cannot be written (disk
    /// full), memory still knows: the walk goes on, and a later `down`
    /// re-runs the step, which finds it already undone.
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

    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(*self.index.get(&seq)?)
    }

    /// Steps that undo everything still in effect after `mark`, newest first.
    /// With `cover`, a step inside a namespace or link that an older step of
    /// the same walk made is marked `covered_by` that step.
    pub fn undo_steps_since(&self, mark: u64, cover: bool) -> Vec<UndoStep> {
        let live: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.seq > mark && matches!(e.state, State::Done | State::Pending))
            .collect();
        // Oldest creator of each namespace / link within the walk.
        let mut ns_by: HashMap<&str, u64> = HashMap::new();
        let mut link_by: HashMap<(NsId, &str), u64> = HashMap::new();
        if cover {
            for e in &live {
                match &e.op {
                    Op::NsAdd { name, .. } => {
                        ns_by.entry(name).or_insert(e.seq);
                    }
                    Op::LinkAdd { ns, link } => {
                        link_by.entry((ns.clone(), &link.name)).or_insert(e.seq);
                        if let LinkKind::Veth { peer, peer_ns } = &link.kind {
                            link_by.entry((peer_ns.clone(), peer)).or_insert(e.seq);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut steps: Vec<UndoStep> = live
            .iter()
            .rev()
            .map(|e| {
                let covered_by = if cover {
                    coverer(&e.op, e.seq, &ns_by, &link_by)
                } else {
                    None
                };
                UndoStep {
                    seq: e.seq,
                    op: e.op.clone(),
                    ops: e.undo.clone(),
                    pending: e.state == State::Pending,
                    covered_by,
                    leave: e.state == State::Pending && e.maybe_theirs,
                    checks: e.checks.clone(),
                }
            })
            .collect();
        if cover {
            cover_veth_ends(&mut steps, &ns_by);
        }
        steps
    }

    /// Every step still in effect, newest first, with coverage.
    pub fn undo_steps(&self) -> Vec<UndoStep> {
        self.undo_steps_since(0, true)
    }

    /// The first step of the newest call still in effect.
    pub fn last_group(&self) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| matches!(e.state, State::Done | State::Pending))
            .map(|e| e.group)
    }

    /// The newest step still in effect (undone on its own: no coverage).
    pub fn last_step(&self) -> Option<UndoStep> {
        let e = self
            .entries
            .iter()
            .rev()
            .find(|e| matches!(e.state, State::Done | State::Pending))?;
        Some(UndoStep {
            seq: e.seq,
            op: e.op.clone(),
            ops: e.undo.clone(),
            pending: e.state == State::Pending,
            covered_by: None,
            leave: e.state == State::Pending && e.maybe_theirs,
            checks: e.checks.clone(),
        })
    }

    /// Whether anything is still in effect.
    pub fn is_empty(&self) -> bool {
        !self
            .entries
            .iter()
            .any(|e| matches!(e.state, State::Done | State::Pending))
    }
}

/// A veth whose other end is in a namespace made (and so deleted) in the
/// same walk goes with that namespace: its own delete, one `RTM_DELLINK` and
/// a wait for the kernel each, is not needed (teardown.rs). Its end that stays
/// is gone only once the namespaces are deleted, at the end of the walk: so
/// only if no older step puts back something there that it could be in the
/// way of (a name, an address, a route: `teardown::restores_in`).
fn cover_veth_ends(steps: &mut [UndoStep], ns_by: &HashMap<&str, u64>) {
    // The oldest step that puts something back, per namespace (steps are newest first).
    let mut oldest_restore: HashMap<NsId, u64> = HashMap::new();
    for s in steps.iter().filter(|s| s.covered_by.is_none() && !s.leave) {
        for ns in s.ops.iter().flat_map(super::teardown::restores_in) {
            oldest_restore.insert(ns, s.seq);
        }
    }
    for s in steps.iter_mut().filter(|s| s.covered_by.is_none()) {
        let Op::LinkAdd { ns, link } = &s.op else { continue };
        let LinkKind::Veth {
            peer_ns: NsId::Named(p),
            ..
        } = &link.kind
        else {
            continue;
        };
        let Some(by) = ns_by.get(p.as_str()).copied().filter(|by| *by < s.seq) else {
            continue;
        };
        if oldest_restore.get(ns).is_some_and(|r| *r < s.seq) {
            continue;
        }
        s.covered_by = Some(by);
    }
}

/// The older step whose undo also undoes `op` (seq `seq`), if any.
fn coverer(op: &Op, seq: u64, ns_by: &HashMap<&str, u64>, link_by: &HashMap<(NsId, &str), u64>) -> Option<u64> {
    let older = |s: Option<&u64>| s.copied().filter(|s| *s < seq);
    match op {
        // Namespaces are undone by themselves; processes are ended as a tree
        // (deleting their namespace would only end the ones still inside it);
        // a link moved to another namespace would outlive its first one;
        // /etc/netns files are kept apart from the namespace.
        Op::NsAdd { .. } | Op::NsDel { .. } | Op::Kill { .. } | Op::Spawn { .. } => None,
        Op::EtcFile { .. } | Op::EtcRemove { .. } | Op::EtcRmdir { .. } => None,
        Op::LinkSet { change, .. } if change.ns.is_some() => None,
        // Enslaving may change the master's MAC, which its undo puts back: it runs on its own.
        Op::LinkSet { change, .. } if matches!(change.master, Some(Some(_))) => None,
        _ => {
            if let Some(NsId::Named(n)) = op.ns() {
                if let Some(s) = older(ns_by.get(n.as_str())) {
                    return Some(s);
                }
            }
            let (ns, dev) = link_of(op)?;
            older(link_by.get(&(ns, dev)))
        }
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
        Op::NsAdd {
            name: n.into(),
            ipv6_off: false,
        }
    }

    fn ns_del(n: &str) -> Vec<Op> {
        vec![Op::NsDel { name: n.into() }]
    }

    #[test]
    fn replays_and_undoes_newest_first() {
        let p = tmp("replay");
        {
            let mut j = Journal::create(&p).unwrap();
            let s1 = j.intent(&ns_add("a"), ns_del("a"), false).unwrap();
            j.done(s1, true).unwrap();
            let s2 = j.intent(&ns_add("b"), ns_del("b"), false).unwrap();
            j.failed(s2, &Error::new("exists")).unwrap();
            let _s3 = j.intent(&ns_add("c"), ns_del("c"), false).unwrap();
            // killed here: no outcome for c
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let j = Journal::open(&p).unwrap();
        let steps = j.undo_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].ops, ns_del("c"));
        assert!(steps[0].pending && !steps[0].leave);
        assert_eq!(steps[1].ops, ns_del("a"));
        assert!(!steps[1].pending);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_torn_last_line_and_junk_are_ignored_and_the_file_is_locked() {
        let p = tmp("torn");
        {
            let mut j = Journal::create(&p).unwrap();
            let s = j.intent(&ns_add("a"), ns_del("a"), false).unwrap();
            j.done(s, true).unwrap();
            assert!(Journal::open(&p).err().unwrap().to_string().contains("in use"));
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"\xff\xfe junk\n{\"intent\":{\"seq\":2,\"op")
            .unwrap();
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert!(Journal::create(&p).is_err(), "create must not clobber");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn identities_come_from_the_outcome_and_old_journals_have_none() {
        let p = tmp("checks");
        std::fs::write(
            &p,
            "{\"intent\":{\"seq\":1,\"op\":{\"NsAdd\":{\"name\":\"a\"}},\"undo\":[{\"NsDel\":{\"name\":\"a\"}}]}}\n\
             {\"done\":{\"seq\":1,\"changed\":true}}\n",
        )
        .unwrap();
        let mut j = Journal::open(&p).unwrap();
        let steps = j.undo_steps();
        assert_eq!(steps.len(), 1);
        assert!(steps[0].checks.is_empty(), "an old journal is undone by name");
        let a = NsId::Named("b".into());
        let before = vec![Check::Ns { ns: NsId::Host, id: 1 }];
        let s = j
            .intent_checked(&ns_add("b"), ns_del("b"), false, 0, before.clone())
            .unwrap();
        assert_eq!(
            j.undo_steps()[0].checks,
            before,
            "a pending step keeps the intent's checks"
        );
        let after = vec![Check::Ns { ns: a, id: 7 }];
        j.done_checked(s, true, after.clone()).unwrap();
        drop(j);
        let j = Journal::open(&p).unwrap();
        assert_eq!(
            j.undo_steps()[0].checks,
            after,
            "the outcome's checks replace the intent's"
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn an_unfinished_create_that_may_be_someone_elses_is_left() {
        let mut j = Journal::in_memory();
        let r = Op::RouteAdd {
            ns: NsId::Host,
            route: Default::default(),
        };
        j.intent(&r, vec![], true).unwrap();
        assert!(j.undo_steps()[0].leave);
        let s = j.intent(&r, vec![], true).unwrap();
        j.done(s, true).unwrap();
        assert!(!j.undo_steps()[0].leave, "a finished create is lunet's");
    }

    fn veth(name: &str, peer_ns: &NsId) -> Op {
        Op::LinkAdd {
            ns: NsId::Host,
            link: NewLink {
                name: name.into(),
                kind: LinkKind::Veth {
                    peer: "eth0".into(),
                    peer_ns: peer_ns.clone(),
                },
                mtu: None,
                mac: None,
                master: None,
                up: false,
            },
        }
    }

    #[test]
    fn coverage_is_decided_when_undoing_and_every_step_keeps_its_own_undo() {
        let mut j = Journal::in_memory();
        let a = NsId::Named("a".into());
        let up = LinkChange {
            up: Some(true),
            ..Default::default()
        };
        let s1 = j.intent(&ns_add("a"), ns_del("a"), false).unwrap();
        let lo = Op::LinkSet {
            ns: a.clone(),
            dev: "lo".into(),
            change: up.clone(),
        };
        assert!(j.inside_made(&lo));
        let s2 = j
            .intent(
                &lo,
                vec![Op::LinkDel {
                    ns: a.clone(),
                    dev: "x".into(),
                }],
                false,
            )
            .unwrap();
        let s3 = j.intent(&veth("v0", &a), vec![], false).unwrap();
        let v0up = Op::LinkSet {
            ns: NsId::Host,
            dev: "v0".into(),
            change: up.clone(),
        };
        assert!(j.inside_made(&v0up));
        let s4 = j
            .intent(
                &v0up,
                vec![Op::LinkDel {
                    ns: NsId::Host,
                    dev: "y".into(),
                }],
                false,
            )
            .unwrap();
        let moved = Op::LinkSet {
            ns: a.clone(),
            dev: "eth0".into(),
            change: LinkChange {
                ns: Some(NsId::Host),
                ..Default::default()
            },
        };
        let s5 = j.intent(&moved, vec![], false).unwrap();
        for s in [s1, s2, s3, s4, s5] {
            j.done(s, true).unwrap();
        }
        let steps = j.undo_steps();
        let by = |seq: u64| steps.iter().find(|s| s.seq == seq).unwrap().covered_by;
        assert_eq!(by(s5), None, "a move out of a namespace is always undone");
        assert_eq!(by(s4), Some(s3));
        assert_eq!(
            by(s3),
            Some(s1),
            "a veth into a namespace the walk deletes goes with it"
        );
        assert_eq!(by(s2), Some(s1));
        // Undoing just the newest change (net.undo) runs its own inverse.
        let last = j.undo_steps_since(s3, true);
        assert!(last.iter().all(|s| s.covered_by.is_none()));
        assert_eq!(j.entry(s4).unwrap().undo.len(), 1);
        j.undone(s1).unwrap();
        assert!(!j.made_ns("a"));
    }

    #[test]
    fn a_veth_into_a_namespace_deleted_in_the_same_walk_goes_with_it() {
        let a = NsId::Named("a".into());
        let mut j = Journal::in_memory();
        let s1 = j.intent(&ns_add("a"), ns_del("a"), false).unwrap();
        let del = |dev: &str| {
            vec![Op::LinkDel {
                ns: NsId::Host,
                dev: dev.into(),
            }]
        };
        let s2 = j.intent(&veth("v0", &a), del("v0"), false).unwrap();
        // Into a namespace the walk does not make: deleted on its own.
        let s3 = j
            .intent(&veth("v1", &NsId::Named("theirs".into())), del("v1"), false)
            .unwrap();
        for s in [s1, s2, s3] {
            j.done(s, true).unwrap();
        }
        let by = |steps: &[UndoStep], seq: u64| steps.iter().find(|s| s.seq == seq).unwrap().covered_by;
        let steps = j.undo_steps();
        assert_eq!(by(&steps, s2), Some(s1));
        assert_eq!(by(&steps, s3), None);
        // A walk that does not delete the namespace deletes the veth itself.
        assert_eq!(by(&j.undo_steps_since(s1, true), s2), None);
        // An older step puts an address back in the namespace where the veth's end
        // stays: the end must be gone before, so it is deleted in order.
        let mut j = Journal::in_memory();
        let s0 = j
            .intent(
                &Op::AddrDel {
                    ns: NsId::Host,
                    dev: "x".into(),
                    cidr: "10.0.0.1/24".parse().unwrap(),
                },
                vec![Op::AddrAdd {
                    ns: NsId::Host,
                    dev: "x".into(),
                    cidr: "10.0.0.1/24".parse().unwrap(),
                }],
                false,
            )
            .unwrap();
        let s1 = j.intent(&ns_add("a"), ns_del("a"), false).unwrap();
        let s2 = j.intent(&veth("v0", &a), del("v0"), false).unwrap();
        for s in [s0, s1, s2] {
            j.done(s, true).unwrap();
        }
        assert_eq!(by(&j.undo_steps(), s2), None);
    }
}
