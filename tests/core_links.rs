//! Links: veth, bridge, dummy, vlan, macvlan, vxlan; `link:set{…}`, `link:delete()`,
//! `ns:links()`, `link:info()`, checked against `ip -d -j link`.

mod common;
use common::Sandbox;
use serde_json::Value;

fn has_flag(link: &Value, flag: &str) -> bool {
    link["flags"].as_array().unwrap().iter().any(|f| f == flag)
}

#[test]
fn veth_peer_is_created_inside_its_namespace() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           local v, p = net.host:veth("veth-a", "eth0", { peer_ns = a, mtu = 1400, up = true })
           print(v.name, v.index, v.ns.name, p.name, p.index, p.ns.name)
           -- peer_ns may also be a name
           local v2, p2 = net.host:veth("veth-b", "eth1", { peer_ns = "a" })
           print(v2.index, p2.index, p2.ns.name)"#,
    );
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0][0], "veth-a");
    assert_eq!(lines[0][2], "host");
    assert_eq!(lines[0][3], "eth0");
    assert_eq!(lines[0][5], "a");

    let near = sb.link_json(None, "veth-a");
    let peer = sb.link_json(Some("a"), "eth0");
    assert_eq!(near["linkinfo"]["info_kind"], "veth");
    assert_eq!(peer["linkinfo"]["info_kind"], "veth");
    assert_eq!(near["mtu"], 1400);
    assert_eq!(peer["mtu"], 1400, "mtu applies to both ends");
    assert!(
        has_flag(&near, "UP") && has_flag(&peer, "UP"),
        "up = true brings both ends up"
    );
    assert_eq!(near["ifindex"].to_string(), lines[0][1]);
    assert_eq!(peer["ifindex"].to_string(), lines[0][4]);
    // Each end points at the other.
    assert_eq!(near["link_index"], peer["ifindex"]);
    assert_eq!(peer["link_index"], near["ifindex"]);
    // The peer never appeared in the sandbox.
    assert!(!sb.has_link(None, "eth0"));
    assert!(!sb.has_link(Some("a"), "veth-a"));

    let near2 = sb.link_json(None, "veth-b");
    let peer2 = sb.link_json(Some("a"), "eth1");
    assert_eq!(near2["ifindex"].to_string(), lines[1][0]);
    assert_eq!(peer2["ifindex"].to_string(), lines[1][1]);
    assert_eq!(lines[1][2], "a");
    assert!(!has_flag(&near2, "UP") && !has_flag(&peer2, "UP"), "veths start down");
    assert_eq!(near2["mtu"], 1500);
}

#[test]
fn veth_in_one_namespace_and_master_bridge() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           local br = a:bridge("br0", { up = true })
           a:veth("v1", "v1p", { master = br })        -- master as a Link
           a:veth("v2", "v2p", { master = "br0", up = true }) -- …or a name
           local b = net.ns.add("b")
           a:veth("v3", "eth0", { peer_ns = b, master = br, up = true })"#,
    );
    for dev in ["v1", "v2", "v3"] {
        assert_eq!(sb.link_json(Some("a"), dev)["master"], "br0", "{dev}");
    }
    assert!(sb.link_json(Some("a"), "v1p").get("master").is_none());
    assert_eq!(sb.link_json(Some("a"), "v1p")["link"], "v1", "both ends in a");
    assert!(has_flag(&sb.link_json(Some("a"), "v2p"), "UP"));
    assert!(has_flag(&sb.link_json(Some("b"), "eth0"), "UP"));
    // The bridge sees them as ports.
    assert_eq!(sb.bridge_ports("a", "br0"), ["v1", "v2", "v3"]);
}

#[test]
fn bridge_with_mtu_mac_up() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           local br = a:bridge("br0", { mtu = 1400, mac = "02:00:00:00:00:0a", up = true })
           local quiet = a:bridge("br1")
           print(br.index, quiet.index)"#,
    );
    let idx: Vec<&str> = out.split_whitespace().collect();
    let br = sb.link_json(Some("a"), "br0");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["mtu"], 1400);
    assert_eq!(br["address"], "02:00:00:00:00:0a");
    assert!(has_flag(&br, "UP"));
    assert_eq!(br["ifindex"].to_string(), idx[0]);
    let br1 = sb.link_json(Some("a"), "br1");
    assert!(!has_flag(&br1, "UP"));
    assert_eq!(br1["ifindex"].to_string(), idx[1]);
}

#[test]
fn dummy() {
    let sb = Sandbox::new();
    if !sb.supports_link("dummy") {
        // This kernel has no dummy links: lunet must say so cleanly, and leave nothing behind.
        let err = sb.lua_err_clean(r#"net.ns.add("a") net.ns.delete("a") net.host:dummy("d0")"#);
        assert!(err.contains("ns:dummy: ") && err.contains("\"d0\""), "{err}");
        common::skip("this kernel has no dummy links (only the clean error was checked)");
        return;
    }
    sb.lua_ok(r#"net.ns.add("a"):dummy("d0", { mtu = 9000, up = true })"#);
    let d = sb.link_json(Some("a"), "d0");
    assert_eq!(d["linkinfo"]["info_kind"], "dummy");
    assert_eq!(d["mtu"], 9000);
    assert!(has_flag(&d, "UP"));
}

#[test]
fn vlan_has_its_id_and_parent() {
    let sb = Sandbox::new();
    if !sb.supports_link("vlan") {
        // No 802.1q in this kernel: a clean error, and nothing left behind.
        sb.lua_ok(r#"net.host:veth("trunk", "trunkp")"#);
        let err = sb.lua_err_clean(r#"net.host:vlan("trunk.10", "trunk", 10)"#);
        assert!(err.contains("ns:vlan: ") && err.contains("\"trunk.10\""), "{err}");
        common::skip("this kernel has no 802.1q vlans (only the clean error was checked)");
        return;
    }
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           a:veth("trunk", "trunkp")
           a:vlan("trunk.10", "trunk", 10, { up = true })
           a:vlan("v4094", "trunk", 4094)"#,
    );
    let v = sb.link_json(Some("a"), "trunk.10");
    assert_eq!(v["linkinfo"]["info_kind"], "vlan");
    assert_eq!(v["linkinfo"]["info_data"]["id"], 10);
    assert_eq!(v["link"], "trunk");
    let v = sb.link_json(Some("a"), "v4094");
    assert_eq!(v["linkinfo"]["info_data"]["id"], 4094);
}

#[test]
fn macvlan_mode_and_parent() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           a:veth("up0", "up0p")
           a:macvlan("mv0", "up0", { mode = "private" })
           a:macvlan("mv1", "up0")
           a:macvlan("mv2", "up0", { mode = "vepa", mtu = 1300 })"#,
    );
    for (dev, mode) in [("mv0", "private"), ("mv1", "bridge"), ("mv2", "vepa")] {
        let m = sb.link_json(Some("a"), dev);
        assert_eq!(m["linkinfo"]["info_kind"], "macvlan", "{dev}");
        assert_eq!(m["linkinfo"]["info_data"]["mode"], mode, "{dev}");
        assert_eq!(m["link"], "up0", "{dev}");
    }
    assert_eq!(sb.link_json(Some("a"), "mv2")["mtu"], 1300);
}

#[test]
fn vxlan_id_remote_port() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           a:veth("under", "underp")
           a:vxlan("vx0", { id = 42, remote = "10.1.1.1", port = 4790 })
           a:vxlan("vx1", { id = 7, remote = "fd00::9", dev = "under" })
           a:vxlan("vx2", { id = 16777215, ["local"] = "10.2.2.2", up = true })
           a:vxlan("vx3", { id = 3, group = "239.1.1.1", dev = "under" })"#,
    );
    let v = sb.link_json(Some("a"), "vx0");
    assert_eq!(v["linkinfo"]["info_kind"], "vxlan");
    let d = &v["linkinfo"]["info_data"];
    assert_eq!(d["id"], 42);
    assert_eq!(d["remote"], "10.1.1.1");
    assert_eq!(d["port"], 4790);
    let d = &sb.link_json(Some("a"), "vx1")["linkinfo"]["info_data"];
    assert_eq!(d["id"], 7);
    assert_eq!(d["remote6"], "fd00::9");
    assert_eq!(d["port"], 4789, "the IANA port by default");
    assert_eq!(d["link"], "under");
    let v = sb.link_json(Some("a"), "vx2");
    assert_eq!(v["linkinfo"]["info_data"]["id"], 16777215);
    assert_eq!(v["linkinfo"]["info_data"]["local"], "10.2.2.2");
    assert!(has_flag(&v, "UP"));
    let d = &sb.link_json(Some("a"), "vx3")["linkinfo"]["info_data"];
    assert_eq!(
        (d["id"].as_u64(), d["group"].as_str(), d["link"].as_str()),
        (Some(3), Some("239.1.1.1"), Some("under"))
    );
}

#[test]
fn set_mtu_mac_up_down() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           local v = a:veth("v0", "v0p")
           v:set { mtu = 1280, mac = "02:aa:bb:cc:dd:ee", up = true }
           local br = a:bridge("br0")
           br:up()"#,
    );
    let v = sb.link_json(Some("a"), "v0");
    assert_eq!(v["mtu"], 1280);
    assert_eq!(v["address"], "02:aa:bb:cc:dd:ee");
    assert!(has_flag(&v, "UP"));
    assert!(has_flag(&sb.link_json(Some("a"), "br0"), "UP"));
    sb.lua_ok(
        r#"local a = net.ns.get("a")
           a:link("v0"):set { up = false }
           a:link("br0"):down()"#,
    );
    assert!(!has_flag(&sb.link_json(Some("a"), "v0"), "UP"));
    assert!(!has_flag(&sb.link_json(Some("a"), "br0"), "UP"));
    assert_eq!(
        sb.link_json(Some("a"), "v0")["mtu"],
        1280,
        "untouched by a change of state"
    );
}

#[test]
fn set_name_renames_and_the_object_follows() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           local v = a:veth("old", "oldp")
           local before = v.index
           v:set { name = "new", up = true }
           print(v.name, v.index == before, v.index, tostring(v))
           v:addr_add("10.0.0.1/24")   -- later calls reach the renamed link
           print(v:info().name)"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    let parts: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(parts[0], "new");
    assert_eq!(parts[1], "true", "renaming keeps the ifindex");
    assert_eq!(parts[3], "Link(new@a)");
    assert_eq!(lines[1], "new");
    assert!(!sb.has_link(Some("a"), "old"));
    let l = sb.link_json(Some("a"), "new");
    assert_eq!(l["ifindex"].to_string(), parts[2]);
    assert!(has_flag(&l, "UP"));
    let addrs = sb.ip_json("-n a -4 addr show dev new");
    assert_eq!(addrs[0]["addr_info"][0]["local"], "10.0.0.1");
}

#[test]
fn set_ns_moves_the_link_and_the_object_follows() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
           local v, p = a:veth("v0", "v0p")
           p:set { ns = b }
           print(p.name, p.ns.name, p.index)
           p:set { ns = "a", name = "back", mtu = 1300, up = true }   -- a name works too, with other changes
           print(p.name, p.ns.name, p.index)
           v:set { ns = net.host }
           print(v.name, v.ns.name, v.index)
           v:up()"#,
    );
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0][..2], ["v0p", "b"]);
    assert_eq!(lines[1][..2], ["back", "a"]);
    assert_eq!(lines[2][..2], ["v0", "host"]);
    assert!(!sb.has_link(Some("a"), "v0p") && !sb.has_link(Some("b"), "v0p") && !sb.has_link(Some("a"), "v0"));
    let back = sb.link_json(Some("a"), "back");
    assert_eq!(back["ifindex"].to_string(), lines[1][2], "link.index follows the move");
    assert_eq!(back["mtu"], 1300);
    assert!(has_flag(&back, "UP"));
    let v0 = sb.link_json(None, "v0");
    assert_eq!(v0["ifindex"].to_string(), lines[2][2]);
    assert!(has_flag(&v0, "UP"), "v:up() after the move reached the sandbox's v0");
}

#[test]
fn set_master_and_nomaster() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           local br = a:bridge("br0")
           local br2 = a:bridge("br1")
           local v = a:veth("v0", "v0p")
           v:set { master = br }
           a:link("v0p"):set { master = "br1" }"#,
    );
    assert_eq!(sb.link_json(Some("a"), "v0")["master"], "br0");
    assert_eq!(sb.link_json(Some("a"), "v0p")["master"], "br1");
    sb.lua_ok(
        r#"local a = net.ns.get("a")
           a:link("v0"):set { master = false }
           a:link("v0p"):set { master = a:link("br0") }"#,
    );
    assert!(
        sb.link_json(Some("a"), "v0").get("master").is_none(),
        "master = false is nomaster"
    );
    assert_eq!(sb.link_json(Some("a"), "v0p")["master"], "br0");
}

#[test]
fn delete_removes_the_link_and_a_veth_takes_its_peer() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           local v, p = net.host:veth("v0", "eth0", { peer_ns = a })
           v:delete()
           a:bridge("br0"):delete()
           a:bridge("br1")
           net.ns.get("a"):link("br1"):delete()"#,
    );
    for (ns, dev) in [
        (None, "v0"),
        (Some("a"), "eth0"),
        (Some("a"), "br0"),
        (Some("a"), "br1"),
    ] {
        assert!(!sb.has_link(ns, dev), "{dev} survived");
    }
    assert_eq!(
        sb.ip_json("-n a link show").as_array().unwrap().len(),
        1,
        "only lo is left"
    );
}

/// `ns:links()` and `link:info()` agree, field by field, with `ip -j -d link`.
#[test]
fn links_and_info_match_ip() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"local a, b = net.ns.add("a"), net.ns.add("b")
           local br = a:bridge("br0", { up = true, mac = "02:00:00:00:01:00" })
           a:veth("v0", "v0p", { master = br, mtu = 1400, up = true })
           a:veth("x0", "eth0", { peer_ns = b })
           a:macvlan("mv0", "v0p")
           local s = function(v) return v == nil and "-" or tostring(v) end
           local function line(l)
             return table.concat({ l.name, s(l.index), s(l.kind), s(l.up), s(l.mtu), s(l.mac), s(l.master), s(l.peer), s(l.peer_index) }, "|")
           end
           for _, l in ipairs(a:links()) do print(line(l)) end
           print("info " .. line(a:link("v0"):info()))
           print("info " .. line(a:link("lo"):info()))"#,
    );
    let ip = sb.ip_json("-n a -d link show");
    let ip = ip.as_array().unwrap();
    let mut listed = 0;
    for l in out.lines() {
        let l = l.strip_prefix("info ").unwrap_or(l);
        let f: Vec<&str> = l.split('|').collect();
        let o = ip
            .iter()
            .find(|o| o["ifname"] == f[0])
            .unwrap_or_else(|| panic!("{} not in ip: {out}", f[0]));
        let opt = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        assert_eq!(f[1], o["ifindex"].to_string(), "index of {l}");
        assert_eq!(f[2], opt(&o["linkinfo"]["info_kind"]), "kind of {l}");
        assert_eq!(f[3], has_flag(o, "UP").to_string(), "up of {l}");
        assert_eq!(f[4], o["mtu"].to_string(), "mtu of {l}");
        assert_eq!(f[5], opt(&o["address"]), "mac of {l}");
        assert_eq!(f[6], opt(&o["master"]), "master of {l}");
        if o["linkinfo"]["info_kind"] == "veth" {
            // ip names the peer ("link") when it is in the same namespace, else gives its
            // index; lunet names it in both cases (issue 13: one shape, peers across namespaces).
            if o.get("link_netnsid").is_none() {
                assert_eq!(f[7], opt(&o["link"]), "peer of {l}");
                let peer = ip.iter().find(|p| p["ifname"] == o["link"]).unwrap();
                assert_eq!(f[8], peer["ifindex"].to_string(), "peer_index of {l}");
            } else {
                // (only x0 here, whose peer is eth0 in b)
                let in_b = sb.ip_json("-n b link show");
                let peer = in_b
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["ifindex"] == o["link_index"])
                    .unwrap();
                assert_eq!(f[7], opt(&peer["ifname"]), "peer in another namespace: {l}");
                assert_eq!(f[8], opt(&o["link_index"]), "peer_index of {l}");
            }
        } else {
            assert_eq!(f[7..], ["-", "-"], "peer of a non-veth: {l}");
        }
        listed += 1;
    }
    // Every link ip sees, plus the two info lines.
    assert_eq!(listed, ip.len() + 2, "{out}");
    assert!(out.contains("\nx0|"), "{out}");
}

#[test]
fn link_lookup_of_an_interface_made_by_ip() {
    let sb = Sandbox::new();
    sb.sh("ip netns add ipns && ip -n ipns link add made type bridge");
    let out = sb.lua_ok(
        r#"local l = net.ns.get("ipns"):link("made")
           print(l.name, l.index, l.ns.name, l:info().kind)
           l:set { mtu = 1234 }"#,
    );
    let m = sb.link_json(Some("ipns"), "made");
    assert_eq!(out.trim(), format!("made\t{}\tipns\tbridge", m["ifindex"]));
    assert_eq!(m["mtu"], 1234);
}
