//! Test sandboxes: each test gets its own throw-away network + mount + PID
//! namespace (via `unshare`), so tests run in parallel without colliding and
//! nothing they do can reach the machine's own network. Killing the sandbox's
//! PID 1 ends every process started inside it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub mod term;

pub struct Sandbox {
    holder: Child,
    /// Host-side pid of the sandbox's PID 1.
    pub pid: u32,
    pub dir: tempdir::Dir,
}

pub mod tempdir {
    use std::path::{Path, PathBuf};

    /// A temporary directory removed on drop.
    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("lunet-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Says that the running test cannot run here and why; the test then returns.
/// libtest counts it as passed, so the line `SKIPPED: TEST: REASON` is also
/// appended to the file `$LUNET_SKIP_LOG` names (tests/run.sh sets it and counts
/// those lines as skipped, not passed). Every test that can skip calls this, once.
pub fn skip(reason: &str) {
    // module_path!() is `BINARY::common`: the test binary, then the test's own name.
    let binary = module_path!().split("::").next().unwrap_or("?");
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("SKIPPED: {binary}::{test}: {}\n", reason.replace('\n', " "));
    eprint!("{line}");
    if let Some(log) = std::env::var_os("LUNET_SKIP_LOG") {
        // One write with O_APPEND: lines of tests running at once never mix.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("LUNET_SKIP_LOG is writable");
    }
}

pub fn lunet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lunet"))
}

const SETUP: &str = "set -e
mkdir -p /run/netns /etc/netns /run/lunet
for d in /run/netns /etc/netns /run/lunet; do mount -t tmpfs -o mode=0755 tmpfs $d; done
mount -t sysfs sysfs /sys
ip link set lo up
echo ready
exec sleep 1000000";

impl Sandbox {
    pub fn new() -> Sandbox {
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", SETUP])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) must be installed, and tests run as root");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "sandbox setup failed");
        let children = std::fs::read_to_string(format!("/proc/{}/task/{}/children", holder.id(), holder.id())).unwrap();
        let pid = children
            .split_whitespace()
            .next()
            .expect("sandbox PID 1")
            .parse()
            .unwrap();
        Sandbox {
            holder,
            pid,
            dir: tempdir::Dir::new(),
        }
    }

    /// A command that runs inside the sandbox.
    pub fn command(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-n", "-m", "-p", "--"]).arg(prog);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, prog: &str, args: &[&str]) -> Output {
        self.command(prog).args(args).output().unwrap()
    }

    /// Runs a shell line inside the sandbox; panics unless it succeeds; returns stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = self.run("sh", &["-c", script]);
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Whether a shell line succeeds inside the sandbox.
    pub fn ok(&self, script: &str) -> bool {
        self.run("sh", &["-c", script]).status.success()
    }

    /// `ip -j …` inside the sandbox, parsed.
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        let out = self.sh(&format!("ip -j {args}"));
        if out.trim().is_empty() {
            return serde_json::Value::Array(vec![]);
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args}: {e}: {out}"))
    }

    /// Runs `lunet ARGS…` inside the sandbox (not in --sandbox mode: the sandbox is this one).
    pub fn lunet(&self, args: &[&str]) -> Output {
        self.command(lunet_bin().to_str().unwrap()).args(args).output().unwrap()
    }

    /// Writes `code` to a file and runs it with `lunet run`.
    pub fn lua(&self, code: &str) -> Output {
        let path = self.write("script.lua", code);
        self.lunet(&["run", path.to_str().unwrap()])
    }

    /// Runs Lua code that must succeed; returns its stdout.
    pub fn lua_ok(&self, code: &str) -> String {
        let out = self.lua(code);
        assert!(
            out.status.success(),
            "lua failed (exit {:?}):\n--- stderr\n{}\n--- stdout\n{}\n--- code\n{code}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs Lua code that must fail; returns its stderr.
    pub fn lua_err(&self, code: &str) -> String {
        let out = self.lua(code);
        assert!(
            !out.status.success(),
            "lua unexpectedly succeeded:\n{code}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "a panic reached the user: {err}"
        );
        err
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(content.as_bytes())
            .unwrap();
        p
    }

    /// Everything an observer sees of the sandbox's network state, for before/after comparisons.
    /// Any command failing fails the test (`set -e`); a file in /run/netns that is not a
    /// mounted namespace (some tests make one) is shown as such.
    pub fn snapshot(&self) -> String {
        self.sh(
            "set -e; ls /run/netns; ls -R /etc/netns; ip -br link; ip -br addr; ip route show table all; ip -6 route show table all; ip rule; \
             for n in $(ls /run/netns); do grep -qF \" /run/netns/$n \" /proc/self/mountinfo || { echo \"== $n: not a mounted namespace\"; continue; }; echo \"== $n\"; ip -n $n -br link; ip -n $n -br addr; ip -n $n route show table all; done",
        )
    }
}

/// Helpers for the core and CLI suites.
impl Sandbox {
    /// Runs Lua code that must fail with exit status 1 and leave the network exactly as it
    /// was (namespaces, links, addresses, routes, rules); returns stderr. It runs with
    /// `--keep-on-error`, so this checks that the failing call itself left nothing behind,
    /// not lunet's rollback of the whole script.
    pub fn lua_err_clean(&self, code: &str) -> String {
        let before = self.snapshot_full();
        let path = self.write("script.lua", code);
        let out = self.lunet(&["--keep-on-error", "run", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "expected exit status 1 for:\n{code}\n--- stderr\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE") && !err.contains("internal error"),
            "a panic reached the user: {err}"
        );
        let after = self.snapshot_full();
        assert_eq!(
            before, after,
            "a failed call left something behind:\n{code}\n--- stderr\n{err}"
        );
        err
    }

    /// `snapshot` plus what it leaves out: IPv6 routes and rules of every namespace, /proc/self/mountinfo pins.
    /// IPv6 link-local addresses and their local routes are left out: the kernel adds them on its own
    /// time (when DAD ends), which would make before/after comparisons flaky. So is the
    /// subnet-router anycast route of the link-local prefix (`anycast fe80::`), which the kernel
    /// adds at that time on a link that forwards IPv6.
    pub fn snapshot_full(&self) -> String {
        let mut s = self.snapshot();
        s.push_str(&self.sh(
            "set -e; ip -6 rule; { grep -o ' /run/netns/[^ ]*' /proc/self/mountinfo || [ $? -eq 1 ]; }; \
             for n in $(ls /run/netns); do grep -qF \" /run/netns/$n \" /proc/self/mountinfo || { echo \"== $n: not a mounted namespace\"; continue; }; echo \"== $n\"; ip -n $n -6 route show table all; ip -n $n rule; ip -n $n -6 rule; done",
        ));
        s.lines()
            .filter(|l| !l.starts_with("local fe80:") && !l.starts_with("anycast fe80:"))
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with("fe80:"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether this kernel can create links of `kind` (some kernels are built without dummy or 8021q).
    pub fn supports_link(&self, kind: &str) -> bool {
        let add = match kind {
            "vlan" => "ip link add lunetprobe1 link lunetprobe0 type vlan id 2".to_string(),
            "macvlan" => "ip link add lunetprobe1 link lunetprobe0 type macvlan".to_string(),
            other => format!("ip link add lunetprobe1 type {other}"),
        };
        self.ok(&format!(
            "ip link add lunetprobe0 type veth peer name lunetprobe2 || exit 1; {add} >/dev/null 2>&1; r=$?; \
             ip link del lunetprobe1 2>/dev/null; ip link del lunetprobe0; exit $r"
        ))
    }

    /// `ip -d -j [-n NS] link show dev DEV`, the one object (panics if the link is absent).
    pub fn link_json(&self, ns: Option<&str>, dev: &str) -> serde_json::Value {
        let n = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
        let v = self.ip_json(&format!("-d {n}link show dev {dev}"));
        v[0].clone()
    }

    /// Whether a link of that name exists (in NS, or in the sandbox itself).
    pub fn has_link(&self, ns: Option<&str>, dev: &str) -> bool {
        let n = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
        self.ok(&format!("ip {n}link show dev {dev} >/dev/null 2>&1"))
    }

    /// Names in `ip netns list` (first word of each line), sorted.
    pub fn netns_list(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sh("ip netns list")
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    /// Starts `ip netns exec NS sleep 1000` in the background and returns its pid once it is inside NS.
    pub fn sleeper_in(&self, ns: &str) -> u32 {
        let pid: u32 = self
            .sh(&format!(
                "ip netns exec {ns} sleep 1000 >/dev/null 2>&1 </dev/null & echo $!"
            ))
            .trim()
            .parse()
            .unwrap();
        assert!(
            self.ok(&format!(
                "for i in $(seq 200); do [ \"$(ip netns identify {pid} 2>/dev/null)\" = {ns} ] && exit 0; sleep 0.01; done; exit 1"
            )),
            "the sleeper never entered {ns}"
        );
        pid
    }

    /// Whether a process is alive (exists and is not a zombie waiting for the sandbox's PID 1 to reap it).
    pub fn alive(&self, pid: u32) -> bool {
        let stat = self.sh(&format!("cat /proc/{pid}/stat 2>/dev/null || true"));
        match stat.rsplit_once(") ") {
            Some((_, rest)) => !rest.starts_with('Z') && !rest.starts_with('X'),
            None => false,
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // SIGKILL to the sandbox's PID 1 ends every process in it; --kill-child covers unshare itself.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGKILL);
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Sandbox {
    /// Everything a scenario could leave behind, as independent observers see it:
    /// links, addresses, routes and rules of every namespace, iptables rules,
    /// /run/netns, /etc/netns, lunet's state dir, and the processes running.
    pub fn state_dump(&self) -> String {
        let mut s = self.snapshot_full();
        // Rules and user chains (and built-in chains whose policy is DROP) of the sandbox
        // and of every namespace in /run/netns. `iptables-save` runs directly under
        // `ip netns exec` (dash cannot pass a shell function to a child shell); when it
        // fails, the whole dump fails rather than showing an empty, always-equal section.
        // Built-in chains with policy ACCEPT are left out: iptables-nft makes them on first use.
        s.push_str(&self.sh(
            "set -e; \
             rules() { grep -E '^(-|:[^ ]+ (-|DROP))' || [ $? -eq 1 ]; }; \
             fw() { where=$1; shift; for save in iptables-save ip6tables-save; do \
                 out=$(\"$@\" $save) || { echo \"$save failed in $where\" >&2; exit 1; }; \
                 printf '%s\\n' \"$out\" | rules; done; }; \
             echo '== iptables'; fw sandbox env; \
             for n in $(ls /run/netns); do grep -qF \" /run/netns/$n \" /proc/self/mountinfo || { echo \"== $n: not a mounted namespace\"; continue; }; echo \"== iptables $n\"; fw $n ip netns exec $n; done; \
             echo '== etc'; find /etc/netns | sort; echo '== state'; ls -a /run/lunet; \
             echo '== procs'; ps -e -o stat=,comm= | awk '$1 !~ /^Z/ {print $2}' | grep -vxE 'ps|sh|grep|sort|awk' | sort",
        ));
        s
    }

    /// up → check → down of a scenario; asserts each succeeds and that the
    /// sandbox afterwards is exactly as before. Returns the output of `up`.
    pub fn scenario_cycle(&self, scenario: &str, sets: &[&str]) -> String {
        let before = self.state_dump();
        let mut args = vec!["up", scenario];
        for s in sets {
            args.extend(["--set", s]);
        }
        let up = self.lunet(&args);
        let up_out = String::from_utf8_lossy(&up.stdout).to_string();
        assert!(
            up.status.success(),
            "up {scenario} failed:\n{up_out}\n{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let check = self.lunet(&["check", scenario]);
        assert!(
            check.status.success(),
            "check {scenario} failed:\n{}\n{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let down = self.lunet(&["down", scenario]);
        assert!(
            down.status.success(),
            "down {scenario} failed: {}",
            String::from_utf8_lossy(&down.stderr)
        );
        let after = self.state_dump();
        assert_eq!(before, after, "{scenario}: the sandbox is not as it was before up");
        up_out
    }
}

/// stdout and stderr of a finished command, together (for failure messages).
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Sandbox {
    /// `lunet up NAME --set …`, which must succeed; returns what it printed.
    pub fn up(&self, name: &str, sets: &[&str]) -> String {
        let mut args = vec!["up", name];
        for s in sets {
            args.extend(["--set", s]);
        }
        let o = self.lunet(&args);
        assert!(o.status.success(), "up {name} {sets:?} failed:\n{}", text(&o));
        text(&o)
    }

    /// `lunet down NAME`, which must succeed.
    pub fn down(&self, name: &str) {
        let o = self.lunet(&["down", name]);
        assert!(o.status.success(), "down {name} failed:\n{}", text(&o));
    }
}

impl Sandbox {
    /// Names of the ports of bridge `br` in namespace `ns`, sorted (`ip -j link show master BR`).
    pub fn bridge_ports(&self, ns: &str, br: &str) -> Vec<String> {
        let ports = self.ip_json(&format!("-n {ns} link show master {br}"));
        let mut names: Vec<String> = ports
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

impl Sandbox {
    /// `ip netns add NS` plus a process inside it; returns the process's pid.
    pub fn sleeper_in_new(&self, ns: &str) -> u32 {
        self.sh(&format!("ip netns add {ns}"));
        self.sleeper_in(ns)
    }
}

/// Instances that have a journal in the sandbox's /run/lunet.
pub fn instances(sb: &Sandbox) -> Vec<String> {
    sb.sh("ls /run/lunet")
        .lines()
        .filter_map(|l| l.strip_suffix(".journal"))
        .map(String::from)
        .collect()
}
