//! The REPL, driven through a real terminal (tmux) inside a sandbox: what a
//! person types and what they see.

mod common;
use common::term::Term;
use common::Sandbox;
use std::time::Duration;

/// Starts `lunet ARGS` in a tmux pane inside the sandbox and waits for the REPL's prompt.
fn start(sb: &Sandbox, args: &str) -> Term {
    let t = Term::lunet(sb, args);
    t.wait_for("lunet[host]>");
    t
}

#[test]
fn build_two_namespaces_and_a_veth_and_see_tables() {
    let sb = Sandbox::new();
    let t = start(&sb, "");
    t.line(r#"a, b = net.ns.add("left"), net.ns.add("right")"#);
    t.line(r#"x, y = a:veth("v0", "v1", {peer_ns = b, up = true})"#);
    t.line(r#"x:addr_add("10.7.0.1/24")"#);
    let s = t.expect("a:links()", "peer_index");
    assert!(s.contains("name  index  kind"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.starts_with("v0 ") && l.contains("veth") && l.contains("true")),
        "{s}"
    );
    let s = t.expect("x:addrs()", "10.7.0.1/24");
    assert!(s.contains("dev  family  cidr"), "{s}");
    let s = t.expect("a", "Ns(left)");
    assert!(s.contains("Ns(left)"));
    // An independent observer sees what was typed.
    assert!(sb.sh("ip -n left -br addr").contains("10.7.0.1/24"));
    assert!(sb.sh("ip -n right -br link").contains("v1"));
}

#[test]
fn tab_completes_globals_methods_and_names() {
    let sb = Sandbox::new();
    sb.sh("ip netns add blue");
    let t = start(&sb, "");
    t.keys(&["-l", "net.n"]);
    t.keys(&["Tab"]);
    t.wait_for("lunet[host]> net.ns");
    t.keys(&["C-u"]);
    t.keys(&["-l", "net.host:ve"]);
    t.keys(&["Tab"]);
    t.wait_for("lunet[host]> net.host:veth");
    t.keys(&["C-u"]);
    t.keys(&["-l", r#"net.ns.get("bl"#]);
    t.keys(&["Tab"]);
    t.wait_for(r#"net.ns.get("blue"#);
    t.keys(&["C-u"]);
    t.keys(&["-l", r#"net.host:link("l"#]);
    t.keys(&["Tab"]);
    t.wait_for(r#"net.host:link("lo"#);
}

#[test]
fn errors_keep_the_prompt_and_multiline_input_works() {
    let sb = Sandbox::new();
    let t = start(&sb, "");
    let s = t.expect("x = = 1", "stdin:1:");
    assert!(s.contains("unexpected symbol"), "{s}");
    let s = t.expect(r#"net.ns.get("nope")"#, "does not exist");
    assert!(s.contains(r#"net.ns.get: namespace "nope" does not exist"#), "{s}");
    t.line("function double(n)");
    t.wait_for("> ");
    t.line("  return n * 2");
    t.line("end");
    t.expect("double(21)", "42");
    t.line("t = {");
    t.line("  a = 1,");
    t.line("}");
    t.expect("t.a + 1", "\n2");
    t.line("function inner(x) return x.y.z end");
    t.line("function outer(x) return inner(x) end");
    let s = t.expect("outer({})", "in function 'inner'");
    assert!(s.contains("attempt to index a nil value"), "{s}");
    t.expect(r#"help(net.ns.add)"#, "ip netns add NAME");
    t.expect(".help", ".undo");
}

#[test]
fn undo_reset_ctrl_c_history_and_ctrl_d() {
    let sb = Sandbox::new();
    let t = start(&sb, "");
    t.line(r#"a = net.ns.add("a")"#);
    t.line(r#"br = a:bridge("br0")"#);
    t.line("br:up()");
    t.expect(".undo", "undone: ip -n a link set dev br0 up");
    assert!(sb.sh("ip -n a -br link show br0").contains("DOWN"));
    t.expect(".ns a", "lunet[a]>");
    t.expect("links()", "bridge");
    t.expect(".reset", "undid");
    assert_eq!(sb.sh("ip netns list").trim(), "");
    t.wait_for("lunet[host]>");
    // Ctrl-C stops a busy loop and a long wait; the session goes on. Each Ctrl-C is
    // sent once the loop or the wait runs (one sent before would test nothing).
    let busy = sb.dir.path().join("busy");
    t.keys(&[
        "-l",
        &format!("io.open('{}', 'w'):close() while true do end", busy.display()),
    ]);
    t.keys(&["Enter"]);
    let t0 = std::time::Instant::now();
    while !busy.exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the loop never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.keys(&["C-c"]);
    t.wait_for("interrupted");
    t.keys(&["-l", r#"net.host:exec("sleep 30")"#]);
    t.keys(&["Enter"]);
    assert!(
        sb.ok("for i in $(seq 500); do pgrep -xf 'sleep 30' >/dev/null && exit 0; sleep 0.02; done; exit 1"),
        "the exec never started"
    );
    t.keys(&["C-c"]);
    t.wait_for("interrupted");
    assert!(
        sb.ok("for i in $(seq 500); do pgrep -xf 'sleep 30' >/dev/null || exit 0; sleep 0.02; done; exit 1"),
        "Ctrl-C left the exec's sleep running"
    );
    t.expect("1 + 1", "\n2");
    t.keys(&["C-d"]);
    t.wait_for("EXIT=0");
    let history = std::fs::read_to_string(t.state.path().join("lunet/history")).unwrap();
    assert!(
        history.contains(r#"a = net.ns.add("a")"#) && history.contains("1 + 1"),
        "{history}"
    );
}

#[test]
fn sandbox_mode_vanishes_and_plain_mode_keeps_and_lists() {
    let sb = Sandbox::new();
    let t = start(&sb, "--sandbox");
    t.line(r#"net.ns.add("inner")"#);
    t.keys(&["C-d"]);
    t.wait_for("EXIT=0");
    assert_eq!(
        sb.sh("ip netns list").trim(),
        "",
        "a --sandbox REPL leaked into the outer sandbox"
    );
    let t = start(&sb, "");
    t.line(r#"net.ns.add("kept")"#);
    t.keys(&["C-d"]);
    let s = t.wait_for("EXIT=0");
    assert!(
        s.contains("changes stay in place") && s.contains("ip netns add kept"),
        "{s}"
    );
    assert!(sb.sh("ip netns list").contains("kept"));
}
