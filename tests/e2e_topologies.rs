//! End to end: the `lunet` binary runs the seed tutorials' topologies, and
//! `ip -j` / `ping` (independent observers) check what the kernel holds.

mod common;
use common::Sandbox;

#[test]
fn seed001_left_right_bridge_pings_across() {
    let sb = Sandbox::new();
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/two-namespaces.lua")).unwrap();
    let out = sb.lunet(&["up", concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/two-namespaces.lua")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = script;
    let ns = sb.sh("ip netns list");
    assert!(ns.contains("left") && ns.contains("right"), "{ns}");
    let br = sb.ip_json("-d link show br0");
    assert_eq!(br[0]["linkinfo"]["info_kind"], "bridge");
    let left = sb.ip_json("-n left addr show dev eth0");
    let addrs: Vec<&str> = left[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert!(addrs.contains(&"10.0.1.1"), "{addrs:?}");
    assert!(sb.ok("ip netns exec left ping -c1 -W2 10.0.0.1"));
    assert!(sb.ok("ip netns exec right ping -c1 -W2 10.0.1.1"));
}

/// Two hosts on different subnets, a router between them: forwarding is what makes them meet.
#[test]
fn routed_hosts_ping_through_a_router_only_when_it_forwards() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local h1, r, h2 = net.ns.add("h1"), net.ns.add("r"), net.ns.add("h2")
           local r1, e1 = r:veth("r-h1", "eth0", { peer_ns = h1, up = true })
           local r2, e2 = r:veth("r-h2", "eth0", { peer_ns = h2, up = true })
           r1:addr_add("10.1.0.1/24"); e1:addr_add("10.1.0.2/24")
           r2:addr_add("10.2.0.1/24"); e2:addr_add("10.2.0.2/24")
           h1:route_add { to = "default", via = "10.1.0.1" }
           h2:route_add { to = "10.1.0.0/24", via = "10.2.0.1", dev = "eth0" }"#,
    );
    assert_eq!(sb.sh("ip netns exec r sysctl -n net.ipv4.ip_forward").trim(), "0");
    assert!(
        !sb.ok("ip netns exec h1 ping -c1 -W1 10.2.0.2"),
        "pinged through a router that does not forward"
    );
    sb.lua_ok(r#"assert(net.ns.get("r"):sysctl("net.ipv4.ip_forward", true) == "0")"#);
    assert!(sb.ok("ip netns exec h1 ping -c1 -W2 10.2.0.2"));
    assert!(sb.ok("ip netns exec h2 ping -c1 -W2 10.1.0.2"));
    // The path really goes through r.
    let get = sb.ip_json("-n h1 route get 10.2.0.2");
    assert_eq!(get[0]["gateway"], "10.1.0.1");
}

/// Policy routing: a rule sends one source address to table 100, whose default goes the other way.
#[test]
fn source_rule_picks_the_second_uplink() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local c, g1, g2 = net.ns.add("c"), net.ns.add("g1"), net.ns.add("g2")
           for _, g in ipairs { g1, g2 } do g:sysctl("net.ipv4.ip_forward", 1) end
           -- no IPv6 chatter from c to blur the packet counters below
           c:sysctl("net.ipv6.conf.all.disable_ipv6", 1); c:sysctl("net.ipv6.conf.default.disable_ipv6", 1)
           local u1, p1 = c:veth("up1", "eth0", { peer_ns = g1, up = true })
           local u2, p2 = c:veth("up2", "eth0", { peer_ns = g2, up = true })
           u1:addr_add("10.1.0.2/24"); p1:addr_add("10.1.0.1/24")
           u2:addr_add("10.2.0.2/24"); p2:addr_add("10.2.0.1/24")
           -- 10.9.9.9 lives behind both gateways
           for _, g in ipairs { g1, g2 } do g:bridge("far", { up = true }):addr_add("10.9.9.9/32") end
           c:route_add { to = "default", via = "10.1.0.1" }
           c:route_add { to = "default", via = "10.2.0.1", table = 100 }
           c:rule_add { from = "10.2.0.2", table = 100, priority = 100 }"#,
    );
    let plain = sb.ip_json("-n c route get 10.9.9.9");
    assert_eq!(plain[0]["gateway"], "10.1.0.1");
    let sourced = sb.ip_json("-n c route get 10.9.9.9 from 10.2.0.2");
    assert_eq!(sourced[0]["gateway"], "10.2.0.1", "{sourced}");
    assert_eq!(sourced[0]["dev"], "up2");
    // Both paths carry traffic: ping from each source, and see which gateway answered by its counters.
    let rx = |ns: &str| -> u64 {
        sb.ip_json(&format!("-n {ns} -s link show eth0"))[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap()
    };
    let (a1, a2) = (rx("g1"), rx("g2"));
    assert!(sb.ok("ip netns exec c ping -c3 -i0.2 -W2 -I 10.2.0.2 10.9.9.9 >/dev/null"));
    assert!(rx("g2") >= a2 + 3, "the sourced pings did not go through g2");
    assert!(rx("g1") < a1 + 3, "the sourced pings went through g1");
    sb.lua_ok(r#"net.ns.get("c"):rule_del { from = "10.2.0.2", table = 100, priority = 100 }"#);
    let sourced = sb.ip_json("-n c route get 10.9.9.9 from 10.2.0.2");
    assert_eq!(
        sourced[0]["gateway"], "10.1.0.1",
        "without the rule, the main table decides"
    );
}

/// IPv6 end to end: addresses and a route of another /64 across a veth.
#[test]
fn ipv6_across_a_veth() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
           for _, n in ipairs { a, b } do n:sysctl("net.ipv6.conf.default.accept_dad", 0) end
           local x, y = a:veth("eth0", "eth0", { peer_ns = b, up = true })
           x:addr_add("fd00::1/64"); y:addr_add("fd00::2/64")
           local lo2 = b:bridge("svc", { up = true }); lo2:addr_add("fd99::9/128")
           a:route_add { to = "fd99::/64", via = "fd00::2" }"#,
    );
    assert!(sb.ok("ip netns exec a ping -6 -c1 -W2 fd00::2"));
    assert!(sb.ok("ip netns exec a ping -6 -c1 -W2 fd99::9"));
    let get = sb.ip_json("-n a -6 route get fd99::9");
    assert_eq!(get[0]["gateway"], "fd00::2");
}

/// Links made in one place and moved (and renamed) into their namespaces carry traffic.
#[test]
fn moved_and_renamed_links_carry_traffic() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
           local x, y = net.host:veth("tmp-x", "tmp-y")
           x:set { ns = a, name = "eth0", up = true }
           y:set { ns = "b", name = "eth0" }
           y:up()
           x:addr_add("10.0.0.1/24"); y:addr_add("10.0.0.2/24")
           assert(x.ns == a and y.ns == b and x.name == "eth0")"#,
    );
    assert!(!sb.has_link(None, "tmp-x") && !sb.has_link(None, "tmp-y"));
    assert!(sb.ok("ip netns exec a ping -c1 -W2 10.0.0.2"));
}

/// The README's examples must work as printed.
#[test]
fn readme_examples_run() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```lua\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "expected the script and the scenario example");
    let sb = Sandbox::new();
    let out = sb.lua_ok(blocks[0]);
    assert!(out.starts_with("true"), "{out}");
    assert!(out.contains("10.0.0.1/24"), "{out}");
    let path = sb.write("pair.lua", blocks[1]);
    let o = sb.lunet(&["up", path.to_str().unwrap(), "--set", "a=x"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = |sb: &Sandbox| -> Vec<String> { sb.sh("ls /run/netns").split_whitespace().map(String::from).collect() };
    assert!(names(&sb).contains(&"x".to_string()));
    assert!(sb.lunet(&["down", "pair"]).status.success());
    assert_eq!(
        names(&sb),
        ["left", "right"],
        "down must remove exactly the scenario's namespaces"
    );
}

/// `net.monitor` sees what `ip` (an independent actor) does in a namespace.
#[test]
fn monitor_reports_link_address_and_route_events() {
    let sb = Sandbox::new();
    sb.sh("ip netns add m");
    let out = sb.lua_ok(
        r#"
        local it = net.monitor { ns = "m", timeout = 0.5 }
        os.execute("ip -n m link add d0 type bridge && ip -n m addr add 10.3.0.1/24 dev d0 && ip -n m link set d0 up && ip -n m link del d0")
        for ev in it do print(ev.kind, ev.action, ev.dev, ev.cidr or ev.to or "") end
        print(pcall(net.monitor, { ns = "m", every = 1 }))
        "#,
    );
    assert!(out.contains("link\tnew\td0"), "{out}");
    assert!(out.contains("addr\tnew\td0\t10.3.0.1/24"), "{out}");
    assert!(out.contains("route\tnew\td0\t10.3.0.0/24"), "{out}");
    assert!(out.contains("link\tdel\td0"), "{out}");
    assert!(out.contains("unknown option \"every\""), "{out}");
}

/// Each open namespace holds fds: a lab bigger than the soft fd limit still works
/// (lunet raises its limit to the hard one) and is torn down completely.
#[test]
fn more_namespaces_than_the_soft_fd_limit() {
    let sb = Sandbox::new();
    let lunet = common::lunet_bin();
    let code = "for i = 1, 150 do local n = net.ns.add('n' .. i) n:bridge('b0', {up = true}) end error('now undo')";
    let o = sb.run(
        "sh",
        &["-c", &format!("ulimit -Sn 256; {} -e \"{code}\"", lunet.display())],
    );
    let text = common::text(&o);
    assert!(text.contains("now undo") && text.contains("rolled back"), "{text}");
    assert!(!text.contains("too many open files"), "{text}");
    assert_eq!(sb.sh("ls /run/netns | wc -l").trim(), "0");
    let o = sb.run(
        "sh",
        &[
            "-c",
            &format!(
                "ulimit -Sn 256; {} -e \"for i = 1, 150 do net.ns.add('n' .. i) end\"",
                lunet.display()
            ),
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(sb.sh("ls /run/netns | wc -l").trim(), "150");
    sb.sh("for n in $(ls /run/netns); do ip netns del $n; done");
    // A hard limit too: lunet keeps only as many namespace handles open as it leaves room for.
    let o = sb.run(
        "sh",
        &[
            "-c",
            &format!(
                "ulimit -n 256; {} -e \"for i = 1, 150 do net.ns.add('n' .. i) end\"",
                lunet.display()
            ),
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(sb.sh("ls /run/netns | wc -l").trim(), "150");
    sb.sh("for n in $(ls /run/netns); do ip netns del $n; done");
    // Out of fds for good (the script keeps a file open per namespace): a clear
    // error, and the rollback still leaves nothing.
    let o = sb.run(
        "sh",
        &[
            "-c",
            &format!(
                "ulimit -n 256; {} -e \"keep = {{}} for i = 1, 150 do net.ns.add('n' .. i) \
                 keep[#keep + 1] = io.open('/dev/null') end\"",
                lunet.display()
            ),
        ],
    );
    let text = common::text(&o);
    assert!(
        !o.status.success() && text.contains("too many open files") && text.contains("rolled back"),
        "{text}"
    );
    assert!(!text.contains("rollback:"), "the rollback itself failed: {text}");
    assert_eq!(sb.sh("ls /run/netns | wc -l").trim(), "0");
    assert!(
        !sb.sh("cat /proc/self/mountinfo").contains("/run/netns/n"),
        "a namespace is still mounted"
    );
}
