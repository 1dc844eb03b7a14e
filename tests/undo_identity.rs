//! A name is not an identity: `down` undoes only the namespaces and links
//! lunet made or changed, recognised by the namespace's id and the link's
//! ifindex, never a same-named object the user made since. Each test builds
//! its own sandbox and checks with `ip -j`, `ls /run/netns` and `ps`.

mod common;
use common::{text, Sandbox};

/// What the user's own stand-ins look like to an observer.
fn addrs(sb: &Sandbox, ns: Option<&str>, dev: &str) -> Vec<String> {
    let n = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
    let v = sb.ip_json(&format!("{n}addr show dev {dev}"));
    let mut out: Vec<String> = v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|a| a["family"] == "inet")
                .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn ifindex(sb: &Sandbox, ns: Option<&str>, dev: &str) -> u64 {
    sb.link_json(ns, dev)["ifindex"].as_u64().unwrap()
}

#[test]
fn a_namespace_and_veth_made_again_by_the_user_survive_down() {
    let sb = Sandbox::new();
    let lab = sb.write(
        "lab.sh",
        "ip netns add a\n\
         ip link add d0 type veth peer name e0 netns a\n\
         ip addr add 10.1.0.1/24 dev d0\n\
         ip link set d0 up\n\
         ip -n a addr add 10.1.0.2/24 dev e0\n\
         ip -n a link set e0 up\n\
         ip -n a route add 10.9.0.0/16 via 10.1.0.1\n",
    );
    sb.up(lab.to_str().unwrap(), &[]);
    // The user deletes both and makes their own of the same names, with the same addresses and routes.
    sb.sh("ip netns del a && ip netns add a");
    let pid = sb.sleeper_in("a");
    sb.sh(
        "ip link add d0 type veth peer name e0 netns a && ip addr add 10.1.0.1/24 dev d0 && ip link set d0 up && \
         ip -n a addr add 10.1.0.2/24 dev e0 && ip -n a link set e0 up && ip -n a route add 10.9.0.0/16 via 10.1.0.1",
    );
    let d0 = ifindex(&sb, None, "d0");
    let e0 = ifindex(&sb, Some("a"), "e0");
    let o = sb.lunet(&["down", "lab"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("left alone") && out.contains("namespace \"a\""),
        "not reported: {out}"
    );
    assert!(out.contains("interface \"d0\""), "not reported: {out}");
    assert_eq!(
        sb.netns_list(),
        vec!["a".to_string()],
        "the user's namespace was deleted"
    );
    assert!(sb.alive(pid), "the user's process in the new namespace was killed");
    assert_eq!(ifindex(&sb, None, "d0"), d0, "the user's d0 was replaced");
    assert_eq!(ifindex(&sb, Some("a"), "e0"), e0);
    assert_eq!(addrs(&sb, None, "d0"), vec!["10.1.0.1/24"]);
    assert_eq!(addrs(&sb, Some("a"), "e0"), vec!["10.1.0.2/24"]);
    assert!(
        sb.sh("ip -n a route").contains("10.9.0.0/16 via 10.1.0.1"),
        "the user's route went"
    );
    assert!(text(&sb.lunet(&["status"])).contains("no scenario is up"));
}

#[test]
fn addresses_and_routes_on_a_link_made_again_by_the_user_survive_down() {
    let sb = Sandbox::new();
    sb.sh("ip link add uv0 type veth peer name uv1 && ip link set uv0 up && ip link set uv1 up");
    let lab = sb.write(
        "lab.sh",
        "ip addr add 10.2.0.1/24 dev uv0\n\
         ip route add 10.8.0.0/16 via 10.2.0.2 dev uv0\n\
         ip netns add b\n\
         ip link add f0 type veth peer name f1\n",
    );
    sb.up(lab.to_str().unwrap(), &[]);
    // uv0 made again by the user, with the same address and route; f0 renamed and another made.
    sb.sh(
        "ip link del uv0 && ip link add uv0 type veth peer name uv1 && ip link set uv0 up && ip link set uv1 up && \
         ip addr add 10.2.0.1/24 dev uv0 && ip route add 10.8.0.0/16 via 10.2.0.2 dev uv0 && \
         ip link set f0 name lunets && ip link add f0 type veth peer name g1",
    );
    let o = sb.lunet(&["down", "lab"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("interface \"uv0\"") && out.contains("left alone"), "{out}");
    assert_eq!(addrs(&sb, None, "uv0"), vec!["10.2.0.1/24"], "the user's address went");
    assert!(
        sb.sh("ip route").contains("10.8.0.0/16 via 10.2.0.2 dev uv0"),
        "the user's route went"
    );
    assert!(sb.has_link(None, "f0"), "the user's f0 was deleted");
    assert!(
        sb.has_link(None, "lunets"),
        "lunet's renamed link is no longer known by name: it stays"
    );
    assert!(sb.netns_list().is_empty(), "lunet's own namespace b stayed");
    // Untouched objects are undone as before.
    sb.sh("ip link del lunets; ip link del f0; ip route del 10.8.0.0/16; ip addr del 10.2.0.1/24 dev uv0");
    sb.up(lab.to_str().unwrap(), &[]);
    sb.down("lab");
    assert!(addrs(&sb, None, "uv0").is_empty());
    assert!(!sb.sh("ip route").contains("10.8.0.0/16"));
}

#[test]
fn a_journal_written_before_identities_were_recorded_is_undone_by_name() {
    let sb = Sandbox::new();
    let lab = sb.write(
        "lab.sh",
        "ip netns add a\nip link add d0 type veth peer name e0 netns a\n",
    );
    sb.up(lab.to_str().unwrap(), &[]);
    // Strip the identity fields, as an older lunet wrote the journal.
    sb.sh(
        "f=/run/lunet/lab.journal; sed -e 's/,\"checks\":\\[[^]]*\\]//' $f > /tmp/j && cat /tmp/j > $f && \
         ! grep -q checks $f",
    );
    let o = sb.lunet(&["down", "lab"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(sb.netns_list().is_empty());
    assert!(!sb.has_link(None, "d0"));
}
