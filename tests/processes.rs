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
        a:exec("sleep 2") -- IPv6 duplicate address detection
        print("v6", (a:ping("fd00::2", {count = 1, timeout = 2})))
        "#,
    );
    assert!(out.contains("v4\ttrue\tnumber"), "{out}");
    assert!(out.contains("miss\tfalse"), "{out}");
    assert!(out.contains("v6\ttrue"), "{out}");
}
