//! Link conditions (`link:shape`, `shape`/`peer_shape` options, `lunet.topo`):
//! observed with `tc -j qdisc show`, each test in its own sandbox. (The rates
//! iperf3 measures are in tests/throughput.rs: measured alone, not beside these.)

mod common;
use common::{text, Sandbox};
use serde_json::Value;

/// Two namespaces `a` and `b` joined by a veth (`eth0` each side), 10.0.0.1 – 10.0.0.2.
const PAIR: &str = r#"local a, b = net.ns.add("a"), net.ns.add("b")
local x, y = a:veth("eth0", "eth0", { peer_ns = b, up = true })
x:addr_add("10.0.0.1/24"); y:addr_add("10.0.0.2/24")"#;

/// The root qdisc of DEV in NS, as `tc -j qdisc show dev DEV root` prints it.
fn root_qdisc(sb: &Sandbox, ns: &str, dev: &str) -> Value {
    let out = sb.sh(&format!("tc -n {ns} -j qdisc show dev {dev} root"));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("tc -j: {e}: {out}"));
    v[0].clone()
}

/// Every qdisc of every namespace, as text (for before/after comparisons),
/// without htb's counter of packets sent (IPv6 neighbour discovery goes through).
fn qdiscs(sb: &Sandbox) -> String {
    sb.sh("tc -j qdisc show; for n in $(ls /run/netns); do echo \"== $n\"; tc -n $n -j qdisc show; done")
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(mut v) => {
                for q in v.as_array_mut().into_iter().flatten() {
                    if let Some(o) = q["options"].as_object_mut() {
                        o.remove("direct_packets_stat");
                    }
                }
                v.to_string()
            }
            Err(_) => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `tc -j` says of a qdisc, without what differs between two identical setups.
fn without_handle(mut q: Value) -> Value {
    if let Some(o) = q.as_object_mut() {
        o.remove("handle");
        o.remove("refcnt");
    }
    q
}

/// The error is the first line of stderr, whole (what follows is --keep-on-error's note).
fn one_line(err: &str, want: &str) -> bool {
    let first = err.lines().next().unwrap_or_default();
    first.starts_with("lunet: ") && first.contains(want) && err.lines().filter(|l| l.contains(want)).count() == 1
}

/// Runs a `tc` line by hand, then waits for the veth pair's operstate to
/// settle (a root qdisc change bounces it, asynchronously).
fn tc_by_hand(sb: &Sandbox, cmd: &str) {
    sb.sh(cmd);
    settle(sb);
}

fn settle(sb: &Sandbox) {
    sb.sh("for i in $(seq 100); do ip -n a -br link show eth0 | grep -q ' UP ' && ip -n b -br link show eth0 | grep -q ' UP ' && exit 0; sleep 0.02; done; exit 1");
    std::thread::sleep(std::time::Duration::from_millis(100));
}

#[test]
fn tbf_options_round_trip_through_the_kernel() {
    let sb = Sandbox::new();
    sb.lua_ok(PAIR);
    // (shape as Lua, rate bits/s, burst bytes, limit bytes)
    let cases: &[(&str, u64, u64, u64)] = &[
        (r#"{ rate = "10mbit" }"#, 10_000_000, 16384, 16384 + 62_500),
        (
            r#"{ rate = "50mbit", burst = "32kb" }"#,
            50_000_000,
            32768,
            32768 + 312_500,
        ),
        (
            r#"{ rate = 200e6, burst = 100000, limit = "2mb" }"#,
            200_000_000,
            100_000,
            2 << 20,
        ),
        (
            r#"{ rate = "1.5mbit", burst = "8kbit", limit = 20000 }"#,
            1_500_000,
            1024,
            20000,
        ),
        (
            r#"{ rate = "40gbit" }"#,
            40_000_000_000,
            50_000_000,
            50_000_000 + 250_000_000,
        ),
    ];
    for (lua, rate, burst, limit) in cases {
        let out = sb.lua_ok(&format!(
            r#"local l = net.ns.get("a"):link("eth0")
               l:shape{lua}
               local s = l:info().shape
               print(l:info().qdisc, s.rate, s.burst, s.limit, s.delay)"#
        ));
        let q = root_qdisc(&sb, "a", "eth0");
        assert_eq!(q["kind"], "tbf", "{lua}: {q}");
        let bps = rate / 8;
        assert_eq!(q["options"]["rate"].as_u64(), Some(bps), "{lua}: rate in bytes/s: {q}");
        let tc_burst = q["options"]["burst"].as_f64().unwrap();
        assert!(
            (tc_burst - *burst as f64).abs() <= (*burst as f64 * 0.002).max(2.0),
            "{lua}: burst {tc_burst} for {burst}: {q}"
        );
        // tc prints the latency the limit gives at this rate, in µs.
        let lat = q["options"]["lat"].as_f64().unwrap();
        let want = (*limit as f64 - *burst as f64) / bps as f64 * 1e6;
        assert!(
            (lat - want).abs() <= want * 0.01 + 2.0,
            "{lua}: lat {lat} µs, want {want}: {q}"
        );
        // lunet reads back the same values.
        let f: Vec<&str> = out.trim().split('\t').collect();
        assert_eq!(f[0], "tbf");
        assert_eq!(f[1], rate.to_string(), "{lua}: {out}");
        let b: f64 = f[2].parse().unwrap();
        assert!(
            (b - *burst as f64).abs() <= (*burst as f64 * 0.002).max(2.0),
            "{lua}: {out}"
        );
        assert_eq!(f[3], limit.to_string(), "{lua}: {out}");
        assert_eq!(f[4], "nil", "no delay on a tbf");
    }
}

/// Whether the kernel can make a netem qdisc (on a throw-away veth).
fn has_netem(sb: &Sandbox) -> bool {
    sb.ok(
        "ip link add np0 type veth peer name np1 && tc qdisc add dev np0 root netem delay 1ms 2>/dev/null; \
           r=$?; ip link del np0; exit $r",
    )
}

const NETEM_CASES: &[&str] = &[
    r#"{ delay = "5ms" }"#,
    r#"{ delay = 0.01, jitter = "2ms" }"#,
    r#"{ loss = "1%" }"#,
    r#"{ duplicate = 0.5 }"#,
    r#"{ delay = "10ms", reorder = 25 }"#,
    r#"{ corrupt = "0.1%" }"#,
    r#"{ rate = "10mbit", delay = "1ms", limit = 500 }"#,
];

#[test]
fn netem_without_sch_netem_is_one_clear_line_and_leaves_nothing() {
    let sb = Sandbox::new();
    sb.lua_ok(PAIR);
    tc_by_hand(
        &sb,
        "tc -n a qdisc add dev eth0 root tbf rate 1mbit burst 10kb latency 70ms",
    );
    if has_netem(&sb) {
        common::skip("this kernel has sch_netem: see netem_options_round_trip");
        return;
    }
    for case in NETEM_CASES {
        let before = qdiscs(&sb);
        let err = sb.lua_err_clean(&format!(r#"net.ns.get("a"):link("eth0"):shape{case}"#));
        assert!(one_line(&err, "link:shape:"), "{case}: one line: {err}");
        assert!(
            err.contains("link:shape:") && err.contains("this kernel has no sch_netem"),
            "{case}: {err}"
        );
        assert_eq!(before, qdiscs(&sb), "{case}: a qdisc changed");
    }
    // At creation too: the veth is not left behind either.
    let before = qdiscs(&sb);
    let err = sb.lua_err_clean(r#"net.ns.get("a"):veth("v1", "v2", { peer_ns = "b", peer_shape = { loss = 1 } })"#);
    assert!(err.contains("ns:veth:") && err.contains("sch_netem"), "{err}");
    assert_eq!(before, qdiscs(&sb));
}

#[test]
fn netem_options_round_trip_skipped_without_sch_netem() {
    let sb = Sandbox::new();
    sb.lua_ok(PAIR);
    if !has_netem(&sb) {
        common::skip("kernel lacks sch_netem");
        return;
    }
    for case in NETEM_CASES {
        let out = sb.lua_ok(&format!(
            r#"local l = net.ns.get("a"):link("eth0")
               l:shape{case}
               local s = l:info().shape
               print(s.delay, s.jitter, s.loss, s.duplicate, s.reorder, s.corrupt, s.rate, s.limit)"#
        ));
        let q = root_qdisc(&sb, "a", "eth0");
        assert_eq!(q["kind"], "netem", "{case}: {q}");
        let text = sb.sh("tc -n a qdisc show dev eth0 root");
        // The independent reading, word by word, against what was asked.
        let want: &[&str] = match *case {
            c if c.contains("jitter") => &["delay 10ms", "2ms"],
            c if c.contains("reorder") => &["delay 10ms", "reorder 25%"],
            c if c.contains("rate") => &["delay 1ms", "rate 10Mbit", "limit 500"],
            c if c.contains("loss") => &["loss 1%"],
            c if c.contains("duplicate") => &["duplicate 0.5%"],
            c if c.contains("corrupt") => &["corrupt 0.1%"],
            _ => &["delay 5ms", "limit 1000"],
        };
        for w in want {
            assert!(text.contains(w), "{case}: `{w}` not in {text} (lunet read: {out})");
        }
    }
}

#[test]
fn down_and_rollback_restore_a_user_made_root_qdisc_exactly() {
    let sb = Sandbox::new();
    sb.lua_ok(PAIR);
    tc_by_hand(
        &sb,
        "tc -n a qdisc add dev eth0 root tbf rate 1mbit burst 10kb latency 70ms",
    );
    let before = qdiscs(&sb);
    let theirs = root_qdisc(&sb, "a", "eth0");

    // A scenario shapes it; down puts the user's tbf back, handle and all.
    let file = sb.write(
        "shaper.lua",
        r#"return net.scenario { name = "shaper", setup = function()
             net.ns.get("a"):link("eth0"):shape{ rate = "20mbit" }
             net.ns.get("a"):link("eth0"):shape{ rate = "30mbit", burst = "64kb" }
           end }"#,
    );
    sb.up(file.to_str().unwrap(), &[]);
    let ours = root_qdisc(&sb, "a", "eth0");
    assert_eq!(ours["options"]["rate"], 3_750_000, "{ours}");
    sb.down("shaper");
    assert_eq!(qdiscs(&sb), before, "down: tc -j qdisc show is not as before");

    // A run that fails is rolled back.
    let o = sb.lua(r#"net.ns.get("a"):link("eth0"):shape{ rate = "5mbit" }; error("boom")"#);
    assert!(!o.status.success());
    assert_eq!(qdiscs(&sb), before, "rollback: {}", text(&o));

    // net.undo / net.reset of a shape taken off.
    sb.lua_ok(
        r#"local l = net.ns.get("a"):link("eth0")
           l:shape(nil)
           assert(l:info().qdisc == "noqueue")
           net.reset()
           assert(l:info().qdisc == "tbf")"#,
    );
    assert_eq!(qdiscs(&sb), before, "reset");
    assert_eq!(root_qdisc(&sb, "a", "eth0"), theirs);

    // Another kind (pfifo with its own handle) comes back too.
    tc_by_hand(&sb, "tc -n a qdisc replace dev eth0 root handle 7: pfifo limit 50");
    let before = qdiscs(&sb);
    sb.up(file.to_str().unwrap(), &[]);
    assert_eq!(root_qdisc(&sb, "a", "eth0")["kind"], "tbf");
    sb.down("shaper");
    assert_eq!(qdiscs(&sb), before);

    // One lunet cannot re-create (classes below it) is refused, and left alone.
    tc_by_hand(&sb, "tc -n a qdisc replace dev eth0 root handle 1: htb default 10");
    let before = qdiscs(&sb);
    let err = sb.lua_err_clean(r#"net.ns.get("a"):link("eth0"):shape{ rate = "10mbit" }"#);
    assert!(
        err.contains("link:shape:") && err.contains("htb") && err.contains("could not put back exactly"),
        "{err}"
    );
    assert!(one_line(&err, "link:shape:"), "{err}");
    assert_eq!(qdiscs(&sb), before);
}

#[test]
fn bad_values_are_one_line_errors_that_change_nothing() {
    let sb = Sandbox::new();
    sb.lua_ok(PAIR);
    settle(&sb);
    let cases: &[(&str, &str)] = &[
        (
            r#"{ rate = "10 parsecs" }"#,
            r#"link:shape: bad rate "10 parsecs": unknown unit "parsecs""#,
        ),
        ("{ rate = -5 }", "link:shape: bad rate -5: must not be negative"),
        ("{ rate = 0 }", "link:shape: bad rate 0: must be more than 0"),
        ("{ loss = 101 }", "link:shape: bad loss 101: must be at most 100%"),
        (
            r#"{ loss = "150%" }"#,
            r#"link:shape: bad loss "150%": must be at most 100%"#,
        ),
        ("{ rate = 0/0 }", "not a number"),
        ("{ delay = math.huge }", "link:shape: bad delay inf: must be finite"),
        (r#"{ delay = "5" }"#, "give a unit"),
        (r#"{ delay = "-5ms" }"#, "link:shape: bad delay \"-5ms\""),
        (r#"{ jitter = "1ms" }"#, "jitter needs a delay"),
        (r#"{ rate = "1mbit", burst = "-1kb" }"#, "link:shape: bad burst"),
        (
            r#"{ rate = "1mbit", burst = "64kb", limit = 1000 }"#,
            "limit 1000 is less than burst",
        ),
        ("{}", "link:shape: nothing to shape"),
        ("{ speed = 1 }", r#"link:shape: unknown option "speed""#),
        (
            "{ rate = true }",
            r#"option "rate" must be a number or a string, got boolean"#,
        ),
        (r#"("fast")"#, "a shape must be a table"),
    ];
    for (lua, want) in cases {
        let before = qdiscs(&sb);
        let err = sb.lua_err_clean(&format!(r#"net.ns.get("a"):link("eth0"):shape{lua}"#));
        assert!(err.contains(want), "{lua}: want {want:?} in {err}");
        assert!(one_line(&err, want), "{lua}: {err}");
        assert_eq!(before, qdiscs(&sb), "{lua}");
    }
    // Options of a constructor name the option; nothing is made.
    let err = sb.lua_err_clean(
        r#"net.ns.get("a"):veth("v1", "v2", { peer_ns = "b", shape = { rate = "1mbit" }, peer_shape = { rate = "fast" } })"#,
    );
    assert!(err.contains(r#"ns:veth: peer_shape: bad rate "fast""#), "{err}");
}

#[test]
fn constructors_topo_info_and_show_carry_the_shape() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"local topo = require "lunet.topo"
           local t = topo.build {
             nodes = { "h1", "h2", "h3" },
             bridges = { { name = "br0", ns = "h3" } },
             links = {
               { a = "h1", b = "h2", shape = { rate = "10mbit" }, peer_shape = { rate = "20mbit" } },
               { a = "h1", b = "br0", shape = { rate = "30mbit" }, peer_shape = { rate = "40mbit" } },
             },
           }
           net.ns.get("h3"):bridge("br1", { shape = { rate = "50mbit" } })
           -- info() gives back a table shape() takes: copy a shape.
           local s = t.links[1].a:info().shape
           assert(s.rate == 10e6 and s.limit == 16384 + 62500, "read back")
           net.ns.get("h3"):link("br1"):shape(s)"#,
    );
    let rate = |ns: &str, dev: &str| root_qdisc(&sb, ns, dev)["options"]["rate"].as_u64();
    assert_eq!(rate("h1", "eth0"), Some(10_000_000 / 8), "a's end");
    assert_eq!(rate("h2", "eth0"), Some(20_000_000 / 8), "b's end");
    assert_eq!(rate("h1", "eth1"), Some(30_000_000 / 8), "a's end on a bridge");
    assert_eq!(rate("h3", "veth-h1"), Some(40_000_000 / 8), "the bridge port");
    assert_eq!(rate("h3", "br1"), Some(10_000_000 / 8), "copied");

    let o = sb.lunet(&["show", "h1"]);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("shaped: tbf rate 10mbit burst 16384b limit 78884b"),
        "{t}"
    );
    let o = sb.lunet(&["show", "h1", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let eth0 = v[0]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "eth0")
        .unwrap();
    assert_eq!(eth0["qdisc"], "tbf");
    assert_eq!(eth0["shape"]["rate"], 10_000_000);
    let lo = v[0]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "lo")
        .unwrap();
    assert!(lo.get("shape").is_none(), "{lo}");
}

#[test]
fn plan_prints_tc_lines_that_sh_runs_to_the_same_state() {
    let sb = Sandbox::new();
    let file = sb.write(
        "lab.lua",
        r#"return net.scenario { name = "lab", setup = function()
             local a, b = net.ns.add("a"), net.ns.add("b")
             a:veth("eth0", "eth0", { peer_ns = b, up = true,
               shape = { rate = "10mbit", burst = "20kb", limit = "100kb" }, peer_shape = { rate = "1gbit" } })
           end }"#,
    );
    let plan = sb.lunet(&["plan", file.to_str().unwrap()]);
    let script = String::from_utf8(plan.stdout.clone()).unwrap();
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        script.contains("tc -n a qdisc replace dev eth0 root tbf rate 10mbit burst 20480b limit 102400b"),
        "{script}"
    );
    // -v traces the same line when it is made.
    let up = sb.lunet(&["-v", "up", file.to_str().unwrap()]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        text(&up).contains("+ tc -n b qdisc replace dev eth0 root tbf rate 1gbit burst 1250000b limit 7500000b"),
        "{}",
        text(&up)
    );
    let by_lunet = (root_qdisc(&sb, "a", "eth0"), root_qdisc(&sb, "b", "eth0"));

    // The plan, run by sh in a fresh sandbox, builds the same qdiscs.
    let other = Sandbox::new();
    let path = other.write("plan.sh", &script);
    other.sh(&format!("sh -e {}", path.display()));
    let by_sh = (root_qdisc(&other, "a", "eth0"), root_qdisc(&other, "b", "eth0"));
    assert_eq!(without_handle(by_lunet.0), without_handle(by_sh.0));
    assert_eq!(without_handle(by_lunet.1), without_handle(by_sh.1));

    sb.down("lab");
    assert_eq!(sb.netns_list(), Vec::<String>::new());
}
