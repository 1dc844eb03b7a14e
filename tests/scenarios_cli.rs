//! The scenario life cycle from the command line: up/check/down leave the
//! sandbox exactly as before, every failure point rolls back, a crash at any
//! point is cleaned up by `down`, foreign objects survive, and `plan` prints a
//! script that builds the same thing.

mod common;
use common::Sandbox;

/// A scenario touching every kind of change: namespaces, veth, bridge, addresses,
/// routes, a rule, a sysctl, /etc/netns files, iptables rules, a process.
const EVERYTHING: &str = r#"
return net.scenario {
  name = "everything",
  description = "one of each kind of change",
  params = { subnet = "10.50.0", port = 8000, fast = true },
  requires = { "sleep" },
  setup = function(p)
    local a = net.ns.add("ea")
    local b = net.ns.add("eb")
    local br = net.host:bridge("ebr", { up = true })
    br:addr_add(p.subnet .. ".254/24")
    local _, x = net.host:veth("ev0", "eth0", { peer_ns = a, master = br, up = true })
    x:addr_add(p.subnet .. ".1/24")
    local y, z = a:veth("ex", "ey", { peer_ns = b, up = true })
    y:addr_add("10.51.0.1/30"); z:addr_add("10.51.0.2/30")
    b:route_add { to = p.subnet .. ".0/24", via = "10.51.0.1" }
    a:rule_add { from = "10.51.0.0/30", table = 100, priority = 500 }
    net.host:route_add { to = "10.51.0.0/30", via = p.subnet .. ".1" }
    net.host:rule_add { to = "10.99.0.0/16", table = 200, priority = 600 }
    net.host:sysctl("net.ipv4.ip_forward", 1)
    a:ip_forward(true)
    a:hosts { ["10.51.0.2"] = "eb" }
    net.host:iptables("-A FORWARD -i ebr -j ACCEPT")
    net.host:nat_masquerade { source = "10.51.0.0/30" }
    net.host:iptables_restore("*filter\n:ECHAIN - [0:0]\n-A ECHAIN -j RETURN\n-A INPUT -j ECHAIN\nCOMMIT\n")
    net.host:spawn("sleep 3600")
    b:spawn({ "sleep", "3601" })
  end,
  check = function(p, s)
    s:expect_ping(net.ns.get("eb"), p.subnet .. ".254")
    s:expect_ping(net.host, "10.51.0.2")
  end,
}
"#;

#[test]
fn up_check_down_leaves_the_sandbox_exactly_as_before() {
    let sb = Sandbox::new();
    let path = sb.write("everything.lua", EVERYTHING);
    let up = sb.scenario_cycle(path.to_str().unwrap(), &[]);
    assert!(up.contains("ok   eb pings 10.50.0.254"), "{up}");
}

#[test]
fn the_kernel_state_while_up_is_what_an_observer_expects() {
    let sb = Sandbox::new();
    let path = sb.write("everything.lua", EVERYTHING);
    let o = sb.lunet(&["up", path.to_str().unwrap(), "--set", "subnet=10.60.0"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(sb.sh("ip -br addr show ebr").contains("10.60.0.254/24"));
    assert!(sb.sh("ip -n eb route").contains("10.60.0.0/24 via 10.51.0.1"));
    assert!(sb.sh("iptables -S FORWARD").contains("-A FORWARD -i ebr -j ACCEPT"));
    assert_eq!(sb.sh("sysctl -n net.ipv4.ip_forward").trim(), "1");
    assert!(sb.ok("pgrep -fx 'sleep 3601'"));
    assert!(sb.sh("ip netns exec ea getent hosts eb").contains("10.51.0.2"));
    let status = common::text(&sb.lunet(&["status"]));
    assert!(
        status.contains("everything") && status.contains("subnet=\"10.60.0\""),
        "{status}"
    );
    assert!(
        status.contains("ip netns add ea") && status.contains("iptables -t filter -A FORWARD -i ebr -j ACCEPT"),
        "{status}"
    );
    let o = sb.lunet(&["down", "everything"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(sb.sh("sysctl -n net.ipv4.ip_forward").trim(), "0");
    assert!(!sb.ok("pgrep -fx 'sleep 3601'"));
    assert!(common::text(&sb.lunet(&["status"])).contains("no scenario is up"));
}

#[test]
fn every_failing_step_rolls_back_to_the_exact_prior_state() {
    let sb = Sandbox::new();
    let path = sb.write("everything.lua", EVERYTHING);
    let before = sb.state_dump();
    // Count the journaled steps of a full run.
    let o = sb.lunet(&["up", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::text(&o));
    let steps: usize = common::text(&o)
        .split(" changes")
        .next()
        .unwrap()
        .rsplit('(')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(sb.lunet(&["down", "everything"]).status.success());
    assert!(steps > 20, "expected many steps, got {steps}");
    for k in 1..=steps {
        let o = sb
            .command(common::lunet_bin().to_str().unwrap())
            .env("LUNET_FAIL_STEP", k.to_string())
            .args(["up", path.to_str().unwrap()])
            .output()
            .unwrap();
        let text = common::text(&o);
        assert!(
            !o.status.success(),
            "step {k}: up succeeded despite the injected failure"
        );
        assert!(
            text.contains(&format!("injected failure at step {k}")) && text.contains("rolled back"),
            "step {k}: {text}"
        );
        assert_eq!(
            sb.state_dump(),
            before,
            "step {k}: rollback did not restore the prior state"
        );
    }
}

#[test]
fn a_crash_at_any_point_is_cleaned_up_by_down() {
    let sb = Sandbox::new();
    let path = sb.write("everything.lua", EVERYTHING);
    let before = sb.state_dump();
    for point in ["1", "2", "7", "7:after", "12", "18", "18:after", "23", "24:after"] {
        let o = sb
            .command(common::lunet_bin().to_str().unwrap())
            .env("LUNET_CRASH_STEP", point)
            .args(["up", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!o.status.success(), "crash {point}: up finished");
        let status = common::text(&sb.lunet(&["status"]));
        assert!(
            status.contains("everything"),
            "crash {point}: status shows nothing: {status}"
        );
        let o = sb.lunet(&["down", "everything"]);
        assert!(o.status.success(), "crash {point}: down failed: {}", common::text(&o));
        assert_eq!(
            sb.state_dump(),
            before,
            "crash {point}: down did not restore the prior state"
        );
    }
}

#[test]
fn foreign_objects_survive_teardown() {
    let sb = Sandbox::new();
    sb.sh("ip link add ebr type bridge && ip link add foreign0 type bridge && iptables -A FORWARD -i ebr -j ACCEPT && iptables -A INPUT -s 9.9.9.9 -j DROP");
    let before = sb.state_dump();
    // The bridge already exists: up fails at that step and must not delete it.
    let path = sb.write("everything.lua", EVERYTHING);
    let o = sb.lunet(&["up", path.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        common::text(&o).contains("interface \"ebr\" already exists"),
        "{}",
        common::text(&o)
    );
    assert_eq!(sb.state_dump(), before);
    // A scenario that adds a rule that is already there leaves it in place on down.
    let path = sb.write(
        "fw.lua",
        r#"return net.scenario { name = "fw", setup = function()
             net.host:iptables("-A INPUT -s 9.9.9.9 -j DROP")
             net.host:iptables("-A INPUT -s 8.8.8.8 -j DROP")
           end }"#,
    );
    assert!(sb.lunet(&["up", path.to_str().unwrap()]).status.success());
    assert!(sb.lunet(&["down", "fw"]).status.success());
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn plan_prints_a_script_that_builds_the_same_state() {
    let planner = Sandbox::new();
    let path = planner.write(
        "everything.lua",
        EVERYTHING
            .replace("net.host:spawn(\"sleep 3600\")", "")
            .replace("b:spawn({ \"sleep\", \"3601\" })", "")
            .as_str(),
    );
    let before = planner.state_dump();
    let plan = planner.lunet(&["plan", path.to_str().unwrap()]);
    assert!(plan.status.success(), "{}", common::text(&plan));
    assert_eq!(planner.state_dump(), before, "plan changed something");
    let script = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(script.starts_with("#!/bin/sh"), "{script}");
    // Run the plan with sh in a fresh sandbox, `up` in another: same kernel state.
    let by_sh = Sandbox::new();
    let p = by_sh.write("plan.sh", &script);
    by_sh.sh(&format!("sh -e {}", p.display()));
    let by_up = Sandbox::new();
    let p = by_up.write("everything.lua", &std::fs::read_to_string(&path).unwrap());
    let o = by_up.lunet(&["up", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::text(&o));
    let strip = |s: String| -> String {
        // MAC addresses are random per run; lunet's own state dir is not the kernel's; a
        // bridge's operational state (UNKNOWN until its ports settle, then UP) is the
        // kernel's timing, not configuration (the admin UP flag is still compared).
        s.lines()
            .filter(|l| !l.contains(".journal") && !l.contains(".json"))
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| w.matches(':').count() != 5 && !["UNKNOWN", "UP", "DOWN", "LOWERLAYERDOWN"].contains(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(by_sh.state_dump()), strip(by_up.state_dump()));
}

#[test]
fn two_scenarios_up_at_once_come_down_in_either_order() {
    for order in [["two-namespaces", "everything"], ["everything", "two-namespaces"]] {
        let sb = Sandbox::new();
        let path = sb.write("everything.lua", EVERYTHING);
        let before = sb.state_dump();
        assert!(sb.lunet(&["up", "two-namespaces"]).status.success());
        let o = sb.lunet(&["up", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", common::text(&o));
        let status = common::text(&sb.lunet(&["status"]));
        assert!(
            status.contains("two-namespaces") && status.contains("everything"),
            "{status}"
        );
        for name in order {
            let o = sb.lunet(&["down", name]);
            assert!(o.status.success(), "{}", common::text(&o));
        }
        assert_eq!(sb.state_dump(), before);
    }
}

#[test]
fn scenario_errors_are_clear_and_change_nothing() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let cases: &[(&[&str], &str)] = &[
        (&["up", "no-such-scenario"], "no scenario \"no-such-scenario\""),
        (&["up", "two-namespaces", "--set", "nope=1"], "has no param \"nope\""),
        (&["up", "two-namespaces", "--set", "left"], "expected key=value"),
        (&["down", "two-namespaces"], "is not up"),
        (&["check", "two-namespaces"], "is not up"),
    ];
    for (args, msg) in cases {
        let o = sb.lunet(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(common::text(&o).contains(msg), "{args:?}: {}", common::text(&o));
    }
    let typed = sb.write(
        "typed.lua",
        r#"return net.scenario { name = "typed", params = { n = 1, on = false }, requires = { "no-such-program-x" }, setup = function() net.ns.add("t") end }"#,
    );
    let o = sb.lunet(&["up", typed.to_str().unwrap(), "--set", "n=abc"]);
    assert!(
        common::text(&o).contains("param \"n\" of typed is an integer"),
        "{}",
        common::text(&o)
    );
    let o = sb.lunet(&["up", typed.to_str().unwrap(), "--set", "on=maybe"]);
    assert!(common::text(&o).contains("is a boolean"), "{}", common::text(&o));
    let o = sb.lunet(&["up", typed.to_str().unwrap()]);
    assert!(
        common::text(&o).contains("needs no-such-program-x on PATH (nothing was changed)"),
        "{}",
        common::text(&o)
    );
    let bad = sb.write("bad.lua", r#"return net.scenario { name = "bad", setup = 1 }"#);
    assert!(common::text(&sb.lunet(&["up", bad.to_str().unwrap()])).contains("\"setup\" must be a function"));
    let notscen = sb.write("plain.lua", "return 42");
    assert!(common::text(&sb.lunet(&["up", notscen.to_str().unwrap()])).contains("must `return net.scenario"));
    let failing = sb.write(
        "failing.lua",
        r#"return net.scenario { name = "failing", setup = function() net.ns.add("f1") net.host:bridge("fb") end,
             check = function(p, s) s:expect_ping(net.ns.get("f1"), "10.123.0.1") end }"#,
    );
    let o = sb.lunet(&["up", failing.to_str().unwrap()]);
    let t = common::text(&o);
    assert!(
        t.contains("failing: check failed") && t.contains("expected f1 to reach 10.123.0.1"),
        "{t}"
    );
    assert!(t.contains("rolled back"), "{t}");
    assert_eq!(sb.state_dump(), before);
    // Already up: refused with a hint.
    assert!(sb.lunet(&["up", "two-namespaces"]).status.success());
    let o = sb.lunet(&["up", "two-namespaces"]);
    assert!(
        common::text(&o).contains("already up") && common::text(&o).contains("lunet down two-namespaces"),
        "{}",
        common::text(&o)
    );
    assert!(sb.lunet(&["down", "two-namespaces"]).status.success());
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn scenarios_are_listed_with_descriptions_and_params() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("custom.lua"),
        r#"return net.scenario { name = "custom", description = "a user scenario", params = { x = 3 }, setup = function() end }"#,
    )
    .unwrap();
    let o = sb
        .command(common::lunet_bin().to_str().unwrap())
        .env("LUNET_PATH", &dir)
        .arg("scenarios")
        .output()
        .unwrap();
    let t = common::text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("two-namespaces")
            && t.contains("joined by a bridge")
            && !t.contains("seed ")
            && t.contains("left=\"left\""),
        "{t}"
    );
    assert!(
        t.contains("custom") && t.contains("a user scenario") && t.contains("x=3"),
        "{t}"
    );
    // And `up NAME` finds it on LUNET_PATH.
    let o = sb
        .command(common::lunet_bin().to_str().unwrap())
        .env("LUNET_PATH", &dir)
        .args(["up", "custom"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
}

#[test]
fn a_failing_run_script_is_rolled_back_unless_asked_to_keep() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let code = r#"local a = net.ns.add("r1") a:bridge("rb") net.host:dummy_nonexistent()"#;
    let err = sb.lua_err(code);
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(sb.state_dump(), before);
    let p = sb.write("keep.lua", code);
    let o = sb.lunet(&["--keep-on-error", "run", p.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(sb.sh("ip netns list").contains("r1"));
}

#[test]
fn running_a_scenario_file_as_a_script_says_how_to_use_it() {
    let sb = Sandbox::new();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/two-namespaces.lua");
    let o = sb.lunet(&["run", path]);
    assert!(!o.status.success());
    assert!(
        common::text(&o).contains("is the scenario two-namespaces: bring it up with `lunet up"),
        "{}",
        common::text(&o)
    );
    assert_eq!(sb.sh("ip netns list").trim(), "");
}
