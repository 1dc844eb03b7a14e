//! Processes inside namespaces (issue: exec, spawn, /etc/netns, light containers),
//! checked with real programs: curl, getent, ps, /proc.

mod common;
use common::Sandbox;

#[test]
fn exec_captures_codes_output_stdin_env_and_quotes() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local a = net.ns.add("a")
        local r = a:exec({"sh", "-c", "echo out; echo err >&2; exit 3"}, {check = false})
        print("code=" .. r.code, "out=" .. r.stdout:gsub("\n", ""), "err=" .. r.stderr:gsub("\n", ""))
        print("stdin=" .. a:exec("cat", {stdin = "fed"}).stdout)
        print("env=" .. a:exec({"sh", "-c", "printf %s \"$X\""}, {env = {X = "y z"}}).stdout)
        print("words=" .. a:exec([[printf '%s|' 'a b' "c \"d\"" e\ f]]).stdout)
        print("cwd=" .. a:exec("pwd", {cwd = "/tmp"}).stdout)
        print("sh=" .. a:sh("echo $((6*7))").stdout)
        "#,
    );
    assert!(out.contains("code=3\tout=out\terr=err"), "{out}");
    assert!(out.contains("stdin=fed"), "{out}");
    assert!(out.contains("env=y z"), "{out}");
    assert!(out.contains("words=a b|c \"d\"|e f|"), "{out}");
    assert!(out.contains("cwd=/tmp"), "{out}");
    assert!(out.contains("sh=42"), "{out}");
}

#[test]
fn exec_errors_name_the_command() {
    let sb = Sandbox::new();
    let err = sb.lua_err(r#"net.ns.add("a"):exec("false")"#);
    assert!(
        err.contains("script.lua:1: ns:exec: `false` exited with code 1"),
        "{err}"
    );
    let err = sb.lua_err(r#"net.ns.add("b"):exec("no-such-program --x")"#);
    assert!(err.contains("ns:exec: program \"no-such-program\" not found"), "{err}");
    let err = sb.lua_err(r#"net.ns.add("c"):exec("echo 'unterminated")"#);
    assert!(err.contains("unterminated ' quote"), "{err}");
    let err = sb.lua_err(r#"net.ns.add("d"):exec("true", {chek = true})"#);
    assert!(err.contains("unknown option \"chek\""), "{err}");
    let err = sb.lua_err(r#"net.ns.add("e"):exec({})"#);
    assert!(err.contains("ns:exec: empty command"), "{err}");
}

#[test]
fn exec_timeout_kills_the_program() {
    let sb = Sandbox::new();
    let t = std::time::Instant::now();
    let out = sb.lua_ok(
        r#"
        local a = net.ns.add("a")
        local r = a:exec("sleep 31", {timeout = 0.5, check = false})
        print(r.timed_out, r.signal)
        print(pcall(a.exec, a, "sleep 31", {timeout = 0.2}))
        "#,
    );
    assert!(t.elapsed().as_secs() < 10, "timeout not honoured");
    assert!(out.contains("true\t9"), "{out}");
    assert!(out.contains("false") && out.contains("timed out"), "{out}");
    assert!(!sb.ok("pgrep -f '^sleep 31'"), "the timed-out sleep is still running");
}

#[test]
fn exec_sees_the_namespaces_own_devices_in_sys() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local a = net.ns.add("a")
        a:bridge("only-in-a")
        print(a:exec("ls /sys/class/net").stdout)
        "#,
    );
    let devs: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(devs, ["lo", "only-in-a"]);
    assert!(!sb.sh("ls /sys/class/net").contains("only-in-a"));
}

#[test]
fn seed002_http_server_in_a_namespace_reached_over_a_veth_and_ended_at_exit() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local web, client = net.ns.add("web"), net.ns.add("client")
        local c, w = client:veth("c0", "w0", {peer_ns = web, up = true})
        c:addr_add("10.0.0.10/24"); w:addr_add("10.0.0.11/24")
        local srv = web:spawn({"python3", "-m", "http.server", "--bind", "10.0.0.11", "4000"}, {cwd = "/etc"})
        for _ = 1, 100 do
          if client:exec("curl -sf -o /dev/null http://10.0.0.11:4000/", {check = false}).code == 0 then break end
          client:exec("sleep 0.05")
        end
        print("pid=" .. srv.pid, "ns=" .. tostring(net.ns.identify(srv.pid)))
        print(client:exec("curl -sf http://10.0.0.11:4000/").stdout:match("Directory listing") or "no listing")
        "#,
    );
    assert!(out.contains("Directory listing"), "{out}");
    assert!(out.contains("ns=web"), "{out}");
    let pid: u32 = out
        .split("pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The script ended: its server is gone (the pid is checked inside the sandbox's /proc).
    assert!(
        !sb.ok(&format!("test -d /proc/{pid}")),
        "server pid {pid} survived the script"
    );
}

#[test]
fn spawn_keep_survives_the_script_and_proc_methods_work() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local a = net.ns.add("a")
        local p = a:spawn("sh -c 'echo started; exec sleep 60'", {keep = true})
        local q = a:spawn({"sh", "-c", "echo bye; exit 7"})
        print("q=" .. q:wait(5).code, "out=" .. q:output():gsub("\n", ""))
        print("alive=" .. tostring(p:alive()), "wait=" .. tostring(p:wait(0.1)))
        local r = a:spawn("sleep 60")
        r:kill("TERM")
        print("sig=" .. r:wait(5).signal)
        print("keep=" .. p.pid)
        "#,
    );
    assert!(out.contains("q=7\tout=bye"), "{out}");
    assert!(out.contains("alive=true\twait=nil"), "{out}");
    assert!(out.contains("sig=15"), "{out}");
    let pid: u32 = out.split("keep=").nth(1).unwrap().trim().parse().unwrap();
    assert!(sb.ok(&format!("test -d /proc/{pid}")), "keep=true process was ended");
    assert_eq!(sb.sh(&format!("ip netns identify {pid}")).trim(), "a");
}

#[test]
fn etc_netns_files_are_seen_inside_only() {
    let sb = Sandbox::new();
    let before = sb.sh("md5sum /etc/hosts /etc/resolv.conf");
    let out = sb.lua_ok(
        r#"
        local ns1 = net.ns.add("ns1")
        ns1:hosts{["1.2.3.4"] = "mytest", ["5.6.7.8"] = {"a", "b"}}
        ns1:resolv{nameserver = "8.8.1.1", search = "lab"}
        print(ns1:exec("getent hosts mytest").stdout)
        print(ns1:exec("getent hosts b").stdout)
        print(ns1:exec("cat /etc/resolv.conf").stdout)
        print("outside=" .. net.host:exec("getent hosts mytest", {check = false}).code)
        "#,
    );
    assert!(out.contains("1.2.3.4") && out.contains("mytest"), "{out}");
    assert!(
        out.contains("5.6.7.8") && out.contains(" a b") || out.contains("5.6.7.8       a b"),
        "{out}"
    );
    assert!(
        out.contains("nameserver 8.8.1.1") && out.contains("search lab"),
        "{out}"
    );
    assert!(out.contains("outside=2"), "{out}");
    // Independent observer: `ip netns exec` binds the same files.
    assert!(sb.sh("ip netns exec ns1 getent hosts mytest").contains("1.2.3.4"));
    assert_eq!(sb.sh("md5sum /etc/hosts /etc/resolv.conf"), before, "/etc changed");
}

#[test]
fn pid_uts_isolation_makes_a_light_container() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local n = net.ns.add("node")
        local r = n:exec("sh -c 'echo self=$$; hostname; ps -e -o pid=,comm='", {pid = true, uts = "node1"})
        print(r.stdout)
        print("hostname-outside=" .. net.host:exec("hostname").stdout)
        "#,
    );
    assert!(out.contains("self=1"), "{out}");
    assert!(out.contains("node1"), "{out}");
    let ps: Vec<&str> = out.lines().filter(|l| l.trim().starts_with(char::is_numeric)).collect();
    assert_eq!(ps.len(), 2, "ps inside sees only sh and ps: {out}");
    assert!(!out.contains("hostname-outside=node1"), "{out}");
}

#[test]
fn deleting_a_namespace_ends_its_processes_and_unmounts_it() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local a = net.ns.add("a")
        a:hosts{["1.1.1.1"] = "x"}
        local p = a:spawn("sleep 60", {keep = true})
        local ok, err = pcall(net.ns.delete, "a", {kill = false})
        print(ok, err)
        net.ns.delete("a")
        print("alive=" .. tostring(p:alive()), "pid=" .. p.pid)
        "#,
    );
    assert!(out.contains("false") && out.contains("still has processes"), "{out}");
    assert!(out.contains("alive=false"), "{out}");
    assert!(
        !sb.sh("cat /proc/self/mountinfo").contains("/run/netns/a"),
        "namespace still mounted"
    );
    // Like `ip netns del`, deleting leaves /etc/netns/a; the file lunet wrote
    // there goes when what the script made is taken down.
    assert_eq!(
        sb.sh("ls /run/netns /etc/netns").trim(),
        "/etc/netns:\na\n\n/run/netns:"
    );
    for name in common::instances(&sb) {
        let o = sb.lunet(&["down", &name]);
        assert!(o.status.success(), "{}", common::text(&o));
    }
    assert_eq!(sb.sh("ls /run/netns /etc/netns").trim(), "/etc/netns:\n\n/run/netns:");
}

#[test]
fn ping_reports_reachability_and_rtt() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local a, b = net.ns.add("a"), net.ns.add("b")
        local x, y = a:veth("x", "y", {peer_ns = b, up = true})
        x:addr_add("10.1.0.1/24"); y:addr_add("10.1.0.2/24")
        x:addr_add("fd00::1/64"); y:addr_add("fd00::2/64")
        local ok, rtt = a:ping("10.1.0.2")
        print("v4", ok, type(rtt))
        print("miss", a:ping("10.1.0.99"))
        -- IPv6 duplicate address detection: wait until neither address is tentative.
        for _ = 1, 150 do
          local t = a:exec("ip -6 addr show tentative").stdout .. b:exec("ip -6 addr show tentative").stdout
          if t == "" then break end
          a:exec("sleep 0.1")
        end
        print("v6", (a:ping("fd00::2", {count = 1, timeout = 2})))
        "#,
    );
    assert!(out.contains("v4\ttrue\tnumber"), "{out}");
    assert!(out.contains("miss\tfalse"), "{out}");
    assert!(out.contains("v6\ttrue"), "{out}");
}

// ---- Process trees (issue 10, item 5): everything a spawn or exec started ends with it ----

/// Four kinds of tree, and five that ignore SIGTERM: a fork, a double fork, a
/// `setsid` escapee (out of the process group: found by its LUNET_OWNER tag),
/// and `trap '' TERM` (SIGTERM ignored by the shell and its sleep: needs SIGKILL).
/// 10 sleeps in all: 1080 … 1089.
const TREES: &str = r#"
    ns:spawn({"sh", "-c", "sleep 1080 & sleep 1081"})
    ns:spawn({"sh", "-c", "(sleep 1082 &) ; sleep 1083"})
    ns:spawn({"setsid", "sleep", "1084"})
    for i = 5, 9 do
      ns:spawn({"sh", "-c", "trap '' TERM; sleep 108" .. i .. " & wait"})
    end
"#;

const SLEEPS: &str = "pgrep -f '^sleep 108[0-9]$'";

/// Lua that waits until all 10 sleeps run, then prints `ready` and the sandbox's clock.
const ALL_RUNNING: &str = r#"
    net.host:sh("for i in $(seq 300); do [ $(pgrep -cf '^sleep 108[0-9]$') -eq 10 ] && exit 0; sleep 0.02; done; exit 1")
    local env = net.host:sh("tr '\\0' '\\n' </proc/$(pgrep -f '^sleep 1084$')/environ").stdout
    print("escapee-tag=" .. (env:match("LUNET_OWNER=([^\n]+)") or "none"))
    print("ready", net.host:exec({"date", "+%s.%N"}).stdout)
"#;

/// The sandbox's clock, in seconds.
fn clock(sb: &Sandbox) -> f64 {
    sb.sh("date +%s.%N").trim().parse().unwrap()
}

fn printed_clock(out: &str) -> f64 {
    out.split("ready\t")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no clock in {out}"))
}

#[test]
fn a_script_end_ends_whole_process_trees_at_once() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(&format!("local ns = net.ns.add(\"a\")\n{TREES}\n{ALL_RUNNING}"));
    let took = clock(&sb) - printed_clock(&out);
    assert!(!out.contains("escapee-tag=none"), "setsid lost the tag: {out}");
    let left = sb.run("sh", &["-c", &format!("{SLEEPS} -a")]);
    assert!(
        !left.status.success(),
        "processes survived the script:\n{}",
        String::from_utf8_lossy(&left.stdout)
    );
    // One grace period (1 s) for all trees, then SIGKILL: not one after another. One
    // after another, the five trees that ignore SIGTERM take 5 s or more; 4 s leaves 3 s
    // beyond the grace period for a busy machine.
    assert!(took < 4.0, "ending the trees took {took:.2} s");
    eprintln!("script end: trees ended in {took:.3} s");
}

#[test]
fn down_ends_whole_process_trees_at_once() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let path = sb.write(
        "trees.lua",
        &format!(
            "return net.scenario {{ name = \"trees\", setup = function()\n local ns = net.ns.add(\"a\")\n{TREES}\n net.host:spawn({{\"sh\", \"-c\", \"sleep 1079 & sleep 1078\"}})\n end }}"
        ),
    );
    sb.up(path.to_str().unwrap(), &[]);
    assert!(
        sb.ok(
            "for i in $(seq 300); do [ $(pgrep -cf '^sleep 10[78][0-9]$') -eq 12 ] && exit 0; sleep 0.02; done; exit 1"
        ),
        "the trees did not all start: {}",
        sb.sh("ps -eo pid,pgid,args")
    );
    let t0 = clock(&sb);
    sb.down("trees");
    let took = clock(&sb) - t0;
    let left = sb.run("sh", &["-c", "pgrep -af '^sleep 10[78][0-9]$'"]);
    assert!(
        !left.status.success(),
        "processes survived down:\n{}",
        String::from_utf8_lossy(&left.stdout)
    );
    // As above: one grace period for all (1 s), not five one after another (5 s or more).
    assert!(took < 4.0, "down took {took:.2} s");
    assert_eq!(sb.state_dump(), before, "down did not restore the sandbox");
    eprintln!("down: trees ended in {took:.3} s");
}

#[test]
fn a_crash_before_the_pid_is_journaled_leaks_nothing() {
    let sb = Sandbox::new();
    let path = sb.write(
        "crash.lua",
        "return net.scenario { name = \"crash\", setup = function()\n net.host:spawn({\"sh\", \"-c\", \"sleep 1077 & sleep 1076\"})\n end }",
    );
    // Killed right after the spawn started, before its pid was written to the journal.
    let o = sb
        .command(common::lunet_bin().to_str().unwrap())
        .env("LUNET_CRASH_STEP", "1:after")
        .args(["up", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success(), "up finished: {}", common::text(&o));
    let journal = sb.sh("cat /run/lunet/* 2>/dev/null; cat /run/lunet/*/* 2>/dev/null; true");
    assert!(
        sb.ok("for i in $(seq 300); do [ $(pgrep -cf '^sleep 107[67]$') -eq 2 ] && exit 0; sleep 0.02; done; exit 1"),
        "the spawned tree is not running: {}\n{journal}",
        sb.sh("ps -eo pid,pgid,args")
    );
    // lunet died before it learned the pid: the journal has only the tag to go by.
    assert!(
        journal.contains(r#""Kill":{"pid":0,"start":0,"tag":""#),
        "the journal lacks the early tag:\n{journal}"
    );
    sb.down("crash");
    let left = sb.run("sh", &["-c", "pgrep -af '^sleep 107[67]$'"]);
    assert!(
        !left.status.success(),
        "processes survived down after a crash:\n{}\njournal:\n{journal}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn exec_timeout_ends_the_whole_tree() {
    let sb = Sandbox::new();
    let t = std::time::Instant::now();
    let out = sb.lua_ok(
        r#"
        local r = net.host:exec({"sh", "-c", "sleep 1090 & sleep 1091"}, {timeout = 1, check = false})
        print("timed_out=" .. tostring(r.timed_out))
        print("left=" .. net.host:sh("pgrep -cf '^sleep 109[01]$' || [ $? -eq 1 ]").stdout)
        "#,
    );
    assert!(out.contains("timed_out=true"), "{out}");
    assert!(out.contains("left=0"), "{out}");
    // The timeout (1 s) and a grace period (1 s) end it, far sooner than its sleeps
    // (1090 s); what is left of 20 s is for a busy machine starting lunet and the sandbox.
    assert!(t.elapsed().as_secs_f64() < 20.0, "took {:?}", t.elapsed());
    let left = sb.run("sh", &["-c", "pgrep -af '^sleep 109[01]$'"]);
    assert!(
        !left.status.success(),
        "the timed-out tree survived:\n{}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// Ctrl-C in the REPL abandons a running exec: the drop guard ends its whole
/// tree (the program runs in its own process group, which the terminal's
/// Ctrl-C does not reach).
#[test]
fn ctrl_c_in_the_repl_ends_the_tree_of_an_exec() {
    use std::io::Write;
    let sb = Sandbox::new();
    let state = common::tempdir::Dir::new();
    // `script` gives lunet a terminal; a 0x03 byte written to it is Ctrl-C.
    let mut term = sb
        .command("script")
        .args(["-qfec"])
        .arg(format!(
            "env XDG_STATE_HOME={} TERM=dumb {}",
            state.path().display(),
            common::lunet_bin().display()
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut input = term.stdin.take().unwrap();
    let wait = |what: &str| {
        let script = format!("for i in $(seq 500); do {what} && exit 0; sleep 0.02; done; exit 1");
        sb.ok(&script)
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    input
        .write_all(b"net.host:exec({\"sh\", \"-c\", \"sleep 1092 & sleep 1093\"})\n")
        .unwrap();
    let started = wait("[ $(pgrep -cf '^sleep 109[23]$') -eq 2 ]");
    input.write_all(&[3]).unwrap();
    let ended = wait("! pgrep -f '^sleep 109[23]$' >/dev/null");
    let left = sb.sh("pgrep -af '^sleep 109[23]$' || [ $? -eq 1 ]");
    input.write_all(b"print('after=' .. 6 * 7)\n").unwrap();
    let alive = wait("true") && term.try_wait().unwrap().is_none();
    drop(input);
    let _ = term.kill();
    let out = term.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(started, "the exec never started:\n{screen}");
    assert!(ended, "Ctrl-C left the tree of the exec running: {left}\n{screen}");
    assert!(alive, "the REPL did not survive Ctrl-C:\n{screen}");
}
