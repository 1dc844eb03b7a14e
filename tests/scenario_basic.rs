//! The bundled basic scenarios (veth-pair, webserver, lan-nat,
//! dns-per-namespace, container): each one's up/check/down leaves the sandbox
//! exactly as before, and while it is up an independent observer (`ip -j`,
//! `curl`, `socat`, `getent`, `nsenter` + `ps`) sees what it claims.
//! Also `lunet.topo`, the declarative helper lan-nat is built with.

mod common;
use common::Sandbox;
use serde_json::Value;

/// The `local` addresses (`10.1.1.1/24`) of `ip -j addr` output.
fn cidrs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// IPv4 routes of the main table as "dst dev DEV" lines.
fn routes(sb: &Sandbox, ns: Option<&str>) -> Vec<String> {
    let n = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
    let v = sb.ip_json(&format!("{n}-4 route show table main"));
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} dev {}",
                r["dst"].as_str().unwrap(),
                r["dev"].as_str().unwrap_or("-")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn scenarios_lists_the_basic_scenarios_with_their_params() {
    let sb = Sandbox::new();
    let out = common::text(&sb.lunet(&["scenarios"]));
    for (name, param) in [
        ("veth-pair", "ns=\"blue\""),
        ("webserver", "port=4000"),
        ("lan-nat", "bridge=\"br0\""),
        ("dns-per-namespace", "nameserver=\"8.8.1.1\""),
        ("container", "node=\"node1\""),
    ] {
        assert!(
            out.contains(name) && out.contains(param),
            "{name} / {param} missing:\n{out}"
        );
    }
    assert!(!out.contains("skipping"), "{out}");
}

#[test]
fn veth_pair() {
    let sb = Sandbox::new();
    let out = sb.scenario_cycle("veth-pair", &[]);
    assert!(out.contains("ok   blue pings 10.1.1.1"), "{out}");
    assert!(out.contains("ok   host pings 10.1.1.1"), "{out}");

    sb.up("veth-pair", &[]);
    assert_eq!(cidrs(&sb.ip_json("-n blue addr show dev veth1")), ["10.1.1.1/24"]);
    assert_eq!(cidrs(&sb.ip_json("addr show dev veth0")), ["10.1.1.2/24"]);
    assert!(sb.ok("ping -c1 -W1 10.1.1.1"), "the host side cannot ping blue");
    assert!(
        sb.ok("ip netns exec blue ping -c1 -W1 10.1.1.1"),
        "blue cannot ping itself"
    );
    // Two routing tables, each naming only its own end of the cable.
    assert_eq!(routes(&sb, Some("blue")), ["10.1.1.0/24 dev veth1"]);
    assert_eq!(routes(&sb, None), ["10.1.1.0/24 dev veth0"]);
    sb.down("veth-pair");
    assert!(sb.netns_list().is_empty());
    assert!(!sb.has_link(None, "veth0"));
}

#[test]
fn set_overrides_veth_pair_names_and_addresses() {
    let sb = Sandbox::new();
    let sets = [
        "ns=red",
        "host_if=vh",
        "ns_if=vr",
        "ns_addr=10.7.7.1/24",
        "host_addr=10.7.7.2/24",
    ];
    let out = sb.scenario_cycle("veth-pair", &sets);
    assert!(out.contains("ok   red pings 10.7.7.1"), "{out}");

    sb.up("veth-pair", &sets);
    assert_eq!(sb.netns_list(), ["red"]);
    assert_eq!(cidrs(&sb.ip_json("-n red addr show dev vr")), ["10.7.7.1/24"]);
    assert_eq!(cidrs(&sb.ip_json("addr show dev vh")), ["10.7.7.2/24"]);
    assert!(!sb.has_link(None, "veth0") && !sb.netns_list().contains(&"blue".to_string()));
    // `check` runs with the params `up` was given.
    let check = sb.lunet(&["check", "veth-pair"]);
    assert!(
        check.status.success() && common::text(&check).contains("red pings 10.7.7.2"),
        "{}",
        common::text(&check)
    );
    sb.down("veth-pair");

    // A param the scenario does not have, or of the wrong type, changes nothing.
    let bad = sb.lunet(&["up", "webserver", "--set", "port=http"]);
    assert!(
        !bad.status.success() && common::text(&bad).contains("integer"),
        "{}",
        common::text(&bad)
    );
    let bad = sb.lunet(&["up", "veth-pair", "--set", "colour=blue"]);
    assert!(
        !bad.status.success() && common::text(&bad).contains("no param \"colour\""),
        "{}",
        common::text(&bad)
    );
    assert!(sb.netns_list().is_empty());
}

#[test]
fn webserver() {
    let sb = Sandbox::new();
    let out = sb.scenario_cycle("webserver", &[]);
    assert!(out.contains("Directory listing for /"), "{out}");

    sb.up("webserver", &[]);
    // curl from the sandbox itself (the host side of the veth).
    let page = sb.sh("curl -sS --max-time 5 --retry 20 --retry-connrefused --retry-delay 0 http://10.0.0.11:4000/");
    assert!(page.contains("Directory listing for /"), "{page}");
    // The server runs inside ns_web, and nowhere else.
    let pids: Vec<u32> = sb
        .sh("ip netns pids ns_web")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(!pids.is_empty(), "no process in ns_web");
    let comms = sb.sh(&format!(
        "ps -o args= -p {}",
        pids.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")
    ));
    assert!(comms.contains("http.server 4000"), "{comms}");
    assert!(
        !sb.ok("curl -s --max-time 1 http://127.0.0.1:4000/"),
        "the host itself answers on 4000"
    );
    sb.down("webserver");
    for p in pids {
        assert!(!sb.alive(p), "server pid {p} survived down");
    }
}

#[test]
fn lan_nat() {
    let sb = Sandbox::new();
    let out = sb.scenario_cycle("lan-nat", &[]);
    assert!(out.contains("the outside saw 203.0.113.254"), "{out}");

    sb.up("lan-nat", &[]);
    // The LAN: two ports on br0 in the router, default routes via the bridge.
    assert_eq!(sb.bridge_ports("router", "br0"), ["veth-netns_0", "veth-netns_1"]);
    for ns in ["netns_0", "netns_1"] {
        let def = sb.ip_json(&format!("-n {ns} route show default"));
        assert_eq!(def[0]["gateway"], "192.168.1.11", "{ns}: {def}");
    }
    // The outside cannot route back to the LAN: only NAT makes replies arrive.
    assert!(!routes(&sb, Some("outside")).iter().any(|r| r.starts_with("192.168.")));
    assert!(sb.ok("ip netns exec netns_0 ping -c1 -W1 203.0.113.1"));
    assert!(sb.ok("ip netns exec netns_0 ping -c1 -W1 192.168.1.21"));
    let nat = sb.sh("ip netns exec router iptables -t nat -S POSTROUTING");
    assert!(
        nat.contains("-A POSTROUTING -s 192.168.1.0/24 -o wan -j MASQUERADE"),
        "{nat}"
    );
    assert_eq!(sb.sh("ip netns exec router sysctl -n net.ipv4.ip_forward").trim(), "1");
    let seen = sb.sh("ip netns exec netns_1 socat -T2 - TCP:203.0.113.1:9000,connect-timeout=2");
    assert_eq!(
        seen.trim(),
        "203.0.113.254",
        "the outside saw the LAN host, not the router"
    );
    // Nothing of it is in the sandbox's own namespace.
    assert!(!sb.has_link(None, "br0"));
    assert!(!sb.sh("iptables -t nat -S").contains("MASQUERADE"));
    sb.down("lan-nat");
    assert!(sb.netns_list().is_empty());
}

/// With `uplink` the sandbox itself is the router (seed 004 as written): the LAN
/// goes out through a real interface to a "world" the test builds with `ip`,
/// which has no route back to the LAN.
#[test]
fn lan_nat_through_a_real_uplink_with_set() {
    let sb = Sandbox::new();
    sb.sh(
        "ip netns add world && ip link add up0 type veth peer name eth0 netns world && \
         ip addr add 198.51.100.1/24 dev up0 && ip link set up0 up && \
         ip -n world addr add 198.51.100.2/24 dev eth0 && ip -n world link set eth0 up && ip -n world link set lo up && \
         ip route add default via 198.51.100.2 && \
         for i in $(seq 100); do ip -n world link show eth0 | grep -q LOWER_UP && break; sleep 0.02; done",
    );
    let forward = sb.sh("sysctl -n net.ipv4.ip_forward");
    let sets = [
        "uplink=up0",
        "probe=198.51.100.2",
        "bridge=lanbr",
        "bridge_addr=10.9.0.1/24",
        "host0_addr=10.9.0.2/24",
        "host1_addr=10.9.0.3/24",
    ];
    let out = sb.scenario_cycle("lan-nat", &sets);
    assert!(out.contains("ok   netns_1 pings 198.51.100.2"), "{out}");
    assert_eq!(
        sb.sh("sysctl -n net.ipv4.ip_forward"),
        forward,
        "ip_forward not restored"
    );

    sb.up("lan-nat", &sets);
    assert_eq!(
        sb.netns_list(),
        ["netns_0", "netns_1", "world"],
        "no router or outside namespace"
    );
    assert_eq!(cidrs(&sb.ip_json("addr show dev lanbr")), ["10.9.0.1/24"]);
    let nat = sb.sh("iptables -t nat -S POSTROUTING");
    assert!(
        nat.contains("-A POSTROUTING -s 10.9.0.0/24 -o up0 -j MASQUERADE"),
        "{nat}"
    );
    assert!(sb.ok("ip netns exec netns_0 ping -c1 -W1 198.51.100.2"));
    sb.down("lan-nat");

    // An uplink without a probe is refused before anything changes.
    let before = sb.state_dump();
    let bad = sb.lunet(&["up", "lan-nat", "--set", "uplink=up0"]);
    assert!(
        !bad.status.success() && common::text(&bad).contains("needs probe="),
        "{}",
        common::text(&bad)
    );
    let bad = sb.lunet(&["up", "lan-nat", "--set", "uplink=nosuch0", "--set", "probe=1.1.1.1"]);
    assert!(
        !bad.status.success() && common::text(&bad).contains("nosuch0"),
        "{}",
        common::text(&bad)
    );
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn dns_per_namespace() {
    let sb = Sandbox::new();
    let etc = sb.sh("md5sum /etc/hosts /etc/resolv.conf");
    let out = sb.scenario_cycle("dns-per-namespace", &[]);
    assert!(out.contains("gives 1.2.3.4"), "{out}");

    sb.up("dns-per-namespace", &[]);
    let inside = sb.sh("ip netns exec ns1 getent hosts mytest");
    assert_eq!(inside.split_whitespace().collect::<Vec<_>>(), ["1.2.3.4", "mytest"]);
    let resolv = sb.sh("ip netns exec ns1 cat /etc/resolv.conf");
    assert!(resolv.lines().any(|l| l.trim() == "nameserver 8.8.1.1"), "{resolv}");
    assert!(sb
        .sh("ls /etc/netns/ns1")
        .split_whitespace()
        .eq(["hosts", "resolv.conf"]));
    // Outside: the machine's files, untouched.
    assert!(!sb.ok("getent hosts mytest | grep -q 1.2.3.4"));
    assert_eq!(sb.sh("md5sum /etc/hosts /etc/resolv.conf"), etc);
    sb.down("dns-per-namespace");
    assert!(!sb.ok("test -e /etc/netns/ns1"));
    assert_eq!(sb.sh("md5sum /etc/hosts /etc/resolv.conf"), etc);
}

#[test]
fn container() {
    let sb = Sandbox::new();
    let out = sb.scenario_cycle("container", &[]);
    assert!(out.contains("ok   inside, PID 1 is the init"), "{out}");

    sb.up("container", &[]);
    // The init: the process of node1 whose pid in its innermost PID namespace is 1.
    let init: u32 = sb
        .sh("for p in $(ip netns pids node1); do grep -qE '^NSpid:.*[[:space:]]1$' /proc/$p/status && echo $p; done; true")
        .trim()
        .parse()
        .expect("exactly one PID-1 process in node1");
    let ps = sb.sh(&format!("nsenter -t {init} -p -m -- ps -e -o pid=,comm="));
    let procs: Vec<String> = ps
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(procs[0], "1 sh", "{ps}");
    assert_eq!(procs.len(), 3, "ps inside sees more than the node: {ps}");
    assert!(procs[1].ends_with(" sleep") && procs[2].ends_with(" ps"), "{ps}");
    assert_eq!(sb.sh(&format!("nsenter -t {init} -u hostname")).trim(), "node1");
    assert_ne!(sb.sh("hostname").trim(), "node1");
    // Own mount table: its /proc is not the sandbox's.
    assert_ne!(
        sb.sh(&format!("readlink /proc/{init}/ns/mnt")),
        sb.sh("readlink /proc/self/ns/mnt")
    );
    assert!(sb.ok(&format!("nsenter -t {init} -n ping -c1 -W1 10.2.0.1")));
    assert!(sb.ok("ping -c1 -W1 10.2.0.2"));
    sb.down("container");
    assert!(!sb.alive(init), "the init survived down");
}

#[test]
fn topo_builds_in_order_and_rejects_mistakes() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local topo = require "lunet.topo"
        local t = topo.build {
          nodes = { "r", "a", { name = "b" } },
          bridges = { { name = "br0", ns = "r", addr = "10.0.0.1/24" } },
          links = {
            { a = "a", b = "br0", addr = "10.0.0.2/24" },
            { a = "b", b = "br0", addr = "10.0.0.3/24", b_name = "port-b" },
            { a = "a", b = "b", addr = "10.9.0.1/30", peer_addr = { "10.9.0.2/30" } },
            { a = "host", b = "r", addr = "10.8.0.1/30", peer_addr = "10.8.0.2/30", a_name = "to-r" },
          },
          routes = { { node = "host", to = "10.0.0.0/24", via = "10.8.0.2" } },
        }
        print("links", t.links[1].a, t.links[1].b, t.links[2].b, t.links[3].a, t.links[3].b, t.links[4].b)
        print("bridge", t.bridges.br0, t.nodes.host.name)
        print("ping", (net.host:ping("10.0.0.1")), (t.nodes.a:ping("10.9.0.2")))
        for _, bad in ipairs {
          { nodes = { "x" }, link = {} },
          { links = { { a = "nobody", b = "br9" } } },
          { nodes = { "host" } },
          { bridges = { "brx" }, links = { { a = "host", b = "brx", peer_addr = "10.1.0.1/24" } } },
        } do
          print("err", select(2, pcall(topo.build, bad)))
        end
        -- The error points at the caller's line, not into topo.lua.
        print("where", select(2, pcall(function()
          topo.build { nodes = { "host" } }
        end)))
        "#,
    );
    assert!(
        out.contains("links\tLink(eth0@a)\tLink(veth-a@r)\tLink(port-b@r)\tLink(eth1@a)\tLink(eth1@b)\tLink(eth0@r)"),
        "{out}"
    );
    assert!(out.contains("bridge\tLink(br0@r)\thost"), "{out}");
    assert!(out.contains("ping\ttrue\ttrue"), "{out}");
    assert!(out.contains("unknown key \"link\""), "{out}");
    assert!(out.contains("no node \"nobody\""), "{out}");
    assert!(out.contains("\"host\" is net.host"), "{out}");
    assert!(out.contains("switch port"), "{out}");
    assert!(
        out.contains("/script.lua:27: lunet.topo.build:") && out.contains(": lunet.topo.build: nodes[1]"),
        "{out}"
    );
    assert!(!out.contains("topo.lua:"), "{out}");
}
