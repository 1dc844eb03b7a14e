//! Ending whole process trees: everything lunet started for one spawn or exec,
//! its children, double-forked daemons and `setsid` escapees included.
//!
//! Every process lunet starts gets `LUNET_OWNER=<tag>` in its environment
//! (inherited by every descendant that keeps its environment) and its own
//! process group. A teardown finds a tree by both: one scan of /proc for the
//! tag, plus the members of the group of a leader that is verifiably still the
//! process lunet started (same pid *and* start time). Processes are signalled
//! through pidfds opened after that check, so a pid reused in the meantime is
//! never hit. All trees are ended at once: SIGTERM to everything, a grace
//! period, SIGKILL to what is left.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable that marks a process (and its descendants) as lunet's.
pub const OWNER_VAR: &str = "LUNET_OWNER";

/// What to end: the tree of one process lunet started.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KillTarget {
    /// The process lunet started, leader of its own process group; 0 = never learned.
    pub pid: i32,
    /// Its start time (field 22 of /proc/PID/stat); 0 = unknown (then the pid is not trusted).
    pub start: u64,
    /// The value of `LUNET_OWNER` it was started with; empty = none (matches nothing).
    pub tag: String,
}

/// A tag unique across calls, processes and time: lunet's pid, a nanosecond clock and a counter.
pub fn new_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

/// The fields of /proc/PID/stat this module needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stat {
    pub state: u8,
    pub pgrp: i32,
    pub start: u64,
}

impl Stat {
    /// Exited (a zombie waiting to be reaped, or dead): gone as far as a teardown is concerned.
    fn exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses the text of /proc/PID/stat (`pid (comm) state ppid pgrp … starttime …`).
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut f = rest.split_whitespace();
    let state = *f.next()?.as_bytes().first()?;
    let _ppid = f.next()?;
    let pgrp = f.next()?.parse().ok()?;
    // starttime is field 22; state is field 3, so 22 - 3 = 19 fields after state, 17 after pgrp.
    let start = f.nth(16)?.parse().ok()?;
    Some(Stat { state, pgrp, start })
}

pub(crate) fn read_stat(pid: i32) -> Option<Stat> {
    if pid <= 0 {
        return None;
    }
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether the environment block (NUL-separated `K=V` entries) holds exactly one of `entries`.
fn environ_matches(environ: &[u8], entries: &HashSet<Vec<u8>>) -> bool {
    environ.split(|b| *b == 0).any(|e| entries.contains(e))
}

fn read_environ(pid: i32) -> Option<Vec<u8>> {
    let mut buf = vec![];
    std::fs::File::open(format!("/proc/{pid}/environ"))
        .ok()?
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// One process to end, identified by pid and start time, held by a pidfd when the kernel has them.
#[derive(Debug)]
struct Victim {
    pid: i32,
    start: u64,
    fd: Option<OwnedFd>,
}

impl Victim {
    /// Takes hold of `pid` if it is (still) the process that started at `start` and has not exited.
    fn open(pid: i32, start: u64) -> Option<Victim> {
        if pid <= 0 || start == 0 {
            return None;
        }
        let fd = match pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return None,
            // No pidfds (old kernel, out of fds): fall back to checking the start time before each signal.
            Err(_) => None,
        };
        // Checked after the pidfd is open: if the pid still has this start time now,
        // the pidfd refers to that very process (a pid is held from fork to reaping).
        match read_stat(pid) {
            Some(s) if s.start == start && !s.exited() => Some(Victim { pid, start, fd }),
            _ => None,
        }
    }

    /// Sends `sig`; false when the process is gone.
    fn signal(&self, sig: libc::c_int) -> bool {
        match &self.fd {
            Some(fd) => {
                // SAFETY: pidfd_send_signal on a pidfd we own, with no siginfo (NULL) and no flags.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        sig,
                        std::ptr::null::<libc::siginfo_t>(),
                        0 as libc::c_uint,
                    )
                };
                r == 0
            }
            None => {
                if !self.is_alive() {
                    return false;
                }
                // SAFETY: kill on a pid whose start time was checked just above (a small
                // race remains without pidfds: only on kernels older than 5.3).
                unsafe { libc::kill(self.pid, sig) == 0 }
            }
        }
    }

    fn is_alive(&self) -> bool {
        if let Some(fd) = &self.fd {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one valid pollfd, timeout 0 (never blocks). A pidfd becomes
            // readable when its process exits (zombies count as exited).
            let r = unsafe { libc::poll(&mut p, 1, 0) };
            if r >= 0 {
                return r == 0;
            }
        }
        matches!(read_stat(self.pid), Some(s) if s.start == self.start && !s.exited())
    }
}

/// The processes of a set of trees, found and signalled together.
struct Sweep {
    /// `LUNET_OWNER=<tag>` entries, as they appear in /proc/PID/environ.
    tags: HashSet<Vec<u8>>,
    /// Group leaders verified by start time: (pid = pgid, start).
    groups: Vec<(i32, u64)>,
    victims: HashMap<i32, Victim>,
    me: i32,
}

impl Sweep {
    fn new(targets: &[KillTarget]) -> Sweep {
        let mut s = Sweep {
            tags: targets
                .iter()
                .filter(|t| !t.tag.is_empty())
                .map(|t| format!("{OWNER_VAR}={}", t.tag).into_bytes())
                .collect(),
            groups: vec![],
            victims: HashMap::new(),
            me: std::process::id() as i32,
        };
        for t in targets {
            if t.pid == s.me {
                continue;
            }
            // A leader still there (alive, or a zombie not yet reaped) pins its pid, and with it
            // the group id: only then are the members of group `pid` ours.
            if t.pid > 0 && t.start > 0 && read_stat(t.pid).is_some_and(|st| st.start == t.start) {
                s.groups.push((t.pid, t.start));
                if let Some(v) = Victim::open(t.pid, t.start) {
                    s.victims.insert(t.pid, v);
                }
            }
        }
        s
    }

    /// Takes hold of exact pids (processes found by someone else a moment ago).
    fn add_pids(&mut self, pids: &[i32]) {
        for &pid in pids {
            if pid == self.me || self.victims.contains_key(&pid) {
                continue;
            }
            if let Some(st) = read_stat(pid) {
                if let Some(v) = Victim::open(pid, st.start) {
                    self.victims.insert(pid, v);
                }
            }
        }
    }

    /// One pass over /proc; returns the pids newly taken hold of.
    fn scan(&mut self) -> Vec<i32> {
        if self.tags.is_empty() && self.groups.is_empty() {
            return vec![];
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        let mut by_tag = vec![];
        let mut by_group = vec![];
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if pid == self.me || pid <= 0 {
                continue;
            }
            let Some(st) = read_stat(pid) else { continue };
            if st.exited() {
                continue;
            }
            if matches!(self.victims.get(&pid), Some(v) if v.start == st.start) {
                continue;
            }
            if self.groups.iter().any(|(g, _)| *g == st.pgrp) {
                by_group.push((pid, st.start));
            } else if !self.tags.is_empty() && read_environ(pid).is_some_and(|env| environ_matches(&env, &self.tags)) {
                by_tag.push((pid, st.start));
            }
        }
        // Group members count only if their leader was still there after the scan:
        // then its pid (the group id) was never free to be reused during it.
        let pinned: Vec<i32> = self
            .groups
            .iter()
            .filter(|(g, start)| read_stat(*g).is_some_and(|st| st.start == *start))
            .map(|(g, _)| *g)
            .collect();
        let mut added = vec![];
        for (pid, start) in by_tag.into_iter().chain(by_group) {
            if let Some(st) = read_stat(pid) {
                if st.start != start {
                    continue;
                }
                if !pinned.contains(&st.pgrp) && self.groups.iter().any(|(g, _)| *g == st.pgrp) {
                    // found through a group that is no longer pinned: check the tag instead
                    if !read_environ(pid).is_some_and(|env| environ_matches(&env, &self.tags)) {
                        continue;
                    }
                }
            }
            // Victim::open checks the start time again once the pidfd is held.
            if let Some(v) = Victim::open(pid, start) {
                self.victims.insert(pid, v);
                added.push(pid);
            }
        }
        added
    }

    fn signal(&self, pids: impl IntoIterator<Item = i32>, sig: libc::c_int) {
        for pid in pids {
            if let Some(v) = self.victims.get(&pid) {
                v.signal(sig);
            }
        }
    }

    fn alive(&self) -> Vec<i32> {
        self.victims.values().filter(|v| v.is_alive()).map(|v| v.pid).collect()
    }
}

const POLL: Duration = Duration::from_millis(10);
/// How often /proc is scanned again for processes forked while their tree is being ended.
const RESCAN_EVERY: u32 = 5;
/// How long to wait after SIGKILL (a process in uninterruptible sleep may take a while).
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Ends every process of every target at once: SIGTERM (and SIGCONT, for stopped
/// ones) to all, up to `grace` for them to go, then SIGKILL to what is left, and
/// waits (at most 2 s more) until everything is gone; zombies count as gone.
/// `grace` zero: SIGKILL straight away. A target's pid is trusted only while it
/// has the recorded start time; its tag finds everything that kept the environment.
pub async fn end_all(targets: &[KillTarget], grace: Duration) {
    let mut sweep = Sweep::new(targets);
    sweep.scan();
    finish(&mut sweep, grace).await;
}

/// Whether any process of these trees is still running (one pass over /proc).
pub fn any_alive(targets: &[KillTarget]) -> bool {
    let mut sweep = Sweep::new(targets);
    sweep.scan();
    !sweep.alive().is_empty()
}

/// SIGTERM, then SIGKILL after a short grace (0.5 s), to each pid, all at once;
/// waits until they are gone. For processes found a moment ago (those inside a
/// namespace about to be deleted): each is held by a pidfd from this call on.
pub async fn kill_all(pids: &[i32]) {
    let mut sweep = Sweep::new(&[]);
    sweep.add_pids(pids);
    finish(&mut sweep, Duration::from_millis(500)).await;
}

async fn finish(sweep: &mut Sweep, grace: Duration) {
    if sweep.victims.is_empty() && sweep.tags.is_empty() {
        return;
    }
    let all: Vec<i32> = sweep.victims.keys().copied().collect();
    if !grace.is_zero() {
        sweep.signal(all.iter().copied(), libc::SIGTERM);
        sweep.signal(all.iter().copied(), libc::SIGCONT);
        if wait_phase(sweep, grace, libc::SIGTERM).await {
            return;
        }
    }
    sweep.scan();
    sweep.signal(sweep.alive(), libc::SIGKILL);
    wait_phase(sweep, KILL_WAIT, libc::SIGKILL).await;
}

/// Polls until every victim is gone and a fresh scan finds no new one (true), or `limit` passes.
/// Newcomers found by a rescan get `sig` (and SIGCONT with SIGTERM).
async fn wait_phase(sweep: &mut Sweep, limit: Duration, sig: libc::c_int) -> bool {
    let deadline = Instant::now() + limit;
    let mut round = 0u32;
    loop {
        round += 1;
        let all_gone = sweep.alive().is_empty();
        if all_gone || round.is_multiple_of(RESCAN_EVERY) {
            let new = sweep.scan();
            if !new.is_empty() {
                sweep.signal(new.iter().copied(), sig);
                if sig == libc::SIGTERM {
                    sweep.signal(new.iter().copied(), libc::SIGCONT);
                }
            } else if all_gone {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Sends SIGKILL to every process of every target right now, without waiting
/// (for a `Drop`, which cannot wait). Scans /proc until a pass finds nothing new
/// (at most 4 passes).
pub fn kill_now(targets: &[KillTarget]) {
    let mut sweep = Sweep::new(targets);
    sweep.scan();
    sweep.signal(sweep.victims.keys().copied().collect::<Vec<_>>(), libc::SIGKILL);
    for _ in 0..3 {
        let new = sweep.scan();
        if new.is_empty() {
            break;
        }
        sweep.signal(new, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique() {
        let a = new_tag();
        let b = new_tag();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{}-", std::process::id())));
    }

    #[test]
    fn stat_parsing_never_panics() {
        let s = parse_stat("12 (a) b) c) S 1 12 12 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0").unwrap();
        assert_eq!(s.state, b'S');
        assert_eq!(s.pgrp, 12);
        assert_eq!(s.start, 98765);
        for bad in [
            "",
            ")",
            "1 (x)",
            "1 (x) ",
            "1 (x) S",
            "1 (x) S 1 x",
            "(((",
            "1 (x) S 1 2 3",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn environ_matching_is_exact() {
        let tags: HashSet<Vec<u8>> = [b"LUNET_OWNER=abc".to_vec()].into();
        assert!(environ_matches(b"A=1\0LUNET_OWNER=abc\0B=2\0", &tags));
        assert!(environ_matches(b"LUNET_OWNER=abc", &tags));
        assert!(!environ_matches(b"LUNET_OWNER=abcd\0", &tags));
        assert!(!environ_matches(b"XLUNET_OWNER=abc\0", &tags));
        assert!(!environ_matches(b"LUNET_OWNER=ab\0c\0", &tags));
        assert!(!environ_matches(b"", &tags));
        // An empty tag matches nothing, not even an empty LUNET_OWNER.
        let sweep = Sweep::new(&[KillTarget {
            pid: 0,
            start: 0,
            tag: String::new(),
        }]);
        assert!(sweep.tags.is_empty());
    }

    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep").arg("30").spawn().unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// A pid whose recorded start time does not match is never signalled, nor its group.
    #[test]
    fn end_all_never_signals_a_pid_with_another_start_time() {
        let mut child = sleeper();
        let pid = child.id() as i32;
        let start = read_stat(pid).unwrap().start;
        let t0 = Instant::now();
        rt().block_on(end_all(
            &[
                KillTarget {
                    pid,
                    start: start + 1,
                    tag: String::new(),
                },
                KillTarget {
                    pid,
                    start: start.saturating_sub(1).max(1),
                    tag: String::new(),
                },
                KillTarget {
                    pid,
                    start: 0,
                    tag: String::new(),
                },
            ],
            Duration::from_millis(200),
        ));
        assert!(t0.elapsed() < Duration::from_secs(1), "nothing to wait for");
        assert_eq!(
            child.try_wait().unwrap(),
            None,
            "a pid with another start time was signalled"
        );
        let after = read_stat(pid).unwrap();
        assert_eq!((after.start, after.exited()), (start, false));
        // With the right start time it is ended.
        rt().block_on(end_all(
            &[KillTarget {
                pid,
                start,
                tag: String::new(),
            }],
            Duration::from_secs(1),
        ));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn bad_targets_do_not_panic() {
        let me = std::process::id() as i32;
        let targets = [
            KillTarget {
                pid: -1,
                start: 1,
                tag: String::new(),
            },
            KillTarget {
                pid: i32::MAX,
                start: u64::MAX,
                tag: "\0=\n".into(),
            },
            KillTarget {
                pid: me,
                start: read_stat(me).unwrap().start,
                tag: String::new(),
            },
        ];
        rt().block_on(end_all(&targets, Duration::from_millis(50)));
        rt().block_on(kill_all(&[-1, 0, i32::MAX]));
        kill_now(&targets);
    }
}
