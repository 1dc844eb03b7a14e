//! End to end: the `lunet` binary runs the seed tutorials' topologies, and
//! `ip -j` / `ping` (independent observers) check what the kernel holds.

mod common;
use common::Sandbox;

#[test]
fn seed001_left_right_bridge_pings_across() {
    let sb = Sandbox::new();
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/two-namespaces.lua")).unwrap();
    sb.lua_ok(&script);
    let ns = sb.sh("ip netns list");
    assert!(ns.contains("left") && ns.contains("right"), "{ns}");
    let br = sb.ip_json("-d link show br0");
    assert_eq!(br[0]["linkinfo"]["info_kind"], "bridge");
    let left = sb.ip_json("-n left addr show dev eth0");
    let addrs: Vec<&str> = left[0]["addr_info"].as_array().unwrap().iter().filter_map(|a| a["local"].as_str()).collect();
    assert!(addrs.contains(&"10.0.1.1"), "{addrs:?}");
    assert!(sb.ok("ip netns exec left ping -c1 -W2 10.0.0.1"));
    assert!(sb.ok("ip netns exec right ping -c1 -W2 10.0.1.1"));
}
