//! iptables per namespace (seed 004's LAN + NAT), checked with `iptables -S`
//! inside the namespace and with real traffic (ping, TCP through DNAT).

mod common;
use common::Sandbox;

/// Rules, user chains and non-default policies: what filters traffic. (iptables-nft
/// creates empty built-in tables on first use; they filter nothing and are not compared.)
fn fw_state(sb: &Sandbox) -> String {
    sb.sh("iptables-save | grep -E '^(\\*|-|:[^ ]+ (-|DROP))' | grep -v '^\\*' || true")
}

/// Seed 004: two LAN hosts on br0 in a router namespace, an "outside"
/// namespace with no route back to the LAN. `nat` decides whether the
/// router masquerades. Prints the source address the outside saw.
fn lan(nat: bool) -> String {
    format!(
        r#"
        local router, outside = net.ns.add("router"), net.ns.add("outside")
        local lan = {{ net.ns.add("netns_0"), net.ns.add("netns_1") }}
        local br0 = router:bridge("br0", {{ up = true }})
        br0:addr_add("192.168.1.11/24")
        for i, host in ipairs(lan) do
          local _, eth0 = router:veth("veth" .. i, "eth0", {{ peer_ns = host, master = br0, up = true }})
          eth0:addr_add("192.168.1." .. (19 + i) .. "/24")
          host:route_add {{ to = "default", via = "192.168.1.11" }}
        end
        local wan, out0 = router:veth("wan", "eth0", {{ peer_ns = outside, up = true }})
        wan:addr_add("203.0.113.254/24")
        out0:addr_add("203.0.113.1/24")
        router:ip_forward(true)
        router:forward_accept {{ iif = "br0" }}
        router:forward_accept {{ oif = "br0" }}
        if {nat} then router:nat_masquerade {{ source = "192.168.1.0/24" }} end
        print("ping=" .. tostring((lan[1]:ping("203.0.113.1", {{ timeout = 1 }}))))
        print("lan=" .. tostring((lan[1]:ping("192.168.1.21"))))
        -- the outside tells who connected: SOCAT_PEERADDR is the source it saw
        local srv = outside:spawn({{ "socat", "TCP-LISTEN:9000,reuseaddr,fork", "SYSTEM:echo peer=$SOCAT_PEERADDR" }})
        for _ = 1, 50 do
          local r = lan[2]:exec("socat -T1 - TCP:203.0.113.1:9000,connect-timeout=1", {{ check = false }})
          if r.code == 0 and r.stdout ~= "" then io.write(r.stdout) break end
          if not {nat} then break end
          lan[2]:exec("sleep 0.05")
        end
        "#
    )
}

#[test]
fn seed004_masquerade_makes_the_outside_reachable_and_hides_the_lan() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(&lan(true));
    assert!(out.contains("ping=true"), "{out}");
    assert!(out.contains("lan=true"), "{out}");
    assert!(
        out.contains("peer=203.0.113.254"),
        "outside must see the router's address: {out}"
    );
    let nat = sb.sh("ip netns exec router iptables -t nat -S POSTROUTING");
    assert!(nat.contains("-A POSTROUTING -s 192.168.1.0/24 -j MASQUERADE"), "{nat}");
    let filter = sb.sh("ip netns exec router iptables -S FORWARD");
    assert!(
        filter.contains("-A FORWARD -i br0 -j ACCEPT") && filter.contains("-A FORWARD -o br0 -j ACCEPT"),
        "{filter}"
    );
    assert_eq!(sb.sh("ip netns exec router sysctl -n net.ipv4.ip_forward").trim(), "1");
    // The sandbox's own namespace got no rules.
    assert!(!sb.sh("iptables -t nat -S").contains("MASQUERADE"));
}

#[test]
fn seed004_without_masquerade_the_outside_cannot_answer() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(&lan(false));
    assert!(out.contains("ping=false"), "{out}");
    assert!(out.contains("lan=true"), "{out}");
    assert!(!out.contains("peer="), "{out}");
}

#[test]
fn legacy_backend_works_too() {
    let sb = Sandbox::new();
    let path = sb.write("lan.lua", &lan(true));
    let out = sb
        .command(common::lunet_bin().to_str().unwrap())
        .env("LUNET_IPTABLES", "legacy")
        .args(["run", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("ping=true") && stdout.contains("peer=203.0.113.254"),
        "{stdout}"
    );
    let legacy = sb.sh("ip netns exec router iptables-legacy -t nat -S POSTROUTING");
    assert!(legacy.contains("MASQUERADE"), "{legacy}");
    let nft = sb.sh("ip netns exec router iptables-nft -t nat -S POSTROUTING");
    assert!(
        !nft.contains("MASQUERADE"),
        "rules went to nft instead of legacy: {nft}"
    );
}

#[test]
fn teardown_removes_exactly_lunets_rules_and_appends_are_unique() {
    let sb = Sandbox::new();
    // Foreign rules, made by someone else before lunet runs.
    sb.sh("iptables -A INPUT -s 9.9.9.9 -j DROP && iptables -t nat -A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE");
    let before = fw_state(&sb);
    let out = sb.lua_ok(
        r#"
        net.host:iptables("-A INPUT -s 9.9.9.9 -j DROP")          -- already there: not duplicated
        net.host:iptables({"-A", "INPUT", "-s", "8.8.8.8", "-j", "DROP"})
        net.host:iptables("-A INPUT -s 8.8.8.8 -j DROP")          -- twice: still once
        net.host:nat_masquerade { source = "10.1.0.0/24", out = "lo" }
        net.host:iptables_restore("*filter\n:LUNET - [0:0]\n-A LUNET -j RETURN\n-A INPUT -j LUNET\nCOMMIT\n")
        io.write(net.host:iptables("-S"))
        io.write(net.host:iptables("-t nat -S"))
        net.reset()
        "#,
    );
    assert_eq!(out.matches("-A INPUT -s 9.9.9.9/32 -j DROP").count(), 1, "{out}");
    assert_eq!(out.matches("-A INPUT -s 8.8.8.8/32 -j DROP").count(), 1, "{out}");
    assert!(
        out.contains("-N LUNET") && out.contains("-A POSTROUTING -s 10.1.0.0/24 -o lo -j MASQUERADE"),
        "{out}"
    );
    assert_eq!(fw_state(&sb), before, "teardown must leave exactly the foreign rules");
}

#[test]
fn a_failing_script_rolls_its_rules_back() {
    let sb = Sandbox::new();
    let before = fw_state(&sb);
    let err = sb.lua_err(
        r#"
        net.host:iptables("-A INPUT -s 7.7.7.7 -j DROP")
        net.host:port_forward { port = 8080, to = "10.0.0.2:80" }
        error("boom")
        "#,
    );
    assert!(err.contains("boom") && err.contains("rolled back"), "{err}");
    assert_eq!(fw_state(&sb), before);
}

#[test]
fn port_forward_reaches_a_server_behind_the_router() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local client, router, server = net.ns.add("client"), net.ns.add("router"), net.ns.add("server")
        local c, r1 = client:veth("eth0", "c0", { peer_ns = router, up = true })
        local r2, s = router:veth("s0", "eth0", { peer_ns = server, up = true })
        c:addr_add("198.51.100.2/24"); r1:addr_add("198.51.100.1/24")
        r2:addr_add("10.0.0.1/24"); s:addr_add("10.0.0.2/24")
        server:route_add { to = "default", via = "10.0.0.1" }
        router:ip_forward(true)
        router:port_forward { proto = "tcp", port = 8080, to = "10.0.0.2:80", iif = "c0" }
        local srv = server:spawn({ "socat", "TCP-LISTEN:80,reuseaddr,fork", "SYSTEM:echo hello-from-server" })
        for _ = 1, 50 do
          local r = client:exec("socat -T1 - TCP:198.51.100.1:8080,connect-timeout=1", { check = false })
          if r.stdout:find("hello") then print("got " .. r.stdout) break end
          client:exec("sleep 0.05")
        end
        "#,
    );
    assert!(out.contains("got hello-from-server"), "{out}");
    let nat = sb.sh("ip netns exec router iptables -t nat -S PREROUTING");
    assert!(
        nat.contains("-A PREROUTING -i c0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80"),
        "{nat}"
    );
}

#[test]
fn bad_rules_give_iptables_message_and_leave_nothing() {
    let sb = Sandbox::new();
    let before = fw_state(&sb);
    let err = sb.lua_err(r#"net.host:iptables("-A INPUT -p tcp --dportx 22 -j DROP")"#);
    assert!(
        err.contains("ns:iptables:") && err.contains("unknown option \"--dportx\""),
        "{err}"
    );
    let err = sb.lua_err(
        r#"net.host:iptables_restore("*filter\n-A INPUT -s 6.6.6.6 -j DROP\nCOMMIT\n*nat\n-A POSTROUTING -j NO_SUCH_CHAIN\nCOMMIT\n")"#,
    );
    assert!(
        err.contains("ns:iptables_restore:") && err.contains("NO_SUCH_CHAIN"),
        "{err}"
    );
    let err = sb.lua_err(r#"net.host:iptables_restore("-A INPUT -j DROP\n")"#);
    assert!(err.contains("outside a *table section"), "{err}");
    let err = sb.lua_err(r#"net.host:port_forward { port = 99999, to = "1.2.3.4:80" }"#);
    assert!(
        err.contains("ns:port_forward: option \"port\" must be in 1..65535"),
        "{err}"
    );
    let err = sb.lua_err(r#"net.host:nat_masquerade { sauce = "10.0.0.0/8" }"#);
    assert!(err.contains("unknown option \"sauce\""), "{err}");
    assert_eq!(fw_state(&sb), before, "half-applied rules left behind");
}

#[test]
fn a_missing_iptables_binary_names_the_package() {
    let sb = Sandbox::new();
    let path = sb.write("x.lua", r#"net.host:iptables("-S")"#);
    let out = sb
        .command("env")
        .args([
            "PATH=/nonexistent",
            common::lunet_bin().to_str().unwrap(),
            "run",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("iptables not found") && err.contains("apt-get install iptables"),
        "{err}"
    );
}
