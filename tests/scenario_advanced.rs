//! The advanced bundled scenarios (seed 000's admin interface, sshd per
//! namespace and bridged NIC; seed 001's proxy benchmark): each goes up,
//! checks and comes down leaving the sandbox exactly as before, and while it
//! is up its key claim is verified again from outside with `ip`, `ping`,
//! `ssh`, `ss`, `iperf3`.

mod common;
use common::Sandbox;
use serde_json::Value;

/// The router's count of packets dropped by reverse-path filtering.
fn rp_drops(sb: &Sandbox, ns: &str) -> u64 {
    let text = sb.sh(&format!("ip netns exec {ns} cat /proc/net/netstat"));
    let mut tcpext = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcpext.next().unwrap(), tcpext.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "IPReversePathFilter")
        .expect("IPReversePathFilter counter");
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn asymmetric_admin_answers_from_its_own_namespace() {
    let sb = Sandbox::new();
    let o = sb.scenario_cycle("asymmetric-admin", &[]);
    assert!(o.contains("ok   client pings 10.0.2.10"), "{o}");
    assert!(o.contains("the router's rp_filter dropped nothing"), "{o}");

    sb.up("asymmetric-admin", &[]);
    assert_eq!(
        sb.sh("ip netns exec router sysctl -n net.ipv4.conf.prod.rp_filter")
            .trim(),
        "1"
    );
    assert!(
        !sb.has_link(Some("server"), "eth1"),
        "eth1 must live in the admin namespace"
    );
    assert!(sb.has_link(Some("admin"), "eth1"));
    let route = sb.sh("ip -n admin -o route get 10.0.3.10 from 10.0.2.10");
    assert!(route.contains("dev eth1"), "{route}");
    let drops = rp_drops(&sb, "router");
    assert!(sb.ok("ip netns exec client ping -c1 -W2 10.0.2.10"));
    let banner = sb.sh("ip netns exec client socat -T2 -u TCP:10.0.2.10:2222 STDOUT");
    assert!(banner.contains("admin service in admin"), "{banner}");
    assert_eq!(rp_drops(&sb, "router"), drops);
    sb.down("asymmetric-admin");
}

#[test]
fn asymmetric_admin_naive_replies_leave_by_the_wrong_interface() {
    let sb = Sandbox::new();
    let o = sb.scenario_cycle("asymmetric-admin", &["naive=true"]);
    assert!(o.contains("ok   client does not reach 10.0.2.10"), "{o}");
    assert!(o.contains("ok   client cannot connect to 10.0.2.10 port 2222"), "{o}");
    assert!(o.contains("why: the router's rp_filter dropped"), "{o}");

    sb.up("asymmetric-admin", &["naive=true"]);
    assert!(!sb.netns_list().contains(&"admin".to_string()));
    let route = sb.sh("ip -n server -o route get 10.0.3.10 from 10.0.2.10");
    assert!(route.contains("via 10.0.1.1 dev eth0"), "{route}");
    // The production address answers; the admin address does not, because the
    // router drops the replies that come back on its production leg.
    assert!(sb.ok("ip netns exec client ping -c1 -W1 10.0.1.10"));
    let drops = rp_drops(&sb, "router");
    assert!(!sb.ok("ip netns exec client ping -c1 -W1 10.0.2.10"));
    assert!(rp_drops(&sb, "router") > drops, "the reply never reached the router");
    // The service is up all the same, for anyone on the server itself.
    assert!(sb.ok("ip netns exec server socat -T2 -u TCP:10.0.2.10:2222 STDOUT"));
    sb.down("asymmetric-admin");
}

#[test]
fn sshd_per_namespace_logs_in_from_ns2_to_ns1() {
    let sb = Sandbox::new();
    let run_sshd = std::path::Path::new("/run/sshd").exists();
    let o = sb.scenario_cycle("sshd-per-namespace", &[]);
    assert!(o.contains("it sees 1.1.1.1/10"), "{o}");

    sb.up("sshd-per-namespace", &[]);
    assert!(sb.sh("ip netns exec ns1 ss -Hltn").contains("1.1.1.1:22"));
    assert!(!sb.sh("ss -Hltn").contains("1.1.1.1:22"));
    let ssh = "ip netns exec ns2 ssh -i /etc/netns/ns2/ssh/id_ed25519 -o StrictHostKeyChecking=no \
               -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR root@1.1.1.1";
    let seen = sb.sh(&format!("{ssh} 'ip -o -f inet addr show'"));
    assert!(seen.contains("inet 1.1.1.1/10"), "{seen}");
    assert!(!seen.contains("1.1.1.2"), "{seen}");
    // Inside ns2, /etc/ssh is ns2's own: plain `ssh ADDR` is set up for the lab.
    let seen = sb.sh("ip netns exec ns2 ssh -o BatchMode=yes 1.1.1.1 'cat /proc/net/dev'");
    assert!(seen.contains("eth0"), "{seen}");
    // The machine's sshd files are untouched.
    assert_eq!(std::path::Path::new("/run/sshd").exists(), run_sshd);
    assert!(!sb
        .sh("cat /etc/ssh/sshd_config 2>/dev/null || true")
        .contains("1.1.1.1"));
    sb.down("sshd-per-namespace");
    let left = sb.sh("ps -e -o stat=,comm= | awk '$1 !~ /^Z/ && $2 == \"sshd\"'");
    assert!(left.is_empty(), "sshd still running after down: {left}");
    assert_eq!(std::path::Path::new("/run/sshd").exists(), run_sshd);
}

/// `ip -4 -j addr show dev DEV`, only the addresses.
fn inet_addrs(sb: &Sandbox, dev: &str) -> Vec<Value> {
    let v = sb.ip_json(&format!("-4 addr show dev {dev}"));
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

/// `ip -4 -j route show table all dev DEV`
fn inet_routes(sb: &Sandbox, dev: &str) -> Value {
    sb.ip_json(&format!("-4 route show table all dev {dev}"))
}

#[test]
fn bridge_physical_nic_simulated() {
    let sb = Sandbox::new();
    let o = sb.scenario_cycle("bridge-physical-nic", &[]);
    assert!(o.contains("ok   ns1 pings 192.168.77.1"), "{o}");

    sb.up("bridge-physical-nic", &[]);
    let nic = sb.link_json(None, "nic0");
    assert_eq!(nic["master"], "br0");
    assert_eq!(
        sb.link_json(None, "br0")["address"],
        nic["address"],
        "br0 wears the NIC's MAC"
    );
    assert!(inet_addrs(&sb, "nic0").is_empty());
    let br = inet_addrs(&sb, "br0");
    assert_eq!(br.len(), 1);
    assert_eq!(br[0]["local"], "192.168.77.10");
    let def = sb.ip_json("-4 route show default");
    assert_eq!(def.as_array().unwrap().len(), 1, "{def}");
    assert_eq!(def[0]["dev"], "br0");
    assert_eq!(def[0]["gateway"], "192.168.77.1");
    assert_eq!(def[0]["metric"], 1000);
    assert!(sb.ok("ip netns exec ns1 ping -c1 -W2 192.168.77.1"));
    assert!(sb.ok("ping -c1 -W2 192.168.77.1"));
    sb.down("bridge-physical-nic");
}

#[test]
fn bridge_physical_nic_puts_a_nic_it_did_not_make_back_exactly() {
    let sb = Sandbox::new();
    // A "physical" NIC made outside lunet, with two subnets and routes in two
    // tables, installed by different protocols (boot: `ip`'s default; dhcp).
    sb.sh(
        "ip netns add lan && ip link add eth9 type veth peer name eth0 netns lan \
         && ip -n lan link set eth0 up && ip -n lan link set lo up \
         && ip -n lan addr add 192.168.77.1/24 dev eth0 && ip -n lan addr add 198.51.100.1/32 dev lo \
         && ip link set eth9 up \
         && ip addr add 192.168.77.10/24 brd + dev eth9 && ip addr add 10.77.0.10/16 brd + dev eth9 \
         && ip route add default via 192.168.77.1 dev eth9 metric 100 proto dhcp \
         && ip route add 172.16.0.0/12 via 10.77.0.1 dev eth9 \
         && ip route add 10.99.0.0/16 via 192.168.77.1 dev eth9 table 100 proto static",
    );
    let addrs = inet_addrs(&sb, "eth9");
    let routes = inet_routes(&sb, "eth9");
    let sets = ["simulate=false", "nic=eth9", "ns_addr=192.168.77.50/24"];
    let o = sb.scenario_cycle("bridge-physical-nic", &sets);
    assert!(o.contains("ok   the host reaches 198.51.100.1"), "{o}");
    assert_eq!(inet_addrs(&sb, "eth9"), addrs);
    assert_eq!(inet_routes(&sb, "eth9"), routes);

    sb.up("bridge-physical-nic", &sets);
    assert_eq!(sb.link_json(None, "eth9")["master"], "br0");
    assert!(inet_addrs(&sb, "eth9").is_empty());
    assert!(inet_routes(&sb, "eth9").as_array().unwrap().is_empty());
    let locals: Vec<Value> = inet_addrs(&sb, "br0").iter().map(|a| a["local"].clone()).collect();
    assert_eq!(locals, ["192.168.77.10", "10.77.0.10"]);
    let br_routes = sb.sh("ip -4 route show table all dev br0");
    for r in [
        "default via 192.168.77.1 proto dhcp metric 100",
        "172.16.0.0/12 via 10.77.0.1 \n", // proto boot: `ip` does not print it
        "10.99.0.0/16 via 192.168.77.1 table 100 proto static",
    ] {
        assert!(br_routes.contains(r), "{r} not on br0:\n{br_routes}");
    }
    assert!(sb.ok("ip netns exec ns1 ping -c1 -W2 192.168.77.1"));
    assert!(sb.ok("ip netns exec ns1 ping -c1 -W2 198.51.100.1"));
    assert!(sb.ok("ping -c1 -W2 198.51.100.1"));
    sb.down("bridge-physical-nic");
    assert_eq!(inet_addrs(&sb, "eth9"), addrs);
    assert_eq!(inet_routes(&sb, "eth9"), routes);
    assert!(sb.link_json(None, "eth9")["master"].is_null());
    assert!(sb.ok("ping -c1 -W2 198.51.100.1"), "the host lost its way out");
}

#[test]
fn proxy_bench_measures_direct_and_proxied_throughput() {
    let sb = Sandbox::new();
    let o = sb.scenario_cycle("proxy-bench", &[]);
    assert!(o.contains("proxied/direct ="), "{o}");

    sb.up("proxy-bench", &[]);
    // The direct path is routed through the proxy namespace.
    let route = sb.sh("ip -n client -o route get 10.0.2.2");
    assert!(route.contains("via 10.0.1.1 dev eth0"), "{route}");
    // Through the proxy: iperf3 talks to the proxy's address, and the server sees the proxy.
    let json: Value =
        serde_json::from_str(&sb.sh("ip netns exec client iperf3 -c 10.0.1.1 -p 5201 -t 1 -J --get-server-output"))
            .unwrap();
    assert!(json["end"]["sum_received"]["bits_per_second"].as_f64().unwrap() > 0.0);
    let server = json["server_output_text"].as_str().unwrap();
    assert!(server.contains("Accepted connection from 10.0.2.1,"), "{server}");
    sb.down("proxy-bench");
}
