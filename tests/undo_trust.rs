//! Undo you can trust: lunet never harms what it did not make, and teardown
//! always finishes. Each test builds its own sandbox and checks with `ip -j`,
//! `iptables-save`, `ls` and `ps`, not with lunet's own view.

mod common;
use common::{text, Sandbox};

/// One of each kind of change, on top of objects the user made by hand
/// (`userbr0`, `usernet`, a veth `uv0`/`uv1` with an address and a route).
const EVERYTHING: &str = r#"
return net.scenario {
  name = "everything",
  setup = function()
    local a = net.ns.add("ea")
    local b = net.ns.add("eb")
    local br = net.host:bridge("ebr", { up = true })
    br:addr_add("10.50.0.254/24")
    local _, x = net.host:veth("ev0", "eth0", { peer_ns = a, master = br, up = true })
    x:addr_add("10.50.0.1/24")
    local y, z = a:veth("ex", "ey", { peer_ns = b, up = true })
    y:addr_add("10.51.0.1/30"); z:addr_add("10.51.0.2/30")
    b:route_add { to = "10.50.0.0/24", via = "10.51.0.1" }
    a:rule_add { from = "10.51.0.0/30", table = 100, priority = 500 }
    net.host:route_add { to = "10.51.0.0/30", via = "10.50.0.1" }
    net.host:rule_add { to = "10.99.0.0/16", table = 200, priority = 600 }
    net.host:sysctl("net.ipv4.ip_forward", 1)
    a:ip_forward(true)
    a:hosts { ["10.51.0.2"] = "eb" }
    net.ns.get("usernet"):hosts { ["10.9.9.9"] = "lunet" }
    net.host:iptables("-A FORWARD -i ebr -j ACCEPT")
    net.host:nat_masquerade { source = "10.51.0.0/30" }
    net.host:iptables_restore("*filter\n:ECHAIN - [0:0]\n-A ECHAIN -j RETURN\n-A INPUT -j ECHAIN\nCOMMIT\n")
    net.host:link("uv0"):addr_del("10.77.0.1/24")
    net.host:spawn({ "sh", "-c", "sleep 3600 & sleep 3601" })
    b:spawn({ "sleep", "3602" })
  end,
}
"#;

/// `lunet ARGS` in the sandbox with one test hook set (`LUNET_CRASH_STEP=…`).
fn lunet_with(sb: &Sandbox, var: &str, value: &str, args: &[&str]) -> std::process::Output {
    sb.command(common::lunet_bin().to_str().unwrap())
        .env(var, value)
        .args(args)
        .output()
        .unwrap()
}

/// The user's own objects made by hand, then EVERYTHING written out: its path.
fn with_user_objects(sb: &Sandbox) -> String {
    user_objects(sb);
    sb.write("everything.lua", EVERYTHING).to_str().unwrap().to_string()
}

/// What the user made by hand before lunet ran.
fn user_objects(sb: &Sandbox) {
    sb.sh("ip link add userbr0 type bridge && ip netns add usernet && \
         ip link add uv0 type veth peer name uv1 && ip link set uv0 up && ip link set uv1 up && \
         ip addr add 10.77.0.1/24 dev uv0 && ip route add 10.78.0.0/16 via 10.77.0.2 && \
         printf 'user hosts\\n' > /etc/netns/usernet/hosts 2>/dev/null || \
         (mkdir -p /etc/netns/usernet && printf 'user hosts\\n' > /etc/netns/usernet/hosts)");
}

/// The number of journaled steps of a full `up` of `path`.
fn count_steps(sb: &Sandbox, path: &str) -> usize {
    let o = sb.lunet(&["up", path]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let n: usize = out
        .split(" changes")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no change count in: {out}"));
    let d = sb.lunet(&["down", "everything"]);
    assert!(d.status.success(), "{}", text(&d));
    n
}

fn crash_at_every_step(mode: &str) {
    let sb = Sandbox::new();
    let path = &with_user_objects(&sb);
    let before = sb.state_dump();
    let steps = count_steps(&sb, path);
    assert!(steps > 20, "expected many steps, got {steps}");
    assert_eq!(sb.state_dump(), before, "a clean up/down did not restore the state");
    for k in 1..=steps {
        let point = if mode.is_empty() {
            k.to_string()
        } else {
            format!("{k}:{mode}")
        };
        let o = lunet_with(&sb, "LUNET_CRASH_STEP", &point, &["up", path]);
        assert!(!o.status.success(), "crash {point}: up finished: {}", text(&o));
        let o = sb.lunet(&["down", "everything"]);
        let out = text(&o);
        // Killed before anything was journaled, there is nothing to take down.
        assert!(
            o.status.success() || (k == 1 && mode == "before" && out.contains("not up")),
            "crash {point}: down failed: {out}"
        );
        assert_eq!(
            sb.state_dump(),
            before,
            "crash {point}: down did not restore the prior state"
        );
        for (what, ok) in [
            ("userbr0", sb.has_link(None, "userbr0")),
            ("usernet", sb.netns_list().contains(&"usernet".to_string())),
            ("uv0's route", sb.sh("ip route").contains("10.78.0.0/16 via 10.77.0.2")),
        ] {
            assert!(ok, "crash {point}: the user's {what} is gone");
        }
    }
}

#[test]
fn a_crash_just_before_any_step_is_cleaned_up_exactly() {
    crash_at_every_step("before");
}

#[test]
fn a_crash_between_intent_and_change_at_any_step_is_cleaned_up_exactly() {
    crash_at_every_step("");
}

#[test]
fn a_crash_right_after_any_change_is_cleaned_up_exactly() {
    crash_at_every_step("after");
}

#[test]
fn a_killed_down_resumes_and_finishes_at_every_step() {
    let sb = Sandbox::new();
    let path = &with_user_objects(&sb);
    let before = sb.state_dump();
    let steps = count_steps(&sb, path);
    for k in 1..=steps {
        sb.up(path, &[]);
        let o = lunet_with(&sb, "LUNET_CRASH_UNDO", &k.to_string(), &["down", "everything"]);
        if o.status.success() {
            // Fewer undo steps than journaled ones (some go with their namespace).
            assert_eq!(
                sb.state_dump(),
                before,
                "undo crash {k}: down finished but left something"
            );
            continue;
        }
        let o = sb.lunet(&["down", "everything"]);
        assert!(o.status.success(), "undo crash {k}: second down failed: {}", text(&o));
        assert_eq!(sb.state_dump(), before, "undo crash {k}: not the prior state");
    }
}

#[test]
fn creating_what_already_exists_never_deletes_it_even_after_a_crash() {
    let sb = Sandbox::new();
    sb.sh("ip link add userbr0 type bridge");
    let pid = sb.sleeper_in_new("userns");
    for (name, setup) in [
        ("br", r#"net.host:bridge("userbr0")"#),
        ("ns", r#"net.ns.add("userns")"#),
    ] {
        let scen = format!("return net.scenario {{ name = \"{name}\", setup = function() {setup} end }}");
        let path = sb.write(&format!("{name}.lua"), &scen);
        for crash in ["1", "1:after", "1:before"] {
            let o = lunet_with(&sb, "LUNET_CRASH_STEP", crash, &["up", path.to_str().unwrap()]);
            let err = text(&o);
            assert!(!o.status.success(), "{name} {crash}: {err}");
            assert!(err.contains("already exists"), "{name} {crash}: {err}");
            let _ = sb.lunet(&["down", name]);
            assert!(
                sb.has_link(None, "userbr0"),
                "{name} {crash}: the user's bridge was deleted"
            );
            assert!(
                sb.netns_list().contains(&"userns".to_string()),
                "{name} {crash}: userns deleted"
            );
            assert!(sb.alive(pid), "{name} {crash}: the user's process was killed");
        }
    }
    // A loop of attempts killed at a random moment must not take the bridge with it.
    let script = sb.write(
        "loop.lua",
        "for _ = 1, 1e9 do pcall(net.host.bridge, net.host, 'userbr0') end",
    );
    for delay in ["0.2", "0.35", "0.5"] {
        sb.sh(&format!(
            "{} run {} & p=$!; sleep {delay}; kill -9 $p; wait $p; true",
            common::lunet_bin().display(),
            script.display()
        ));
        for name in common::instances(&sb) {
            let _ = sb.lunet(&["down", &name]);
        }
        assert!(
            sb.has_link(None, "userbr0"),
            "kill after {delay}s: the user's bridge was deleted"
        );
    }
}

#[test]
fn down_finishes_when_objects_were_deleted_or_renamed_behind_its_back() {
    let sb = Sandbox::new();
    let path = &with_user_objects(&sb);
    sb.up(path, &[]);
    sb.sh("ip route del 10.51.0.0/30 && ip rule del priority 600 && \
         ip netns del eb && ip link set ebr down && ip link set ebr name ebr2 && \
         iptables -D FORWARD -i ebr -j ACCEPT && iptables -t nat -F POSTROUTING");
    let o = sb.lunet(&["down", "everything"]);
    let out = text(&o);
    assert!(o.status.success(), "down got stuck: {out}");
    assert!(
        out.contains("\"ebr\"") && out.contains("already gone"),
        "not reported: {out}"
    );
    assert!(text(&sb.lunet(&["status"])).contains("no scenario is up"));
    // What lunet no longer knows by name stays; everything else went.
    assert!(sb.has_link(None, "ebr2"));
    assert!(!sb.netns_list().contains(&"ea".to_string()));
    assert!(!sb.has_link(None, "ev0"));
    // A second down has nothing left to do, and up works again.
    assert!(!sb.lunet(&["down", "everything"]).status.success());
    sb.sh("ip link del ebr2");
    sb.up(path, &[]);
    sb.down("everything");
}

#[test]
fn a_full_state_dir_never_leaves_down_stuck() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let path = sb.write(
        "everything.lua",
        EVERYTHING
            .replace("net.ns.get(\"usernet\"):hosts { [\"10.9.9.9\"] = \"lunet\" }\n", "")
            .replace("    net.host:link(\"uv0\"):addr_del(\"10.77.0.1/24\")\n", "")
            .as_str(),
    );
    let path = path.to_str().unwrap();
    sb.up(path, &[]);
    // Fill /run/lunet (a tmpfs in the sandbox) to the last byte.
    sb.sh("mount -o remount,size=64k /run/lunet; dd if=/dev/zero of=/run/lunet/fill bs=1k 2>/dev/null; true");
    let o = sb.lunet(&["down", "everything"]);
    assert!(o.status.success(), "down with a full state dir: {}", text(&o));
    sb.sh("rm -f /run/lunet/fill");
    assert_eq!(sb.state_dump(), before);
    // Full while going up: the failed up rolls back; freeing space is enough to go on.
    sb.sh("dd if=/dev/zero of=/run/lunet/fill bs=1k count=56 2>/dev/null; true");
    let o = sb.lunet(&["up", path]);
    assert!(!o.status.success(), "up with a full state dir succeeded");
    sb.sh("rm -f /run/lunet/fill");
    for name in common::instances(&sb) {
        let o = sb.lunet(&["down", &name]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(sb.state_dump(), before, "not the prior state after a full state dir");
    sb.up(path, &[]);
    sb.down("everything");
}

#[test]
fn user_files_under_etc_netns_survive_and_overwritten_ones_come_back() {
    let sb = Sandbox::new();
    // Seed 000's order: the file first, then the namespace.
    sb.sh("mkdir -p /etc/netns/dns && printf 'nameserver 10.1.1.1\\n' > /etc/netns/dns/resolv.conf");
    sb.sh("mkdir -p /etc/netns/mine && printf 'keep me\\n' > /etc/netns/mine/hosts");
    sb.sh("mkdir -p /etc/netns/del && printf 'also mine\\n' > /etc/netns/del/passwd");
    let path = sb.write(
        "etc.lua",
        r#"return net.scenario { name = "etc", setup = function()
             net.ns.add("dns")
             net.ns.add("mine"):hosts { ["10.0.0.1"] = "a" }
             net.ns.add("fresh"):resolv { nameserver = "10.2.2.2" }
             net.ns.add("del"); net.ns.delete("del")
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    assert!(sb.sh("cat /etc/netns/mine/hosts").contains("10.0.0.1\ta"));
    assert_eq!(
        sb.sh("cat /etc/netns/del/passwd"),
        "also mine\n",
        "ns delete removed a user file"
    );
    assert_eq!(
        sb.sh("stat -c %a /etc/netns/fresh /etc/netns/fresh/resolv.conf"),
        "755\n644\n"
    );
    sb.down("etc");
    assert_eq!(sb.sh("cat /etc/netns/dns/resolv.conf"), "nameserver 10.1.1.1\n");
    assert_eq!(
        sb.sh("cat /etc/netns/mine/hosts"),
        "keep me\n",
        "the user's hosts was not restored"
    );
    assert_eq!(sb.sh("cat /etc/netns/del/passwd"), "also mine\n");
    assert!(!sb.ok("test -e /etc/netns/fresh"), "lunet's own directory was left");
    // A failed script rolls back the same way.
    let err = sb.lua_err(r#"net.ns.add("mine"):hosts { ["10.0.0.1"] = "a" }; error("boom")"#);
    assert!(err.contains("boom"), "{err}");
    assert_eq!(sb.sh("cat /etc/netns/mine/hosts"), "keep me\n");
}

#[test]
fn net_undo_in_a_script_undoes_each_kind_of_change() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local h = net.host:veth("h0", "h1", { up = true })
        local function gone(what, cmd) local r = net.host:sh(cmd, { check = false }); print(what, r.stdout == "" and "undone" or ("LEFT " .. r.stdout)) end
        h:addr_add("10.7.0.1/24"); net.undo(); gone("addr", "ip addr show dev h0 | grep 10.7.0.1")
        h:addr_add("10.7.0.1/24")
        net.host:route_add { to = "10.8.0.0/16", via = "10.7.0.2" }; net.undo(); gone("route", "ip route | grep 10.8.0.0")
        net.host:rule_add { to = "10.9.0.0/16", table = 7, priority = 77 }; net.undo(); gone("rule", "ip rule | grep '^77:'")
        h:set { mtu = 1400 }; net.undo(); gone("mtu", "ip link show h0 | grep 'mtu 1400'")
        local old = net.host:sysctl("net.ipv4.ip_forward", 1); net.undo(); gone("sysctl", "sysctl -n net.ipv4.ip_forward | grep -v " .. old)
        net.host:iptables("-A INPUT -s 10.6.6.6 -j DROP"); net.undo(); gone("iptables", "iptables -S INPUT | grep 10.6.6.6")
        local a = net.ns.add("ua"); a:hosts { ["10.0.0.9"] = "x" }; net.undo(); gone("hosts", "ls /etc/netns/ua 2>/dev/null")
        local b = net.ns.add("ub"); net.host:veth("v9", "eth0", { peer_ns = b, up = true }); net.undo(); gone("veth", "ip link show v9 2>/dev/null")
        net.undo(); gone("ns ub", "ls /run/netns | grep ub")
        net.host:spawn("sleep 4321"); net.undo(); gone("spawn", "pgrep -f 'sleep 432[1]'")
        net.undo(); gone("ns", "ls /run/netns")
        "#,
    );
    for kind in [
        "addr", "route", "rule", "mtu", "sysctl", "iptables", "hosts", "spawn", "ns",
    ] {
        assert!(out.contains(&format!("{kind}\tundone")), "{kind} not undone:\n{out}");
    }
    assert!(sb.has_link(None, "h0"), "undo went too far");
}

#[test]
fn what_the_kernel_drops_along_with_a_change_comes_back() {
    let sb = Sandbox::new();
    sb.sh(
        "ip link add uv0 type veth peer name uv1 && ip link set uv0 up && ip link set uv1 up && \
         ip addr add 10.77.0.1/24 dev uv0 && ip route add 10.78.0.0/16 via 10.77.0.2 && \
         ip link add mv0 type veth peer name mv1 && ip link set mv0 up && ip link set mv1 up && \
         ip addr add 10.88.0.1/24 dev mv0 && ip addr add fd88::1/64 dev mv0 && ip route add 10.89.0.0/16 via 10.88.0.2",
    );
    let before = sb.state_dump();
    let path = sb.write(
        "side.lua",
        r#"return net.scenario { name = "side", setup = function()
             net.host:link("uv0"):addr_del("10.77.0.1/24")
             net.host:link("mv0"):set { ns = net.ns.add("away") }
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    assert!(
        !sb.sh("ip route").contains("10.78.0.0/16"),
        "the kernel kept the route?"
    );
    assert!(sb.has_link(Some("away"), "mv0"));
    sb.down("side");
    assert_eq!(sb.state_dump(), before, "addr_del / link move did not round-trip");
    assert!(sb.sh("ip -br link show mv0").contains("UP"));
}

#[test]
fn two_scenarios_sharing_a_sysctl_end_with_the_original_value_in_either_order() {
    let sb = Sandbox::new();
    for (name, n) in [("fa", "1"), ("fb", "2")] {
        sb.write(
            &format!("{name}.lua"),
            &format!(
                "return net.scenario {{ name = \"{name}\", setup = function() net.host:sysctl(\"net.ipv4.ip_forward\", 1); net.ns.add(\"n{n}\") end }}"
            ),
        );
    }
    let p = |n: &str| sb.dir.path().join(format!("{n}.lua")).display().to_string();
    for order in [["fa", "fb"], ["fb", "fa"]] {
        assert_eq!(sb.sh("sysctl -n net.ipv4.ip_forward").trim(), "0");
        sb.up(&p("fa"), &[]);
        sb.up(&p("fb"), &[]);
        sb.down(order[0]);
        sb.down(order[1]);
        assert_eq!(
            sb.sh("sysctl -n net.ipv4.ip_forward").trim(),
            "0",
            "down {order:?} left ip_forward changed"
        );
    }
    // Changed by someone else since: left as it is, and said so.
    sb.sh("sysctl -qw net.ipv4.conf.all.rp_filter=0");
    let rp = sb.write(
        "rp.lua",
        r#"return net.scenario { name = "rp", setup = function() net.host:sysctl("net.ipv4.conf.all.rp_filter", 1) end }"#,
    );
    sb.up(rp.to_str().unwrap(), &[]);
    sb.sh("sysctl -qw net.ipv4.conf.all.rp_filter=2");
    let o = sb.lunet(&["down", "rp"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("rp_filter") && text(&o).contains("left at 2"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.sh("sysctl -n net.ipv4.conf.all.rp_filter").trim(), "2");
}

#[test]
fn running_out_of_fds_leaks_no_namespace() {
    let sb = Sandbox::new();
    // lunet keeps only as many namespace handles open as `ulimit -n` leaves room
    // for: the script itself uses up the descriptors (files it keeps open), so
    // that a namespace add fails for the lack of one.
    let script = sb.write(
        "many.lua",
        "keep = {} for i = 1, 100 do net.ns.add('fd' .. i) keep[#keep + 1] = io.open('/dev/null') end",
    );
    for _ in 0..3 {
        let out = sb.run(
            "sh",
            &[
                "-c",
                &format!(
                    "ulimit -n 65; {} run {}",
                    common::lunet_bin().display(),
                    script.display()
                ),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "100 namespaces and 100 files in 65 fds succeeded?"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(sb.sh("ls /run/netns"), "", "a namespace was left: {err}");
        assert!(
            !sb.sh("cat /proc/self/mountinfo").contains("/run/netns/"),
            "a namespace is still mounted: {err}"
        );
    }
}

#[test]
fn iptables_nft_tables_that_lunet_made_are_gone_after_down() {
    let sb = Sandbox::new();
    let dump = || {
        sb.sh("set -e; v4=$(iptables-save); v6=$(ip6tables-save); printf '%s\\n%s\\n' \"$v4\" \"$v6\" | grep -v '^#'")
    };
    let before = dump();
    let path = sb.write(
        "fw.lua",
        r#"return net.scenario { name = "fw", setup = function()
             net.host:nat_masquerade { source = "10.51.0.0/30" }
             net.host:iptables("-t mangle -A PREROUTING -j ACCEPT")
             net.host:ip6tables("-A INPUT -s fd00::1 -j DROP")
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    assert!(dump().contains("*nat"), "the rules were not made: {}", dump());
    sb.down("fw");
    assert_eq!(dump(), before, "tables lunet's rules created were left behind");
}

/// The observer every "exactly as before" check here relies on: `state_dump` must see an
/// iptables rule, a user chain and a DROP policy (IPv4 and IPv6) left in a namespace that
/// survives, and in the sandbox itself. Before it ran `iptables-save` directly, its
/// per-namespace section was always empty (dash has no `typeset`).
#[test]
fn state_dump_sees_rules_left_in_a_surviving_namespace() {
    let sb = Sandbox::new();
    sb.sh("ip netns add keep");
    let before = sb.state_dump();
    for (change, undo) in [
        (
            "iptables -A INPUT -s 10.6.6.6 -j DROP",
            "iptables -D INPUT -s 10.6.6.6 -j DROP",
        ),
        (
            "ip6tables -A INPUT -s fd00::6 -j DROP",
            "ip6tables -D INPUT -s fd00::6 -j DROP",
        ),
        ("iptables -t nat -N LEFT", "iptables -t nat -X LEFT"),
        ("iptables -P FORWARD DROP", "iptables -P FORWARD ACCEPT"),
    ] {
        for prefix in ["ip netns exec keep ", ""] {
            sb.sh(&format!("{prefix}{change}"));
            let after = sb.state_dump();
            assert_ne!(after, before, "state_dump is blind to `{prefix}{change}`");
            sb.sh(&format!("{prefix}{undo}"));
            assert_eq!(sb.state_dump(), before, "`{prefix}{undo}` did not restore the dump");
        }
    }
}
