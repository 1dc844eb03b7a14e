//! Namespaces: `net.ns.add/get/exists/list/delete/identify`, `ns:pids()`, `ns:delete()`,
//! checked against iproute2 (`ip netns …`, `ip -n X -j link`) and /proc, both ways.

mod common;
use common::Sandbox;

fn flags(link: &serde_json::Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ns_add_brings_lo_up_unless_told_not_to() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           local b = net.ns.add("b", { lo = false })
           local c = net.ns.add("c", { lo = true })
           print(a.name, b.name, c.name, tostring(a))"#,
    );
    assert_eq!(out.trim(), "a\tb\tc\tNs(a)");
    assert_eq!(sb.netns_list(), ["a", "b", "c"]);
    for (ns, up) in [("a", true), ("b", false), ("c", true)] {
        let lo = &sb.ip_json(&format!("-n {ns} link show lo"))[0];
        assert_eq!(flags(lo).contains(&"UP".to_string()), up, "lo in {ns}: {lo}");
    }
    // lo up means 127.0.0.1 answers inside the namespace.
    assert!(sb.ok("ip netns exec a ping -c1 -W1 127.0.0.1"));
    assert!(!sb.ok("ip netns exec b ping -c1 -W1 127.0.0.1"));
    // A fresh namespace: only lo.
    let links = sb.ip_json("-n a link show");
    assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
}

#[test]
fn ns_get_opens_a_namespace_made_by_ip_netns_add() {
    let sb = Sandbox::new();
    sb.sh("ip netns add ipmade");
    let out = sb.lua_ok(
        r#"local n = net.ns.get("ipmade")
           print(n.name, net.ns.exists("ipmade"))
           local br = n:bridge("brx", { mtu = 1450 })
           print(br.index)"#,
    );
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "ipmade\ttrue");
    let index: u64 = lines.next().unwrap().parse().unwrap();
    // The bridge is in ipmade, not in the sandbox itself.
    let brx = sb.link_json(Some("ipmade"), "brx");
    assert_eq!(brx["linkinfo"]["info_kind"], "bridge");
    assert_eq!(brx["mtu"], 1450);
    assert_eq!(brx["ifindex"], index);
    assert!(!sb.has_link(None, "brx"));
}

#[test]
fn namespace_made_by_lunet_works_with_ip_netns_exec() {
    let sb = Sandbox::new();
    sb.lua_ok(r#"net.ns.add("lx"):bridge("brl", { up = true }):addr_add("10.9.0.1/24")"#);
    let out = sb.sh("ip netns exec lx ip -j link show brl");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ifname"], "brl");
    assert!(sb.ok("ip netns exec lx ping -c1 -W1 10.9.0.1"));
    // The pin is a real nsfs bind mount, as iproute2 makes them.
    let mi = sb.sh("cat /proc/self/mountinfo");
    assert!(
        mi.lines()
            .any(|l| l.contains(" /run/netns/lx ") && l.contains(" nsfs ")),
        "{mi}"
    );
    // …and is a namespace distinct from the sandbox's own.
    assert_ne!(
        sb.sh("readlink /proc/self/ns/net"),
        sb.sh("ip netns exec lx readlink /proc/self/ns/net")
    );
    // iproute2 can delete it too.
    sb.sh("ip netns del lx");
    assert!(sb.netns_list().is_empty());
}

#[test]
fn exists_and_list_are_sorted_and_agree_with_ip() {
    let sb = Sandbox::new();
    sb.sh("ip netns add beta");
    let out = sb.lua_ok(
        r#"print(#net.ns.list())
           net.ns.add("zeta"); net.ns.add("alpha"); net.ns.add("mid-1.x")
           print(table.concat(net.ns.list(), ","))
           print(net.ns.exists("zeta"), net.ns.exists("beta"), net.ns.exists("nope"), net.ns.exists("a/b"), net.ns.exists(".."))"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "alpha,beta,mid-1.x,zeta");
    assert_eq!(lines[2], "true\ttrue\tfalse\tfalse\tfalse");
    assert_eq!(sb.netns_list().join(","), lines[1]);
}

#[test]
fn delete_removes_the_namespace_and_its_pin() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           net.ns.add("b")
           net.ns.add("keep")
           a:delete()
           net.ns.delete("b")
           assert(not net.ns.exists("a") and not net.ns.exists("b"))
           assert(table.concat(net.ns.list(), ",") == "keep")"#,
    );
    assert_eq!(sb.netns_list(), ["keep"]);
    assert_eq!(sb.sh("ls /run/netns").trim(), "keep");
    let mi = sb.sh("cat /proc/self/mountinfo");
    assert!(!mi.contains("/run/netns/a ") && !mi.contains("/run/netns/b "), "{mi}");
    // A namespace made by ip can be deleted by lunet too.
    sb.sh("ip netns add ipmade");
    sb.lua_ok(r#"net.ns.delete("ipmade")"#);
    assert_eq!(sb.netns_list(), ["keep"]);
}

#[test]
fn delete_frees_the_namespace_and_its_devices() {
    let sb = Sandbox::new();
    // The peer of a veth lives in the sandbox: it goes when the namespace holding the other end is freed.
    sb.lua_ok(
        r#"local x = net.ns.add("x")
           x:veth("inner", "outer", { peer_ns = net.host })"#,
    );
    assert!(sb.has_link(None, "outer"));
    sb.lua_ok(r#"net.ns.delete("x")"#);
    assert!(
        sb.ok("for i in $(seq 300); do ip link show outer >/dev/null 2>&1 || exit 0; sleep 0.01; done; exit 1"),
        "the namespace lingers: its veth peer is still in the sandbox"
    );
}

#[test]
fn identify_names_the_namespace_of_a_process() {
    let sb = Sandbox::new();
    sb.lua_ok(r#"net.ns.add("a"); net.ns.add("b")"#);
    let pid = sb.sleeper_in("b");
    let out = sb.lua_ok(&format!(
        r#"print(net.ns.identify({pid}))
           print(net.ns.identify(1))
           print(net.ns.identify(tonumber(io.open("/proc/self/stat"):read("l"):match("^%d+"))))"#
    ));
    assert_eq!(out, "b\nnil\nnil\n");
    assert_eq!(sb.sh(&format!("ip netns identify {pid}")).trim(), "b");
    assert_eq!(sb.sh("ip netns identify 1").trim(), "");
}

#[test]
fn pids_lists_the_processes_inside() {
    let sb = Sandbox::new();
    sb.lua_ok(r#"net.ns.add("a"); net.ns.add("empty")"#);
    let p1 = sb.sleeper_in("a");
    let p2 = sb.sleeper_in("a");
    let out = sb.lua_ok(
        r#"local function show(t) local s = {} for i, p in ipairs(t) do s[i] = tostring(p) end print(table.concat(s, " ")) end
           show(net.ns.get("a"):pids())
           show(net.ns.get("empty"):pids())"#,
    );
    let mut expected = [p1, p2];
    expected.sort();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{} {}", expected[0], expected[1]));
    assert_eq!(lines[1], "");
    let mut ip: Vec<u32> = sb
        .sh("ip netns pids a")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    ip.sort();
    assert_eq!(ip, expected);
}

#[test]
fn delete_with_a_process_inside_refuses_without_kill_and_kills_by_default() {
    let sb = Sandbox::new();
    sb.lua_ok(r#"net.ns.add("a"); net.ns.add("b")"#);
    let pa = sb.sleeper_in("a");
    let pb = sb.sleeper_in("b");

    let err = sb.lua_err_clean(r#"net.ns.get("a"):delete { kill = false }"#);
    assert!(
        err.contains(&format!(r#"ns:delete: namespace "a" still has processes [{pa}]"#)),
        "{err}"
    );
    let err = sb.lua_err_clean(r#"net.ns.delete("b", { kill = false })"#);
    assert!(
        err.contains(&format!(r#"net.ns.delete: namespace "b" still has processes [{pb}]"#)),
        "{err}"
    );
    assert!(sb.alive(pa) && sb.alive(pb));
    assert_eq!(sb.netns_list(), ["a", "b"]);

    sb.lua_ok(r#"net.ns.get("a"):delete()"#);
    assert!(!sb.alive(pa), "the process inside a survived its namespace");
    assert!(sb.alive(pb), "a process in another namespace was killed");
    sb.lua_ok(r#"net.ns.delete("b", { kill = true })"#);
    assert!(!sb.alive(pb));
    assert!(sb.netns_list().is_empty());
    let mi = sb.sh("cat /proc/self/mountinfo");
    assert!(
        !mi.contains("/run/netns/a") && !mi.contains("/run/netns/b"),
        "still mounted:\n{mi}"
    );
}

#[test]
fn ns_objects_compare_by_identity_and_host_is_the_sandbox() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           print(a == net.ns.get("a"), a == net.host, net.host.name, tostring(net.host))
           print(require("lunet") == net, type(net.version))
           net.host:bridge("hostbr")"#,
    );
    assert_eq!(out, "true\tfalse\thost\tNs(host)\ntrue\tstring\n");
    // net.host is the namespace lunet runs in: here, the sandbox.
    assert!(sb.has_link(None, "hostbr"));
    assert!(!sb.has_link(Some("a"), "hostbr"));
}
