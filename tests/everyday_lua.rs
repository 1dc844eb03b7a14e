//! Everyday helpers and the things that were wrong: graph and show across
//! namespaces, one shape for show --json and Lua, scenarios by name, status of
//! one that is not up, check helpers by name, a Link method called on an Ns,
//! net.sleep, ns:wait_tcp, net.ns.each_exec, lunet types.

mod common;
use common::{text, Sandbox};

/// a–b and c–d veth pairs whose ends all have the same ifindex, and host–a.
fn pairs(sb: &Sandbox) {
    sb.sh("for n in a b c d; do ip netns add $n; done
         ip -n a link add eth0 type veth peer name eth0 netns b
         ip -n c link add eth0 type veth peer name eth0 netns d
         ip link add h0 type veth peer name x0 netns a
         ip -n a addr add 10.0.0.1/24 dev eth0
         ip -n a link add br0 type bridge && ip -n a link set x0 master br0");
    // The premise: index alone cannot tell the pairs apart.
    assert_eq!(
        sb.sh("ip -n a -o link show eth0 | cut -d: -f1"),
        sb.sh("ip -n c -o link show eth0 | cut -d: -f1")
    );
}

#[test]
fn graph_pairs_veths_by_namespace_and_shows_line_breaks() {
    let sb = Sandbox::new();
    pairs(&sb);
    let out = sb.lunet(&["graph"]);
    assert!(out.status.success(), "{}", text(&out));
    let dot = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut edges: Vec<&str> = dot.lines().filter(|l| l.contains(" -- ")).map(str::trim).collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            r#""a/eth0" -- "b/eth0";"#,
            r#""a/x0" -- "a/br0" [style=dashed];"#,
            r#""c/eth0" -- "d/eth0";"#,
            r#""host/h0" -- "a/x0";"#,
        ],
        "{dot}"
    );
    assert!(dot.contains(r#"[label="eth0\n10.0.0.1/24"]"#), "{dot}");
    assert!(!dot.contains(r"\\n"), "{dot}");
}

#[test]
fn show_json_has_peers_across_namespaces_in_the_shape_lua_has() {
    let sb = Sandbox::new();
    pairs(&sb);
    sb.sh("ip -n a link set eth0 up && ip -n b link set eth0 up && ip -n a route add 10.9.0.0/16 via 10.0.0.2");
    let out = sb.lunet(&["show", "a", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let links = v[0]["links"].as_array().unwrap();
    let eth0 = links.iter().find(|l| l["name"] == "eth0").unwrap();
    assert_eq!(
        (eth0["peer"].as_str(), eth0["peer_ns"].as_str()),
        (Some("eth0"), Some("b"))
    );
    let x0 = links.iter().find(|l| l["name"] == "x0").unwrap();
    assert_eq!(
        (x0["peer"].as_str(), x0["peer_ns"].as_str()),
        (Some("h0"), Some("host"))
    );
    // The same keys and values as the Lua tables (nil in Lua is null in JSON).
    let flat = |o: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = o
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| format!("{k}={}", x.as_str().map(String::from).unwrap_or(x.to_string())))
            .collect();
        v.sort();
        v
    };
    let mut json: Vec<String> = vec![];
    for (key, list) in [
        ("links", &v[0]["links"]),
        ("addrs", &v[0]["addrs"]),
        ("routes", &v[0]["routes"]),
    ] {
        for o in list.as_array().unwrap() {
            json.push(format!("{key}: {}", flat(o).join(" ")));
        }
    }
    let lua = sb.lua_ok(
        r#"local a = net.ns.get("a")
for _, kind in ipairs{"links", "addrs", "routes"} do
  local tbl = kind == "links" and a:links() or kind == "addrs" and a:addrs() or a:routes()
  for _, o in ipairs(tbl) do
    local kv = {}
    for k, x in pairs(o) do kv[#kv + 1] = k .. "=" .. tostring(x) end
    table.sort(kv)
    print(kind .. ": " .. table.concat(kv, " "))
  end
end"#,
    );
    assert_eq!(lua.lines().collect::<Vec<_>>(), json, "Lua:\n{lua}");
    assert!(
        lua.contains("cidr=10.0.0.1/24") && lua.contains("type=unicast"),
        "{lua}"
    );
    // The text view names the peer's namespace.
    let shown = text(&sb.lunet(&["show", "b"]));
    assert!(shown.contains("(peer eth0 in a)"), "{shown}");
}

#[test]
fn up_finds_a_scenario_by_its_name_and_status_says_what_is_not_up() {
    let sb = Sandbox::new();
    let dir = common::tempdir::Dir::new();
    std::fs::write(
        dir.path().join("file-name.lua"),
        r#"return net.scenario{ name = "inner-name", setup = function() net.ns.add("sn") end }"#,
    )
    .unwrap();
    let lunet = |args: &[&str]| {
        sb.command(common::lunet_bin().to_str().unwrap())
            .env("LUNET_PATH", dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = lunet(&["up", "inner-name"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(sb.netns_list().contains(&"sn".to_string()));
    let out = lunet(&["status", "inner-name"]);
    assert!(
        out.status.success() && text(&out).contains("ip netns add sn"),
        "{}",
        text(&out)
    );
    assert!(lunet(&["down", "inner-name"]).status.success());
    let out = lunet(&["status", "inner-name"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "lunet: inner-name is not up (no scenario or run of that name; `lunet status` lists what is)"
    );
    let out = lunet(&["up", "no-such-name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(r#"lunet: no scenario "no-such-name""#));
}

#[test]
fn check_helpers_take_a_name_and_wrong_methods_say_so() {
    let sb = Sandbox::new();
    let f = sb.write(
        "byname.lua",
        r#"return net.scenario{
  name = "byname",
  setup = function()
    local l, r = net.ns.add("l"), net.ns.add("r")
    local x, y = l:veth("e0", "e0", { peer_ns = r, up = true })
    x:addr_add("10.5.0.1/24"); y:addr_add("10.5.0.2/24")
  end,
  check = function(p, s)
    s:expect_ping("l", "10.5.0.2")
    s:expect_no_ping(net.ns.get("r"), "10.5.9.9")
    s:expect_no_tcp("r", "10.5.0.1", 9)
  end,
}"#,
    );
    let out = sb.lunet(&["up", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("l pings 10.5.0.2"), "{}", text(&out));
    let bad = sb.write(
        "badname.lua",
        r#"return net.scenario{ name = "badname", setup = function() end, check = function(p, s) s:expect_ping("nope", "10.5.0.2") end }"#,
    );
    let out = sb.lunet(&["up", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"badname.lua:1: s:expect_ping: namespace "nope" does not exist"#),
        "{err}"
    );
    let err = sb.lua_err(r#"local a = net.ns.get("l"); a:addr_add("10.1.1.1/24")"#);
    assert!(
        err.trim().ends_with(
            r#"script.lua:1: ns:addr_add: Ns(l) is a namespace; addr_add is a Link method: ns:link("NAME"):addr_add(…)"#
        ) && err.trim().lines().count() == 1,
        "{err}"
    );
    let err = sb.lua_err(r#"local e = net.ns.get("l"):link("e0"); e:veth("p", "q")"#);
    assert!(
        err.contains("link:veth: Link(e0@l) is an interface; veth is an Ns method: link.ns:veth(…)"),
        "{err}"
    );
    // Anything else is nil, as before.
    sb.lua_ok(r#"assert(net.host.nothing == nil and net.host.name == "host")"#);
}

#[test]
fn sleep_wait_tcp_and_each_exec() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
local t0 = os.clock()
local w0 = os.time()
net.sleep(0.2)
-- a server that starts late: wait_tcp waits for it
a:spawn({"sh", "-c", "sleep 0.5; exec socat TCP-LISTEN:7000,bind=127.0.0.1 -"})
print("wait", a:wait_tcp("127.0.0.1", 7000, {timeout = 5}))
local ok, err = b:wait_tcp("127.0.0.1", 7001, {timeout = 0.3})
print("refused", ok, err ~= nil)
local all = net.ns.each_exec({"sh", "-c", "echo $LUNET_NS-$(ip -br link | wc -l)"})
for _, n in ipairs(net.ns.list()) do print("each", n, all[n].code, (all[n].stdout:gsub("%s+$", ""))) end
local r = net.ns.each_exec("false")
print("false", r.a.code, r.b.code)"#,
    );
    assert!(out.contains("wait\ttrue"), "{out}");
    assert!(out.contains("refused\tfalse\ttrue"), "{out}");
    assert!(
        out.contains("each\ta\t0\t-1") && out.contains("each\tb\t0\t-1"),
        "{out}"
    );
    assert!(out.contains("false\t1\t1"), "{out}");
    for (code, msg) in [
        (
            "net.sleep(-1)",
            "net.sleep: argument #1 (seconds) must be 0 or more seconds, got -1",
        ),
        (
            "net.sleep('x')",
            "net.sleep: argument #1 (seconds) must be a number of seconds, got string",
        ),
        (
            "net.host:wait_tcp('127.0.0.1', 0)",
            "ns:wait_tcp: port must be 1..65535, got 0",
        ),
        ("net.host:wait_tcp('nope', 80)", "ns:wait_tcp: "),
        ("net.ns.each_exec({})", "net.ns.each_exec: empty command"),
        (
            "net.ns.each_exec('true', {bogus = 1})",
            "net.ns.each_exec: unknown option \"bogus\"",
        ),
    ] {
        let err = sb.lua_err(code);
        assert!(err.contains(msg) && err.trim().lines().count() == 1, "{code}: {err}");
    }
}

#[test]
fn sleep_is_interrupted_by_a_signal() {
    let sb = Sandbox::new();
    let ready = sb.dir.path().join("sleeping");
    let path = sb.write(
        "sleepy.lua",
        &format!(
            "net.ns.add('z'); io.open('{}', 'w'):close(); net.sleep(30)",
            ready.display()
        ),
    );
    // SIGINT as a user's Ctrl-C would deliver it, even when the suite itself runs with it
    // ignored (a background job of a non-interactive shell): lunet keeps an ignored signal ignored.
    let child = sb
        .command("env")
        .args(["--default-signal=INT", common::lunet_bin().to_str().unwrap()])
        .args(["run", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ready: the script is at net.sleep (its namespace made, the file written just before).
    let t0 = std::time::Instant::now();
    while !ready.exists() {
        assert!(t0.elapsed().as_secs() < 30, "the script never got to net.sleep");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let t0 = std::time::Instant::now();
    // nsenter forwards nothing: signal lunet itself (the child of nsenter).
    sb.sh("pkill -INT -x lunet");
    let out = child.wait_with_output().unwrap();
    // Well before the 30 s of the sleep (the rest is for a busy machine's rollback).
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "{:?}: {}",
        t0.elapsed(),
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGINT"),
        "{}",
        text(&out)
    );
    assert!(sb.netns_list().is_empty());
}

#[test]
fn types_writes_definitions_that_load_and_a_luarc() {
    let sb = Sandbox::new();
    let dir = common::tempdir::Dir::new();
    let d = dir.path().join("lab");
    let out = sb.lunet(&["types", d.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let defs = std::fs::read_to_string(d.join("lunet.d.lua")).unwrap();
    assert!(defs.starts_with("---@meta"), "{defs}");
    for want in [
        "---@class Ns",
        "---@field veth fun(self: Ns",
        "---@class Link",
        "---@class Proc",
        "---@class lunet.S",
        "---@field expect_ping fun(self: lunet.S, ns: Ns|string",
    ] {
        assert!(defs.contains(want), "{want}");
    }
    let rc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join(".luarc.json")).unwrap()).unwrap();
    assert_eq!(rc["runtime.version"], "Lua 5.4");
    // It parses (and runs: it only defines `net`) as Lua.
    let out = sb.lua_ok(&format!(
        "assert(loadfile({:?}))() print(type(net))",
        d.join("lunet.d.lua").display().to_string()
    ));
    assert_eq!(out.trim(), "table");
    // A file that cannot be written is one line.
    let out = sb.lunet(&["types", "/proc/nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("lunet: types: cannot create /proc/nope"));
}
