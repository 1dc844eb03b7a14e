//! ip scripts: what `lunet up FILE.sh` builds is what `sh FILE.sh` builds
//! (each in its own fresh sandbox, compared through `ip -j` and
//! `iptables-save`), `lunet down` puts the sandbox back exactly, every form
//! lunet reads matches what iproute2 does with it, bad lines are one clear
//! line and change nothing, `lunet convert` and `lunet plan` round-trip, and
//! `net.ip`/`ns:ip` and the REPL's `ip …` lines go through the same parser.

mod common;
use common::Sandbox;
use serde_json::Value;
use std::process::Command;

/// Keeps what is configuration and drops what is the kernel's own choice or
/// timing: MACs, ifindexes, netnsids, operstate and carrier, statistics.
fn norm_link(l: &Value) -> String {
    let flags: Vec<&str> = l["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x.as_str()).filter(|x| *x == "UP").collect())
        .unwrap_or_default();
    let info = &l["linkinfo"];
    let data = &info["info_data"];
    format!(
        "link {} {flags:?} mtu={} master={} kind={} link={} vlan={} vxlan={}/{}/{}/{} macvlan={} addr={}",
        l["ifname"],
        l["mtu"],
        l["master"],
        info["info_kind"],
        l["link"],
        data["id"],
        data["id"],
        data["remote"],
        data["port"],
        data["link"],
        data["mode"],
        // Random MACs differ between runs; a MAC set by the script does not.
        l["address"]
            .as_str()
            .filter(|a| a.starts_with("02:00:00"))
            .unwrap_or("-"),
    )
}

/// One namespace's configuration, as text lines (sorted).
fn ns_dump(sb: &Sandbox, ns: Option<&str>) -> Vec<String> {
    let n = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
    let exec = ns.map(|n| format!("ip netns exec {n} ")).unwrap_or_default();
    let mut out = vec![];
    for l in sb.ip_json(&format!("-d {n}link show")).as_array().unwrap() {
        out.push(norm_link(l));
    }
    for l in sb.ip_json(&format!("{n}addr show")).as_array().unwrap() {
        for a in l["addr_info"].as_array().unwrap() {
            let local = a["local"].as_str().unwrap_or("");
            if local.starts_with("fe80:") {
                continue; // the kernel's own, on its own time
            }
            // lunet always sets the broadcast address (as `brd +`), iproute2 only when asked: not compared.
            out.push(format!(
                "addr {} {local}/{} scope={}",
                l["ifname"], a["prefixlen"], a["scope"]
            ));
        }
    }
    for fam in ["-4", "-6"] {
        for r in sb
            .ip_json(&format!("{fam} {n}route show table all"))
            .as_array()
            .unwrap()
        {
            let dst = r["dst"].as_str().unwrap_or("");
            if dst.starts_with("fe80:") || dst.starts_with("ff00:") || r["type"] == "multicast" {
                continue;
            }
            out.push(format!(
                "route {dst} via={} dev={} table={} metric={} src={} scope={} proto={} type={}",
                r["gateway"], r["dev"], r["table"], r["metric"], r["prefsrc"], r["scope"], r["protocol"], r["type"]
            ));
        }
        for r in sb.ip_json(&format!("{fam} {n}rule show")).as_array().unwrap() {
            out.push(format!(
                "rule {} from={}/{} to={}/{} table={} iif={} fwmark={}",
                r["priority"], r["src"], r["srclen"], r["dst"], r["dstlen"], r["table"], r["iifname"], r["fwmark"]
            ));
        }
    }
    out.push(sb.sh(&format!(
        "{exec}sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding | tr '\\n' ' '"
    )));
    out.extend(
        // (grep's status 1 is "no such line"; a failing iptables-save fails the test)
        sb.sh(&format!(
            "set -e; v4=$({exec}iptables-save); v6=$({exec}ip6tables-save); \
             printf '%s\\n' \"$v4\" | grep -E '^(-|:[A-Z_]+ [A-Z]+ )' || [ $? -eq 1 ]; \
             printf '%s\\n' \"$v6\" | grep '^-' || [ $? -eq 1 ]"
        ))
        .lines()
        .map(|l| format!("ipt {}", l.split(" [").next().unwrap_or(l))),
    );
    out.sort();
    out
}

/// The whole sandbox: lunet's own namespace and every named one.
fn dump(sb: &Sandbox) -> String {
    let mut s = format!("== host\n{}\n", ns_dump(sb, None).join("\n"));
    for n in sb.netns_list() {
        s += &format!("== {n}\n{}\n", ns_dump(sb, Some(&n)).join("\n"));
        s += &sb.sh(&format!(
            "ls -R /etc/netns/{n} 2>/dev/null; cat /etc/netns/{n}/* 2>/dev/null; true"
        ));
    }
    s
}

/// `lunet ARGS` inside the sandbox, in the sandbox's directory (so files are named as users name them).
fn lunet_in(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .args(["-t", &sb.pid.to_string(), "-n", "-m", "-p"])
        .arg(format!("--wd={}", sb.dir.path().display()))
        .arg("--")
        .arg(common::lunet_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `sh FILE` in one fresh sandbox, `lunet up FILE` in another: the same state;
/// then `lunet down` leaves the second exactly as before.
fn same_as_sh(name: &str, script: &str) -> (Sandbox, Sandbox) {
    let by_sh = Sandbox::new();
    let p = by_sh.write(&format!("{name}.sh"), script);
    by_sh.sh(&format!("sh -e {}", p.display()));
    let by_lunet = Sandbox::new();
    let before = by_lunet.state_dump();
    by_lunet.write(&format!("{name}.sh"), script);
    let o = lunet_in(&by_lunet, &["up", &format!("{name}.sh")]);
    assert!(o.status.success(), "lunet up {name}.sh:\n{}", common::text(&o));
    assert_eq!(
        dump(&by_sh),
        dump(&by_lunet),
        "{name}: lunet built something else than sh"
    );
    let status = common::text(&lunet_in(&by_lunet, &["status"]));
    assert!(status.contains(name) && status.contains("ip netns add"), "{status}");
    let o = lunet_in(&by_lunet, &["down", name]);
    assert!(o.status.success(), "down {name}:\n{}", common::text(&o));
    // Processes the script started end with it; the sandbox is as it was.
    assert_eq!(before, by_lunet.state_dump(), "{name}: down did not undo exactly");
    (by_sh, by_lunet)
}

/// Seed 001 as people write it: left and right over a bridge, routes to each other's subnet.
const LEFT_RIGHT: &str = r#"#!/bin/sh
# Two namespaces, left and right, each cabled to the bridge br0.
set -e

ip netns add left
ip netns add right
ip link add br0 type bridge
ip link set br0 up

# veth pairs: the near end on the bridge, the far end ("eth0") in the namespace
ip link add veth-left type veth peer name eth0 netns left
ip link add veth-right type veth \
    peer name eth0 netns right
ip link set veth-left master br0 && ip link set veth-left up
ip l s veth-right master br0; ip l s veth-right up

ip -n left addr add 10.0.1.1/24 dev eth0
ip -n right a a 10.0.0.1/24 brd + dev eth0
ip -n left link set eth0 up
ip netns exec right ip link set dev eth0 up
ip -n left link set lo up
ip -n right link set lo up

ip -n left route add 10.0.0.0/24 dev eth0   # the other subnet is on-link
ip -n right route add 10.0.1.0/24 dev eth0
ip netns exec left ping -c1 -W2 10.0.0.1 >/dev/null
"#;

/// Seed 004 as people write it: a LAN of namespaces on a bridge, a default
/// route set in all of them at once, forwarding and MASQUERADE on the router.
const LAN: &str = r#"#!/bin/bash
set -e
ip netns add netns_0
ip netns add netns_1
ip link add br0 type bridge
ip link set br0 up
ip addr add 192.168.1.11/24 brd + dev br0
for_each_host_done=1
"#;

#[test]
fn left_right_over_a_bridge_builds_what_sh_builds() {
    same_as_sh("leftright", LEFT_RIGHT);
}

#[test]
fn a_lan_behind_a_masquerading_router_builds_what_sh_builds() {
    let lan = LAN.replace("for_each_host_done=1\n", "")
        + "ip link add veth0 type veth peer name eth0 netns netns_0\n\
           ip link add veth1 type veth peer name eth0 netns netns_1\n\
           ip link set veth0 master br0\nip link set veth1 master br0\n\
           ip link set veth0 up\nip link set veth1 up\n\
           ip -n netns_0 addr add 192.168.1.20/24 dev eth0\n\
           ip -n netns_1 addr add 192.168.1.21/24 dev eth0\n\
           ip -all netns exec ip link set eth0 up\n\
           ip -all netns exec ip link set lo up\n\
           ip -all netns exec ip route add default via 192.168.1.11\n\
           sysctl -w net.ipv4.ip_forward=1\n\
           iptables -A FORWARD -i br0 -j ACCEPT\n\
           iptables -A FORWARD -o br0 -j ACCEPT\n\
           iptables -t nat -A POSTROUTING -s 192.168.1.0/24 -j MASQUERADE\n\
           ip netns exec netns_0 ping -c1 -W2 192.168.1.21\n";
    same_as_sh("lan", &lan);
}

/// (setup run by sh in both sandboxes, the line under test)
const FORMS: &[(&str, &str)] = &[
    ("", "ip link add veth0 type veth peer name veth1"),
    ("", "ip l a v0 up type veth peer v1"),
    ("", "ip link add name v0 mtu 1400 type veth peer name v1"),
    ("ip netns add a", "ip link add v0 type veth peer name eth0 netns a"),
    ("ip netns add a", "ip link add v0 netns a type veth peer name v1"),
    ("", "ip link add br0 type bridge"),
    ("", "ip link add d0 mtu 1400 address 02:00:00:00:00:01 type dummy"),
    ("ip link add p0 type veth peer name p1", "ip link add link p0 name p0.10 type vlan id 10"),
    ("ip link add p0 type veth peer name p1", "ip link add mv0 link p0 type macvlan mode bridge"),
    ("ip link add p0 type veth peer name p1", "ip link add mv0 link p0 type macvlan"),
    ("", "ip link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789"),
    ("", "ip link add vx0 type vxlan id 42 group 239.1.1.1 dev lo"),
    ("ip link add br0 type bridge; ip link add v0 type veth peer name v1", "ip link set v0 master br0"),
    ("ip link add br0 type bridge; ip link add v0 master br0 type veth peer name v1", "ip link set dev v0 nomaster"),
    ("ip link add v0 type veth peer name v1", "ip l s dev v0 up"),
    ("ip link add v0 type veth peer name v1; ip link set v0 up", "ip link set v0 down"),
    ("ip link add v0 type veth peer name v1", "ip link set v0 mtu 1300"),
    ("ip link add v0 type veth peer name v1", "ip link set v0 address 02:00:00:00:00:02"),
    ("ip link add v0 type veth peer name v1", "ip link set v0 name w0"),
    ("ip netns add a; ip link add v0 type veth peer name v1", "ip link set v1 netns a"),
    ("ip link add v0 type veth peer name v1", "ip link del v0"),
    ("ip link add br0 type bridge", "ip link delete dev br0 type bridge"),
    ("ip link add v0 type veth peer name v1", "ip addr add 10.0.0.1/24 dev v0"),
    ("ip link add v0 type veth peer name v1", "ip a a 10.0.0.1/24 brd + dev v0"),
    ("ip link add v0 type veth peer name v1", "ip -6 addr add fd00::1/64 dev v0"),
    ("ip link add v0 type veth peer name v1; ip addr add 10.0.0.1/24 dev v0", "ip addr del 10.0.0.1/24 dev v0"),
    (ROUTED, "ip route add 10.1.0.0/16 via 10.0.0.2"),
    (ROUTED, "ip r a default via 10.0.0.2 metric 10"),
    (ROUTED, "ip ro add 10.2.0.0/24 dev v0 table 100"),
    (ROUTED, "ip route add 10.3.0.0/24 dev v0 src 10.0.0.1 scope link proto static"),
    (ROUTED, "ip -6 route add fd01::/64 dev v0"),
    ("ip link add v0 type veth peer name v1; ip link set v0 up; ip link set v1 up; ip addr add 10.0.0.1/24 dev v0; ip route add 10.1.0.0/16 via 10.0.0.2", "ip route replace 10.1.0.0/16 via 10.0.0.3"),
    (ROUTED, "ip route replace 10.4.0.0/16 via 10.0.0.3"),
    ("ip link add v0 type veth peer name v1; ip link set v0 up; ip link set v1 up; ip addr add 10.0.0.1/24 dev v0; ip route add 10.1.0.0/16 via 10.0.0.2", "ip route del 10.1.0.0/16"),
    ("", "ip rule add from 10.0.0.0/24 table 100 pref 500"),
    ("", "ip ru a to 10.9.0.0/16 lookup 7"),
    ("", "ip -6 rule add from fd00::/64 table 9 priority 300"),
    ("ip rule add from 10.0.0.0/24 table 100 pref 500", "ip rule del pref 500 from 10.0.0.0/24 table 100"),
    ("", "ip netns add x"),
    ("ip netns add x", "ip netns del x"),
    ("ip netns add a", "ip -n a link set lo up"),
    ("ip netns add a", "ip netns exec a ip link set lo up"),
    ("ip netns add a; ip netns add b", "ip -all netns exec ip link set lo up"),
    ("", "sysctl -w net.ipv4.ip_forward=1"),
    ("", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
    ("ip netns add a", "ip netns exec a sysctl -w net.ipv4.conf.all.forwarding=1"),
    ("", "iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -j MASQUERADE"),
    ("", "iptables -A FORWARD -i v0 -j ACCEPT"),
    ("ip netns add a", "ip netns exec a iptables -A INPUT -s 10.9.9.9 -j DROP"),
    ("", "ip6tables -A INPUT -s fd00::9 -j DROP"),
];

const ROUTED: &str =
    "ip link add v0 type veth peer name v1; ip link set v0 up; ip link set v1 up; ip addr add 10.0.0.1/24 dev v0";

#[test]
fn every_form_does_what_iproute2_does_and_is_undone_exactly() {
    let mut failures = vec![];
    let probe = Sandbox::new();
    let kinds: Vec<&str> = ["dummy", "vlan", "macvlan", "vxlan"]
        .into_iter()
        .filter(|k| !probe.supports_link(k))
        .collect();
    for (setup, line) in FORMS {
        if kinds.iter().any(|k| line.contains(&format!("type {k}"))) {
            eprintln!("skipped (this kernel has no such links): {line}");
            continue;
        }
        let by_ip = Sandbox::new();
        by_ip.sh(setup);
        by_ip.sh(line);
        let by_lunet = Sandbox::new();
        by_lunet.sh(setup);
        // (operstates are the kernel's timing: a bridge that had a port is DOWN, not UNKNOWN)
        let before = dump(&by_lunet);
        by_lunet.write("case.sh", &format!("{line}\n"));
        let o = lunet_in(&by_lunet, &["up", "case.sh"]);
        if !o.status.success() {
            failures.push(format!("{line}: lunet failed: {}", common::text(&o)));
            continue;
        }
        let (want, got) = (dump(&by_ip), dump(&by_lunet));
        if want != got {
            failures.push(format!("{line}:\n--- ip\n{want}\n--- lunet\n{got}"));
        }
        let o = lunet_in(&by_lunet, &["down", "case"]);
        if !o.status.success() {
            failures.push(format!("{line}: down failed: {}", common::text(&o)));
            continue;
        }
        // Deletions of links and namespaces are not undone (what was deleted cannot be rebuilt exactly).
        let deletes = line.contains(" del") && (line.contains(" link ") || line.contains(" netns "));
        // Bringing lo up makes the kernel add 127.0.0.1 for good: setting it down again does not remove it.
        let lo_up = line.ends_with("set lo up");
        if !deletes && !lo_up && dump(&by_lunet) != before {
            failures.push(format!("{line}: down did not restore the state before it"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_lines_are_one_clear_line_and_change_nothing() {
    let sb = Sandbox::new();
    sb.sh("ip link add v0 type veth peer name v1");
    let before = sb.state_dump();
    let cases: &[(&str, &str)] = &[
        ("frobnicate --now", "bad.sh:2: \"frobnicate\" not understood (lunet reads ip, ip netns exec, sysctl -w, iptables and echo > /proc/sys/net lines)"),
        ("ip link add x type wireguard", "bad.sh:2: ip link add: type \"wireguard\" is not supported by lunet (veth, bridge, dummy, vlan, macvlan, vxlan are)"),
        ("ip link set v0 up bogus", "bad.sh:2: ip link set: \"bogus\" not understood"),
        ("ip frob", "bad.sh:2: ip: \"frob\" not understood: the object is one of link, address, route, rule, netns"),
        ("ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:09 dev v0", "bad.sh:2: ip neighbor: not supported by lunet (it changes link, address, route, rule, netns)"),
        ("ip addr add 10.0.0.300/24 dev v0", "bad.sh:2: ip address add: bad address \"10.0.0.300/24\": expected an address in CIDR form like \"10.0.1.1/24\" or \"fd00::1/64\""),
        ("ip addr add 10.0.0.1/24", "bad.sh:2: ip address add: 10.0.0.1/24: \"dev DEV\" is required"),
        ("ip route add 10.0.0.1/24 dev v0", "bad.sh:2: ip route add: bad destination \"10.0.0.1/24\": host bits set (did you mean \"10.0.0.0/24\"?)"),
        ("ip route add 10.0.0.0/24 dev v0 onlink", "bad.sh:2: ip route add: \"onlink\" is not supported by lunet"),
        ("ip route flush table main", "bad.sh:2: ip route flush: not supported by lunet"),
        ("ip rule add not from 10.0.0.0/8 table 1", "bad.sh:2: ip rule add: \"not\" is not supported by lunet"),
        ("ip netns add", "bad.sh:2: ip netns add: which namespace?"),
        ("ip -all link show", "bad.sh:2: ip -all: only `ip -all netns exec CMD` is supported by lunet (ip link)"),
        ("ip -x link", "bad.sh:2: ip: option \"-x\" not understood"),
        ("ip addr add $ADDR dev v0", "bad.sh:2: \"$ADDR\": shell expansion is not done by lunet"),
        ("ip netns del z || true", "bad.sh:2: \"||\" is not understood by lunet (it stops at the first failure anyway)"),
        ("sysctl -w kernel.hostname=x", "bad.sh:2: sysctl: bad sysctl key \"kernel.hostname\": only keys under \"net.\" belong to a network namespace"),
        ("iptables -F", "bad.sh:2: iptables -F: not supported by lunet (it journals -A, -I, -D RULE, -N, -X CHAIN and -P, so that down can undo them)"),
        ("echo hi > /tmp/x", "bad.sh:2: /tmp/x: lunet writes only /proc/sys/net/… (sysctls) and /etc/netns/NS/… files"),
        ("ip link add x type dummy &", "bad.sh:2: \"ip\": a change cannot run in the background (&)"),
        ("ip link add x type veth peer name", "bad.sh:2: ip link add: \"name\" needs a value"),
        ("ip netns add 'z", "bad.sh:2: unterminated ' quote"),
        ("if true; then ip netns add z; fi", "bad.sh:2: \"if\" not understood (lunet reads ip, ip netns exec, sysctl -w, iptables and echo > /proc/sys/net lines)"),
    ];
    for (line, msg) in cases {
        sb.write("bad.sh", &format!("ip netns add z\n{line}\nip netns add y\n"));
        for cmd in ["up", "run", "plan", "convert"] {
            let o = lunet_in(&sb, &[cmd, "bad.sh"]);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            assert_eq!(o.status.code(), Some(1), "{cmd} {line}: {}", common::text(&o));
            assert_eq!(err, format!("lunet: {msg}\n"), "{cmd} {line}");
            assert!(
                o.stdout.is_empty() || cmd == "plan",
                "{cmd} {line}: {}",
                common::text(&o)
            );
        }
        assert_eq!(sb.state_dump(), before, "{line}: something was changed");
    }
    // A line that parses but fails in the kernel: everything before it is rolled back.
    sb.write("late.sh", "ip netns add z\nip link add v0 type dummy\n");
    let o = lunet_in(&sb, &["up", "late.sh"]);
    let t = common::text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("late: setup failed: late.sh:2: `ip link add v0 type dummy`: interface \"v0\" already exists in the host namespace"),
        "{t}"
    );
    assert!(t.contains("rolled back"), "{t}");
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn convert_prints_a_scenario_that_builds_the_same_state() {
    let sb = Sandbox::new();
    sb.write("leftright.sh", LEFT_RIGHT);
    let o = lunet_in(&sb, &["convert", "leftright.sh"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let lua = String::from_utf8(o.stdout).unwrap();
    assert!(
        lua.contains("net.host:veth(\"veth-left\", \"eth0\", { peer_ns = \"left\" })"),
        "{lua}"
    );
    let by_sh = Sandbox::new();
    let p = by_sh.write("leftright.sh", LEFT_RIGHT);
    by_sh.sh(&format!("sh -e {}", p.display()));
    let by_lua = Sandbox::new();
    let before = by_lua.state_dump();
    by_lua.write("leftright.lua", &lua);
    let o = lunet_in(&by_lua, &["up", "leftright.lua"]);
    assert!(o.status.success(), "{}\n{lua}", common::text(&o));
    assert_eq!(dump(&by_sh), dump(&by_lua));
    assert!(lunet_in(&by_lua, &["down", "leftright"]).status.success());
    assert_eq!(before, by_lua.state_dump());
}

/// A scenario touching every kind of change `plan` prints.
const PLANNED: &str = r#"
return net.scenario { name = "planned", setup = function()
  local a, b = net.ns.add("pa"), net.ns.add("pb")
  local br = net.host:bridge("pbr", { up = true, mtu = 1400 })
  br:addr_add("10.70.0.254/24")
  local _, x = net.host:veth("pv0", "eth0", { peer_ns = a, master = br, up = true })
  x:addr_add("10.70.0.1/24")
  local y, z = a:veth("px", "py", { peer_ns = b, up = true })
  y:addr_add("10.71.0.1/30"); z:addr_add("10.71.0.2/30")
  b:route_add { to = "10.70.0.0/24", via = "10.71.0.1" }
  a:rule_add { from = "10.71.0.0/30", table = 100, priority = 500 }
  a:bridge("pd0", { mac = "02:00:00:00:00:07" })
  a:ip_forward(true)
  a:hosts { ["10.71.0.2"] = "pb" }
  a:resolv { nameserver = "10.71.0.2" }
  net.host:iptables("-A FORWARD -i pbr -j ACCEPT")
  a:nat_masquerade { source = "10.71.0.0/30" }
  a:iptables_restore("*filter\n:PCHAIN - [0:0]\n-A PCHAIN -j RETURN\n-A INPUT -j PCHAIN\nCOMMIT\n")
end }
"#;

#[test]
fn plan_output_comes_back_up_as_the_same_state() {
    let planner = Sandbox::new();
    let p = planner.write("planned.lua", PLANNED);
    let o = planner.lunet(&["plan", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::text(&o));
    let plan = String::from_utf8(o.stdout).unwrap();
    let by_lua = Sandbox::new();
    let p = by_lua.write("planned.lua", PLANNED);
    assert!(by_lua.lunet(&["up", p.to_str().unwrap()]).status.success());
    let by_plan = Sandbox::new();
    let before = by_plan.state_dump();
    by_plan.write("plan.sh", &plan);
    let o = lunet_in(&by_plan, &["up", "plan.sh"]);
    assert!(o.status.success(), "{}\n{plan}", common::text(&o));
    assert_eq!(dump(&by_lua), dump(&by_plan), "{plan}");
    assert_eq!(
        by_lua.sh("iptables-save | grep '^-'; ip netns exec pa iptables-save | grep '^-'"),
        by_plan.sh("iptables-save | grep '^-'; ip netns exec pa iptables-save | grep '^-'")
    );
    let o = lunet_in(&by_plan, &["down", "plan"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(before, by_plan.state_dump());
}

#[test]
fn run_is_up_for_an_ip_script_and_sandbox_mode_tears_down() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    sb.write("lab.sh", "ip netns add l1\nip netns exec l1 sleep 300 &\n");
    let o = lunet_in(&sb, &["run", "lab.sh"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(common::instances(&sb).contains(&"lab".to_string()));
    assert!(sb.ok("pgrep -x sleep"));
    let o = lunet_in(&sb, &["run", "lab.sh", "extra"]);
    assert_eq!(
        common::text(&o).trim(),
        "lunet: lab.sh: an ip script takes no arguments"
    );
    sb.down("lab");
    assert_eq!(before, sb.state_dump());
    let o = lunet_in(&sb, &["--sandbox", "up", "lab.sh"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(before, sb.state_dump());
}

#[test]
fn net_ip_returns_what_the_lua_call_returns() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r##"
        local a, b = net.ip "link add veth0 type veth peer name veth1"
        print(a, b)
        local left = net.ns.add("left")
        local l = left:ip "link add br0 type bridge"
        print(l, left:ip "addr add 10.1.0.1/24 dev br0")
        left:ip "link set br0 up"
        print(select("#", left:ip "route add 10.2.0.0/24 dev br0"))
        print(left:ip("ip addr show dev br0").stdout:match("10.1.0.1/24"))
        local p = net.ip "ip netns exec left sleep 300 &"
        print(p:alive())
        net.ip [[
          ip -n left link add d0 type bridge
          ip -n left link set d0 up
        ]]
        assert(net.undo():find("ip %-n left link set dev d0 up"))
        local ok, err = pcall(net.ip, "link add x type wireguard")
        print(err)
        ok, err = pcall(left.ip, left, "link add br0 type bridge")
        print(err)
        ok, err = pcall(net.ip, "ip netns add q\nip link frob")
        print(err)
        "##,
    );
    let dir = format!("{}/", sb.dir.path().display());
    let out = out.replace(&dir, "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Link(veth0@host)\tLink(veth1@host)");
    assert_eq!(lines[1], "Link(br0@left)");
    assert_eq!(lines[2], "0");
    assert_eq!(lines[3], "10.1.0.1/24");
    assert_eq!(lines[4], "true");
    assert_eq!(
        lines[5],
        "script.lua:17: net.ip: ip link add: type \"wireguard\" is not supported by lunet (veth, bridge, dummy, vlan, macvlan, vxlan are)"
    );
    assert_eq!(
        lines[6],
        "script.lua:19: ns:ip: interface \"br0\" already exists in namespace \"left\""
    );
    assert_eq!(
        lines[7],
        "script.lua:21: net.ip: line 2: ip link: \"frob\" not understood"
    );
    assert!(sb.sh("ip -n left -br link").contains("d0"));
    assert!(!sb.sh("ip -n left -br link").contains("d0 UP"));
}

#[test]
fn the_repl_takes_ip_lines_completes_them_and_undoes_them() {
    let sb = Sandbox::new();
    sb.sh("ip netns add blue");
    // A real terminal on a private tmux socket (removed with the test's temp dir).
    let t = common::term::Term::lunet(&sb, "");
    t.wait_for("lunet[host]>");
    t.type_and_wait("ip link add v0 type veth peer name v1", "Link(v0@host)   Link(v1@host)");
    assert!(sb.has_link(None, "v0") && sb.has_link(None, "v1"));
    t.type_and_wait("ip -br link show dev v0", "v0@v1");
    t.type_and_wait(".undo", "undone: ip link add v0 type veth peer name v1");
    assert!(!sb.has_link(None, "v0"));
    t.type_and_wait("ip link frob", "ns:ip: ip link: \"frob\" not understood");
    t.type_and_wait(".ns blue", "lunet[blue]>");
    t.type_and_wait("ip link set lo up", "lunet[blue]> ip link set lo up\nlunet[blue]>");
    assert!(
        sb.sh("ip -n blue -br link show lo").contains("UNKNOWN") || sb.sh("ip -n blue link show lo").contains(",UP")
    );
    t.keys(&["-l", "ip li"]);
    t.keys(&["Tab"]);
    t.wait_for("lunet[blue]> ip link");
    t.keys(&["C-u"]);
    t.keys(&["-l", "ip -n bl"]);
    t.keys(&["Tab"]);
    t.wait_for("lunet[blue]> ip -n blue");
    t.keys(&["C-u"]);
    t.keys(&["-l", "ip link set l"]);
    t.keys(&["Tab"]);
    t.wait_for("lunet[blue]> ip link set lo");
}
