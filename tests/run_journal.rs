//! `lunet run` keeps its journal on disk: signals and `os.exit` roll back,
//! a run that ends normally keeps what it made until `lunet down NAME`, a
//! `kill -9` is cleaned up by `down`, `down --all` takes down everything, and
//! `down` reports what it could not undo (and retries just that).

mod common;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text, Sandbox};

/// Makes namespaces, veths and addresses in a loop, waiting in every way a
/// script can: a command (`os.execute`), a program in a namespace (`ns:exec`),
/// and a busy Lua loop.
const LOOP: &str = r#"
for i = 1, 400 do
  local n = net.ns.add("n" .. i)
  local h, p = net.host:veth("h" .. i, "p" .. i, { peer_ns = n, up = true })
  h:addr_add("10.80." .. i .. ".1/24")
  p:addr_add("10.80." .. i .. ".2/24")
  net.host:sysctl("net.ipv4.conf.h" .. i .. ".forwarding", 1)
  if i % 3 == 0 then os.execute("sleep 0.02")
  elseif i % 3 == 1 then n:exec("sleep 0.02")
  else local x = 0 for k = 1, 300000 do x = x + k end end
end
print("the loop ended: the signal came too late")
"#;

/// Starts `lunet ARGS…` in the sandbox with default signal dispositions (the test
/// harness may hand its children an ignored SIGINT, which lunet keeps ignoring).
fn spawn(sb: &Sandbox, args: &[&str]) -> Child {
    sb.command("env")
        .arg("--default-signal=INT,TERM,HUP")
        .arg(common::lunet_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The names of the instances in the state dir (`NAME.json`), sorted.
fn instances(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = sb
        .sh("ls /run/lunet")
        .lines()
        .filter_map(|l| l.strip_suffix(".json"))
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Waits for the run's instance `PREFIX-PID` to appear (its signal handlers are in
/// place by then); returns its name and lunet's pid inside the sandbox.
fn wait_for_run(sb: &Sandbox, prefix: &str) -> (String, u32) {
    let t0 = Instant::now();
    loop {
        if let Some(name) = instances(sb).into_iter().find(|n| n.starts_with(prefix)) {
            let pid = name.rsplit('-').next().unwrap().parse().unwrap();
            return (name, pid);
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no {prefix}* instance appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn signals_at_any_moment_roll_back_everything() {
    let sb = Sandbox::new();
    let path = sb.write("loop.lua", LOOP);
    let before = sb.state_dump();
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for delay in [50, 180, 420, 600] {
            let child = spawn(&sb, &["run", path.to_str().unwrap()]);
            let (name, pid) = wait_for_run(&sb, "run-loop-");
            std::thread::sleep(Duration::from_millis(delay));
            sb.sh(&format!("kill -{sig} {pid}"));
            let o = wait(child);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(code), "SIG{sig} after {delay} ms: {t}");
            assert!(
                t.contains(&format!(
                    "lunet: interrupted by SIG{sig}; everything the script made was rolled back"
                )),
                "SIG{sig} after {delay} ms: {t}"
            );
            assert_eq!(t.lines().count(), 1, "one line: {t}");
            assert_eq!(
                sb.state_dump(),
                before,
                "SIG{sig} after {delay} ms ({name}): not rolled back exactly"
            );
        }
    }
}

#[test]
fn a_long_wait_is_interrupted_at_once_and_a_second_signal_does_not_stop_the_rollback() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let path = sb.write(
        "wait.lua",
        r#"for i = 1, 250 do local n = net.ns.add("w" .. i) net.host:veth("h" .. i, "p" .. i, { peer_ns = n }) end
           io.stdout:write("made\n") io.stdout:flush()
           net.ns.get("w1"):exec("sleep 60")"#,
    );
    for sig in ["INT", "TERM"] {
        let child = spawn(&sb, &["run", path.to_str().unwrap()]);
        let (_, pid) = wait_for_run(&sb, "run-wait-");
        let t0 = Instant::now();
        while sb.netns_list().len() < 250 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the script never made its namespaces"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        // Three in a row: the first starts the rollback, the others must not cut it short.
        sb.sh(&format!(
            "kill -{sig} {pid}; sleep 0.05; kill -INT {pid} 2>/dev/null; kill -TERM {pid} 2>/dev/null; true"
        ));
        let o = wait(child);
        assert!(
            t0.elapsed() < Duration::from_secs(50),
            "the 60 s wait was not interrupted"
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(if sig == "INT" { 130 } else { 143 }), "{t}");
        assert!(t.contains(&format!("interrupted by SIG{sig}")), "{t}");
        assert_eq!(sb.state_dump(), before, "SIG{sig}: {t}");
    }
}

#[test]
fn os_exit_rolls_back_unless_zero_which_keeps() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let make =
        r#"local a = net.ns.add("xa") local h = net.host:bridge("xbr", { up = true }) h:addr_add("10.70.0.1/24")"#;
    // A code: rolled back, that code.
    let p = sb.write("exit3.lua", &format!("{make}\nos.exit(3)\nprint('not reached')"));
    let o = sb.lunet(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(!text(&o).contains("not reached"));
    assert!(
        text(&o).contains("lunet: the script called os.exit(3); everything the script made was rolled back"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.state_dump(), before);
    // Caught by pcall, it still ends the script (at its next wait).
    let p = sb.write(
        "pexit.lua",
        &format!("{make}\nprint(pcall(os.exit, 4))\nnet.host:exec('sleep 20')\nprint('not reached')"),
    );
    let t0 = Instant::now();
    let o = sb.lunet(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert!(!text(&o).contains("not reached"));
    assert_eq!(sb.state_dump(), before);
    // --keep-on-error keeps it, and says how to undo it.
    let o = sb.lunet(&[
        "--keep-on-error",
        "run",
        sb.dir.path().join("exit3.lua").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let kept = instances(&sb);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(text(&o).contains(&format!("`lunet down {}`", kept[0])), "{}", text(&o));
    sb.down(&kept[0]);
    assert_eq!(sb.state_dump(), before);
    // Nothing made: no comment, just the code; os.exit(true/false) as in Lua.
    for (code, want) in [("2", 2), ("true", 0), ("false", 1)] {
        let o = sb.lunet(&["-e", &format!("os.exit({code})")]);
        assert_eq!(o.status.code(), Some(want), "os.exit({code}): {}", text(&o));
        assert_eq!(text(&o), "", "os.exit({code})");
    }
    // 0: like the end of the script: kept, until `lunet down`.
    let p = sb.write("exit0.lua", &format!("{make}\nos.exit(0)\nprint('not reached')"));
    let o = sb.lunet(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("not reached"));
    assert!(sb.netns_list() == ["xa"]);
    let kept = instances(&sb);
    assert!(kept.len() == 1 && kept[0].starts_with("run-exit0-"), "{kept:?}");
    // The script's path names its run too.
    let o = sb.lunet(&["down", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("{} is down", kept[0])), "{}", text(&o));
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn a_finished_run_is_listed_and_down_restores_the_exact_prior_state() {
    let sb = Sandbox::new();
    sb.sh("ip link add fbr address 02:00:00:00:00:71 type bridge");
    let before = sb.state_dump();
    let p = sb.write(
        "my lab!.lua",
        r#"local a = net.ns.add("la")
           local h, e = net.host:veth("lv0", "eth0", { peer_ns = a, up = true, master = "fbr" })
           e:addr_add("10.71.0.2/24")
           a:route_add { to = "default", via = "10.71.0.1" }
           net.host:link("fbr"):set { up = true, mtu = 1400 }
           net.host:link("fbr"):addr_add("10.71.0.1/24")
           net.host:sysctl("net.ipv4.ip_forward", 1)
           a:hosts { ["10.71.0.1"] = "gw" }
           net.host:iptables("-A FORWARD -i fbr -j ACCEPT")"#,
    );
    let o = sb.lunet(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), "", "a run that ends normally is silent");
    let names = instances(&sb);
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    assert!(name.starts_with("run-my_lab_-"), "sanitised: {name}");
    let meta: serde_json::Value = serde_json::from_str(&sb.sh(&format!("cat /run/lunet/{name}.json"))).unwrap();
    assert_eq!(meta["origin"], format!("run:{}", p.display()));
    assert_eq!(
        meta["pid"].as_u64().unwrap().to_string(),
        name.rsplit('-').next().unwrap()
    );
    let status = text(&sb.lunet(&["status"]));
    assert!(
        status.contains(&format!("{name}  (run of {}, pid", p.display()))
            && status.contains("ended")
            && status.contains("ip netns add la"),
        "{status}"
    );
    let one = sb.lunet(&["status", name]);
    assert!(
        one.status.success() && text(&one).contains("ip netns add la"),
        "{}",
        text(&one)
    );
    let o = sb.lunet(&["check", name]);
    assert!(
        !o.status.success() && text(&o).contains("not a scenario: it has no check"),
        "{}",
        text(&o)
    );
    let o = sb.lunet(&["down", name]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).starts_with(&format!("{name} is down (")), "{}", text(&o));
    assert_eq!(sb.state_dump(), before);
    assert!(text(&sb.lunet(&["status"])).contains("no scenario is up"));
    let o = sb.lunet(&["down", name]);
    assert!(
        !o.status.success() && text(&o).contains(&format!("{name} is not up")),
        "{}",
        text(&o)
    );
}

#[test]
fn a_run_that_makes_nothing_leaves_no_state() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    assert_eq!(sb.lua_ok("print('hello')"), "hello\n");
    // Made and undone by the script itself: nothing left in effect either.
    sb.lua_ok(r#"net.host:bridge("tmp0") net.undo()"#);
    let o = sb.lunet(&["-e", "local x = 1"]);
    assert!(o.status.success());
    let err = sb.lua_err("net.ns.add('f') error('boom')");
    assert!(err.contains("boom") && err.contains("rolled back"), "{err}");
    assert_eq!(sb.state_dump(), before);
    // -e and standard input name their runs e-PID and stdin-PID.
    assert!(sb.lunet(&["-e", "net.ns.add('ea')"]).status.success());
    let mut c = sb.command(common::lunet_bin().to_str().unwrap());
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"net.ns.add('sa')").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let names = instances(&sb);
    assert!(
        names.len() == 2 && names[0].starts_with("e-") && names[1].starts_with("stdin-"),
        "{names:?}"
    );
    for n in &names {
        sb.down(n);
    }
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn kill_9_midway_is_cleaned_up_by_down() {
    let sb = Sandbox::new();
    let path = sb.write("loop.lua", LOOP);
    let before = sb.state_dump();
    for delay in [30, 250, 700] {
        let child = spawn(&sb, &["run", path.to_str().unwrap()]);
        let (name, pid) = wait_for_run(&sb, "run-loop-");
        std::thread::sleep(Duration::from_millis(delay));
        // Still running: `down` refuses, clearly.
        let o = sb.lunet(&["down", &name]);
        assert!(
            !o.status.success() && text(&o).contains(&format!("{name} is still running (pid {pid})")),
            "{}",
            text(&o)
        );
        assert!(text(&sb.lunet(&["status"])).contains("still running"));
        sb.sh(&format!("kill -9 {pid}"));
        let o = wait(child);
        assert_eq!(o.status.code(), None, "killed by a signal: {}", text(&o));
        // The name, as `lunet status` shows it.
        let status = text(&sb.lunet(&["status"]));
        let listed = status
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(listed, name, "{status}");
        assert!(status.contains("killed before it finished"), "{status}");
        let o = sb.lunet(&["down", &listed]);
        assert!(o.status.success(), "after {delay} ms: {}", text(&o));
        assert_eq!(
            sb.state_dump(),
            before,
            "kill -9 after {delay} ms: down did not restore"
        );
    }
}

const SCEN: &str = r#"
return net.scenario {
  name = "lab2",
  setup = function()
    local a = net.ns.add("l2a")
    local br = net.host:bridge("l2br", { up = true })
    br:addr_add("10.72.0.1/24")
    local _, e = net.host:veth("l2v", "eth0", { peer_ns = a, master = br, up = true })
    e:addr_add("10.72.0.2/24")
  end,
}
"#;

#[test]
fn down_all_takes_down_scenarios_and_runs_newest_first() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let o = sb.lunet(&["down", "--all"]);
    assert!(o.status.success() && text(&o).contains("nothing is up"), "{}", text(&o));
    sb.up("two-namespaces", &[]);
    let scen = sb.write("lab2.lua", SCEN);
    sb.up(scen.to_str().unwrap(), &[]);
    // A run that changes what the scenario made: it must come down first.
    sb.lua_ok(r#"net.host:link("l2br"):addr_add("10.72.9.1/24") net.ns.add("r1")"#);
    let run = instances(&sb).into_iter().find(|n| n.starts_with("run-")).unwrap();
    let o = sb.lunet(&["down", "--all"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let pos = |s: &str| t.find(s).unwrap_or_else(|| panic!("no {s:?} in {t}"));
    assert!(
        pos(&format!("{run} is down")) < pos("lab2 is down") && pos("lab2 is down") < pos("two-namespaces is down"),
        "{t}"
    );
    assert_eq!(sb.state_dump(), before);

    // Failures do not stop it: a run still running is refused, the rest comes down.
    sb.up("two-namespaces", &[]);
    let p = sb.write("wait.lua", r#"net.ns.add("busy") net.host:exec("sleep 60")"#);
    let child = spawn(&sb, &["run", p.to_str().unwrap()]);
    let (name, pid) = wait_for_run(&sb, "run-wait-");
    let t0 = Instant::now();
    while !sb.netns_list().contains(&"busy".to_string()) {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = sb.lunet(&["down", "--all"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("{name} is still running (pid {pid})")), "{t}");
    assert!(t.contains("two-namespaces is down"), "{t}");
    assert!(
        t.contains(&format!("down --all: 1 of 2 did not come down: {name}")),
        "{t}"
    );
    sb.sh(&format!("kill -TERM {pid}"));
    assert_eq!(wait(child).status.code(), Some(143));
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn down_reports_what_it_could_not_undo_and_retries_just_that() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    sb.lua_ok(r#"net.ns.add("k1") net.host:bridge("kbr") net.host:sysctl("net.ipv4.ip_forward", 1)"#);
    let name = instances(&sb).pop().unwrap();
    // The sysctl cannot be put back while its file is read-only.
    let ro = "mount --bind /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_forward && \
              mount -o remount,bind,ro /proc/sys/net/ipv4/ip_forward";
    sb.sh(ro);
    let o = sb.lunet(&["down", &name]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("lunet: {name}: down did not finish: 1 of ")) && t.contains("`lunet down --forget"),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("  error: undo `sysctl -qw net.ipv4.ip_forward=0`") && l.contains("read-only")),
        "{t}"
    );
    // Every other step was walked.
    assert!(sb.netns_list().is_empty() && !sb.has_link(None, "kbr"), "{t}");
    let status = text(&sb.lunet(&["status"]));
    assert!(
        status.contains(&name) && status.contains("sysctl -qw net.ipv4.ip_forward=1") && !status.contains("netns add"),
        "only the failed step is left: {status}"
    );
    // Once it can be, `down` again does just that.
    sb.sh("umount /proc/sys/net/ipv4/ip_forward");
    let o = sb.lunet(&["down", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sb.state_dump(), before);

    // --forget: drops the state, listing what stays.
    sb.lua_ok(r#"net.host:sysctl("net.ipv4.ip_forward", 1) net.ns.add("k2")"#);
    let name = instances(&sb).pop().unwrap();
    sb.sh(ro);
    let o = sb.lunet(&["down", "--forget", &name]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains(&format!("{name}: forgotten; 1 of "))
            && t.contains("  left: sysctl -qw net.ipv4.ip_forward=1")
            && t.contains("  error: "),
        "{t}"
    );
    sb.sh("umount /proc/sys/net/ipv4/ip_forward");
    assert!(instances(&sb).is_empty());
    assert_eq!(
        sb.sh("sysctl -n net.ipv4.ip_forward").trim(),
        "1",
        "forgotten, left in place"
    );
    sb.sh("sysctl -qw net.ipv4.ip_forward=0");
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn sandbox_runs_leave_no_state_and_errors_are_one_line() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let o = sb.lunet(&["--sandbox", "-e", "net.ns.add('s1') os.exit(0)"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sb.lunet(&["--sandbox", "-e", "net.ns.add('s1') os.exit(6)"]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(
        text(&o).contains("--sandbox: everything it made vanishes"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.state_dump(), before);
    for (args, msg) in [
        (&["down"][..], "required"),
        (&["down", "--all", "x"][..], "cannot be used with"),
        (&["down", "nope-1"][..], "nope-1 is not up"),
        (&["status", "nope-1"][..], "nope-1 is not up"),
    ] {
        let o = sb.lunet(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(text(&o).contains(msg), "{args:?}: {}", text(&o));
    }
    let o = sb.lunet(&["-e", "os.exit({})"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad argument #1 to 'exit'"), "{}", text(&o));
}
