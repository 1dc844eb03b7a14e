//! Teardown at the speed of the kernel (issue 28): `down`, a rollback and
//! `net.reset` delete a veth into a namespace they delete along with that
//! namespace, and the links whose namespaces stay as one link group, so a lab
//! of many namespaces costs a handful of `RTM_DELLINK` requests, not one per
//! link (each makes the kernel wait for an RCU grace period). Counted with
//! strace, never timed; the end state is checked with `ip -j` and the rest of
//! `state_dump`.

mod common;
use common::{lunet_bin, text, Sandbox};

/// The star W(N) as a scenario (bench/star.lua): a bridge in lunet's
/// namespace, N namespaces each with a veth to it, an address and a route.
const STAR: &str = r#"
return net.scenario { name = "star", params = { n = 50 }, setup = function(p)
  local br0 = net.host:bridge("br0", { up = true })
  br0:addr_add("10.0.0.1/16")
  for i = 1, p.n do
    local h = net.ns.add("h" .. i)
    local _, eth0 = net.host:veth("veth" .. i, "eth0", { peer_ns = h, master = br0, up = true })
    eth0:addr_add(string.format("10.0.%d.%d/16", (i + 1) // 256, (i + 1) % 256))
    h:route_add({ to = "default", via = "10.0.0.1" })
  end
end }
"#;

/// Links between lunet's namespace and a namespace the user made (which
/// stays), with addresses on both ends, routes through them, a bridge and a
/// port, next to namespaces lunet makes.
const MIXED: &str = r#"
return net.scenario { name = "mixed", setup = function()
  local u = net.ns.get("usr")
  local br = net.host:bridge("mbr", { up = true })
  br:addr_add("10.62.0.1/24")
  for i = 1, 4 do
    local a, b = net.host:veth("mv" .. i, "me" .. i, { peer_ns = u, up = true })
    a:addr_add("10.60." .. i .. ".1/24")
    b:addr_add("10.60." .. i .. ".2/24")
    net.host:route_add({ to = "10.61." .. i .. ".0/24", via = "10.60." .. i .. ".2" })
    local n = net.ns.add("mn" .. i)
    net.host:veth("mw" .. i, "eth0", { peer_ns = n, master = br, up = true })
  end
  net.host:veth("mp1", "mp2", { master = br, up = true })
end }
"#;

/// `lunet ARGS` under strace; returns its output and how many `RTM_DELLINK`
/// requests it sent.
fn dellinks(sb: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> (std::process::Output, usize) {
    let trace = sb.dir.path().join("strace.out");
    let _ = std::fs::remove_file(&trace);
    let mut c = sb.command("strace");
    c.args(["-f", "-e", "trace=sendmsg,sendto", "-o", trace.to_str().unwrap()]);
    c.arg(lunet_bin().to_str().unwrap()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let log = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(log.contains("RTM_"), "strace did not decode netlink:\n{log}");
    (o, log.matches("RTM_DELLINK").count())
}

fn user_namespace(sb: &Sandbox) {
    sb.sh("ip netns add usr && ip -n usr link set lo up && ip -n usr addr add 10.63.0.1/32 dev lo");
}

#[test]
fn down_of_a_star_of_50_sends_a_handful_of_link_deletes_and_is_exact() {
    let sb = Sandbox::new();
    let path = sb.write("star.lua", STAR);
    let before = sb.state_dump();
    sb.up(path.to_str().unwrap(), &[]);
    assert_eq!(sb.netns_list().len(), 50);
    let (o, n) = dellinks(&sb, &[], &["down", "star"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(n <= 3, "down sent {n} RTM_DELLINK requests (one per veth?)");
    // Exact as soon as down returns: the veths' ends in this namespace are gone too.
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn rollback_of_a_failing_up_of_a_star_of_50_is_exact_and_batched() {
    let sb = Sandbox::new();
    let path = sb.write("star.lua", STAR);
    let before = sb.state_dump();
    // W(50) is over 250 changes: the 240th fails, everything before is rolled back.
    let (o, n) = dellinks(&sb, &[("LUNET_FAIL_STEP", "240")], &["up", path.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("injected failure"), "{}", text(&o));
    assert!(n <= 3, "the rollback sent {n} RTM_DELLINK requests");
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn net_reset_of_a_star_of_50_is_exact_and_batched() {
    let sb = Sandbox::new();
    let body = STAR.replace("return net.scenario {", "local s = {");
    let script = format!("{body}\ns.setup({{ n = 50 }})\nassert(#net.ns.list() == 50)\nnet.reset()\n");
    let path = sb.write("reset.lua", &script);
    let before = sb.state_dump();
    let (o, n) = dellinks(&sb, &[], &["run", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(n <= 3, "net.reset sent {n} RTM_DELLINK requests");
    assert_eq!(sb.state_dump(), before);
}

#[test]
fn links_into_a_namespace_that_stays_are_deleted_as_one_group_exactly() {
    let sb = Sandbox::new();
    user_namespace(&sb);
    sb.sh("ip link add keep0 type bridge && ip link set keep0 group 7");
    let path = sb.write("mixed.lua", MIXED);
    let before = sb.state_dump();
    let usr_before = sb.sh("ip -n usr -d -br link; ip -n usr addr; ip -n usr route");
    sb.up(path.to_str().unwrap(), &[]);
    assert!(sb.has_link(Some("usr"), "me3"));
    let (o, n) = dellinks(&sb, &[], &["-v", "down", "mixed"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // mv1..mv4, mbr and mp1 in one request; mw1..mw4 go with mn1..mn4.
    assert_eq!(n, 1, "{out}");
    assert!(out.contains("link del group"), "{out}");
    assert!(!out.contains("link del dev"), "{out}");
    assert_eq!(sb.state_dump(), before);
    assert_eq!(
        sb.sh("ip -n usr -d -br link; ip -n usr addr; ip -n usr route"),
        usr_before
    );
    assert!(sb.sh("ip -d link show keep0").contains("group 7"));
}

#[test]
fn a_killed_down_resumes_and_finishes_at_every_step_of_a_grouped_teardown() {
    let sb = Sandbox::new();
    user_namespace(&sb);
    let path = sb.write("mixed.lua", MIXED);
    let path = path.to_str().unwrap();
    let before = sb.state_dump();
    let mut finished = false;
    let mut inside_group = 0;
    for k in 1..=40 {
        sb.up(path, &[]);
        let o = sb
            .command(lunet_bin().to_str().unwrap())
            .env("LUNET_CRASH_UNDO", k.to_string())
            .args(["down", "mixed"])
            .output()
            .unwrap();
        if o.status.success() {
            // Fewer undo steps than k: the walk ran to its end.
            assert_eq!(
                sb.state_dump(),
                before,
                "undo crash {k}: down finished but left something"
            );
            finished = true;
            break;
        }
        assert_eq!(o.status.code(), None, "undo crash {k}: not killed: {}", text(&o));
        // Killed inside the group: its links put in lunet's group, not yet deleted.
        if sb.ok("ip -o link show mp1") && !sb.sh("ip -o link show mp1").contains("group default") {
            inside_group += 1;
        }
        let o = sb.lunet(&["down", "mixed"]);
        assert!(o.status.success(), "undo crash {k}: second down failed: {}", text(&o));
        assert_eq!(sb.state_dump(), before, "undo crash {k}: not the prior state");
    }
    assert!(finished, "down was killed at every one of 40 steps");
    assert_eq!(
        inside_group, 1,
        "no kill fell between the group's making and its delete"
    );
}

#[test]
fn two_hundred_links_into_a_namespace_that_stays_go_with_one_request() {
    let sb = Sandbox::new();
    user_namespace(&sb);
    let before = sb.state_dump();
    let path = sb.write(
        "many.lua",
        r#"return net.scenario { name = "many", setup = function()
             local u = net.ns.get("usr")
             for i = 1, 200 do net.host:veth("g" .. i, "k" .. i, { peer_ns = u, up = true }) end
           end }"#,
    );
    sb.up(path.to_str().unwrap(), &[]);
    assert_eq!(sb.sh("ip -n usr -o link | wc -l").trim(), "201");
    let (o, n) = dellinks(&sb, &[], &["down", "many"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(n, 1, "{}", text(&o));
    assert_eq!(sb.state_dump(), before);
    assert_eq!(sb.sh("ip -n usr -o link | wc -l").trim(), "1");
}
