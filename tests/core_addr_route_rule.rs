//! Addresses, routes, policy rules and sysctls, IPv4 and IPv6, checked against
//! `ip -j addr`, `ip [-6] -j route`, `ip [-6] -j rule` and `sysctl` inside the namespace.

mod common;
use common::Sandbox;
use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `ip`'s table names as numbers.
fn table_num(v: &Value) -> u32 {
    match v {
        Value::Null => 254,
        Value::String(t) => match t.as_str() {
            "main" => 254,
            "local" => 255,
            "default" => 253,
            n => n.parse().unwrap(),
        },
        Value::Number(n) => n.as_u64().unwrap() as u32,
        other => panic!("table {other}"),
    }
}

/// (dev, cidr) pairs `ip -j addr` shows, link-local IPv6 left out, sorted.
fn ip_addrs(sb: &Sandbox, args: &str) -> Vec<String> {
    let mut out = vec![];
    for link in sb.ip_json(args).as_array().unwrap() {
        for a in link["addr_info"].as_array().unwrap() {
            let local = a["local"].as_str().unwrap();
            if !local.starts_with("fe80:") {
                out.push(format!(
                    "{}|{}|{}/{}",
                    link["ifname"].as_str().unwrap(),
                    a["family"].as_str().unwrap(),
                    local,
                    a["prefixlen"]
                ));
            }
        }
    }
    out.sort();
    out
}

/// Lines printed by lunet, link-local IPv6 left out, sorted.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("|fe80:"))
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// A namespace "a" with IPv6 DAD off (addresses usable at once, no late route changes),
/// br0 (10.0.0.1/24, fd00::1/64) and br1 (10.1.0.1/24, fd01::1/64), both up.
const TWO_BRIDGES: &str = r#"
local a = net.ns.add("a")
a:sysctl("net.ipv6.conf.all.accept_dad", 0)
a:sysctl("net.ipv6.conf.default.accept_dad", 0)
local br0 = a:bridge("br0", { up = true })
local br1 = a:bridge("br1", { up = true })
br0:addr_add("10.0.0.1/24"); br0:addr_add("fd00::1/64")
br1:addr_add("10.1.0.1/24"); br1:addr_add("fd01::1/64")
"#;

#[test]
fn addresses_add_and_list_both_families() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           local br = a:bridge("br0")
           local v = a:veth("v0", "v0p")
           br:addr_add("10.0.0.1/24")
           br:addr_add("10.0.0.2/24")
           br:addr_add("192.168.7.7")      -- no prefix: a host address, as ip does
           br:addr_add("fd00::1/64")
           v:addr_add("10.1.0.1/16")
           v:addr_add("fd01::1/128")"#,
    );
    let mut expected_br0 = vec![
        "br0|inet|10.0.0.1/24",
        "br0|inet|10.0.0.2/24",
        "br0|inet|192.168.7.7/32",
        "br0|inet6|fd00::1/64",
    ];
    expected_br0.sort();
    assert_eq!(ip_addrs(&sb, "-n a addr show dev br0"), expected_br0);
    let out = sb.lua_ok(
        r#"local a = net.ns.get("a")
           local function show(tag, t)
             for _, x in ipairs(t) do
               assert(x.cidr == x.address .. "/" .. x.prefix)
               print(tag .. " " .. x.dev .. "|" .. x.family .. "|" .. x.cidr)
             end
           end
           show("link", a:link("br0"):addrs())
           show("dev", a:addrs("br0"))
           show("all", a:addrs())"#,
    );
    let part = |tag: &str| {
        sorted_lines(
            &out.lines()
                .filter_map(|l| l.strip_prefix(&format!("{tag} ")))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    assert_eq!(part("link"), expected_br0);
    assert_eq!(part("dev"), expected_br0);
    assert_eq!(part("all"), ip_addrs(&sb, "-n a addr show"));
    assert!(part("all").contains(&"v0|inet6|fd01::1/128".to_string()));
    assert!(part("all").contains(&"lo|inet|127.0.0.1/8".to_string()));
}

#[test]
fn addresses_del_both_families() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local br = net.ns.add("a"):bridge("br0")
           for _, c in ipairs { "10.0.0.1/24", "10.0.0.2/24", "fd00::1/64", "fd00::2/64" } do br:addr_add(c) end
           br:addr_del("10.0.0.2/24")   -- a secondary: the primary stays
           br:addr_del("fd00::2/64")
           local left = {}
           for _, x in ipairs(br:addrs()) do left[#left + 1] = x.cidr end
           print(table.concat(left, " "))"#,
    );
    assert_eq!(
        ip_addrs(&sb, "-n a addr show dev br0"),
        ["br0|inet6|fd00::1/64", "br0|inet|10.0.0.1/24"]
    );
    sb.lua_ok(r#"local br = net.ns.get("a"):link("br0"); br:addr_del("10.0.0.1/24"); br:addr_del("fd00::1/64")"#);
    assert!(ip_addrs(&sb, "-n a addr show dev br0").is_empty());
}

#[test]
fn routes_of_every_kind_reach_the_kernel() {
    let sb = Sandbox::new();
    sb.lua_ok(&format!(
        r#"{TWO_BRIDGES}
           a:route_add {{ to = "10.2.0.0/24", via = "10.0.0.254" }}
           a:route_add {{ to = "default", via = "10.0.0.254" }}
           a:route_add {{ to = "10.3.0.0/24", dev = "br1" }}
           a:route_add {{ to = "10.4.0.0/24", via = "10.0.0.254", metric = 50 }}
           a:route_add {{ to = "10.5.0.0/24", via = "10.0.0.254", table = 100 }}
           a:route_add {{ to = "10.6.0.0/24", dev = "br0", src = "10.0.0.1" }}
           a:route_add {{ to = "10.7.0.0/24", via = "10.1.0.254", dev = "br1", metric = 7, table = 100 }}
           a:route_add {{ to = "10.8.0.1/32", dev = "br0" }}
           a:route_add {{ to = "10.9.0.0/24", dev = "br0", table = "main", scope = "link" }}
           a:route_add {{ to = "fd10::/64", via = "fd00::2" }}
           a:route_add {{ to = "fd11::/64", dev = "br1", metric = 99 }}
           a:route_add {{ to = "default", via = "fd00::fe" }}
           a:route_add {{ to = "fd12::/48", via = "fd01::2", table = 100 }}"#
    ));
    let v4 = sb.ip_json("-n a route show table all");
    let v6 = sb.ip_json("-n a -6 route show table all");
    let find = |routes: &Value, dst: &str, table: u32| -> Value {
        routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == dst && table_num(&r["table"]) == table && r.get("type").is_none())
            .unwrap_or_else(|| panic!("no route to {dst} in table {table}: {routes}"))
            .clone()
    };
    // (dst, table, gateway, dev, metric, prefsrc)
    let want4 = [
        ("10.2.0.0/24", 254, "10.0.0.254", "br0", "-", "-"),
        ("default", 254, "10.0.0.254", "br0", "-", "-"),
        ("10.3.0.0/24", 254, "-", "br1", "-", "-"),
        ("10.4.0.0/24", 254, "10.0.0.254", "br0", "50", "-"),
        ("10.5.0.0/24", 100, "10.0.0.254", "br0", "-", "-"),
        ("10.6.0.0/24", 254, "-", "br0", "-", "10.0.0.1"),
        ("10.7.0.0/24", 100, "10.1.0.254", "br1", "7", "-"),
        ("10.8.0.1", 254, "-", "br0", "-", "-"),
        ("10.9.0.0/24", 254, "-", "br0", "-", "-"),
    ];
    for (dst, table, gw, dev, metric, src) in want4 {
        let r = find(&v4, dst, table);
        assert_eq!(
            (s(&r["gateway"]), s(&r["dev"]), s(&r["metric"]), s(&r["prefsrc"])),
            (gw.into(), dev.into(), metric.into(), src.into()),
            "{r}"
        );
        assert_eq!(r["protocol"], "static", "{r}");
    }
    // A route without a gateway is on-link, as ip makes it.
    assert_eq!(find(&v4, "10.3.0.0/24", 254)["scope"], "link");
    let want6 = [
        ("fd10::/64", 254, "fd00::2", "br0", "1024"),
        ("fd11::/64", 254, "-", "br1", "99"),
        ("default", 254, "fd00::fe", "br0", "1024"),
        ("fd12::/48", 100, "fd01::2", "br1", "1024"),
    ];
    for (dst, table, gw, dev, metric) in want6 {
        let r = find(&v6, dst, table);
        assert_eq!(
            (s(&r["gateway"]), s(&r["dev"]), s(&r["metric"])),
            (gw.into(), dev.into(), metric.into()),
            "{r}"
        );
        assert_eq!(r["protocol"], "static", "{r}");
    }
    // The routes work: the kernel picks them.
    let get = sb.ip_json("-n a route get 10.2.0.9");
    assert_eq!(get[0]["gateway"], "10.0.0.254");
    let get = sb.ip_json("-n a -6 route get fd10::9");
    assert_eq!(get[0]["gateway"], "fd00::2");
}

#[test]
fn route_del_removes_exactly_the_route() {
    let sb = Sandbox::new();
    let static_routes = |sb: &Sandbox| -> Vec<String> {
        let mut v = vec![];
        for fam in ["-4 ", "-6 "] {
            for r in sb
                .ip_json(&format!("-n a {fam}route show table all"))
                .as_array()
                .unwrap()
            {
                if r["protocol"] == "static" {
                    v.push(format!("{}@{}", s(&r["dst"]), table_num(&r["table"])));
                }
            }
        }
        v.sort();
        v
    };
    sb.lua_ok(&format!(
        r#"{TWO_BRIDGES}
           a:route_add {{ to = "10.2.0.0/24", via = "10.0.0.254" }}
           a:route_add {{ to = "10.2.0.0/24", via = "10.1.0.254", metric = 10 }}
           a:route_add {{ to = "default", via = "10.0.0.254" }}
           a:route_add {{ to = "10.5.0.0/24", via = "10.0.0.254", table = 100 }}
           a:route_add {{ to = "fd10::/64", via = "fd00::2" }}
           a:route_add {{ to = "default", via = "fd00::fe" }}"#
    ));
    assert_eq!(
        static_routes(&sb),
        [
            "10.2.0.0/24@254",
            "10.2.0.0/24@254",
            "10.5.0.0/24@100",
            "default@254",
            "default@254",
            "fd10::/64@254"
        ]
    );
    sb.lua_ok(
        r#"local a = net.ns.get("a")
           a:route_del { to = "10.2.0.0/24", via = "10.1.0.254", metric = 10 }"#,
    );
    let left = sb.ip_json("-n a route show 10.2.0.0/24");
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["gateway"], "10.0.0.254", "the other route to 10.2.0.0/24 stays");
    sb.lua_ok(
        r#"local a = net.ns.get("a")
           a:route_del { to = "10.2.0.0/24" }
           a:route_del { to = "default" }
           a:route_del { to = "10.5.0.0/24", table = 100 }
           a:route_del { to = "fd10::/64", via = "fd00::2" }
           a:route_del { to = "default", via = "fd00::fe" }"#,
    );
    assert!(static_routes(&sb).is_empty(), "{:?}", static_routes(&sb));
    // The connected routes are untouched.
    assert_eq!(sb.ip_json("-n a route show 10.0.0.0/24")[0]["protocol"], "kernel");
}

/// `ns:routes(filter)` returns what `ip -j route show …` shows, filter by filter.
#[test]
fn routes_listing_and_filters_match_ip() {
    let sb = Sandbox::new();
    sb.lua_ok(&format!(
        r#"{TWO_BRIDGES}
           a:route_add {{ to = "10.2.0.0/24", via = "10.0.0.254", metric = 5 }}
           a:route_add {{ to = "default", via = "10.0.0.254" }}
           a:route_add {{ to = "10.3.0.0/24", dev = "br1" }}
           a:route_add {{ to = "10.5.0.0/24", via = "10.0.0.254", table = 100 }}
           a:route_add {{ to = "fd10::/64", via = "fd00::2" }}
           a:route_add {{ to = "fd12::/48", dev = "br1", table = 100 }}"#
    ));
    let out = sb.lua_ok(
        r#"local a = net.ns.get("a")
           local function show(tag, t)
             for _, r in ipairs(t) do
               print(table.concat({ tag, r.family, r.to, tostring(r.dev), tostring(r.table), tostring(r.via or "-"), tostring(r.metric or "-") }, "|"))
             end
           end
           show("main", a:routes())
           show("all", a:routes { table = "all" })
           show("v6", a:routes { family = "inet6" })
           show("br1", a:routes { dev = "br1" })
           show("t100v4", a:routes { table = 100, family = "inet" })
           show("t100", a:routes { table = 100 })
           show("local", a:routes { table = "local", family = "ipv4" })"#,
    );
    let lunet = |tag: &str| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{tag}|")))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    // ip's view of the same, in the same shape.
    // (ip leaves out the table and the device it was asked to show.)
    let ip = |fams: &[&str], args: &str, dev: Option<&str>| -> Vec<String> {
        let table: u32 = match args.strip_prefix("table ") {
            Some("local") => 255,
            Some(t) => t.parse().unwrap_or(254),
            None => 254,
        };
        let mut v = vec![];
        for fam in fams {
            let flag = if *fam == "inet6" { "-6 " } else { "-4 " };
            for r in sb.ip_json(&format!("-n a {flag}route show {args}")).as_array().unwrap() {
                let dev = dev.map(String::from).unwrap_or_else(|| s(&r["dev"]));
                let t = if r.get("table").is_some() {
                    table_num(&r["table"])
                } else {
                    table
                };
                v.push(format!(
                    "{fam}|{}|{dev}|{}|{}|{}",
                    s(&r["dst"]),
                    t,
                    s(&r["gateway"]),
                    s(&r["metric"])
                ));
            }
        }
        v.sort();
        v
    };
    let both = ["inet", "inet6"];
    assert_eq!(lunet("main"), ip(&both, "", None));
    assert_eq!(lunet("all"), ip(&both, "table all", None));
    assert_eq!(lunet("v6"), ip(&["inet6"], "", None));
    assert_eq!(lunet("br1"), ip(&both, "dev br1", Some("br1")));
    assert_eq!(lunet("t100v4"), ip(&["inet"], "table 100", None));
    assert_eq!(lunet("t100"), ip(&both, "table 100", None));
    assert_eq!(lunet("local"), ip(&["inet"], "table local", None));
    // Sanity: the filters did filter.
    assert!(
        lunet("main")
            .iter()
            .any(|l| l.starts_with("inet|10.2.0.0/24|br0|254|10.0.0.254|5")),
        "{out}"
    );
    assert!(!lunet("main").iter().any(|l| l.contains("10.5.0.0/24")));
    assert_eq!(lunet("t100v4"), ["inet|10.5.0.0/24|br0|100|10.0.0.254|-"]);
    assert!(lunet("v6").iter().all(|l| l.starts_with("inet6|")));
    assert!(lunet("br1").iter().all(|l| l.contains("|br1|")));
    assert!(lunet("all").len() > lunet("main").len() + 2);
}

#[test]
fn rules_add_list_del_match_ip() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           a:bridge("br1")
           a:rule_add { from = "10.9.0.0/24", table = 100, priority = 1000 }
           a:rule_add { iif = "br1", table = 100, priority = 1001 }
           a:rule_add { fwmark = 7, table = 200, priority = 1002 }
           a:rule_add { to = "10.8.0.0/16", table = 100, priority = 1003 }
           a:rule_add { from = "fd00::/64", table = 100, priority = 1004 }
           a:rule_add { family = "inet6", fwmark = 9, table = 300, priority = 1005 }
           a:rule_add { from = "10.7.0.1", table = "main", priority = 1006 }"#,
    );
    let v4 = sb.ip_json("-n a rule show");
    let v6 = sb.ip_json("-n a -6 rule show");
    let by_prio = |rules: &Value, p: u64| -> Value {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["priority"] == p)
            .unwrap_or_else(|| panic!("no rule {p}: {rules}"))
            .clone()
    };
    let r = by_prio(&v4, 1000);
    assert_eq!(
        (s(&r["src"]), s(&r["srclen"]), s(&r["table"])),
        ("10.9.0.0".into(), "24".into(), "100".into())
    );
    let r = by_prio(&v4, 1001);
    assert_eq!((s(&r["iif"]), s(&r["table"])), ("br1".into(), "100".into()));
    let r = by_prio(&v4, 1002);
    assert_eq!((s(&r["fwmark"]), s(&r["table"])), ("0x7".into(), "200".into()));
    let r = by_prio(&v4, 1003);
    assert_eq!(
        (s(&r["dst"]), s(&r["dstlen"]), s(&r["src"])),
        ("10.8.0.0".into(), "16".into(), "all".into())
    );
    let r = by_prio(&v6, 1004);
    assert_eq!(
        (s(&r["src"]), s(&r["srclen"]), s(&r["table"])),
        ("fd00::".into(), "64".into(), "100".into())
    );
    let r = by_prio(&v6, 1005);
    assert_eq!((s(&r["fwmark"]), s(&r["table"])), ("0x9".into(), "300".into()));
    let r = by_prio(&v4, 1006);
    assert_eq!((s(&r["src"]), s(&r["table"])), ("10.7.0.1".into(), "main".into()));
    assert!(
        !v6.as_array().unwrap().iter().any(|r| r["priority"] == 1000),
        "an IPv4 rule went to IPv6"
    );

    // ns:rules() lists the same rules as ip, both families.
    let out = sb.lua_ok(
        r#"for _, r in ipairs(net.ns.get("a"):rules()) do
             print(table.concat({ r.family, r.priority, r.from or "-", r.to or "-", r.iif or "-", r.fwmark or "-", r.table, r.action }, "|"))
           end"#,
    );
    let mut want = vec![];
    for (fam, rules, host) in [("inet", &v4, 32), ("inet6", &v6, 128)] {
        for r in rules.as_array().unwrap() {
            let cidr = |a: &str, l: &str| match s(&r[a]).as_str() {
                "all" | "-" => "-".to_string(),
                addr => format!("{addr}/{}", r.get(l).map(s).unwrap_or(host.to_string())),
            };
            let mark = r.get("fwmark").map(|m| {
                u32::from_str_radix(m.as_str().unwrap().trim_start_matches("0x"), 16)
                    .unwrap()
                    .to_string()
            });
            want.push(format!(
                "{fam}|{}|{}|{}|{}|{}|{}|totable",
                r["priority"],
                cidr("src", "srclen"),
                cidr("dst", "dstlen"),
                s(&r["iif"]),
                mark.unwrap_or("-".into()),
                table_num(&r["table"])
            ));
        }
    }
    let mut got: Vec<String> = out.lines().map(String::from).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // rule_del with the same spec removes each one.
    sb.lua_ok(
        r#"local a = net.ns.get("a")
           a:rule_del { from = "10.9.0.0/24", table = 100, priority = 1000 }
           a:rule_del { iif = "br1", table = 100, priority = 1001 }
           a:rule_del { fwmark = 7, table = 200, priority = 1002 }
           a:rule_del { to = "10.8.0.0/16", table = 100, priority = 1003 }
           a:rule_del { from = "fd00::/64", table = 100, priority = 1004 }
           a:rule_del { family = "inet6", fwmark = 9, table = 300, priority = 1005 }
           a:rule_del { from = "10.7.0.1", table = "main", priority = 1006 }"#,
    );
    let prios = |args: &str| -> Vec<u64> {
        sb.ip_json(&format!("-n a {args}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["priority"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(prios("rule show"), [0, 32766, 32767]);
    assert_eq!(prios("-6 rule show"), [0, 32766]);
}

/// `ip rule del priority N` deletes whatever rule has that priority; lunet's
/// `rule_del{priority = N}` should too.
#[test]

fn rule_del_by_priority_alone() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local a = net.ns.add("a")
           a:rule_add { from = "10.9.0.0/24", table = 100, priority = 1000 }
           a:rule_del { priority = 1000 }"#,
    );
    assert!(!sb
        .ip_json("-n a rule show")
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 1000));
}

#[test]
fn sysctl_reads_and_writes_inside_the_namespace_only() {
    let sb = Sandbox::new();
    let machine_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let sandbox_before = sb.sh("sysctl -n net.ipv4.ip_forward");
    let out = sb.lua_ok(
        r#"local a = net.ns.add("a")
           net.ns.add("b")
           print(a:sysctl("net.ipv4.ip_forward"))         -- 0
           print(a:sysctl("net.ipv4.ip_forward", 1))      -- returns the value before: 0
           print(a:sysctl("net.ipv4.ip_forward"))         -- 1
           print(a:sysctl("net.ipv4.ip_forward", "0"))    -- 1
           print(a:sysctl("net.ipv4.ip_forward", true))   -- 0
           a:bridge("br.5")
           print(a:sysctl("net/ipv4/conf/br.5/rp_filter", 2))   -- slashed: the dot is part of the device name
           print(a:sysctl("net.ipv6.conf.all.forwarding", 1))"#,
    );
    assert_eq!(out, "0\n0\n1\n1\n0\n0\n0\n");
    assert_eq!(sb.sh("ip netns exec a sysctl -n net.ipv4.ip_forward").trim(), "1");
    assert_eq!(
        sb.sh("ip netns exec a cat /proc/sys/net/ipv4/conf/br.5/rp_filter")
            .trim(),
        "2"
    );
    assert_eq!(
        sb.sh("ip netns exec a sysctl -n net.ipv6.conf.all.forwarding").trim(),
        "1"
    );
    // Nowhere else changed: not namespace b, not the sandbox, not the machine.
    assert_eq!(sb.sh("ip netns exec b sysctl -n net.ipv4.ip_forward").trim(), "0");
    assert_eq!(sb.sh("sysctl -n net.ipv4.ip_forward"), sandbox_before);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        machine_before
    );
    // net.host is the namespace lunet runs in: the sandbox.
    sb.lua_ok(r#"net.host:sysctl("net.ipv4.conf.all.rp_filter", 2)"#);
    assert_eq!(sb.sh("sysctl -n net.ipv4.conf.all.rp_filter").trim(), "2");
    assert_ne!(
        sb.sh("ip netns exec a sysctl -n net.ipv4.conf.all.rp_filter").trim(),
        "2"
    );
}
