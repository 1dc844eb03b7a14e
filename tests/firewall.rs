//! iptables per namespace (seed 004's LAN + NAT), checked with `iptables -S`
//! inside the namespace and with real traffic (ping, TCP through DNAT).

mod common;
use common::Sandbox;

/// Rules, user chains and non-default policies: what filters traffic. (iptables-nft
/// creates empty built-in tables on first use; they filter nothing and are not compared.)
fn fw_state(sb: &Sandbox) -> String {
    // (grep's status 1 is "no such line"; a failing iptables-save fails the test)
    sb.sh("out=$(iptables-save) && printf '%s\\n' \"$out\" | grep -E '^(-|:[^ ]+ (-|DROP))' || [ $? -eq 1 ]")
}

/// Seed 004: two LAN hosts on br0 in a router namespace, an "outside"
/// namespace with no route back to the LAN. `nat` decides whether the
/// router masquerades. Prints the source address the outside saw.
fn lan(nat: bool) -> String {
    format!(
        r#"
        local router, outside = net.ns.add("router"), net.ns.add("outside")
        local lan = {{ net.ns.add("netns_0"), net.ns.add("netns_1") }}
        local br0 = router:bridge("br0", {{ up = true }})
        br0:addr_add("192.168.1.11/24")
        for i, host in ipairs(lan) do
          local _, eth0 = router:veth("veth" .. i, "eth0", {{ peer_ns = host, master = br0, up = true }})
          eth0:addr_add("192.168.1." .. (19 + i) .. "/24")
          host:route_add {{ to = "default", via = "192.168.1.11" }}
        end
        local wan, out0 = router:veth("wan", "eth0", {{ peer_ns = outside, up = true }})
        wan:addr_add("203.0.113.254/24")
        out0:addr_add("203.0.113.1/24")
        router:ip_forward(true)
        router:forward_accept {{ iif = "br0" }}
        router:forward_accept {{ oif = "br0" }}
        if {nat} then router:nat_masquerade {{ source = "192.168.1.0/24" }} end
        print("ping=" .. tostring((lan[1]:ping("203.0.113.1", {{ timeout = 1 }}))))
        print("lan=" .. tostring((lan[1]:ping("192.168.1.21"))))
        -- the outside tells who connected: SOCAT_PEERADDR is the source it saw
        local srv = outside:spawn({{ "socat", "TCP-LISTEN:9000,reuseaddr,fork", "SYSTEM:echo peer=$SOCAT_PEERADDR" }})
        for _ = 1, 50 do
          local r = lan[2]:exec("socat -T1 - TCP:203.0.113.1:9000,connect-timeout=1", {{ check = false }})
          if r.code == 0 and r.stdout ~= "" then io.write(r.stdout) break end
          if not {nat} then break end
          lan[2]:exec("sleep 0.05")
        end
        "#
    )
}

#[test]
fn seed004_masquerade_makes_the_outside_reachable_and_hides_the_lan() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(&lan(true));
    assert!(out.contains("ping=true"), "{out}");
    assert!(out.contains("lan=true"), "{out}");
    assert!(
        out.contains("peer=203.0.113.254"),
        "outside must see the router's address: {out}"
    );
    let nat = sb.sh("ip netns exec router iptables -t nat -S POSTROUTING");
    assert!(nat.contains("-A POSTROUTING -s 192.168.1.0/24 -j MASQUERADE"), "{nat}");
    let filter = sb.sh("ip netns exec router iptables -S FORWARD");
    assert!(
        filter.contains("-A FORWARD -i br0 -j ACCEPT") && filter.contains("-A FORWARD -o br0 -j ACCEPT"),
        "{filter}"
    );
    assert_eq!(sb.sh("ip netns exec router sysctl -n net.ipv4.ip_forward").trim(), "1");
    // The sandbox's own namespace got no rules.
    assert!(!sb.sh("iptables -t nat -S").contains("MASQUERADE"));
}

#[test]
fn seed004_without_masquerade_the_outside_cannot_answer() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(&lan(false));
    assert!(out.contains("ping=false"), "{out}");
    assert!(out.contains("lan=true"), "{out}");
    assert!(!out.contains("peer="), "{out}");
}

#[test]
fn legacy_backend_works_too() {
    let sb = Sandbox::new();
    let path = sb.write("lan.lua", &lan(true));
    let out = sb
        .command(common::lunet_bin().to_str().unwrap())
        .env("LUNET_IPTABLES", "legacy")
        .args(["run", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("ping=true") && stdout.contains("peer=203.0.113.254"),
        "{stdout}"
    );
    let legacy = sb.sh("ip netns exec router iptables-legacy -t nat -S POSTROUTING");
    assert!(legacy.contains("MASQUERADE"), "{legacy}");
    let nft = sb.sh("ip netns exec router iptables-nft -t nat -S POSTROUTING");
    assert!(
        !nft.contains("MASQUERADE"),
        "rules went to nft instead of legacy: {nft}"
    );
}

#[test]
fn teardown_removes_exactly_lunets_rules_and_appends_are_unique() {
    let sb = Sandbox::new();
    // Foreign rules, made by someone else before lunet runs.
    sb.sh("iptables -A INPUT -s 9.9.9.9 -j DROP && iptables -t nat -A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE");
    let before = fw_state(&sb);
    let out = sb.lua_ok(
        r#"
        net.host:iptables("-A INPUT -s 9.9.9.9 -j DROP")          -- already there: not duplicated
        net.host:iptables({"-A", "INPUT", "-s", "8.8.8.8", "-j", "DROP"})
        net.host:iptables("-A INPUT -s 8.8.8.8 -j DROP")          -- twice: still once
        net.host:nat_masquerade { source = "10.1.0.0/24", out = "lo" }
        net.host:iptables_restore("*filter\n:LUNET - [0:0]\n-A LUNET -j RETURN\n-A INPUT -j LUNET\nCOMMIT\n")
        io.write(net.host:iptables("-S"))
        io.write(net.host:iptables("-t nat -S"))
        net.reset()
        "#,
    );
    assert_eq!(out.matches("-A INPUT -s 9.9.9.9/32 -j DROP").count(), 1, "{out}");
    assert_eq!(out.matches("-A INPUT -s 8.8.8.8/32 -j DROP").count(), 1, "{out}");
    assert!(
        out.contains("-N LUNET") && out.contains("-A POSTROUTING -s 10.1.0.0/24 -o lo -j MASQUERADE"),
        "{out}"
    );
    assert_eq!(fw_state(&sb), before, "teardown must leave exactly the foreign rules");
}

#[test]
fn a_failing_script_rolls_its_rules_back() {
    let sb = Sandbox::new();
    let before = fw_state(&sb);
    let err = sb.lua_err(
        r#"
        net.host:iptables("-A INPUT -s 7.7.7.7 -j DROP")
        net.host:port_forward { port = 8080, to = "10.0.0.2:80" }
        error("boom")
        "#,
    );
    assert!(err.contains("boom") && err.contains("rolled back"), "{err}");
    assert_eq!(fw_state(&sb), before);
}

#[test]
fn port_forward_reaches_a_server_behind_the_router() {
    let sb = Sandbox::new();
    let out = sb.lua_ok(
        r#"
        local client, router, server = net.ns.add("client"), net.ns.add("router"), net.ns.add("server")
        local c, r1 = client:veth("eth0", "c0", { peer_ns = router, up = true })
        local r2, s = router:veth("s0", "eth0", { peer_ns = server, up = true })
        c:addr_add("198.51.100.2/24"); r1:addr_add("198.51.100.1/24")
        r2:addr_add("10.0.0.1/24"); s:addr_add("10.0.0.2/24")
        server:route_add { to = "default", via = "10.0.0.1" }
        router:ip_forward(true)
        router:port_forward { proto = "tcp", port = 8080, to = "10.0.0.2:80", iif = "c0" }
        local srv = server:spawn({ "socat", "TCP-LISTEN:80,reuseaddr,fork", "SYSTEM:echo hello-from-server" })
        for _ = 1, 50 do
          local r = client:exec("socat -T1 - TCP:198.51.100.1:8080,connect-timeout=1", { check = false })
          if r.stdout:find("hello") then print("got " .. r.stdout) break end
          client:exec("sleep 0.05")
        end
        "#,
    );
    assert!(out.contains("got hello-from-server"), "{out}");
    let nat = sb.sh("ip netns exec router iptables -t nat -S PREROUTING");
    assert!(
        nat.contains("-A PREROUTING -i c0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80"),
        "{nat}"
    );
}

#[test]
fn bad_rules_give_iptables_message_and_leave_nothing() {
    let sb = Sandbox::new();
    let before = fw_state(&sb);
    let err = sb.lua_err(r#"net.host:iptables("-A INPUT -p tcp --dportx 22 -j DROP")"#);
    assert!(
        err.contains("ns:iptables:") && err.contains("unknown option \"--dportx\""),
        "{err}"
    );
    let err = sb.lua_err(
        r#"net.host:iptables_restore("*filter\n-A INPUT -s 6.6.6.6 -j DROP\nCOMMIT\n*nat\n-A POSTROUTING -j NO_SUCH_CHAIN\nCOMMIT\n")"#,
    );
    assert!(
        err.contains("ns:iptables_restore:") && err.contains("NO_SUCH_CHAIN"),
        "{err}"
    );
    let err = sb.lua_err(r#"net.host:iptables_restore("-A INPUT -j DROP\n")"#);
    assert!(err.contains("outside a *table section"), "{err}");
    let err = sb.lua_err(r#"net.host:port_forward { port = 99999, to = "1.2.3.4:80" }"#);
    assert!(
        err.contains("ns:port_forward: option \"port\" must be in 1..65535"),
        "{err}"
    );
    let err = sb.lua_err(r#"net.host:nat_masquerade { sauce = "10.0.0.0/8" }"#);
    assert!(err.contains("unknown option \"sauce\""), "{err}");
    assert_eq!(fw_state(&sb), before, "half-applied rules left behind");
}

#[test]
fn a_missing_iptables_binary_names_the_package() {
    let sb = Sandbox::new();
    let path = sb.write("x.lua", r#"net.host:iptables("-S")"#);
    let out = sb
        .command("env")
        .args([
            "PATH=/nonexistent",
            common::lunet_bin().to_str().unwrap(),
            "run",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("iptables not found") && err.contains("apt-get install iptables"),
        "{err}"
    );
}

// ---- issue 10: idempotent undo, and nft tables lunet created ----------------
// These call the core from the test process, always with the sandbox's network
// namespace (/proc/PID/ns/net of its PID 1): iptables and nfnetlink run there.

use lunet::core::firewall::{
    self, apply_undo, apply_undo_batch, chain_exists, drop_table_if_empty, rule_present, table_exists, Backend,
    DropOutcome, IptChange, IptCmd, UndoOutcome,
};

fn netns(sb: &Sandbox) -> std::fs::File {
    std::fs::File::open(format!("/proc/{}/ns/net", sb.pid)).expect("the sandbox's network namespace")
}

fn change(v6: bool, table: &str, cmd: IptCmd, chain: &str, rule: &str) -> IptChange {
    IptChange {
        v6,
        table: table.into(),
        cmd,
        chain: chain.into(),
        rule: rule.split_whitespace().map(String::from).collect(),
    }
}

/// The tables nft lists (`nft list tables`), or None when nft is not installed.
fn nft_tables(sb: &Sandbox) -> Option<String> {
    sb.ok("command -v nft >/dev/null").then(|| sb.sh("nft list tables"))
}

#[test]
fn a_table_made_by_the_first_rule_is_dropped_once_empty() {
    let sb = Sandbox::new();
    let ns = netns(&sb);
    let ns = Some(&ns);
    if !firewall::is_nft(Backend::Default, false).unwrap() {
        common::skip("iptables is legacy here: no nft tables to drop");
        return;
    }
    assert!(!table_exists(ns, Backend::Default, false, "nat").unwrap());
    let add = change(
        false,
        "nat",
        IptCmd::Append,
        "POSTROUTING",
        "-s 10.0.0.0/8 -j MASQUERADE",
    );
    sb.sh("iptables -t nat -A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE");
    assert!(table_exists(ns, Backend::Default, false, "nat").unwrap());
    assert!(sb.sh("iptables-save").contains("*nat"));
    if let Some(t) = nft_tables(&sb) {
        assert!(t.contains("table ip nat"), "{t}");
    }
    // Not empty yet: kept, rule and all.
    assert_eq!(
        drop_table_if_empty(ns, Backend::Default, false, "nat").unwrap(),
        DropOutcome::NotEmpty
    );
    assert!(sb.sh("iptables -t nat -S").contains("MASQUERADE"));
    let del = add.inverse(None).unwrap();
    assert_eq!(apply_undo(ns, Backend::Default, &del).unwrap(), UndoOutcome::Done);
    assert!(
        sb.sh("iptables-save").contains("*nat"),
        "the empty table stays until dropped"
    );
    assert_eq!(
        drop_table_if_empty(ns, Backend::Default, false, "nat").unwrap(),
        DropOutcome::Dropped
    );
    assert!(!sb.sh("iptables-save").contains("*nat"), "{}", sb.sh("iptables-save"));
    if let Some(t) = nft_tables(&sb) {
        assert!(!t.contains("table ip nat"), "{t}");
    }
    assert!(!table_exists(ns, Backend::Default, false, "nat").unwrap());
    assert_eq!(
        drop_table_if_empty(ns, Backend::Default, false, "nat").unwrap(),
        DropOutcome::AlreadyGone
    );
    // ip6tables: family ip6, same name.
    sb.sh("ip6tables -t mangle -A OUTPUT -j ACCEPT && ip6tables -t mangle -D OUTPUT -j ACCEPT");
    assert!(table_exists(ns, Backend::Default, true, "mangle").unwrap());
    assert!(!table_exists(ns, Backend::Default, false, "mangle").unwrap());
    assert_eq!(
        drop_table_if_empty(ns, Backend::Default, true, "mangle").unwrap(),
        DropOutcome::Dropped
    );
    assert!(!sb.sh("ip6tables-save").contains("*mangle"));
}

#[test]
fn tables_with_anything_in_them_are_kept() {
    let sb = Sandbox::new();
    let ns = netns(&sb);
    let ns = Some(&ns);
    if !firewall::is_nft(Backend::Default, false).unwrap() {
        common::skip("iptables is legacy here: no nft tables");
        return;
    }
    let drop = |t: &str| drop_table_if_empty(ns, Backend::Default, false, t).unwrap();
    // A foreign rule.
    sb.sh("iptables -t nat -A PREROUTING -p tcp --dport 1 -j DNAT --to-destination 10.0.0.1");
    assert_eq!(drop("nat"), DropOutcome::NotEmpty);
    assert!(sb.sh("iptables -t nat -S").contains("DNAT"));
    // An empty user chain.
    sb.sh("iptables -t mangle -N FOREIGN");
    assert_eq!(drop("mangle"), DropOutcome::NotEmpty);
    assert!(sb.sh("iptables -t mangle -S").contains("-N FOREIGN"));
    // A policy other than ACCEPT.
    sb.sh("iptables -P FORWARD DROP");
    assert_eq!(drop("filter"), DropOutcome::NotEmpty);
    assert!(sb.sh("iptables -S").contains("-P FORWARD DROP"));
    // A table that already existed (empty) is one lunet did not create: the
    // lead's wiring never drops it, since table_exists said true beforehand.
    sb.sh("iptables -t raw -A OUTPUT -j ACCEPT && iptables -t raw -D OUTPUT -j ACCEPT");
    assert!(table_exists(ns, Backend::Default, false, "raw").unwrap());
    // What iptables does not show still counts: an nft set in an otherwise empty table.
    if nft_tables(&sb).is_some() {
        sb.sh("iptables -t security -A INPUT -j ACCEPT && iptables -t security -D INPUT -j ACCEPT");
        sb.sh("nft add set ip security foreign '{ type ipv4_addr; }'");
        assert_eq!(
            sb.sh("iptables -t security -S").lines().count(),
            3,
            "only policies shown"
        );
        assert_eq!(drop("security"), DropOutcome::NotEmpty);
        assert!(sb.sh("nft list tables").contains("table ip security"));
    }
    // Legacy tables are the kernel's: never dropped.
    assert!(table_exists(ns, Backend::Legacy, false, "nat").unwrap());
    assert_eq!(
        drop_table_if_empty(ns, Backend::Legacy, false, "nat").unwrap(),
        DropOutcome::NotNft
    );
}

#[test]
fn rule_present_and_chain_exists_agree_with_iptables_s() {
    let sb = Sandbox::new();
    let ns = netns(&sb);
    let ns = Some(&ns);
    for (v6, bin, addr) in [(false, "iptables", "9.9.9.9"), (true, "ip6tables", "2001:db8::9")] {
        let rule = format!("-s {addr} -p tcp --dport 22 -j DROP");
        let c = change(v6, "filter", IptCmd::Append, "INPUT", &rule);
        assert!(!rule_present(ns, bin, &c).unwrap());
        sb.sh(&format!("{bin} -A INPUT {rule}"));
        assert!(sb.sh(&format!("{bin} -S INPUT")).contains("--dport 22 -j DROP"));
        assert!(rule_present(ns, bin, &c).unwrap());
        // A Delete change asks about the rule it deletes.
        assert!(rule_present(ns, bin, &c.inverse(None).unwrap()).unwrap());
        // Same rule, other chain or table: absent (also when the chain does not exist).
        assert!(!rule_present(ns, bin, &change(v6, "filter", IptCmd::Append, "OUTPUT", &rule)).unwrap());
        assert!(!rule_present(ns, bin, &change(v6, "filter", IptCmd::Append, "NOPE", &rule)).unwrap());
        assert!(!rule_present(ns, bin, &change(v6, "mangle", IptCmd::Append, "INPUT", &rule)).unwrap());
        // A malformed rule is an error with iptables' message, not "absent" (INPUT has
        // rules with its target DROP, so the listing cannot prove it absent either).
        let bad = change(v6, "filter", IptCmd::Append, "INPUT", "-p tcp --dportx 22 -j DROP");
        let e = rule_present(ns, bin, &bad).unwrap_err().to_string();
        assert!(e.contains("--dportx"), "{e}");

        assert!(!chain_exists(ns, bin, "filter", "LUNETX").unwrap());
        sb.sh(&format!("{bin} -N LUNETX"));
        assert!(sb.sh(&format!("{bin} -S")).contains("-N LUNETX"));
        assert!(chain_exists(ns, bin, "filter", "LUNETX").unwrap());
        assert!(chain_exists(ns, bin, "filter", "INPUT").unwrap());
        assert!(!chain_exists(ns, bin, "nat", "LUNETX").unwrap());
        assert!(chain_exists(ns, bin, "nat", "POSTROUTING").unwrap());
        sb.sh(&format!("{bin} -X LUNETX"));
        assert!(!chain_exists(ns, bin, "filter", "LUNETX").unwrap());
        // A jump to a chain that is gone cannot be there (iptables -C exits 2 for it).
        let jump = change(v6, "filter", IptCmd::Delete, "INPUT", "-j LUNETX");
        assert!(!rule_present(ns, bin, &jump).unwrap());
    }
}

#[test]
fn undo_of_what_someone_already_undid_succeeds() {
    let sb = Sandbox::new();
    let ns = netns(&sb);
    let ns = Some(&ns);
    let b = Backend::Default;
    sb.sh("iptables -A INPUT -s 1.2.3.4 -j DROP && iptables -N MINE");
    let del = change(false, "filter", IptCmd::Delete, "INPUT", "-s 1.2.3.4/32 -j DROP");
    let xchain = change(false, "filter", IptCmd::DeleteChain, "MINE", "");
    assert_eq!(apply_undo(ns, b, &del).unwrap(), UndoOutcome::Done);
    assert_eq!(apply_undo(ns, b, &xchain).unwrap(), UndoOutcome::Done);
    // Again: they are gone already (someone else deleted them): success.
    assert_eq!(apply_undo(ns, b, &del).unwrap(), UndoOutcome::AlreadyDone);
    assert_eq!(apply_undo(ns, b, &xchain).unwrap(), UndoOutcome::AlreadyDone);
    // Re-adding a deleted rule that is back already; re-making a chain that exists.
    let add = change(false, "filter", IptCmd::Append, "INPUT", "-s 1.2.3.4/32 -j DROP");
    assert_eq!(apply_undo(ns, b, &add).unwrap(), UndoOutcome::Done);
    assert_eq!(apply_undo(ns, b, &add).unwrap(), UndoOutcome::AlreadyDone);
    assert_eq!(sb.sh("iptables -S INPUT").matches("1.2.3.4").count(), 1);
    let newchain = change(false, "filter", IptCmd::NewChain, "MINE", "");
    assert_eq!(apply_undo(ns, b, &newchain).unwrap(), UndoOutcome::Done);
    assert_eq!(apply_undo(ns, b, &newchain).unwrap(), UndoOutcome::AlreadyDone);
    // A real failure keeps iptables' message: a chain still referenced cannot go.
    sb.sh("iptables -A INPUT -j MINE");
    let e = apply_undo(ns, b, &xchain).unwrap_err().to_string();
    assert!(e.contains("iptables") && e.contains("-X MINE"), "{e}");
    assert!(sb.sh("iptables -S").contains("-N MINE"));
}

#[test]
fn a_restore_undo_batch_with_rules_already_gone_falls_back_to_single_changes() {
    let sb = Sandbox::new();
    let ns = netns(&sb);
    let ns = Some(&ns);
    let b = Backend::Default;
    let before = fw_state(&sb);
    let batch = firewall::parse_batch(
        "*filter\n:LUNET - [0:0]\n-A LUNET -s 5.5.5.5 -j RETURN\n-A INPUT -j LUNET\n-A INPUT -s 6.6.6.6 -j DROP\nCOMMIT\n",
    )
    .unwrap();
    let tb = &batch.tables[0];
    sb.write("batch", &tb.text);
    sb.sh(&format!(
        "iptables-restore --noflush < {}",
        sb.dir.path().join("batch").display()
    ));
    // Someone deletes one of its rules: the atomic undo batch would fail as a whole.
    sb.sh("iptables -D INPUT -s 6.6.6.6 -j DROP");
    let undo = firewall::TableBatch {
        table: tb.table.clone(),
        text: tb.undo_text(),
        ..Default::default()
    };
    sb.write("undo", &undo.text);
    let kept = fw_state(&sb);
    assert!(
        !sb.ok(&format!(
            "iptables-restore --noflush < {}",
            sb.dir.path().join("undo").display()
        )),
        "the atomic batch must fail here, or this test tests nothing"
    );
    assert_eq!(fw_state(&sb), kept, "a failed batch changes nothing");
    assert_eq!(apply_undo_batch(ns, b, false, &undo).unwrap(), UndoOutcome::Done);
    assert_eq!(fw_state(&sb), before);
    assert_eq!(apply_undo_batch(ns, b, false, &undo).unwrap(), UndoOutcome::AlreadyDone);
    // The structured undo of the batch is the same list of single changes.
    assert_eq!(
        tb.undo_changes(false),
        firewall::undo_text_changes(false, &undo.text).unwrap()
    );
}

#[test]
fn the_table_delete_is_refused_when_the_ruleset_changed_since_it_was_looked_at() {
    use lunet::core::nft;
    let sb = Sandbox::new();
    let ns = netns(&sb);
    if !firewall::is_nft(Backend::Default, false).unwrap() {
        common::skip("iptables is legacy here: no nft tables");
        return;
    }
    sb.sh("iptables -t nat -A OUTPUT -j ACCEPT && iptables -t nat -D OUTPUT -j ACCEPT");
    let mut sock = nft::Socket::open(Some(&ns)).unwrap();
    let gen = sock.genid().unwrap();
    let content = sock.table_content(nft::family(false), "nat").unwrap().unwrap();
    assert!(content.is_empty(), "{content:?}");
    // Someone adds a rule after the look: the delete made for that look is refused.
    sb.sh("iptables -t nat -A OUTPUT -d 10.9.9.9 -j ACCEPT");
    assert_ne!(sock.genid().unwrap(), gen);
    let e = sock.delete_table(nft::family(false), "nat", gen).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ERESTART), "{e}");
    assert!(
        sb.sh("iptables -t nat -S").contains("10.9.9.9"),
        "the rule is still there"
    );
    // No such table: ENOENT.
    let gen = sock.genid().unwrap();
    let e = sock.delete_table(nft::family(false), "lunet_none", gen).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
}
