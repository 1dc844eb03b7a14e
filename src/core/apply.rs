//! `Net::apply`: the one place every change goes through, and the one
//! transaction mechanism. A change is traced, then what would undo it is
//! worked out by *looking* at the state it is about to change (and what the
//! kernel will drop along with it), both are written to the journal, and only
//! then is the kernel touched; the outcome is written after.
//!
//! Undo walks the journal backwards. Every undo step is idempotent: an object
//! already gone, or a value already back, is success (decided from the errno
//! or by looking, never from message text), so a walk that was interrupted
//! simply runs again. A create whose outcome never got written is undone only
//! when lunet looked first and saw the object was not there.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::error::{Error, Result};
use super::firewall::{self, IptChange, IptCmd};
use super::journal::{Check, UndoStep};
use super::names::{parse_mac, Dest};
use super::net::Net;
use super::netns::{self, NsId};
use super::op::{LinkChange, LinkKind, Op, RouteSpec, RuleSpec, Scope};
use super::route::RouteFilter;
use super::{addr, link, process, qdisc, route, rule, sysctl, teardown};

/// Test hooks, handed over by the CLI from its environment: `LUNET_FAIL_STEP=k`
/// makes the k-th journaled change fail before it is made; `LUNET_CRASH_STEP=k`
/// kills the process with SIGKILL right after the k-th intent is written,
/// `k:before` just before it is written, `k:after` right after the kernel
/// change (before its outcome is written); `LUNET_CRASH_UNDO=k` kills it
/// after the k-th undo step of a walk (a group of links deleted together:
/// one step once it is made, one per link once deleted; teardown.rs).
#[derive(Default, Clone)]
pub struct Faults {
    pub fail_step: Option<u64>,
    pub crash_step: Option<(u64, CrashAt)>,
    pub crash_undo: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAt {
    Before,
    Between,
    After,
}

impl Faults {
    /// From the test hooks' values (`LUNET_FAIL_STEP`, `LUNET_CRASH_STEP`, `LUNET_CRASH_UNDO`).
    pub fn parse(fail: Option<&str>, crash: Option<&str>, crash_undo: Option<&str>) -> Faults {
        let crash_step = crash.and_then(|v| {
            let (n, at) = match v.split_once(':') {
                Some((n, "after")) => (n, CrashAt::After),
                Some((n, "before")) => (n, CrashAt::Before),
                _ => (v, CrashAt::Between),
            };
            n.parse().ok().map(|n| (n, at))
        });
        Faults {
            fail_step: fail.and_then(|v| v.parse().ok()),
            crash_step,
            crash_undo: crash_undo.and_then(|v| v.parse().ok()),
        }
    }

    fn crash_if(&self, seq: u64, at: CrashAt) {
        if self.crash_step == Some((seq, at)) {
            crash();
        }
    }
}

pub(super) fn crash() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
}

/// What the identity checks of a step say (see `Net::stranger`).
enum Verdict {
    /// Undo it.
    Undo,
    /// Leave it alone, with this note.
    Leave(String),
    /// Undo it without the MAC restores of these masters (namespace, name, note).
    Without(Vec<(NsId, String, String)>),
}

/// What an undo walk did and could not do.
#[derive(Debug, Default)]
pub struct UndoReport {
    /// Steps that failed; they stay in the journal, so a later walk retries them.
    pub errors: Vec<Error>,
    /// Things found already undone, or left as they were, in plain words.
    pub notes: Vec<String>,
    /// Steps undone (including those undone along with their namespace or link).
    pub undone: usize,
}

impl UndoReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What a change needs before it is made: its undo, and whether an
/// unfinished one could be someone else's object.
struct Prepared {
    undo: Vec<Op>,
    maybe_theirs: bool,
}

fn exists_error(what: String) -> Error {
    Error::new(what).with_errno(libc::EEXIST)
}

/// A sysctl value as the kernel prints it, for comparing (whitespace-insensitive).
fn norm(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A route as listed, turned back into the spec that re-adds it exactly.
pub(crate) fn respec(r: &route::RouteInfo) -> Option<RouteSpec> {
    let v6 = r.family == "inet6";
    let to = match r.to.as_str() {
        "default" => Some(Dest::Default { v6 }),
        s => Some(Dest::parse(s, v6).ok()?),
    };
    Some(RouteSpec {
        to,
        via: r.via,
        dev: r.dev.clone(),
        table: Some(r.table),
        metric: r.metric,
        src: r.src,
        scope: Scope::parse(&r.scope),
        proto: super::op::parse_proto(&r.proto),
    })
}

/// Routes the kernel drops by itself when a link goes down or away or loses an
/// address: those through `dev` that someone added (not the kernel's own).
fn droppable(r: &route::RouteInfo, dev: &str) -> bool {
    r.dev.as_deref() == Some(dev)
        && r.proto != "kernel"
        && r.kind == "unicast"
        && r.table != 255
        && !(r.family == "inet6" && r.to.starts_with("fe80:"))
}

impl Net {
    /// Journals every later change here (a scenario's file, a run's file).
    pub fn attach_journal(&self, j: super::journal::Journal) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = j;
    }

    /// Takes the journal out (a fresh one in memory takes its place).
    pub fn detach_journal(&self) -> Option<super::journal::Journal> {
        Some(std::mem::replace(
            &mut *self.journal.lock().unwrap_or_else(|e| e.into_inner()),
            super::journal::Journal::in_memory(),
        ))
    }

    pub fn with_journal<R>(&self, f: impl FnOnce(&mut super::journal::Journal) -> Result<R>) -> Result<Option<R>> {
        f(&mut self.journal.lock().unwrap_or_else(|e| e.into_inner())).map(Some)
    }

    fn journal<R>(&self, f: impl FnOnce(&mut super::journal::Journal) -> R) -> R {
        f(&mut self.journal.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Writes an intent; injected failures and crashes happen here.
    pub(super) fn journal_intent(&self, op: &Op, undo: Vec<Op>, maybe_theirs: bool) -> Result<u64> {
        self.journal_intent_checked(op, undo, maybe_theirs, vec![])
    }

    fn journal_intent_checked(&self, op: &Op, undo: Vec<Op>, maybe_theirs: bool, checks: Vec<Check>) -> Result<u64> {
        self.faults.crash_if(self.mark() + 1, CrashAt::Before);
        let group = self.txn.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or(0);
        let seq = self.journal(|j| j.intent_checked(op, undo, maybe_theirs, group, checks))?;
        if self.faults.fail_step == Some(seq) {
            let e = Error::new(format!("injected failure at step {seq} (LUNET_FAIL_STEP)"));
            self.journal(|j| j.failed(seq, &e))?;
            return Err(e);
        }
        self.faults.crash_if(seq, CrashAt::Between);
        Ok(seq)
    }

    pub(super) fn faults_after(&self, seq: u64) {
        self.faults.crash_if(seq, CrashAt::After);
    }

    pub(super) fn trace(&self, op: &Op) {
        if self.verbose() {
            for line in op.to_string().lines() {
                (self.tracer)(&format!("+ {line}"));
            }
        }
    }

    /// Makes one change. Every mutation of the kernel goes through here.
    pub async fn apply(&self, op: &Op) -> Result<()> {
        self.apply_changed(op).await.map(|_| ())
    }

    /// As `apply`; false when there was nothing to do (already in the wanted state).
    pub async fn apply_changed(&self, op: &Op) -> Result<bool> {
        self.trace(op);
        if self.is_plan() {
            self.plan_out(&op.to_string());
            return Ok(true);
        }
        // iptables: the look and the change are one step per namespace.
        let _lock = self.ipt_lock(op).await?;
        let inside = self.journal(|j| j.inside_made(op));
        let Some(prep) = self.prepare(op, inside).await? else {
            return Ok(false);
        };
        let before = self.checks(op, false).await;
        let seq = self.journal_intent_checked(op, prep.undo, prep.maybe_theirs, before)?;
        let res = self.execute(op, true).await;
        self.faults_after(seq);
        let after = match res {
            Ok(_) => self.checks(op, true).await,
            Err(_) => vec![],
        };
        self.journal_outcome_checked(seq, res.as_ref().copied(), after)?;
        res
    }

    /// What identifies the objects the undo of `op` acts on: the namespaces by
    /// their id, the link by its ifindex. `after`: as the change left them
    /// (what it made, where it moved or renamed a link); before it, only what
    /// the change itself does not alter. Best effort: what cannot be read is
    /// not checked (undo then goes by name, as journals without checks do).
    async fn checks(&self, op: &Op, after: bool) -> Vec<Check> {
        let mut out = vec![];
        let (places, dev): (Vec<NsId>, Option<(NsId, String)>) = match op {
            Op::NsAdd { name, .. } if after => (vec![NsId::Named(name.clone())], None),
            Op::LinkAdd { ns, link } => (vec![ns.clone()], after.then(|| (ns.clone(), link.name.clone()))),
            Op::LinkSet { ns, dev, change } => {
                let target = change.ns.clone().unwrap_or_else(|| ns.clone());
                let name = change.name.clone().unwrap_or_else(|| dev.clone());
                let same = target == *ns && name == *dev;
                let mut places = vec![ns.clone()];
                if target != *ns {
                    places.push(target.clone());
                }
                (places, (after || same).then_some((target, name)))
            }
            Op::AddrAdd { ns, dev, .. }
            | Op::AddrDel { ns, dev, .. }
            | Op::AddrRestore { ns, dev, .. }
            | Op::Shape { ns, dev, .. }
            | Op::QdiscRestore { ns, dev, .. } => (vec![ns.clone()], Some((ns.clone(), dev.clone()))),
            Op::RouteAdd { ns, route } | Op::RouteDel { ns, route } => {
                (vec![ns.clone()], route.dev.clone().map(|d| (ns.clone(), d)))
            }
            Op::RuleAdd { ns, .. }
            | Op::RuleDel { ns, .. }
            | Op::Sysctl { ns, .. }
            | Op::Ipt { ns, .. }
            | Op::IptRestore { ns, .. } => (vec![ns.clone()], None),
            _ => (vec![], None),
        };
        for ns in &places {
            if let Some(id) = self.ns(ns).await.ok().and_then(|h| h.cookie()) {
                out.push(Check::Ns { ns: ns.clone(), id });
            }
        }
        let mut devs: Vec<(NsId, String, bool)> = dev.into_iter().map(|(n, d)| (n, d, false)).collect();
        // The master whose MAC the undo may put back (see `master_mac`): for a
        // port of the user's, a new master of that name means the whole step
        // is not lunet's to undo; lunet's own new link is deleted anyway.
        match op {
            Op::LinkSet { ns, change, .. } => {
                if let Some(Some(m)) = &change.master {
                    devs.push((change.ns.clone().unwrap_or_else(|| ns.clone()), m.clone(), false));
                }
            }
            Op::LinkAdd { ns, link } => {
                if let Some(m) = &link.master {
                    devs.push((ns.clone(), m.clone(), true));
                }
            }
            _ => {}
        }
        for (ns, dev, only_mac) in devs {
            if let Some(index) = self.ns(&ns).await.ok().and_then(|h| h.ifindex(&dev).ok()) {
                out.push(Check::Link {
                    ns,
                    dev,
                    index,
                    only_mac,
                });
            }
        }
        out
    }

    /// The id of the namespace now known by `id`'s name (None: there is none).
    /// A cached handle of another namespace of that name is dropped.
    async fn current_ns_id(&self, id: &NsId) -> Result<Option<u64>> {
        let now = match id {
            NsId::Host => return Ok(self.ns(id).await?.cookie()),
            NsId::Named(n) => {
                // The handle lunet holds keeps its namespace alive, so no other one can have its
                // inode meanwhile: the same inode at the path is the same namespace (no fd needed,
                // which matters when a rollback runs because lunet ran out of them).
                let at_path = match std::fs::metadata(netns::path(n)) {
                    Ok(m) => (m.dev(), m.ino()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(format!("stat namespace {n:?}"), e)),
                };
                if let Some(h) = self.cached(id) {
                    if let (Ok(m), Some(c)) = (h.file.metadata(), h.cookie()) {
                        if (m.dev(), m.ino()) == at_path {
                            return Ok(Some(c));
                        }
                    }
                }
                match netns::open(n) {
                    Ok(f) => netns::id_of(&f),
                    Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        };
        let cached = self.cached(id).and_then(|h| h.cookie());
        match now {
            Some(now) => {
                if cached.is_some_and(|c| c != now) {
                    self.forget(id);
                }
                Ok(Some(now))
            }
            // A kernel without NS_GET_ID: a fresh handle's socket tells.
            None => {
                self.forget(id);
                Ok(self.ns(id).await?.cookie())
            }
        }
    }

    /// Whether a step's undo would act on a stranger: a namespace or link of
    /// the same name that is not the one lunet made or changed (the user
    /// deleted it and made another). `Some(note)`: leave it alone. A missing
    /// object passes (the undo itself finds it gone and says so). The host
    /// namespace not being the one the change was made in is an error: lunet
    /// runs elsewhere now, and the step is left for a `down` from there.
    async fn stranger(&self, step: &UndoStep) -> Result<Verdict> {
        let mut drop = vec![];
        for c in &step.checks {
            match c {
                Check::Ns { ns, id } => match self.current_ns_id(ns).await? {
                    Some(now) if now != *id => {
                        return match ns {
                            NsId::Host => Err(Error::new(format!(
                                "`{}` was made in another network namespace than the one lunet runs in now: \
                                 run `lunet down` from that one",
                                step.op
                            ))),
                            NsId::Named(n) => Ok(Verdict::Leave(format!(
                                "`{}`: left alone, namespace {n:?} is another one now (deleted and made again outside lunet)",
                                step.op
                            ))),
                        };
                    }
                    _ => {}
                },
                Check::Link {
                    ns,
                    dev,
                    index,
                    only_mac,
                } => {
                    let h = match self.ns(ns).await {
                        Ok(h) => h,
                        Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                        Err(e) => return Err(e),
                    };
                    match h.ifindex(dev) {
                        Ok(now) if now != *index => {
                            let note = format!(
                                "`{}`: left alone, interface {dev:?} in {} is another one now \
                                 (deleted and made again, or renamed, outside lunet)",
                                step.op,
                                super::net::describe(ns)
                            );
                            if !*only_mac {
                                return Ok(Verdict::Leave(note));
                            }
                            drop.push((ns.clone(), dev.clone(), note));
                        }
                        Err(e) if e.errno() != Some(libc::ENODEV) => return Err(e),
                        _ => {}
                    }
                }
            }
        }
        Ok(match drop.is_empty() {
            true => Verdict::Undo,
            false => Verdict::Without(drop),
        })
    }

    /// Records how a journaled change ended: the one place outcomes are written
    /// (for `apply`, spawns and batched deletes alike); a change made counts
    /// for progress.
    pub(super) fn journal_outcome(&self, seq: u64, outcome: std::result::Result<bool, &Error>) -> Result<()> {
        self.journal_outcome_checked(seq, outcome, vec![])
    }

    fn journal_outcome_checked(
        &self,
        seq: u64,
        outcome: std::result::Result<bool, &Error>,
        checks: Vec<Check>,
    ) -> Result<()> {
        match outcome {
            Ok(changed) => {
                self.journal(|j| j.done_checked(seq, changed, checks))?;
                let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                (self.progress)(super::net::Progress::Made(n));
            }
            Err(e) => self.journal(|j| j.failed(seq, e))?,
        }
        Ok(())
    }

    /// Applies `ops` in order, all or nothing: if one fails, those already
    /// made are undone, and the error says so if that failed too.
    pub async fn transaction(&self, ops: &[Op]) -> Result<()> {
        let mark = self.mark();
        let outer = {
            let mut t = self.txn.lock().unwrap_or_else(|e| e.into_inner());
            let outer = t.is_none();
            if outer {
                *t = Some(mark + 1);
            }
            outer
        };
        let res = self.transaction_steps(mark, ops).await;
        if outer {
            *self.txn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        res
    }

    async fn transaction_steps(&self, mark: u64, ops: &[Op]) -> Result<()> {
        for op in ops {
            if let Err(e) = self.apply(op).await {
                let report = self.undo_since(mark).await;
                if report.errors.is_empty() {
                    return Err(e);
                }
                let why: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
                return Err(e.reword(format!("{e} (and undoing the rest failed: {})", why.join("; "))));
            }
        }
        Ok(())
    }

    /// Looks before a change: refuses a create whose object is already there
    /// (it is not lunet's), skips what is already as wanted (`None`), and
    /// works out the undo, including what the kernel drops along with it.
    async fn prepare(&self, op: &Op, inside: bool) -> Result<Option<Prepared>> {
        let undo = |undo: Vec<Op>| {
            Ok(Some(Prepared {
                undo,
                maybe_theirs: false,
            }))
        };
        match op {
            Op::NsAdd { name, .. } => {
                if netns::path(name).exists() {
                    return Err(exists_error(format!("namespace {name:?} already exists")));
                }
                undo(vec![Op::NsDel { name: name.clone() }])
            }
            Op::LinkAdd { ns, link } => {
                let mut names = vec![(ns, &link.name, "interface")];
                if let LinkKind::Veth { peer, peer_ns } = &link.kind {
                    names.push((peer_ns, peer, "veth peer"));
                }
                for (in_ns, name, what) in names {
                    if !self.journal(|j| matches!(in_ns, NsId::Named(n) if j.made_ns(n))) {
                        let handle = self.ns(in_ns).await?;
                        if link::index(&handle, name).await.is_ok() {
                            return Err(exists_error(format!(
                                "{what} {name:?} already exists in {}",
                                handle.describe()
                            )));
                        }
                    }
                }
                let mut ops = vec![Op::LinkDel {
                    ns: ns.clone(),
                    dev: link.name.clone(),
                }];
                if let Some(m) = &link.master {
                    ops.extend(self.master_mac(ns, m).await?);
                }
                undo(ops)
            }
            Op::LinkSet { ns, dev, change } => undo(self.link_undo(ns, dev, change, inside).await?),
            Op::AddrAdd { ns, dev, cidr } => {
                if !inside {
                    let handle = self.ns(ns).await?;
                    if self.addr_exists(&handle, dev, cidr).await? {
                        return Err(exists_error(format!(
                            "address {cidr} is already on {dev:?} in {}",
                            handle.describe()
                        )));
                    }
                }
                undo(vec![Op::AddrDel {
                    ns: ns.clone(),
                    dev: dev.clone(),
                    cidr: *cidr,
                }])
            }
            Op::AddrDel { ns, dev, cidr } => {
                // An address of the user's comes back with every attribute it has now.
                let saved = match inside {
                    true => None,
                    false => addr::list_saved(&*self.ns(ns).await?, dev)
                        .await?
                        .into_iter()
                        .find(|a| a.cidr == *cidr),
                };
                let mut ops = vec![match saved {
                    Some(saved) => Op::AddrRestore {
                        ns: ns.clone(),
                        dev: dev.clone(),
                        saved,
                    },
                    None => Op::AddrAdd {
                        ns: ns.clone(),
                        dev: dev.clone(),
                        cidr: *cidr,
                    },
                }];
                // The kernel drops the routes that need this address: put them back too.
                if !inside {
                    ops.extend(self.routes_through(ns, dev, cidr.is_ipv6()).await?);
                }
                undo(ops)
            }
            Op::RouteAdd { ns, route } => {
                let mut del = route.clone();
                // lunet's routes are `proto static`: undo deletes only such a route.
                del.proto = Some(route.proto.unwrap_or(4));
                let maybe_theirs = !inside && self.route_exists(ns, route).await?;
                Ok(Some(Prepared {
                    undo: vec![Op::RouteDel {
                        ns: ns.clone(),
                        route: del,
                    }],
                    maybe_theirs,
                }))
            }
            Op::RouteDel { ns, route } => undo(vec![Op::RouteAdd {
                ns: ns.clone(),
                route: route.clone(),
            }]),
            Op::RuleAdd { ns, rule } => {
                let maybe_theirs = !inside && self.rule_exists(ns, rule).await?;
                Ok(Some(Prepared {
                    undo: vec![Op::RuleDel {
                        ns: ns.clone(),
                        rule: rule.clone(),
                    }],
                    maybe_theirs,
                }))
            }
            Op::RuleDel { ns, rule } => undo(vec![Op::RuleAdd {
                ns: ns.clone(),
                rule: rule.clone(),
            }]),
            Op::Sysctl { ns, key, value, .. } => {
                let old = self.sysctl_get(ns, key).await?;
                if norm(&old) == norm(value) {
                    return Ok(None);
                }
                undo(vec![Op::Sysctl {
                    ns: ns.clone(),
                    key: key.clone(),
                    value: old,
                    expect: Some(value.clone()),
                }])
            }
            Op::EtcFile { ns, file, .. } | Op::EtcRemove { ns, file } => {
                netns::check_etc_path(file)?;
                let path = std::path::Path::new(netns::ETC_DIR).join(ns).join(file);
                let mut ops = vec![];
                // Read without following a symlink anywhere below /etc/netns: one is refused.
                match super::etcfiles::fs::read(ns, file)? {
                    Some((old, mode)) => match String::from_utf8(old) {
                        Ok(old) => ops.push(Op::EtcFile {
                            ns: ns.clone(),
                            file: file.clone(),
                            content: old,
                            mode: Some(mode),
                        }),
                        Err(_) => {
                            return Err(Error::new(format!(
                                "{} is not text: lunet will not overwrite it (it could not put it back)",
                                path.display()
                            )))
                        }
                    },
                    None => {
                        if matches!(op, Op::EtcRemove { .. }) {
                            return Ok(None);
                        }
                        ops.push(Op::EtcRemove {
                            ns: ns.clone(),
                            file: file.clone(),
                        });
                        for dir in netns::missing_etc_dirs(ns, file) {
                            ops.push(Op::EtcRmdir { ns: ns.clone(), dir });
                        }
                    }
                }
                undo(ops)
            }
            Op::Ipt { ns, change } => {
                // Looked at before `-C`, which may itself make iptables-nft create the table.
                let drop = self.ipt_table_drop(ns, change.v6, &change.table).await?;
                if change.check_args().is_some() && self.ipt_present(ns, change).await? {
                    return Ok(None); // already there: append-unique
                }
                let old_policy = match &change.cmd {
                    IptCmd::Policy(_) => self.ipt_policy(ns, change).await?,
                    _ => None,
                };
                let mut ops: Vec<Op> = change
                    .inverse(old_policy)
                    .map(|c| Op::Ipt {
                        ns: ns.clone(),
                        change: c,
                    })
                    .into_iter()
                    .collect();
                ops.extend(drop);
                undo(ops)
            }
            Op::IptRestore { ns, v6, batch } => {
                // Looked at before the listing, in case it makes iptables-nft create the table.
                let drop = self.ipt_table_drop(ns, *v6, &batch.table).await?;
                // The policies it changes and the user chains it flushes, as they are now.
                let file = self.exec_target(ns)?;
                let mut ops = vec![Op::IptRestore {
                    ns: ns.clone(),
                    v6: *v6,
                    batch: firewall::restore_undo(file.as_ref(), self.backend, *v6, batch)?,
                }];
                ops.extend(drop);
                undo(ops)
            }
            Op::Shape { ns, dev, shape } => {
                if let Some(s) = shape {
                    s.check()?;
                }
                let handle = self.ns(ns).await?;
                let idx = link::index(&handle, dev).await?;
                let now = qdisc::root(&handle, idx).await?;
                match now.filter(|r| !r.is_default()) {
                    // The kernel's default: deleting lunet's root qdisc brings it back.
                    None => {
                        if shape.is_none() {
                            return Ok(None); // no shape to take off
                        }
                        undo(vec![Op::Shape {
                            ns: ns.clone(),
                            dev: dev.clone(),
                            shape: None,
                        }])
                    }
                    Some(r) => {
                        // Someone's qdisc, or an earlier shape: put back exactly as it is now.
                        if let Some(why) = r.unrestorable() {
                            return Err(Error::new(format!(
                                "{dev:?} in {} has {why}, which lunet could not put back exactly: \
                                 remove it first (`{} qdisc del dev {dev} root`)",
                                handle.describe(),
                                qdisc::tc(ns)
                            )));
                        }
                        undo(vec![Op::QdiscRestore {
                            ns: ns.clone(),
                            dev: dev.clone(),
                            saved: r.saved,
                        }])
                    }
                }
            }
            Op::QdiscRestore { .. } => Err(Error::new("a qdisc is only restored by undo")),
            Op::AddrRestore { .. } => Err(Error::new("an address is only restored by undo")),
            // Deleting is not undone: what was deleted cannot be rebuilt exactly.
            Op::NsDel { .. } | Op::LinkDel { .. } | Op::Kill { .. } | Op::EtcRmdir { .. } | Op::IptDropTable { .. } => {
                undo(vec![])
            }
            Op::Spawn { .. } => Err(Error::new("a spawn is started by Net::spawn")),
        }
    }

    /// A bridge takes the MAC of its ports (and ends with 00:00:00:00:00:00
    /// when the last one leaves) unless its MAC was set: when lunet enslaves a
    /// port to a master it did not make, the master's MAC now, put back (only
    /// if it changed) once the port is gone again.
    async fn master_mac(&self, ns: &NsId, master: &str) -> Result<Option<Op>> {
        if self.journal(|j| j.made_link(ns, master)) {
            return Ok(None);
        }
        let h = self.ns(ns).await?;
        let Ok(now) = link::state(&h, master, false).await else {
            return Ok(None); // no such master: the change itself says so
        };
        Ok(match now.mac.as_deref().map(parse_mac) {
            Some(Ok(mac)) => Some(Op::LinkSet {
                ns: ns.clone(),
                dev: master.to_string(),
                change: LinkChange {
                    mac: Some(mac),
                    ..Default::default()
                },
            }),
            _ => None,
        })
    }

    /// If the (nft) table behind `table` does not exist yet, lunet's first
    /// change makes iptables-nft create it: the undo that drops it again.
    async fn ipt_table_drop(&self, ns: &NsId, v6: bool, table: &str) -> Result<Option<Op>> {
        let key = (ns.clone(), v6, table.to_string());
        if self.ipt_tables.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
            return Ok(None);
        }
        let file = self.ns_file(ns).await?;
        let (backend, t) = (self.backend, table.to_string());
        // Asked from inside the namespace, on the one thread that enters namespaces.
        let exists = self
            .thread
            .run_in(file, move || firewall::table_exists(None, backend, v6, &t))
            .await?;
        self.ipt_tables.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        Ok((!exists).then(|| Op::IptDropTable {
            ns: ns.clone(),
            v6,
            table: table.to_string(),
        }))
    }

    /// For an iptables change or undo: waits for (and holds) the iptables lock
    /// of its namespace ([`firewall::try_lock_ns`]), so that the look before
    /// the change and the change are one step among lunet processes.
    async fn ipt_lock(&self, op: &Op) -> Result<Option<firewall::NsLock>> {
        let (Op::Ipt { ns, .. } | Op::IptRestore { ns, .. } | Op::IptDropTable { ns, .. }) = op else {
            return Ok(None);
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut wait = Duration::from_millis(1);
        loop {
            if let Some(lock) = firewall::try_lock_ns(self.exec_target(ns)?)? {
                return Ok(Some(lock));
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::new(format!(
                    "iptables in {}: another process held lunet's iptables lock of the namespace for 60 s",
                    super::net::describe(ns)
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(20));
        }
    }

    /// Where lunet notes an nft table of `ns` that its instances made
    /// ([`firewall::table_note`]): beside the journal (None without a journal file).
    fn ipt_note(&self, ns: &NsId, v6: bool, table: &str) -> Result<Option<std::path::PathBuf>> {
        let Some(dir) = self.journal(|j| j.path.as_ref().and_then(|p| p.parent()).map(|d| d.to_path_buf())) else {
            return Ok(None);
        };
        let ino = firewall::ns_inode(self.exec_target(ns)?.as_ref())?;
        Ok(firewall::table_note(&dir, ino, v6, table))
    }

    /// After the undo of a rule in `table`: if lunet noted the table as made by
    /// one of its instances and it is empty now, drops it (the last one out).
    async fn ipt_drop_noted(&self, ns: &NsId, v6: bool, table: &str) -> Result<Option<String>> {
        let Some(note) = self.ipt_note(ns, v6, table)?.filter(|n| n.exists()) else {
            return Ok(None);
        };
        let file = self.ns_file(ns).await?;
        let (backend, t) = (self.backend, table.to_string());
        let out = self
            .thread
            .run_in(file, move || {
                firewall::drop_table(None, backend, v6, &t, firewall::Note::Only(&note))
            })
            .await?;
        Ok(match out {
            firewall::DropOutcome::Left(why) => Some(format!("iptables table {table} left: {why}")),
            _ => None,
        })
    }

    /// The routes through `dev` that the kernel would drop with it, as the
    /// `ip route add`s that put them back (v6: only IPv6 ones, else IPv4).
    async fn routes_through(&self, ns: &NsId, dev: &str, v6: bool) -> Result<Vec<Op>> {
        let handle = self.ns(ns).await?;
        let filter = RouteFilter {
            table: None,
            v6: Some(v6),
            dev: Some(dev.to_string()),
        };
        Ok(route::list(&handle, &filter)
            .await?
            .iter()
            .filter(|r| droppable(r, dev))
            .filter_map(respec)
            .map(|route| Op::RouteAdd { ns: ns.clone(), route })
            .collect())
    }

    /// Whether `cidr` is on `dev`: the link's addresses are dumped once, then
    /// kept up to date by `addr_seen` (O(1) per address added).
    async fn addr_exists(&self, handle: &super::net::Namespace, dev: &str, cidr: &super::names::Cidr) -> Result<bool> {
        let idx = link::index(handle, dev).await?;
        if let Some(seen) = self
            .addrs_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&handle.id)
            .and_then(|m| m.get(&idx))
        {
            return Ok(seen.contains(cidr));
        }
        let seen: HashSet<super::names::Cidr> = addr::list_saved(handle, dev)
            .await?
            .into_iter()
            .map(|a| a.cidr)
            .collect();
        let found = seen.contains(cidr);
        self.addrs_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(handle.id.clone())
            .or_default()
            .insert(idx, seen);
        Ok(found)
    }

    /// Keeps `addrs_seen` true to a change just made (`ok`) or tried: lunet's own
    /// address changes update it; anything else that may add or drop
    /// addresses (a link set down, moved or deleted, a sysctl, a namespace
    /// deleted) makes it forget that namespace's.
    fn addr_seen(&self, op: &Op, ok: bool) {
        let mut seen = self.addrs_seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_empty() {
            return;
        }
        if !ok && matches!(op, Op::AddrAdd { .. } | Op::AddrRestore { .. } | Op::AddrDel { .. }) {
            if let Some(ns) = op.ns() {
                seen.remove(&ns);
            }
            return;
        }
        let (ns, dev, cidr, added) = match op {
            Op::AddrAdd { ns, dev, cidr } => (ns, dev, *cidr, true),
            Op::AddrRestore { ns, dev, saved } => (ns, dev, saved.cidr, true),
            Op::AddrDel { ns, dev, cidr } => (ns, dev, *cidr, false),
            Op::RouteAdd { .. }
            | Op::RouteDel { .. }
            | Op::RuleAdd { .. }
            | Op::RuleDel { .. }
            | Op::Ipt { .. }
            | Op::IptRestore { .. }
            | Op::IptDropTable { .. }
            | Op::EtcFile { .. }
            | Op::EtcRemove { .. }
            | Op::EtcRmdir { .. }
            | Op::Shape { .. }
            | Op::QdiscRestore { .. }
            | Op::Spawn { .. }
            | Op::Kill { .. }
            | Op::NsAdd { .. }
            | Op::LinkAdd { .. } => return,
            _ => {
                if let Some(ns) = op.ns() {
                    seen.remove(&ns);
                }
                return;
            }
        };
        let Some(links) = seen.get_mut(ns) else { return };
        let Some(idx) = self.cached(ns).and_then(|h| h.ifindex(dev).ok()) else {
            seen.remove(ns);
            return;
        };
        if let Some(set) = links.get_mut(&idx) {
            if added {
                set.insert(cidr);
            } else {
                set.remove(&cidr);
            }
        }
    }

    async fn route_exists(&self, ns: &NsId, r: &RouteSpec) -> Result<bool> {
        let v6 = r.is_ipv6();
        let table = r.table.unwrap_or(route::MAIN_TABLE);
        let want = r.to.unwrap_or(Dest::Default { v6 });
        let key = (ns.clone(), table, v6);
        if let Some(seen) = self.routes_seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(seen.contains(&want));
        }
        let handle = self.ns(ns).await?;
        let seen: HashSet<Dest> = route::list_unnamed(&handle, table, v6)
            .await?
            .iter()
            .filter_map(|x| Dest::parse(&x.to, v6).ok())
            .collect();
        let found = seen.contains(&want);
        self.routes_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, seen);
        Ok(found)
    }

    /// Keeps `routes_seen` true to lunet's own route changes.
    fn route_seen(&self, ns: &NsId, r: &RouteSpec, added: bool) {
        let v6 = r.is_ipv6();
        let key = (ns.clone(), r.table.unwrap_or(route::MAIN_TABLE), v6);
        let dest = r.to.unwrap_or(Dest::Default { v6 });
        if let Some(seen) = self.routes_seen.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&key) {
            if added {
                seen.insert(dest);
            } else {
                seen.remove(&dest);
            }
        }
    }

    async fn rule_exists(&self, ns: &NsId, r: &RuleSpec) -> Result<bool> {
        let handle = self.ns(ns).await?;
        Ok(rule::list(&handle).await?.iter().any(|x| {
            (x.family == "inet6") == r.v6
                && r.priority.is_none_or(|p| p == x.priority)
                && x.from == r.from
                && x.to == r.to
                && x.table == r.table.unwrap_or(route::MAIN_TABLE)
        }))
    }

    /// The `ip link set` that restores what `change` is about to change, and
    /// what the kernel drops by itself: a link moved to another namespace
    /// loses its addresses, routes and up state; a link set down loses its
    /// routes (and IPv6 addresses).
    async fn link_undo(&self, ns: &NsId, dev: &str, change: &LinkChange, inside: bool) -> Result<Vec<Op>> {
        let handle = self.ns(ns).await?;
        let now = link::state(&handle, dev, change.master.is_some()).await?;
        let moving = change.ns.as_ref().is_some_and(|t| t != ns);
        let going_down = change.up == Some(false) && now.up;
        let old = LinkChange {
            up: (change.up.is_some() || moving).then_some(now.up),
            mtu: change.mtu.map(|_| now.mtu),
            mac: match (&change.mac, &now.mac) {
                (Some(_), Some(m)) => Some(parse_mac(m)?),
                _ => None,
            },
            master: change.master.as_ref().map(|_| now.master.clone()),
            name: change.name.as_ref().map(|_| dev.to_string()),
            ns: change.ns.as_ref().map(|_| ns.clone()),
        };
        let mut ops = vec![Op::LinkSet {
            ns: change.ns.clone().unwrap_or_else(|| ns.clone()),
            dev: change.name.clone().unwrap_or_else(|| dev.to_string()),
            change: old,
        }];
        if let Some(Some(m)) = &change.master {
            ops.extend(self.master_mac(change.ns.as_ref().unwrap_or(ns), m).await?);
        }
        if !inside && (moving || going_down) {
            let addrs = addr::list_saved(&handle, dev).await?;
            for a in addrs {
                let link_local = matches!(a.cidr.addr, std::net::IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
                if link_local || (!moving && !a.cidr.is_ipv6()) {
                    continue;
                }
                ops.push(Op::AddrRestore {
                    ns: ns.clone(),
                    dev: dev.to_string(),
                    saved: a,
                });
            }
            for v6 in [false, true] {
                ops.extend(self.routes_through(ns, dev, v6).await?);
            }
        }
        // A link moved to another namespace loses its root qdisc (the kernel
        // attaches its default one there): the one it had comes back with it.
        if !inside && moving {
            let idx = link::index(&handle, dev).await?;
            if let Some(r) = qdisc::root(&handle, idx).await?.filter(|r| !r.is_default()) {
                if let Some(why) = r.unrestorable() {
                    return Err(Error::new(format!(
                        "{dev:?} in {} has {why}, which the move would drop and lunet could not put back \
                         exactly: remove it first (`{} qdisc del dev {dev} root`)",
                        handle.describe(),
                        qdisc::tc(ns)
                    )));
                }
                ops.push(Op::QdiscRestore {
                    ns: ns.clone(),
                    dev: dev.to_string(),
                    saved: r.saved,
                });
            }
        }
        Ok(ops)
    }

    /// Executes one op against the kernel (no tracing, no journal).
    /// `checked`: an iptables append was already probed with `-C`.
    async fn execute(&self, op: &Op, checked: bool) -> Result<bool> {
        let res = self.execute_now(op, checked).await;
        self.addr_seen(op, res.is_ok());
        res
    }

    async fn execute_now(&self, op: &Op, checked: bool) -> Result<bool> {
        // The kernel drops routes along with these: what was seen of that namespace is stale.
        let drops_routes = match op {
            Op::LinkDel { .. } | Op::AddrDel { .. } | Op::NsDel { .. } => true,
            Op::LinkSet { change, .. } => change.up == Some(false) || change.ns.is_some(),
            _ => false,
        };
        if drops_routes {
            if let Some(ns) = op.ns() {
                self.routes_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(n, _, _), _| *n != ns);
            }
        }
        match op {
            Op::NsAdd { name, ipv6_off } => self.create_ns(name, *ipv6_off).await?,
            Op::NsDel { name } => {
                // Close our handle first: its fds are freed even when we are out of them.
                self.forget(&NsId::Named(name.clone()));
                // A namespace deleted under live processes lingers, unnamed, with its devices.
                let pids = netns::pids_of(name)?;
                process::kill_all(&pids).await;
                netns::remove(name)?;
            }
            Op::EtcFile {
                ns,
                file,
                content,
                mode,
            } => netns::write_etc(ns, file, content, *mode)?,
            Op::EtcRemove { ns, file } => netns::remove_etc_file(ns, file)?,
            Op::EtcRmdir { ns, dir } => netns::remove_etc_dir(ns, dir)?,
            Op::LinkAdd { ns, link } => link::add(self, &*self.ns(ns).await?, link).await?,
            Op::LinkSet { ns, dev, change } => link::set(self, &*self.ns(ns).await?, dev, change).await?,
            Op::LinkDel { ns, dev } => link::del(&*self.ns(ns).await?, dev).await?,
            Op::AddrAdd { ns, dev, cidr } => addr::add(&*self.ns(ns).await?, dev, cidr).await?,
            Op::AddrDel { ns, dev, cidr } => addr::del(&*self.ns(ns).await?, dev, cidr).await?,
            Op::AddrRestore { ns, dev, saved } => addr::restore(&*self.ns(ns).await?, dev, saved).await?,
            Op::RouteAdd { ns, route } => {
                route::add(&*self.ns(ns).await?, route).await?;
                self.route_seen(ns, route, true);
            }
            Op::RouteDel { ns, route } => {
                route::del(&*self.ns(ns).await?, route).await?;
                self.route_seen(ns, route, false);
            }
            Op::RuleAdd { ns, rule } => rule::add(&*self.ns(ns).await?, rule).await?,
            Op::RuleDel { ns, rule } => rule::del(&*self.ns(ns).await?, rule).await?,
            Op::Sysctl { ns, key, value, .. } => {
                let file = self.ns_file(ns).await?;
                let (k, v) = (key.clone(), value.clone());
                self.thread.run_in(file, move || sysctl::write(&k, &v)).await?
            }
            Op::Shape { ns, dev, shape } => {
                let handle = self.ns(ns).await?;
                let idx = link::index(&handle, dev).await?;
                match shape {
                    Some(s) => qdisc::replace(&handle, idx, dev, s).await?,
                    None => qdisc::delete_root(&handle, idx, dev).await?,
                }
            }
            Op::QdiscRestore { ns, dev, saved } => {
                let handle = self.ns(ns).await?;
                let idx = link::index(&handle, dev).await?;
                qdisc::restore(&handle, idx, dev, saved).await?
            }
            Op::Ipt { ns, change } => return self.ipt_apply(ns, change, checked).await,
            Op::IptRestore { ns, v6, batch } => {
                let args = vec!["-w".to_string(), "--noflush".to_string()];
                let out = self.ipt_run(ns, *v6, "restore", &args, Some(&batch.text)).await?;
                if out.code != 0 {
                    let bin = self.backend.binary(*v6, "restore");
                    return Err(firewall::failure(&bin, &args, &out));
                }
            }
            Op::IptDropTable { .. } => return Err(Error::new("an nft table is only dropped by undo")),
            Op::Spawn { .. } => return Err(Error::new("a spawn is started by Net::spawn, not applied")),
            Op::Kill { pid, start, tag } => end_trees(&[(*pid, *start, tag.clone())]).await,
        }
        Ok(true)
    }

    /// Runs an iptables tool inside `ns`.
    pub async fn ipt_run(
        &self,
        ns: &NsId,
        v6: bool,
        tool: &str,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<firewall::Output> {
        let file = self.exec_target(ns)?;
        let bin = self.backend.binary(v6, tool);
        firewall::run(file.as_ref(), &bin, args, stdin)
    }

    async fn ipt_policy(&self, ns: &NsId, change: &IptChange) -> Result<Option<String>> {
        let file = self.exec_target(ns)?;
        firewall::policy_of(
            file.as_ref(),
            &self.backend.binary(change.v6, ""),
            &change.table,
            &change.chain,
        )
    }

    /// Whether the rule `change` adds (or deletes) is there: `-C`, by exit code.
    async fn ipt_present(&self, ns: &NsId, change: &IptChange) -> Result<bool> {
        let probe = IptChange {
            cmd: IptCmd::Append,
            ..change.clone()
        };
        let args = probe.check_args().unwrap_or_default();
        let out = self.ipt_run(ns, change.v6, "", &args, None).await?;
        match out.code {
            0 => Ok(true),
            1 => Ok(false),
            _ => Err(firewall::failure(&self.backend.binary(change.v6, ""), &args, &out)),
        }
    }

    async fn ipt_apply(&self, ns: &NsId, change: &IptChange, checked: bool) -> Result<bool> {
        if !checked && change.check_args().is_some() && self.ipt_present(ns, change).await? {
            return Ok(false);
        }
        let args = change.args();
        let out = self.ipt_run(ns, change.v6, "", &args, None).await?;
        if out.code != 0 {
            return Err(firewall::failure(&self.backend.binary(change.v6, ""), &args, &out));
        }
        Ok(true)
    }

    /// Undoes one op. `Ok(Some(note))`: it was already undone, or cannot be
    /// restored any more (the note says which); errors are real failures.
    async fn undo_op(&self, op: &Op) -> Result<Option<String>> {
        let gone = |what: String| Ok(Some(what));
        // Everything inside a namespace that is gone went with it.
        if let (Some(NsId::Named(n)), false) = (
            op.ns(),
            matches!(
                op,
                Op::NsDel { .. } | Op::EtcFile { .. } | Op::EtcRemove { .. } | Op::EtcRmdir { .. }
            ),
        ) {
            if !netns::path(&n).exists() {
                // Gone with a namespace lunet itself deleted earlier (a resumed walk): nothing to say.
                if self.journal(|j| j.undid_ns(&n)) {
                    return Ok(None);
                }
                return gone(format!("`{op}`: not needed, namespace {n:?} is gone"));
            }
        }
        match op {
            Op::NsDel { name } if !netns::path(name).exists() => {
                return gone(format!("namespace {name:?} was already gone"));
            }
            // A MAC already back is not set again (setting it fixes it: a bridge then no longer follows its ports).
            Op::LinkSet { ns, dev, change }
                if change.mac.is_some()
                    && *change
                        == LinkChange {
                            mac: change.mac,
                            ..Default::default()
                        } =>
            {
                let h = self.ns(ns).await?;
                if let (Ok(now), Some(m)) = (link::state(&h, dev, false).await, &change.mac) {
                    if now.mac.as_deref() == Some(super::names::format_mac(m).as_str()) {
                        return Ok(None);
                    }
                }
            }
            Op::Sysctl {
                ns,
                key,
                value,
                expect: Some(expect),
            } => {
                let now = self.sysctl_get(ns, key).await?;
                if norm(&now) == norm(value) {
                    return Ok(None);
                }
                if norm(&now) != norm(expect) {
                    return gone(format!(
                        "sysctl {key} in {}: left at {now} (lunet set {expect}, someone changed it since; it was {value})",
                        super::net::describe(ns)
                    ));
                }
            }
            Op::Shape { ns, dev, shape: None } | Op::QdiscRestore { ns, dev, .. } => {
                let handle = self.ns(ns).await?;
                let idx = match link::index(&handle, dev).await {
                    Ok(i) => i,
                    Err(e) if e.errno() == Some(libc::ENODEV) => {
                        return gone(format!(
                            "`{op}`: not restored, interface {dev:?} in {} is gone",
                            handle.describe()
                        ))
                    }
                    Err(e) => return Err(e),
                };
                let now = qdisc::root(&handle, idx).await?;
                let back = match op {
                    Op::QdiscRestore { saved, .. } => now.is_some_and(|r| r.saved == *saved),
                    _ => now.is_none_or(|r| r.is_default()),
                };
                if back {
                    return Ok(None);
                }
            }
            Op::Ipt { ns, change } => {
                let _lock = self.ipt_lock(op).await?;
                let file = self.exec_target(ns)?;
                firewall::apply_undo(file.as_ref(), self.backend, change)?;
                return self.ipt_drop_noted(ns, change.v6, &change.table).await;
            }
            Op::IptRestore { ns, v6, batch } => {
                let _lock = self.ipt_lock(op).await?;
                let file = self.exec_target(ns)?;
                firewall::apply_undo_batch(file.as_ref(), self.backend, *v6, batch)?;
                return self.ipt_drop_noted(ns, *v6, &batch.table).await;
            }
            Op::IptDropTable { ns, v6, table } => {
                let _lock = self.ipt_lock(op).await?;
                self.ipt_tables
                    .lock()
                    .unwrap()
                    .remove(&(ns.clone(), *v6, table.clone()));
                // Kept (another instance's rules in it): noted, so that the last one out drops it.
                let note = self.ipt_note(ns, *v6, table)?;
                let file = self.ns_file(ns).await?;
                let (backend, v6, t) = (self.backend, *v6, table.clone());
                let out = self
                    .thread
                    .run_in(file, move || {
                        let note = note.as_deref().map_or(firewall::Note::Never, firewall::Note::IfKept);
                        firewall::drop_table(None, backend, v6, &t, note)
                    })
                    .await?;
                return match out {
                    firewall::DropOutcome::Left(why) => Ok(Some(format!("iptables table {table} left: {why}"))),
                    _ => Ok(None),
                };
            }
            _ => {}
        }
        let err = match self.execute(op, true).await {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        let errno = err.errno();
        match (op, errno) {
            (Op::NsDel { name }, Some(libc::ENOENT)) => gone(format!("namespace {name:?} was already gone")),
            (Op::LinkDel { ns, dev }, Some(libc::ENODEV)) => gone(format!(
                "interface {dev:?} in {} was already gone (deleted or renamed outside lunet)",
                super::net::describe(ns)
            )),
            (Op::LinkSet { ns, dev, .. }, Some(libc::ENODEV)) => gone(format!(
                "`{op}`: not restored, interface {dev:?} in {} is gone",
                super::net::describe(ns)
            )),
            (Op::AddrDel { .. }, Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => Ok(None),
            (Op::AddrAdd { .. } | Op::AddrRestore { .. }, Some(libc::EEXIST)) => Ok(None),
            (Op::AddrAdd { .. } | Op::AddrRestore { .. }, Some(libc::ENODEV)) => {
                gone(format!("`{op}`: not restored, the interface is gone"))
            }
            (Op::RouteDel { .. }, Some(libc::ESRCH | libc::ENODEV)) => Ok(None),
            (Op::RouteAdd { ns, route }, Some(libc::EEXIST)) => {
                // Back already, or another route holds its place?
                let handle = self.ns(ns).await?;
                let filter = RouteFilter {
                    table: Some(route.table.unwrap_or(route::MAIN_TABLE)),
                    v6: Some(route.is_ipv6()),
                    dev: route.dev.clone(),
                };
                let want = route.to.unwrap_or(Dest::Default { v6: route.is_ipv6() });
                let back = route::list(&handle, &filter).await?.iter().any(|x| {
                    Dest::parse(&x.to, route.is_ipv6()).is_ok_and(|d| d == want)
                        && x.via == route.via
                        && (route.metric.is_none() || x.metric == route.metric)
                });
                if back {
                    Ok(None)
                } else {
                    Err(err.reword(format!("{err} (another route holds its place)")))
                }
            }
            (Op::RouteAdd { .. }, Some(libc::ENODEV | libc::ENETUNREACH)) => {
                gone(format!("`{op}`: not restored ({err})"))
            }
            (Op::Shape { ns, dev, .. } | Op::QdiscRestore { ns, dev, .. }, Some(libc::ENODEV)) => gone(format!(
                "`{op}`: not restored, interface {dev:?} in {} is gone",
                super::net::describe(ns)
            )),
            (Op::RuleDel { .. }, Some(libc::ENOENT)) => Ok(None),
            (Op::RuleAdd { .. }, Some(libc::EEXIST)) => Ok(None),
            _ => Err(err),
        }
    }

    /// Undoes one journal step and records it; returns whether it is done.
    pub(super) async fn undo_step(&self, step: &UndoStep, quiet: &HashSet<String>, report: &mut UndoReport) -> bool {
        let mut ok = true;
        for op in &step.ops {
            self.trace(op);
            match self.undo_op(op).await {
                Ok(None) => {}
                Ok(Some(note)) => {
                    if !quiet.contains(&gone_key(op)) {
                        report.notes.push(note);
                    }
                }
                Err(e) => {
                    report.errors.push(e.reword(format!("undo `{op}`: {e}")));
                    ok = false;
                }
            }
        }
        if ok {
            self.record_undone(step.seq, report);
        }
        ok
    }

    pub(super) fn record_undone(&self, seq: u64, report: &mut UndoReport) {
        report.undone += 1;
        (self.progress)(super::net::Progress::Undone(report.undone));
        if let Err(e) = self.journal(|j| j.undone(seq)) {
            let note = format!("progress could not be written to the journal ({e}); undoing again is safe");
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
    }

    /// Undoes every step still in effect after `mark`, newest first, going on
    /// past failures. Steps inside a namespace or link made in the same walk
    /// go with it; processes are ended together.
    async fn undo_walk(&self, mark: u64) -> UndoReport {
        // A change cut short (a signal dropped the call) may still be under way on
        // the namespace thread, e.g. pinning a new namespace: jobs run in order, so
        // once this one has run, that one has finished, and undo sees its result.
        let _ = self.thread.run(|_| Ok(())).await;
        // What the walk needs first: descriptors, even when the changes used them all up.
        self.release_reserve();
        let report = self.undo_walk_steps(mark).await;
        self.refill_reserve();
        report
    }

    async fn undo_walk_steps(&self, mark: u64) -> UndoReport {
        let steps = self.journal(|j| j.undo_steps_since(mark, true));
        let mut report = UndoReport::default();
        // What later steps deleted on purpose (a scenario's own teardown):
        // finding it gone is expected, not worth a note.
        let quiet: HashSet<String> = steps
            .iter()
            .filter(|s| matches!(s.op, Op::NsDel { .. } | Op::LinkDel { .. }))
            .map(|s| gone_key(&s.op))
            .collect();
        let mut covered = vec![];
        let mut undone = HashSet::new();
        // Processes first, every tree at once (one grace period for all): they
        // use the network, never the other way round.
        let kills: Vec<&UndoStep> = steps
            .iter()
            .filter(|s| s.covered_by.is_none() && !s.leave && is_kill(s))
            .collect();
        if !kills.is_empty() {
            let targets: Vec<(i32, u64, String)> = kills
                .iter()
                .flat_map(|s| s.ops.iter())
                .filter_map(|o| match o {
                    Op::Kill { pid, start, tag } => Some((*pid, *start, tag.clone())),
                    _ => None,
                })
                .collect();
            kills.iter().flat_map(|s| s.ops.iter()).for_each(|o| self.trace(o));
            end_trees(&targets).await;
            for s in &kills {
                self.record_undone(s.seq, &mut report);
                undone.insert(s.seq);
            }
        }
        let mut walked = 0;
        let mut deferred: Vec<&UndoStep> = vec![];
        // Links lunet made whose namespaces stay: deleted together (teardown.rs).
        let mut links = teardown::Pending::default();
        let mut i = 0;
        while i < steps.len() {
            let step = &steps[i];
            if undone.contains(&step.seq) {
                i += 1;
                continue;
            }
            if let Some(by) = step.covered_by {
                covered.push((step.seq, by));
                i += 1;
                continue;
            }
            if step.leave {
                report.notes.push(format!(
                    "`{}` was interrupted and the object may not be lunet's (it existed before): left in place",
                    step.op
                ));
                self.record_undone(step.seq, &mut report);
                i += 1;
                continue;
            }
            // A name is not an identity: a same-named stranger is left alone
            // (lunet's own object is gone, and what was inside it with it).
            match self.stranger(step).await {
                Ok(Verdict::Undo) => {}
                Ok(Verdict::Without(drop)) => {
                    // Only the MAC restore of a master made again by the user is left out.
                    let mut s = step.clone();
                    s.ops.retain(|o| {
                        !matches!(o, Op::LinkSet { ns, dev, change }
                            if change.mac.is_some() && drop.iter().any(|(n, d, _)| n == ns && d == dev))
                    });
                    report.notes.extend(drop.into_iter().map(|(_, _, note)| note));
                    if self.undo_step(&s, &quiet, &mut report).await {
                        undone.insert(s.seq);
                    }
                    walked += 1;
                    if self.faults.crash_undo == Some(walked) {
                        crash();
                    }
                    i += 1;
                    continue;
                }
                Ok(Verdict::Leave(note)) => {
                    if !step.ops.iter().any(|o| quiet.contains(&gone_key(o))) {
                        report.notes.push(note);
                    }
                    self.record_undone(step.seq, &mut report);
                    undone.insert(step.seq);
                    i += 1;
                    continue;
                }
                Err(e) => {
                    report.errors.push(e.reword(format!("undo `{}`: {e}", step.op)));
                    i += 1;
                    continue;
                }
            }
            // Namespaces go last, all in one batch: deleting one never has to
            // wait for another step, while the kernel, once they are unmounted,
            // frees them in the background holding the RTNL lock that the
            // remaining steps (a bridge, a host address) would wait for.
            if is_ns_del(step) {
                deferred.push(step);
                i += 1;
                continue;
            }
            if let Some(m) = teardown::member(step) {
                links.add(m);
                i += 1;
                continue;
            }
            if links.blocks(step) {
                self.flush_links(&mut links, &quiet, &mut report, &mut undone, &mut walked)
                    .await;
            }
            if self.undo_step(step, &quiet, &mut report).await {
                undone.insert(step.seq);
            }
            walked += 1;
            if self.faults.crash_undo == Some(walked) {
                crash();
            }
            i += 1;
        }
        self.flush_links(&mut links, &quiet, &mut report, &mut undone, &mut walked)
            .await;
        // The ends of veths that go with the namespaces, where they stay: waited for below.
        let names: Vec<String> = deferred
            .iter()
            .flat_map(|s| s.ops.iter())
            .filter_map(|o| match o {
                Op::NsDel { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let deleting: HashSet<String> = names.iter().cloned().collect();
        let lingering = self.lingering(&steps, &deleting).await;
        if deferred.len() > 1 {
            for s in &deferred {
                s.ops.iter().for_each(|o| self.trace(o));
            }
            let failed = self.ns_del_many(&names).await;
            for s in &deferred {
                let bad: Vec<&(String, Error)> = failed
                    .iter()
                    .filter(|(n, _)| s.ops.iter().any(|o| matches!(o, Op::NsDel { name } if name == n)))
                    .collect();
                if bad.is_empty() {
                    self.record_undone(s.seq, &mut report);
                    undone.insert(s.seq);
                } else {
                    for (n, e) in bad {
                        report.errors.push(e.reword(format!("undo `ip netns del {n}`: {e}")));
                    }
                }
            }
        } else {
            for step in deferred {
                if self.undo_step(step, &quiet, &mut report).await {
                    undone.insert(step.seq);
                }
                walked += 1;
                if self.faults.crash_undo == Some(walked) {
                    crash();
                }
            }
        }
        // Oldest first, so that what a covered step itself covered follows it.
        covered.sort();
        for (seq, by) in covered {
            if undone.contains(&by) {
                self.record_undone(seq, &mut report);
                undone.insert(seq);
            }
        }
        self.wait_gone(lingering, &undone, &mut report).await;
        // Namespaces are freed by the kernel asynchronously: give it a moment
        // so that what an observer sees right after is the final state.
        if steps
            .iter()
            .any(|s| s.ops.iter().any(|o| matches!(o, Op::NsDel { .. })))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        report
    }

    /// Deletes many namespaces at once (`ip netns del` of each): their
    /// processes found in one pass over /proc and ended together, then the
    /// unmounts in a tight loop, before the kernel starts freeing them. A name
    /// already gone is fine; returns the names that could not be deleted.
    pub async fn ns_del_many(&self, names: &[String]) -> Vec<(String, Error)> {
        for n in names {
            self.forget(&NsId::Named(n.clone()));
        }
        let mut failed = vec![];
        match netns::pids_of_many(names) {
            Ok(pids) => process::kill_all(&pids).await,
            Err(e) => {
                // Without /proc the processes cannot be found: the deletes would leave the
                // namespaces alive, unnamed. Fall back to one at a time (each reports).
                for n in names {
                    if let Err(e2) = self.execute(&Op::NsDel { name: n.clone() }, true).await {
                        if e2.errno() != Some(libc::ENOENT) {
                            failed.push((n.clone(), e.reword(format!("{e2}"))));
                        }
                    }
                }
                return failed;
            }
        }
        failed.extend(netns::remove_many(names));
        failed
    }

    /// Undoes everything the journal holds, newest first.
    pub async fn rollback(&self) -> UndoReport {
        self.undo_walk(0).await
    }

    /// The journal's position now, to make a group of changes all-or-nothing.
    pub fn mark(&self) -> u64 {
        self.journal(|j| j.last_seq())
    }

    /// Undoes, through the journal, every change made after `mark`, newest first.
    pub async fn undo_since(&self, mark: u64) -> UndoReport {
        self.undo_walk(mark).await
    }

    /// Undoes the newest call still in effect (all its steps: `net.ns.add` is
    /// the namespace and its `lo`) and returns its first change; None if there is none.
    pub async fn undo_last(&self) -> Result<Option<Op>> {
        let Some(group) = self.journal(|j| j.last_group()) else {
            return Ok(None);
        };
        let Some(first) = self.journal(|j| j.entry(group).map(|e| e.op.clone())) else {
            return Ok(None);
        };
        let last = self.journal(|j| j.last_step());
        if let Some(step) = &last {
            if step.seq == group
                && step.ops.is_empty()
                && matches!(step.op, Op::NsDel { .. } | Op::LinkDel { .. } | Op::Kill { .. })
            {
                return Err(Error::new(format!("the last change (`{}`) cannot be undone", step.op)));
            }
        }
        let report = self.undo_walk(group - 1).await;
        match report.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(Some(first)),
        }
    }
}

fn is_ns_del(s: &UndoStep) -> bool {
    s.ops.len() == 1 && matches!(s.ops[0], Op::NsDel { .. })
}

fn is_kill(s: &UndoStep) -> bool {
    !s.ops.is_empty() && s.ops.iter().all(|o| matches!(o, Op::Kill { .. }))
}

/// The object an op deletes, as a key for "deleted on purpose".
fn gone_key(op: &Op) -> String {
    match op {
        Op::NsDel { name } => format!("ns {name}"),
        Op::LinkDel { ns, dev } => format!("link {ns} {dev}"),
        _ => String::new(),
    }
}

/// How long processes ended by an undo get between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Ends process trees, all at once: each pid (if it is still the process
/// started at `start`) with its group, and every process carrying its tag.
async fn end_trees(targets: &[(i32, u64, String)]) {
    let targets: Vec<process::KillTarget> = targets
        .iter()
        .map(|(pid, start, tag)| process::KillTarget {
            pid: *pid,
            start: *start,
            tag: tag.clone(),
        })
        .collect();
    process::end_all(&targets, KILL_GRACE).await;
}
