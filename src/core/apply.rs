//! `Net::apply`: the one place every change goes through. It traces the change
//! (as the equivalent command), works out what would undo it (reading the
//! state it is about to change), writes both to the journal, and only then
//! touches the kernel. `rollback` walks the journal backwards.

use std::time::Duration;

use super::error::{Error, Result};
use super::firewall::{self, IptChange, IptCmd};
use super::journal::{Journal, UndoStep};
use super::names::parse_mac;
use super::net::Net;
use super::netns::{self, NsId};
use super::op::{LinkChange, Op};
use super::{addr, link, process, route, rule, sysctl};

/// Test hooks, from the environment: `LUNET_FAIL_STEP=k` makes the k-th
/// journaled change fail before it is made; `LUNET_CRASH_STEP=k` (or `k:after`)
/// kills the process with SIGKILL right after the k-th intent is written
/// (or right after the kernel change, before its outcome is written).
#[derive(Default)]
pub struct Faults {
    fail_step: Option<u64>,
    crash_step: Option<(u64, bool)>,
}

impl Faults {
    pub fn from_env() -> Faults {
        let fail_step = std::env::var("LUNET_FAIL_STEP").ok().and_then(|v| v.parse().ok());
        let crash_step = std::env::var("LUNET_CRASH_STEP").ok().and_then(|v| {
            let (n, after) = match v.split_once(':') {
                Some((n, "after")) => (n.to_string(), true),
                _ => (v.clone(), false),
            };
            n.parse().ok().map(|n| (n, after))
        });
        Faults { fail_step, crash_step }
    }

    pub(super) fn crash_if(&self, seq: u64, after: bool) {
        if self.crash_step == Some((seq, after)) {
            // SAFETY: raising a signal at ourselves.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

/// How long processes ended by an undo get between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Errors that mean "it is already gone", tolerated when undoing an entry whose outcome is unknown.
fn already_gone(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(libc::ENOENT | libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL)
    ) || [
        "does not exist",
        "no interface",
        "no such",
        "not on",
        "Bad rule",
        "doesn't exist",
        "not found",
    ]
    .iter()
    .any(|m| e.message().contains(m))
}

impl Net {
    /// Journals every later change here (a scenario's file, or memory for `lunet run`).
    pub fn attach_journal(&self, j: Journal) {
        *self.journal.lock().unwrap() = Some(j);
    }

    pub fn detach_journal(&self) -> Option<Journal> {
        self.journal.lock().unwrap().take()
    }

    pub fn with_journal<R>(&self, f: impl FnOnce(&mut Journal) -> Result<R>) -> Result<Option<R>> {
        match self.journal.lock().unwrap().as_mut() {
            Some(j) => f(j).map(Some),
            None => Ok(None),
        }
    }

    /// Writes an intent if a journal is attached; `Some(seq)` then.
    pub(super) fn journal_intent(&self, op: &Op, undo: Vec<Op>) -> Result<Option<u64>> {
        let seq = self.with_journal(|j| j.intent(op, undo))?;
        if let Some(seq) = seq {
            if self.faults.fail_step == Some(seq) {
                let e = Error::new(format!("injected failure at step {seq} (LUNET_FAIL_STEP)"));
                self.with_journal(|j| j.failed(seq, &e))?;
                return Err(e);
            }
            self.faults.crash_if(seq, false);
        }
        Ok(seq)
    }

    /// Makes one change. Every mutation of the kernel goes through here.
    pub async fn apply(&self, op: &Op) -> Result<()> {
        self.apply_changed(op).await.map(|_| ())
    }

    /// As `apply`; false when there was nothing to do (an iptables rule already there).
    pub async fn apply_changed(&self, op: &Op) -> Result<bool> {
        if self.verbose() {
            eprintln!("+ {op}");
        }
        if self.is_plan() {
            println!("{op}");
            return Ok(true);
        }
        let covered = self.with_journal(|j| Ok(j.covered(op)))?;
        let Some(covered) = covered else {
            return self.execute(op, false).await;
        };
        let Some(undo) = self.undo_for(op, covered).await? else {
            return Ok(false);
        };
        let seq = self.journal_intent(op, undo)?.expect("journal attached");
        let res = self.execute(op, true).await;
        self.faults.crash_if(seq, true);
        match &res {
            Ok(changed) => self.with_journal(|j| j.done(seq, *changed))?,
            Err(e) => self.with_journal(|j| j.failed(seq, e))?,
        };
        res
    }

    /// What undoes `op`, read from the state it is about to change; `None`
    /// when there is nothing to do at all. `covered`: undoing something made
    /// earlier in the journal already undoes this.
    async fn undo_for(&self, op: &Op, covered: bool) -> Result<Option<Vec<Op>>> {
        if let Op::Ipt { ns, change } = op {
            if let Some(check) = change.check_args() {
                if self.ipt_run(ns, change.v6, "", &check, None).await?.code == 0 {
                    return Ok(None); // already there: append-unique
                }
            }
        }
        if covered {
            return Ok(Some(vec![]));
        }
        Ok(Some(match op {
            Op::NsAdd { name } => vec![Op::NsDel { name: name.clone() }],
            Op::LinkAdd { ns, link } => vec![Op::LinkDel {
                ns: ns.clone(),
                dev: link.name.clone(),
            }],
            Op::LinkSet { ns, dev, change } => vec![self.link_undo(ns, dev, change).await?],
            Op::AddrAdd { ns, dev, cidr } => vec![Op::AddrDel {
                ns: ns.clone(),
                dev: dev.clone(),
                cidr: *cidr,
            }],
            Op::AddrDel { ns, dev, cidr } => vec![Op::AddrAdd {
                ns: ns.clone(),
                dev: dev.clone(),
                cidr: *cidr,
            }],
            Op::RouteAdd { ns, route } => vec![Op::RouteDel {
                ns: ns.clone(),
                route: route.clone(),
            }],
            Op::RouteDel { ns, route } => vec![Op::RouteAdd {
                ns: ns.clone(),
                route: route.clone(),
            }],
            Op::RuleAdd { ns, rule } => vec![Op::RuleDel {
                ns: ns.clone(),
                rule: rule.clone(),
            }],
            Op::RuleDel { ns, rule } => vec![Op::RuleAdd {
                ns: ns.clone(),
                rule: rule.clone(),
            }],
            Op::Sysctl { ns, key, .. } => {
                let old = self.sysctl_get(ns, key).await?;
                vec![Op::Sysctl {
                    ns: ns.clone(),
                    key: key.clone(),
                    value: old,
                }]
            }
            Op::EtcFile { ns, file, .. } | Op::EtcRemove { ns, file } => {
                match std::fs::read_to_string(std::path::Path::new(netns::ETC_DIR).join(ns).join(file)) {
                    Ok(old) => vec![Op::EtcFile {
                        ns: ns.clone(),
                        file: file.clone(),
                        content: old,
                    }],
                    Err(_) => vec![Op::EtcRemove {
                        ns: ns.clone(),
                        file: file.clone(),
                    }],
                }
            }
            Op::Ipt { ns, change } => {
                let old_policy = match &change.cmd {
                    IptCmd::Policy(_) => self.ipt_policy(ns, change).await?,
                    _ => None,
                };
                change
                    .inverse(old_policy)
                    .map(|c| Op::Ipt {
                        ns: ns.clone(),
                        change: c,
                    })
                    .into_iter()
                    .collect()
            }
            Op::IptRestore { ns, v6, batch } => {
                let undo = firewall::TableBatch {
                    table: batch.table.clone(),
                    text: batch.undo_text(),
                    new_chains: vec![],
                    rules: vec![],
                };
                vec![Op::IptRestore {
                    ns: ns.clone(),
                    v6: *v6,
                    batch: undo,
                }]
            }
            // Deleting is not undone: what was deleted cannot be rebuilt exactly.
            Op::NsDel { .. } | Op::LinkDel { .. } | Op::Spawn { .. } | Op::Kill { .. } => vec![],
        }))
    }

    /// The `ip link set` that restores what `change` is about to change.
    async fn link_undo(&self, ns: &NsId, dev: &str, change: &LinkChange) -> Result<Op> {
        let handle = self.ns(ns).await?;
        let now = link::get(&handle, dev).await?;
        let old = LinkChange {
            up: change.up.map(|_| now.up),
            mtu: change.mtu.map(|_| now.mtu),
            mac: match (&change.mac, &now.mac) {
                (Some(_), Some(m)) => Some(parse_mac(m)?),
                _ => None,
            },
            master: change.master.as_ref().map(|_| now.master.clone()),
            name: change.name.as_ref().map(|_| dev.to_string()),
            ns: change.ns.as_ref().map(|_| ns.clone()),
        };
        Ok(Op::LinkSet {
            ns: change.ns.clone().unwrap_or_else(|| ns.clone()),
            dev: change.name.clone().unwrap_or_else(|| dev.to_string()),
            change: old,
        })
    }

    /// Executes one op against the kernel (no tracing, no journal).
    /// `checked`: an iptables append was already probed with `-C`.
    async fn execute(&self, op: &Op, checked: bool) -> Result<bool> {
        match op {
            Op::NsAdd { name } => self.create_ns(name).await?,
            Op::NsDel { name } => {
                // Close our handle first: its fds are freed even when we are out of them.
                self.forget(&NsId::Named(name.clone()));
                let file = netns::open(name)?;
                // A namespace deleted under live processes lingers, unnamed, with its devices.
                process::kill_all(&netns::pids(&file)?).await;
                drop(file);
                netns::remove(name)?;
                netns::remove_etc(name)?;
            }
            Op::EtcFile { ns, file, content } => netns::write_etc(ns, file, content)?,
            Op::EtcRemove { ns, file } => netns::remove_etc_file(ns, file)?,
            Op::LinkAdd { ns, link } => link::add(self, &*self.ns(ns).await?, link).await?,
            Op::LinkSet { ns, dev, change } => link::set(self, &*self.ns(ns).await?, dev, change).await?,
            Op::LinkDel { ns, dev } => link::del(&*self.ns(ns).await?, dev).await?,
            Op::AddrAdd { ns, dev, cidr } => addr::add(&*self.ns(ns).await?, dev, cidr).await?,
            Op::AddrDel { ns, dev, cidr } => addr::del(&*self.ns(ns).await?, dev, cidr).await?,
            Op::RouteAdd { ns, route } => route::add(&*self.ns(ns).await?, route).await?,
            Op::RouteDel { ns, route } => route::del(&*self.ns(ns).await?, route).await?,
            Op::RuleAdd { ns, rule } => rule::add(&*self.ns(ns).await?, rule).await?,
            Op::RuleDel { ns, rule } => rule::del(&*self.ns(ns).await?, rule).await?,
            Op::Sysctl { ns, key, value } => {
                let file = self.ns_file(ns).await?;
                let (k, v) = (key.clone(), value.clone());
                self.thread.run_in(file, move || sysctl::write(&k, &v)).await?
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
            Op::Spawn { .. } => return Err(Error::new("a spawn is started by Net::spawn, not applied")),
            Op::Kill { pid, start, tag } => {
                let target = process::KillTarget {
                    pid: *pid,
                    start: *start,
                    tag: tag.clone(),
                };
                process::end_all(&[target], KILL_GRACE).await
            }
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

    async fn ipt_apply(&self, ns: &NsId, change: &IptChange, checked: bool) -> Result<bool> {
        if !checked {
            if let Some(check) = change.check_args() {
                if self.ipt_run(ns, change.v6, "", &check, None).await?.code == 0 {
                    return Ok(false);
                }
            }
        }
        let args = change.args();
        let out = self.ipt_run(ns, change.v6, "", &args, None).await?;
        if out.code != 0 {
            return Err(firewall::failure(&self.backend.binary(change.v6, ""), &args, &out));
        }
        Ok(true)
    }

    /// Undoes one journal step; errors are collected, not fatal.
    async fn undo_step(&self, step: &UndoStep, errors: &mut Vec<Error>) {
        let mut ok = true;
        for op in &step.ops {
            if self.verbose() {
                eprintln!("+ {op}");
            }
            if let Err(e) = self.execute(op, true).await {
                if !(step.tolerant && already_gone(&e)) {
                    errors.push(Error::new(format!("undo `{op}`: {e}")));
                    ok = false;
                }
            }
        }
        if ok {
            if let Err(e) = self.with_journal(|j| j.undone(step.seq)) {
                errors.push(e);
            }
        }
    }

    /// Undoes steps in order; a run of consecutive steps that only end processes
    /// is done at once (one `end_all`, one grace period for all of them).
    async fn undo_steps_batched(&self, steps: &[UndoStep], errors: &mut Vec<Error>) {
        let only_kills = |s: &UndoStep| !s.ops.is_empty() && s.ops.iter().all(|o| matches!(o, Op::Kill { .. }));
        let mut i = 0;
        while i < steps.len() {
            let run = steps[i..].iter().take_while(|s| only_kills(s)).count();
            if run < 2 {
                self.undo_step(&steps[i], errors).await;
                i += 1;
                continue;
            }
            let batch = &steps[i..i + run];
            let mut targets = vec![];
            for op in batch.iter().flat_map(|s| &s.ops) {
                if self.verbose() {
                    eprintln!("+ {op}");
                }
                if let Op::Kill { pid, start, tag } = op {
                    targets.push(process::KillTarget {
                        pid: *pid,
                        start: *start,
                        tag: tag.clone(),
                    });
                }
            }
            process::end_all(&targets, KILL_GRACE).await;
            for s in batch {
                if let Err(e) = self.with_journal(|j| j.undone(s.seq)) {
                    errors.push(e);
                }
            }
            i += run;
        }
    }

    /// Undoes everything the attached journal holds, newest first, going on
    /// past failures; returns them all. `tolerant`: objects already gone are
    /// not errors (after a custom teardown).
    pub async fn rollback(&self, tolerant: bool) -> Vec<Error> {
        let mut steps = self
            .with_journal(|j| Ok(j.undo_steps()))
            .ok()
            .flatten()
            .unwrap_or_default();
        if tolerant {
            steps.iter_mut().for_each(|s| s.tolerant = true);
        }
        let mut errors = vec![];
        self.undo_steps_batched(&steps, &mut errors).await;
        // Namespaces are freed by the kernel asynchronously: give it a moment
        // so that what an observer sees right after is the final state.
        if steps
            .iter()
            .any(|s| s.ops.iter().any(|o| matches!(o, Op::NsDel { .. })))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        errors
    }

    /// The journal's position now, to make a group of changes all-or-nothing.
    pub fn mark(&self) -> u64 {
        self.with_journal(|j| Ok(j.last_seq())).ok().flatten().unwrap_or(0)
    }

    /// Undoes, through the journal, every change made after `mark`, newest first.
    pub async fn undo_since(&self, mark: u64) -> Vec<Error> {
        let steps = self
            .with_journal(|j| Ok(j.undo_steps()))
            .ok()
            .flatten()
            .unwrap_or_default();
        let steps: Vec<UndoStep> = steps.into_iter().filter(|s| s.seq > mark).collect();
        let mut errors = vec![];
        self.undo_steps_batched(&steps, &mut errors).await;
        errors
    }

    /// Undoes the newest change still in effect and returns it; None if there is none.
    pub async fn undo_last(&self) -> Result<Option<Op>> {
        let Some(step) = self.with_journal(|j| Ok(j.last_step()))?.flatten() else {
            return Ok(None);
        };
        let op = self
            .with_journal(|j| Ok(j.entries().iter().find(|e| e.seq == step.seq).map(|e| e.op.clone())))?
            .flatten();
        if step.ops.is_empty() {
            if let Some(op) = &op {
                if matches!(op, Op::NsDel { .. } | Op::LinkDel { .. } | Op::Kill { .. }) {
                    return Err(Error::new(format!("the last change (`{op}`) cannot be undone")));
                }
            }
        }
        let mut errors = vec![];
        self.undo_step(&step, &mut errors).await;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(op),
        }
    }
}
