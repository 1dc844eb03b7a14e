//! Scale: lunet's own work per change stays flat as more exists; many
//! namespaces are deleted as one batch; the bridge port limit has a clear
//! message; IPv6 can be turned off with one word. Counted (syscalls), never timed.

mod common;
use common::{lunet_bin, text, Sandbox};

/// The ptp shape: N namespaces, each joined to the host by its own veth with a
/// /32 address, a host route back and a default route out.
const PTP: &str = r#"
local N = tonumber(arg[1])
for i = 1, N do
  local ns = net.ns.add("p" .. i)
  local host_end, inside = net.host:veth("vp" .. i, "eth0", { peer_ns = ns, up = true })
  local a = string.format("10.%d.%d.%d", 100 + i // 65536, (i // 256) % 256, i % 256)
  inside:addr_add(a .. "/32")
  ns:route_add { to = "169.254.1.1/32", dev = "eth0", scope = "link" }
  ns:route_add { to = "default", via = "169.254.1.1", dev = "eth0" }
  net.host:route_add { to = a .. "/32", dev = "vp" .. i }
end
"#;

/// System calls that wait or wake threads: how many there are depends on when the
/// machine lets lunet's threads run (a busy machine: more futex waits, more empty
/// epoll rounds), not on the work asked for. Not counted.
const SCHEDULING: &[&str] = &[
    "futex",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "sched_yield",
    "nanosleep",
    "clock_nanosleep",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "restart_syscall",
    "wait4",
    "waitid",
];

/// System calls lunet makes to build P(N) and take it down again (strace -f -c), that
/// succeeded and are not in SCHEDULING: the work itself. (A failed call is mostly a
/// nonblocking read that found nothing yet, EAGAIN: again a matter of timing.)
fn syscalls(sb: &Sandbox, n: usize) -> (u64, String) {
    let script = sb.write("ptp.lua", &format!("{PTP}\nnet.reset()\n"));
    let out = sb.dir.path().join(format!("strace-{n}"));
    let o = sb.run(
        "strace",
        &[
            "-f",
            "-c",
            "-o",
            out.to_str().unwrap(),
            lunet_bin().to_str().unwrap(),
            "run",
            script.to_str().unwrap(),
            &n.to_string(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sb.sh("ls /run/netns"), "", "P({n}) was not taken down");
    let report = std::fs::read_to_string(&out).unwrap();
    // Rows: "% time  seconds  usecs/call  calls  [errors]  syscall", then a "total" row.
    let mut work = 0;
    let mut rows = 0;
    for line in report.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, nums)) = w.split_last() else { continue };
        let nums: Vec<u64> = nums.iter().skip(2).filter_map(|x| x.parse().ok()).collect();
        if name == "total" || nums.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        rows += 1;
        if !SCHEDULING.contains(&name) {
            work += nums[1] - nums.get(2).copied().unwrap_or(0);
        }
    }
    assert!(rows > 10 && work > 0, "no syscalls in strace's report:\n{report}");
    (work, report)
}

#[test]
fn lunets_own_work_per_namespace_stays_flat_from_100_to_1000() {
    let sb = Sandbox::new();
    let (small, small_report) = syscalls(&sb, 100);
    let (large, large_report) = syscalls(&sb, 1000);
    let ratio = large as f64 / small as f64;
    println!("syscalls (work): P(100) {small}, P(1000) {large}, ratio {ratio:.2}");
    // Linear work gives a ratio of ~10 (less: fixed costs); anything that grows with
    // what already exists (a lookup per change over all changes) shows as far more.
    assert!(
        ratio < 10.5,
        "lunet's work grows faster than linearly: P(100) {small}, P(1000) {large} syscalls\n\
         --- P(100)\n{small_report}\n--- P(1000)\n{large_report}"
    );
}

#[test]
fn many_namespaces_are_deleted_as_one_batch() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local names = {}
        for i = 1, 20 do names[i] = "b" .. i; net.ns.add(names[i]) end
        local p = net.ns.get("b7"):spawn("sleep 600", { keep = true })
        local ok, err = pcall(net.ns.delete, names, { kill = false })
        print(ok, err)
        net.ns.delete(names)
        print("alive=" .. tostring(p:alive()))
        local ok2, err2 = pcall(net.ns.delete, { "b1" })
        print(ok2, err2)
        "#,
    );
    assert!(out.contains("false") && out.contains("still have processes"), "{out}");
    assert!(out.contains("alive=false"), "{out}");
    assert!(out.contains("namespace \"b1\" does not exist"), "{out}");
    assert_eq!(sb.sh("ls /run/netns"), "");
    assert!(!sb.sh("cat /proc/self/mountinfo").contains("/run/netns/b"));
    // A teardown of many namespaces (rollback, down) goes the same way and is exact.
    let before = sb.state_dump();
    let path = sb.write(
        "many.lua",
        r#"return net.scenario { name = "many", setup = function()
             for i = 1, 30 do net.ns.add("m" .. i):spawn("sleep 600") end
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    sb.down("many");
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn a_full_bridge_says_so() {
    let sb = Sandbox::new();
    let err = sb.lua_err(
        r#"
        local br = net.host:bridge("big")
        for i = 1, 1100 do net.host:veth("a" .. i, "b" .. i, { master = br }) end
        "#,
    );
    assert!(err.contains("a Linux bridge holds at most 1024 ports"), "{err}");
    assert_eq!(sb.sh("ip -br link | wc -l").trim(), "1", "the rollback left links");
}

#[test]
fn ipv6_can_be_turned_off_for_a_namespace_a_bridge_or_a_whole_scenario() {
    let sb = Sandbox::new();
    sb.lua_ok(
        r#"
        local q = net.ns.add("quiet", { ipv6 = false })
        net.ns.add("loud")
        net.host:veth("vq", "eth0", { peer_ns = q, up = true })
        net.host:bridge("qbr", { ipv6 = false, up = true })
        "#,
    );
    assert_eq!(
        sb.sh("ip netns exec quiet sysctl -n net.ipv6.conf.all.disable_ipv6")
            .trim(),
        "1"
    );
    assert_eq!(
        sb.sh("ip netns exec quiet sysctl -n net.ipv6.conf.eth0.disable_ipv6")
            .trim(),
        "1"
    );
    assert!(
        !sb.sh("ip -n quiet -6 addr").contains("fe80"),
        "{}",
        sb.sh("ip -n quiet -6 addr")
    );
    assert_eq!(
        sb.sh("ip netns exec loud sysctl -n net.ipv6.conf.all.disable_ipv6")
            .trim(),
        "0"
    );
    assert_eq!(sb.sh("sysctl -n net.ipv6.conf.qbr.disable_ipv6").trim(), "1");
    assert!(!sb.sh("ip -6 addr show dev qbr").contains("fe80"));
    // A scenario with ipv6 = false: everything it makes, and down puts the host back.
    for name in common::instances(&sb) {
        sb.down(&name);
    }
    let before = sb.state_dump();
    let host_default = sb.sh("sysctl -n net.ipv6.conf.default.disable_ipv6");
    let path = sb.write(
        "v4.lua",
        r#"return net.scenario { name = "v4", ipv6 = false, setup = function()
             local a = net.ns.add("va")
             net.host:veth("vva", "eth0", { peer_ns = a, up = true })
             net.host:bridge("vbr", { up = true })
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    for (ns, dev) in [("", "vva"), ("", "vbr"), ("ip netns exec va ", "eth0")] {
        assert_eq!(
            sb.sh(&format!("{ns}sysctl -n net.ipv6.conf.{dev}.disable_ipv6")).trim(),
            "1",
            "{dev} has IPv6"
        );
    }
    sb.down("v4");
    assert_eq!(sb.sh("sysctl -n net.ipv6.conf.default.disable_ipv6"), host_default);
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn long_work_shows_progress_on_a_terminal_and_nothing_elsewhere() {
    let sb = Sandbox::new();
    // Progress shows from the first change after 1 s, and stays while the script waits.
    let script = sb.write(
        "slow.lua",
        "for i = 1, 50 do net.ns.add('s' .. i) end\nnet.host:exec('sleep 1.2')\nfor i = 51, 60 do net.ns.add('s' .. i) end\n\
         net.host:exec('sleep 3')\nnet.reset()\n",
    );
    let t = common::term::Term::lunet(&sb, &format!("run {}", script.display()));
    let screen = t.wait_for("changes");
    assert!(
        screen.contains("changes made") || screen.contains("changes undone"),
        "{screen}"
    );
    let end = t.wait_for("EXIT=");
    assert!(end.contains("EXIT=0"), "{end}");
    // Not a terminal: nothing but what the script prints.
    let o = sb.lunet(&["run", script.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stderr.is_empty(), "progress written to a non-terminal: {}", text(&o));
}

#[test]
fn namespaces_made_ahead_are_made_as_asked_and_never_left_behind() {
    let sb = Sandbox::new();
    // From the second net.ns.add on, the next namespace is made ahead like the last
    // one asked; a call that asks otherwise must not get it.
    sb.lua_ok(
        r#"
        for i = 1, 3 do net.ns.add("off" .. i, { ipv6 = false }) end
        for i = 1, 3 do net.ns.add("on" .. i) end
        net.ns.add("off4", { ipv6 = false })
        "#,
    );
    for (ns, want) in [
        ("off1", "1"),
        ("off2", "1"),
        ("off3", "1"),
        ("on1", "0"),
        ("on2", "0"),
        ("on3", "0"),
        ("off4", "1"),
    ] {
        for conf in ["all", "default"] {
            assert_eq!(
                sb.sh(&format!(
                    "ip netns exec {ns} sysctl -n net.ipv6.conf.{conf}.disable_ipv6"
                ))
                .trim(),
                want,
                "{ns}: {conf}.disable_ipv6"
            );
        }
        assert_eq!(
            sb.sh(&format!("ip netns exec {ns} ip -br link")).trim().lines().count(),
            1,
            "{ns} is not a fresh namespace"
        );
    }
    // Every one is its own namespace (the spare is never handed out twice).
    let inodes = sb.sh("stat -L -c %i /run/netns/* | sort -u | wc -l");
    assert_eq!(inodes.trim(), "7");
    // A script that ends (or fails) with a spare made: nothing named, nothing mounted.
    let before = sb.sh("ls /run/netns; grep -c /run/netns /proc/self/mountinfo || [ $? -eq 1 ]");
    let err = sb.lua_err("for i = 1, 5 do net.ns.add('x' .. i) end\nerror('stop here')");
    assert!(err.contains("stop here"), "{err}");
    assert_eq!(
        sb.sh("ls /run/netns; grep -c /run/netns /proc/self/mountinfo || [ $? -eq 1 ]"),
        before
    );
}

#[test]
fn teardown_deletes_namespaces_last_in_one_batch() {
    let sb = Sandbox::new();
    let path = sb.write(
        "order.lua",
        r#"return net.scenario { name = "order", setup = function()
             net.host:link("lo"):addr_add("169.254.9.9/32")
             local br = net.host:bridge("obr", { up = true })
             for i = 1, 3 do
               local ns = net.ns.add("o" .. i)
               net.host:veth("ov" .. i, "eth0", { peer_ns = ns, master = br, up = true })
             end
             net.host:link("lo"):addr_add("169.254.9.10/32")
           end }"#,
    );
    let before = sb.state_dump();
    sb.up(path.to_str().unwrap(), &[]);
    let o = sb.lunet(&["-v", "down", "order"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let pos = |what: &str| {
        out.find(what)
            .unwrap_or_else(|| panic!("`{what}` not in the trace:\n{out}"))
    };
    // Reverse order for everything but the namespaces, which come after all of it
    // (links whose namespaces stay are deleted together, once nothing older needs
    // them gone: here after the addresses, before the namespaces).
    assert!(pos("169.254.9.10/32") < pos("169.254.9.9/32"), "{out}");
    assert!(pos("169.254.9.10/32") < pos("link del dev obr"), "{out}");
    for i in 1..=3 {
        assert!(pos("169.254.9.9/32") < pos(&format!("netns del o{i}")), "{out}");
        assert!(pos("link del dev obr") < pos(&format!("netns del o{i}")), "{out}");
    }
    // The veths go with their namespaces: none is deleted on its own.
    assert!(!out.contains("link del dev ov"), "{out}");
    assert_eq!(sb.state_dump(), before);
}
