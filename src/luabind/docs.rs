//! One line of help per function: its signature, its `ip` equivalent, what it
//! does. Used by the REPL's `help()` and for completion.

/// (name, signature, description)
pub const DOCS: &[(&str, &str, &str)] = &[
    (
        "net.ns.add",
        "net.ns.add(name, {lo = true}) -> Ns",
        "ip netns add NAME (+ lo up): a new network namespace",
    ),
    (
        "net.ns.get",
        "net.ns.get(name) -> Ns",
        "opens a namespace (also one made by `ip netns add`)",
    ),
    (
        "net.ns.exists",
        "net.ns.exists(name) -> boolean",
        "whether /run/netns/NAME exists",
    ),
    ("net.ns.list", "net.ns.list() -> {name…}", "ip netns list, sorted"),
    (
        "net.ns.delete",
        "net.ns.delete(name, {kill = true})",
        "ip netns pids + kill + ip netns del",
    ),
    (
        "net.ns.identify",
        "net.ns.identify(pid) -> name|nil",
        "ip netns identify PID",
    ),
    ("net.host", "net.host", "the namespace lunet runs in (an Ns)"),
    (
        "net.scenario",
        "net.scenario{name, description, params, requires, setup, check, teardown}",
        "defines a scenario (for lunet up/down/check/plan)",
    ),
    (
        "net.undo",
        "net.undo() -> boolean",
        "undoes the newest change still in effect",
    ),
    (
        "net.reset",
        "net.reset()",
        "undoes every change made so far, newest first",
    ),
    (
        "ns:veth",
        "ns:veth(name, peer, {peer_ns, mtu, master, up}) -> Link, Link",
        "ip link add NAME type veth peer name PEER netns NS",
    ),
    (
        "ns:bridge",
        "ns:bridge(name, {mtu, mac, up}) -> Link",
        "ip link add NAME type bridge",
    ),
    (
        "ns:dummy",
        "ns:dummy(name, {mtu, mac, up}) -> Link",
        "ip link add NAME type dummy",
    ),
    (
        "ns:vlan",
        "ns:vlan(name, parent, id, {mtu, mac, up}) -> Link",
        "ip link add NAME link PARENT type vlan id ID",
    ),
    (
        "ns:macvlan",
        "ns:macvlan(name, parent, {mode, mtu, mac, up}) -> Link",
        "ip link add NAME link PARENT type macvlan mode MODE",
    ),
    (
        "ns:vxlan",
        "ns:vxlan(name, {id, remote|group, local, dev, port}) -> Link",
        "ip link add NAME type vxlan id VNI …",
    ),
    (
        "ns:link",
        "ns:link(name) -> Link",
        "an existing interface (error if absent)",
    ),
    (
        "ns:links",
        "ns:links() -> {{name, index, kind, up, mtu, mac, master, peer}…}",
        "ip -j link",
    ),
    (
        "ns:addrs",
        "ns:addrs(dev?) -> {{dev, family, cidr}…}",
        "ip -j addr [show dev DEV]",
    ),
    (
        "ns:route_add",
        "ns:route_add{to, via, dev, table, metric, src, scope}",
        "ip route add …",
    ),
    (
        "ns:route_del",
        "ns:route_del{to, via, dev, table, metric, src, scope}",
        "ip route del …",
    ),
    (
        "ns:routes",
        "ns:routes{table, family, dev} -> {route…}",
        "ip -j route [table T]",
    ),
    (
        "ns:rule_add",
        "ns:rule_add{from, to, table, priority, iif, fwmark}",
        "ip rule add …",
    ),
    (
        "ns:rule_del",
        "ns:rule_del{from, to, table, priority, iif, fwmark}",
        "ip rule del …",
    ),
    ("ns:rules", "ns:rules() -> {rule…}", "ip -j rule"),
    (
        "ns:sysctl",
        "ns:sysctl(key, value?) -> old value",
        "ip netns exec NS sysctl [-w] KEY[=VALUE] (net.* only)",
    ),
    (
        "ns:exec",
        "ns:exec(cmd, {check, stdin, env, cwd, timeout, pid, uts, ipc, mount}) -> {code, stdout, stderr}",
        "ip netns exec NS CMD",
    ),
    (
        "ns:sh",
        "ns:sh(script, opts) -> {code, stdout, stderr}",
        "ip netns exec NS sh -c SCRIPT",
    ),
    (
        "ns:spawn",
        "ns:spawn(cmd, {env, cwd, log, keep, pid, uts, ipc, mount}) -> Proc",
        "ip netns exec NS CMD &",
    ),
    (
        "ns:ping",
        "ns:ping(addr, {count, timeout}) -> ok, rtt_ms",
        "ping -c1 -W1 inside NS",
    ),
    (
        "ns:tcp_connect",
        "ns:tcp_connect(addr, port, {timeout}) -> ok, err",
        "a TCP connect from inside NS",
    ),
    (
        "ns:hosts",
        "ns:hosts{[addr] = name|{names}}",
        "writes /etc/netns/NS/hosts",
    ),
    (
        "ns:resolv",
        "ns:resolv{nameserver, search, options}",
        "writes /etc/netns/NS/resolv.conf",
    ),
    (
        "ns:etc",
        "ns:etc(path, content, {mode})",
        "writes /etc/netns/NS/PATH (seen as /etc/PATH inside NS)",
    ),
    ("ns:pids", "ns:pids() -> {pid…}", "ip netns pids NS"),
    (
        "ns:iptables",
        "ns:iptables(args) -> output",
        "ip netns exec NS iptables ARGS (changes are undone on teardown)",
    ),
    (
        "ns:ip6tables",
        "ns:ip6tables(args) -> output",
        "ip netns exec NS ip6tables ARGS",
    ),
    (
        "ns:iptables_restore",
        "ns:iptables_restore(text, {v6})",
        "iptables-restore --noflush: one atomic batch",
    ),
    (
        "ns:nat_masquerade",
        "ns:nat_masquerade{source, out}",
        "iptables -t nat -A POSTROUTING -s CIDR [-o DEV] -j MASQUERADE",
    ),
    (
        "ns:forward_accept",
        "ns:forward_accept{iif, oif}",
        "iptables -A FORWARD [-i DEV] [-o DEV] -j ACCEPT",
    ),
    (
        "ns:port_forward",
        "ns:port_forward{proto, port, to, iif}",
        "iptables -t nat -A PREROUTING … -j DNAT",
    ),
    (
        "ns:ip_forward",
        "ns:ip_forward(on)",
        "sysctl net.ipv4.ip_forward (and IPv6 forwarding)",
    ),
    ("ns:delete", "ns:delete({kill = true})", "ip netns del NS"),
    ("link:up", "link:up()", "ip link set DEV up"),
    ("link:down", "link:down()", "ip link set DEV down"),
    (
        "link:set",
        "link:set{master, mtu, mac, name, ns, up}",
        "ip link set DEV …",
    ),
    ("link:addr_add", "link:addr_add(cidr)", "ip addr add CIDR dev DEV"),
    ("link:addr_del", "link:addr_del(cidr)", "ip addr del CIDR dev DEV"),
    ("link:addrs", "link:addrs() -> {addr…}", "ip -j addr show dev DEV"),
    (
        "link:info",
        "link:info() -> {name, index, kind, up, mtu, mac, master, peer}",
        "ip -j link show DEV",
    ),
    ("link:delete", "link:delete()", "ip link del DEV"),
    (
        "proc:alive",
        "proc:alive() -> boolean",
        "whether the process still runs",
    ),
    (
        "proc:wait",
        "proc:wait(timeout?) -> {code, signal}|nil",
        "waits for it to end",
    ),
    ("proc:kill", "proc:kill(sig?)", "kill -SIG PID (default TERM)"),
    ("proc:output", "proc:output() -> string", "what it wrote so far"),
];

/// Method names of a lunet object type (`ns`, `link`, `proc`).
pub fn methods(kind: &str) -> Vec<&'static str> {
    DOCS.iter()
        .filter_map(|(n, _, _)| n.strip_prefix(kind)?.strip_prefix(':'))
        .collect()
}

pub fn find(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    DOCS.iter().find(|(n, _, _)| *n == name)
}

/// Writes `lunet.d.lua` and `.luarc.json` into `dir`.
pub fn write_types(_dir: &std::path::Path) -> anyhow::Result<()> {
    anyhow::bail!("types: not yet")
}
