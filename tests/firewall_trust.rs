//! iptables and the user's own state (issue 21): a restore batch's policies
//! and the user chains it flushes come back exactly; an nft table lunet's
//! instances made is dropped by the last one out; concurrent instances add
//! and delete a rule once; a rollback out of file descriptors still runs.
//! Checked with `iptables-save` and `nft list tables` in each sandbox.

mod common;
use common::Sandbox;
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `lunet ARGS` in the sandbox with the environment `env`.
fn lunet_env(sb: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = sb.command(common::lunet_bin().to_str().unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

/// `iptables-save` of a backend (`""` the default, or `legacy`), without its
/// comment lines and counters.
fn save(sb: &Sandbox, backend: &str) -> String {
    let bin = if backend.is_empty() {
        "iptables-save".to_string()
    } else {
        format!("iptables-{backend}-save")
    };
    sb.sh(&format!("{bin} | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'"))
}

/// The user's own filter state: a chain with rules (one with a quoted
/// comment), a jump to it, a non-default policy.
fn user_rules(sb: &Sandbox, backend: &str) {
    let ipt = if backend.is_empty() {
        "iptables".to_string()
    } else {
        format!("iptables-{backend}")
    };
    sb.sh(&format!(
        "{ipt} -N USERCHAIN && {ipt} -A USERCHAIN -s 1.1.1.1 -j DROP && \
         {ipt} -A USERCHAIN -p tcp --dport 22 -m comment --comment 'say \"hi\" there' -j ACCEPT && \
         {ipt} -A USERCHAIN -s 1.1.1.1 -j DROP && \
         {ipt} -A INPUT -j USERCHAIN && {ipt} -P FORWARD DROP"
    ));
}

/// A batch that sets INPUT's policy, keeps FORWARD's, declares the user's
/// chain (which `--noflush` flushes) and a new one.
const BATCH_SH: &str = "printf '%s' '*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:USERCHAIN - [0:0]
:LUNETNEW - [0:0]
-A USERCHAIN -s 2.2.2.2 -j DROP
-A LUNETNEW -j RETURN
-A OUTPUT -j LUNETNEW
COMMIT
' | iptables-restore --noflush
";

#[test]
fn a_restore_batch_gives_back_policies_and_the_user_chains_it_flushed() {
    for backend in ["", "legacy"] {
        let sb = Sandbox::new();
        user_rules(&sb, backend);
        let before = save(&sb, backend);
        let path = sb.write("batch.sh", BATCH_SH);
        let env = [("LUNET_IPTABLES", backend)];
        let o = lunet_env(&sb, &env, &["up", path.to_str().unwrap()]);
        assert!(o.status.success(), "{backend}: {}", text(&o));
        let during = save(&sb, backend);
        assert!(
            during.contains(":INPUT DROP") && during.contains("-A USERCHAIN -s 2.2.2.2/32 -j DROP"),
            "{backend}: the batch did not run: {during}"
        );
        assert!(
            !during.contains("1.1.1.1"),
            "{backend}: --noflush must have flushed the user's chain, or this tests nothing: {during}"
        );
        let o = lunet_env(&sb, &env, &["down", "batch"]);
        assert!(o.status.success(), "{backend}: {}", text(&o));
        assert_eq!(save(&sb, backend), before, "{backend}: down must give back exactly");
    }
}

#[test]
fn a_crash_around_a_restore_batch_is_undone_exactly() {
    for point in ["1", "1:after"] {
        let sb = Sandbox::new();
        user_rules(&sb, "");
        let before = save(&sb, "");
        let path = sb.write("batch.sh", BATCH_SH);
        let o = lunet_env(&sb, &[("LUNET_CRASH_STEP", point)], &["up", path.to_str().unwrap()]);
        assert!(!o.status.success(), "crash {point}: up finished: {}", text(&o));
        let o = sb.lunet(&["down", "batch"]);
        assert!(o.status.success(), "crash {point}: {}", text(&o));
        assert_eq!(save(&sb, ""), before, "crash {point}: down must give back exactly");
    }
}

#[test]
fn a_restore_batch_in_a_script_that_fails_is_rolled_back_exactly() {
    let sb = Sandbox::new();
    user_rules(&sb, "");
    let before = save(&sb, "");
    let path = sb.write("batch.sh", &format!("{BATCH_SH}ip link set nosuchdev up\n"));
    let o = sb.lunet(&["up", path.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("rollback did not finish"), "{err}");
    assert_eq!(save(&sb, ""), before, "the rollback must give back exactly");
}

/// Starts `lunet ARGS` in the sandbox without waiting.
fn spawn_lunet(sb: &Sandbox, args: &[&str]) -> std::process::Child {
    sb.command(common::lunet_bin().to_str().unwrap())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn twenty_concurrent_pairs_add_and_delete_a_shared_rule_once() {
    let sb = Sandbox::new();
    let rule = "iptables -A INPUT -s 3.3.3.3 -j DROP\niptables -t nat -A POSTROUTING -s 10.3.0.0/16 -j MASQUERADE\n";
    let a = sb.write("pa.sh", rule);
    let b = sb.write("pb.sh", rule);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let before = save(&sb, "");
    for round in 1..=20 {
        let (ua, ub) = (spawn_lunet(&sb, &["up", a]), spawn_lunet(&sb, &["up", b]));
        for o in [ua.wait_with_output().unwrap(), ub.wait_with_output().unwrap()] {
            assert!(o.status.success(), "round {round}: up: {}", text(&o));
        }
        let during = save(&sb, "");
        assert_eq!(
            during.matches("-A INPUT -s 3.3.3.3/32 -j DROP").count(),
            1,
            "round {round}: the rule must be there once: {during}"
        );
        assert_eq!(
            during.matches("MASQUERADE").count(),
            1,
            "round {round}: the rule must be there once: {during}"
        );
        let (da, db) = (spawn_lunet(&sb, &["down", "pa"]), spawn_lunet(&sb, &["down", "pb"]));
        for o in [da.wait_with_output().unwrap(), db.wait_with_output().unwrap()] {
            assert!(o.status.success(), "round {round}: down: {}", text(&o));
        }
        assert_eq!(save(&sb, ""), before, "round {round}: both downs must leave nothing");
    }
}

/// Whether iptables is iptables-nft here (tables are made on first use).
fn nft_backend(sb: &Sandbox) -> bool {
    sb.sh("iptables -V").contains("nf_tables")
}

fn nft_list(sb: &Sandbox) -> String {
    if sb.ok("command -v nft >/dev/null") {
        sb.sh("nft list tables")
    } else {
        String::new()
    }
}

#[test]
fn the_last_instance_out_drops_the_nft_table_lunet_made_in_either_order() {
    for (first, second, user_rule) in [("na", "nb", false), ("nb", "na", false), ("na", "nb", true)] {
        let sb = Sandbox::new();
        if !nft_backend(&sb) {
            eprintln!("iptables is legacy here: no nft tables");
            return;
        }
        assert!(!save(&sb, "").contains("*nat"), "{}", save(&sb, ""));
        let na = sb.write("na.sh", "iptables -t nat -A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE\n");
        let nb = sb.write("nb.sh", "iptables -t nat -A POSTROUTING -s 10.2.0.0/16 -j MASQUERADE\n");
        for p in [&na, &nb] {
            let o = sb.lunet(&["up", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}", text(&o));
        }
        assert_eq!(save(&sb, "").matches("MASQUERADE").count(), 2, "{}", save(&sb, ""));
        if user_rule {
            sb.sh("iptables -t nat -A PREROUTING -s 10.9.0.0/16 -j ACCEPT");
        }
        let o = sb.lunet(&["down", first]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            save(&sb, "").contains("*nat"),
            "{first} down: the other's rule is still in it"
        );
        let o = sb.lunet(&["down", second]);
        assert!(o.status.success(), "{}", text(&o));
        let after = save(&sb, "");
        if user_rule {
            assert!(
                after.contains("-A PREROUTING -s 10.9.0.0/16 -j ACCEPT") && !after.contains("MASQUERADE"),
                "the user's rule keeps the table: {after}"
            );
            assert!(nft_list(&sb).contains("table ip nat") || nft_list(&sb).is_empty());
        } else {
            assert!(!after.contains("*nat"), "down {first}, down {second}: {after}");
            assert!(!nft_list(&sb).contains("table ip nat"), "{}", nft_list(&sb));
        }
        if !user_rule {
            // No note of lunet's is left behind in the state dir.
            assert_eq!(
                sb.sh("ls -A /run/lunet | grep nft || true"),
                "",
                "down {first}, {second}"
            );
        }
    }
}

#[test]
fn a_note_names_one_table_never_a_namesake_made_later() {
    use lunet::core::firewall::{drop_table, ns_inode, table_note, Backend, DropOutcome, Note};
    let sb = Sandbox::new();
    if !nft_backend(&sb) {
        return;
    }
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", sb.pid)).unwrap();
    let ns = Some(&ns);
    let dir = sb.dir.path();
    let note = table_note(dir, ns_inode(ns).unwrap(), false, "nat").unwrap();
    assert!(table_note(dir, 1, false, "../x").is_none());
    // Kept (a rule in it): noted with the namespace's cookie and the table's handle.
    sb.sh("iptables -t nat -A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE");
    let out = drop_table(ns, Backend::Default, false, "nat", Note::IfKept(&note)).unwrap();
    assert_eq!(out, DropOutcome::NotEmpty);
    assert!(note.exists());
    // The table is deleted and made again by someone else: the note is not about it.
    sb.sh("iptables -t nat -D POSTROUTING -s 10.1.0.0/16 -j MASQUERADE && nft delete table ip nat");
    sb.sh("iptables -t nat -A OUTPUT -j ACCEPT && iptables -t nat -D OUTPUT -j ACCEPT");
    assert!(save(&sb, "").contains("*nat"));
    let out = drop_table(ns, Backend::Default, false, "nat", Note::Only(&note)).unwrap();
    assert_eq!(out, DropOutcome::NotNoted);
    assert!(save(&sb, "").contains("*nat"), "the namesake stays");
    assert!(!note.exists(), "the stale note goes");
    // Without a note, nothing is dropped.
    let out = drop_table(ns, Backend::Default, false, "nat", Note::Only(&note)).unwrap();
    assert_eq!(out, DropOutcome::NotNoted);
    assert!(save(&sb, "").contains("*nat"));
}

/// `lunet ARGS` in the sandbox under `ulimit -n 64` (soft and hard).
fn lunet_ulimit_64(sb: &Sandbox, args: &str) -> Output {
    sb.command("sh")
        .args([
            "-c",
            &format!("ulimit -n 64 && exec {} {args}", common::lunet_bin().display()),
        ])
        .output()
        .unwrap()
}

/// Two rules, then 40 namespaces (each with lo up); `fail`: then a line that fails.
fn many_namespaces(fail: bool) -> String {
    let mut s = String::from(
        "iptables -A INPUT -s 1.1.1.1 -j DROP\niptables -t nat -A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\n",
    );
    for i in 1..=40 {
        s += &format!("ip netns add n{i}\nip -n n{i} link set lo up\n");
    }
    if fail {
        s += "ip link set nosuchdev up\n";
    }
    s
}

#[test]
fn with_ulimit_n_64_forty_namespaces_come_up_and_a_rollback_leaves_nothing() {
    let sb = Sandbox::new();
    let before = save(&sb, "");
    let path = sb.write("manyfail.sh", &many_namespaces(true));
    let o = lunet_ulimit_64(&sb, &format!("up {}", path.display()));
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("nosuchdev") && !out.contains("did not finish"), "{out}");
    assert_eq!(save(&sb, ""), before, "the rollback left rules: {out}");
    assert_eq!(sb.sh("ip netns list"), "", "{out}");
    let path = sb.write("many.sh", &many_namespaces(false));
    let o = lunet_ulimit_64(&sb, &format!("up {}", path.display()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sb.sh("ip netns list").lines().count(), 40);
    let o = lunet_ulimit_64(&sb, "down many");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(save(&sb, ""), before);
    assert_eq!(sb.sh("ip netns list"), "");
}

#[test]
fn a_rollback_after_the_script_used_up_every_descriptor_still_runs_iptables() {
    let sb = Sandbox::new();
    let before = save(&sb, "");
    let path = sb.write(
        "fdx.lua",
        r#"
        net.host:iptables("-A INPUT -s 4.4.4.4 -j DROP")
        net.host:iptables("-t nat -A POSTROUTING -s 10.4.0.0/16 -j MASQUERADE")
        keep = {}
        while true do
          local f = io.open("/dev/null")
          if not f then break end
          keep[#keep + 1] = f
        end
        error("out of descriptors after " .. #keep)
        "#,
    );
    let o = lunet_ulimit_64(&sb, &format!("run {}", path.display()));
    let out = text(&o);
    assert!(out.contains("out of descriptors after"), "{out}");
    assert!(!out.contains("did not finish"), "{out}");
    assert_eq!(save(&sb, ""), before, "the rollback left rules: {out}");
}
