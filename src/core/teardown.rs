//! Teardown in groups the kernel does at once. Deleting a link makes the
//! kernel wait for an RCU grace period and for the link's references to
//! drop, once per request (15–40 ms each); deleting many links in one request
//! waits once for all of them. So an undo walk (`down`, a rollback,
//! `net.reset`) deletes:
//!
//! - a veth with an end in a namespace the walk deletes: not at all, the
//!   namespace takes it along (the journal marks it covered, see
//!   `journal::undo_steps_since`); the walk then waits until its end in a
//!   namespace that stays is gone, so that what an observer sees when the
//!   walk returns is the final state;
//! - links lunet made whose namespaces stay: together, one request per
//!   namespace. They are put in a link group of their own (`IFLA_GROUP`, a
//!   number no link of that namespace has) and the group is deleted
//!   (`RTM_DELLINK` with `IFLA_GROUP` and no ifindex: the kernel's
//!   `rtnl_group_dellink`, one `unregister_netdevice_many`).
//!
//! A group waits, in walk order, for more members until a step would put
//! back something that one of its links could be in the way of (a name, an
//! address, a route: `restores_in`) in a namespace the group touches; then it
//! is deleted first. What is left is deleted before the namespaces.
//!
//! Crash safety: the group is journaled as one record (its namespace, its
//! number, its members) before any member is touched, and every member is
//! still recorded undone on its own once gone. A walk killed inside a group
//! leaves the members not yet recorded to the next walk, which finds them
//! (perhaps already gone, perhaps in the dead walk's group) and deletes them
//! again. Ownership: a member is a link whose create lunet journaled after
//! looking that the name was free (`Op::LinkAdd` undone by its `LinkDel`), as
//! for a link deleted on its own; the group holds nothing else, as its number
//! is checked unused first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink_packet_route::link::{LinkAttribute, LinkMessage};

use super::apply::UndoReport;
use super::error::{Error, Result};
use super::journal::UndoStep;
use super::net::{describe, Namespace, Net};
use super::netns::NsId;
use super::op::{LinkKind, Op};

/// The namespaces in which undoing `op` puts something back that a link
/// still there could be in the way of: a name (a rename or a move back), an
/// address, a route.
pub(crate) fn restores_in(op: &Op) -> Vec<NsId> {
    match op {
        Op::LinkSet { ns, change, .. } => {
            let mut v = vec![ns.clone()];
            v.extend(change.ns.clone());
            v
        }
        Op::RouteAdd { ns, .. } | Op::AddrAdd { ns, .. } => vec![ns.clone()],
        _ => vec![],
    }
}

/// A link lunet made whose undo is to delete it, and which nothing else
/// takes along: a candidate for a group.
pub(super) struct Member<'a> {
    pub step: &'a UndoStep,
    ns: NsId,
    dev: String,
}

/// The step as a group member, if it is one.
pub(super) fn member(step: &UndoStep) -> Option<Member<'_>> {
    if step.covered_by.is_some() || step.leave {
        return None;
    }
    match (&step.op, step.ops.as_slice()) {
        (Op::LinkAdd { ns, link }, [Op::LinkDel { ns: del_ns, dev }]) if ns == del_ns && *dev == link.name => {
            Some(Member {
                step,
                ns: ns.clone(),
                dev: dev.clone(),
            })
        }
        _ => None,
    }
}

/// Links waiting to be deleted together, and the namespaces they touch
/// (theirs, and their veth peers').
#[derive(Default)]
pub(super) struct Pending<'a> {
    members: Vec<Member<'a>>,
    touched: HashSet<NsId>,
}

impl<'a> Pending<'a> {
    pub fn add(&mut self, m: Member<'a>) {
        self.touched.insert(m.ns.clone());
        if let Op::LinkAdd { link, .. } = &m.step.op {
            if let LinkKind::Veth { peer_ns, .. } = &link.kind {
                self.touched.insert(peer_ns.clone());
            }
        }
        self.members.push(m);
    }

    /// Whether `step` must wait until the links pending now are gone.
    pub fn blocks(&self, step: &UndoStep) -> bool {
        !self.members.is_empty() && step.ops.iter().flat_map(restores_in).any(|n| self.touched.contains(&n))
    }

    /// The members, by namespace (in the order they came).
    fn take(&mut self) -> Vec<(NsId, Vec<Member<'a>>)> {
        self.touched.clear();
        let mut out: Vec<(NsId, Vec<Member<'a>>)> = vec![];
        let mut at: std::collections::HashMap<NsId, usize> = std::collections::HashMap::new();
        for m in self.members.drain(..) {
            match at.get(&m.ns) {
                Some(&i) => out[i].1.push(m),
                None => {
                    at.insert(m.ns.clone(), out.len());
                    out.push((m.ns.clone(), vec![m]));
                }
            }
        }
        out
    }
}

/// The end of a veth in a namespace that stays, taken along by a namespace
/// the walk deletes: the walk waits until it is gone.
pub(super) struct Lingering {
    handle: Arc<Namespace>,
    dev: String,
    index: u32,
    /// The step that deletes the namespace taking it along.
    by: u64,
}

/// How a member's deletion ended.
enum Gone {
    /// Deleted now.
    Deleted,
    /// Not there any more when looked for.
    Already,
}

/// The first link group number lunet tries (then the next ones): "ln" in
/// its high half, so that it is unlikely to be anyone's.
const GROUP_BASE: u32 = 0x6c6e_0000;

impl Net {
    /// Deletes the pending links: alone, or as one group per namespace.
    /// `walked` counts undo steps for the `LUNET_CRASH_UNDO` hook: one for
    /// the group being made, one per member recorded.
    pub(super) async fn flush_links(
        &self,
        pending: &mut Pending<'_>,
        quiet: &HashSet<String>,
        report: &mut UndoReport,
        undone: &mut HashSet<u64>,
        walked: &mut u64,
    ) {
        for (ns, members) in pending.take() {
            if members.len() > 1 {
                match self.delete_group(&ns, &members, walked).await {
                    Ok(gone) => {
                        for (m, g) in members.iter().zip(gone) {
                            if let (Gone::Already, false) = (g, self.expected_gone(m, quiet)) {
                                report.notes.push(format!(
                                    "interface {:?} in {} was already gone (deleted or renamed outside lunet)",
                                    m.dev,
                                    describe(&m.ns)
                                ));
                            }
                            self.record_undone(m.step.seq, report);
                            undone.insert(m.step.seq);
                            self.walked_one(walked);
                        }
                        continue;
                    }
                    // Not as a group (the group is undone again): one by one, each reporting.
                    Err(e) => self.trace_note(&format!("link group of {}: {e}; one by one", describe(&ns))),
                }
            }
            for m in &members {
                // Gone with its peer's namespace, deleted by an earlier walk cut short.
                let gone = || {
                    self.cached(&m.ns)
                        .is_some_and(|h| h.ifindex(&m.dev).err().and_then(|e| e.errno()) == Some(libc::ENODEV))
                };
                if self.expected_gone(m, quiet) && gone() {
                    self.record_undone(m.step.seq, report);
                    undone.insert(m.step.seq);
                } else if self.undo_step(m.step, quiet, report).await {
                    undone.insert(m.step.seq);
                }
                self.walked_one(walked);
            }
        }
    }

    /// Whether finding the member's link gone is expected, not worth a note:
    /// a later step deleted it on purpose, or it is a veth whose peer was in a
    /// namespace lunet deleted in an earlier walk (cut short before it got here).
    fn expected_gone(&self, m: &Member<'_>, quiet: &HashSet<String>) -> bool {
        if quiet.contains(&format!("link {} {}", m.ns, m.dev)) {
            return true;
        }
        match &m.step.op {
            Op::LinkAdd { link, .. } => match &link.kind {
                LinkKind::Veth {
                    peer_ns: NsId::Named(p),
                    ..
                } => self.with_journal(|j| Ok(j.undid_ns(p))).ok().flatten() == Some(true),
                _ => false,
            },
            _ => false,
        }
    }

    fn walked_one(&self, walked: &mut u64) {
        *walked += 1;
        if self.faults.crash_undo == Some(*walked) {
            super::apply::crash();
        }
    }

    fn trace_note(&self, what: &str) {
        if self.verbose() {
            (self.tracer)(&format!("# {what}"));
        }
    }

    /// Deletes `members` (all in `ns`) with one request: journals the group,
    /// puts them in a link group of their own, deletes the group. On an
    /// error before the delete, the members get their own group back and
    /// the caller deletes them one by one.
    async fn delete_group(&self, ns: &NsId, members: &[Member<'_>], walked: &mut u64) -> Result<Vec<Gone>> {
        let handle = self.ns(ns).await?;
        let links = super::link::dump(&handle).await?;
        let mut used = HashSet::new();
        let mut by_name = std::collections::HashMap::new();
        for l in &links {
            let mut group = 0;
            let mut name = None;
            for a in &l.attributes {
                match a {
                    LinkAttribute::Group(g) => group = *g,
                    LinkAttribute::IfName(n) => name = Some(n.as_str()),
                    _ => {}
                }
            }
            used.insert(group);
            if let Some(n) = name {
                by_name.insert(n, (l.header.index, group));
            }
        }
        let mut group = GROUP_BASE | (std::process::id() & 0xffff);
        while used.contains(&group) || group == 0 {
            group = group.wrapping_add(1);
        }
        let seqs: Vec<u64> = members.iter().map(|m| m.step.seq).collect();
        self.with_journal(|j| j.group(ns, group, &seqs))?;
        // Each member by the ifindex it has now (a link lunet made, see the module's doc).
        let found: Vec<Option<(u32, u32)>> = members.iter().map(|m| by_name.get(m.dev.as_str()).copied()).collect();
        for (m, f) in members.iter().zip(&found) {
            if f.is_some() && self.verbose() {
                (self.tracer)(&format!("+ {} link set dev {} group {group}", ns.ip(), m.dev));
            }
        }
        let sets: Vec<(u32, u32)> = found.iter().flatten().map(|(index, _)| (*index, group)).collect();
        let results = set_groups(&handle, &sets).await;
        let mut set_ok = vec![];
        let mut first_err = None;
        for ((index, old), r) in found.iter().flatten().zip(results) {
            match r {
                Ok(()) => set_ok.push((*index, *old)),
                // Gone meanwhile: nothing to delete.
                Err(e) if e.errno() == Some(libc::ENODEV) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            self.restore_groups(&handle, &set_ok).await;
            return Err(e);
        }
        self.walked_one(walked);
        if !set_ok.is_empty() {
            if self.verbose() {
                (self.tracer)(&format!("+ {} link del group {group}", ns.ip()));
            }
            self.routes_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(n, _, _), _| n != ns);
            let mut req = handle.nl.link().del(0);
            req.message_mut().attributes.push(LinkAttribute::Group(group));
            if let Err(e) = req.execute().await {
                let e = Error::netlink(format!("{} link del group {group}", ns.ip()), e);
                // ENODEV: none of them has the group any more, all gone meanwhile.
                if e.errno() != Some(libc::ENODEV) {
                    self.restore_groups(&handle, &set_ok).await;
                    return Err(e);
                }
            }
        }
        Ok(found
            .iter()
            .map(|f| if f.is_some() { Gone::Deleted } else { Gone::Already })
            .collect())
    }

    /// Gives links back the group they had (after a group delete that failed).
    async fn restore_groups(&self, handle: &Namespace, links: &[(u32, u32)]) {
        set_groups(handle, links).await;
    }

    /// The ends of veths, in namespaces that stay, that go with a namespace
    /// this walk deletes (`deleting`): looked up now, by ifindex.
    pub(super) async fn lingering(&self, steps: &[UndoStep], deleting: &HashSet<String>) -> Vec<Lingering> {
        let mut out = vec![];
        for s in steps {
            let (Some(by), Op::LinkAdd { ns, link }) = (s.covered_by, &s.op) else {
                continue;
            };
            let LinkKind::Veth { peer, peer_ns } = &link.kind else {
                continue;
            };
            for (in_ns, dev) in [(ns, &link.name), (peer_ns, peer)] {
                if matches!(in_ns, NsId::Named(n) if deleting.contains(n)) {
                    continue;
                }
                let Ok(handle) = self.ns(in_ns).await else { continue };
                if let Ok(index) = handle.ifindex(dev) {
                    out.push(Lingering {
                        handle,
                        dev: dev.clone(),
                        index,
                        by,
                    });
                }
            }
        }
        out
    }

    /// Waits until each lingering end whose namespace was deleted (`undone`)
    /// is gone (or its name is another link's), polling; says so if the
    /// kernel takes too long.
    pub(super) async fn wait_gone(&self, ends: Vec<Lingering>, undone: &HashSet<u64>, report: &mut UndoReport) {
        let ends: Vec<Lingering> = ends.into_iter().filter(|l| undone.contains(&l.by)).collect();
        if ends.is_empty() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60) + Duration::from_millis(10) * ends.len() as u32;
        for l in &ends {
            while matches!(l.handle.ifindex(&l.dev), Ok(i) if i == l.index) {
                if Instant::now() > deadline {
                    report.notes.push(format!(
                        "interface {:?} in {} goes with a deleted namespace, and the kernel is still removing it",
                        l.dev,
                        l.handle.describe()
                    ));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// `ip link set dev INDEX group GROUP` for each (INDEX, GROUP), many requests
/// in flight at a time (but not so many that their answers could overflow
/// the socket's receive buffer).
async fn set_groups(handle: &Namespace, sets: &[(u32, u32)]) -> Vec<Result<()>> {
    let mut out = Vec::with_capacity(sets.len());
    for chunk in sets.chunks(64) {
        let reqs = chunk.iter().map(|(index, group)| set_group(handle, *index, *group));
        out.extend(futures::future::join_all(reqs).await);
    }
    out
}

/// `ip link set dev INDEX group GROUP`
async fn set_group(handle: &Namespace, index: u32, group: u32) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::Group(group));
    handle.nl.link().set(msg).execute().await.map_err(|e| {
        Error::netlink(
            format!("set the link group of interface {index} in {}", handle.describe()),
            e,
        )
    })
}
