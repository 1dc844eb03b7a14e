//! The one registry of the Lua API: every function, method and field with its
//! signature, one line of doc (its `ip` equivalent where there is one) and its
//! LuaCATS type. The REPL's `help()` and completion read it, `lunet types`
//! writes editor definitions from it, and a test checks it against what is
//! really registered in a Lua state.

use std::path::Path;

use anyhow::{Context, Result};

/// One name of the API.
pub struct Entry {
    /// `net.ns.add`, `ns:veth` (a method), `ns.name` (a field), `s:expect_ping` (a check helper).
    pub name: &'static str,
    /// How it is called, as users read it.
    pub sig: &'static str,
    /// One line: what it does, or its `ip` equivalent.
    pub doc: &'static str,
    /// Its LuaCATS type: `fun(self: Ns, name: string): Link` for a function or method.
    pub ty: &'static str,
}

impl Entry {
    pub fn is_function(&self) -> bool {
        self.ty.starts_with("fun(")
    }
}

const fn e(name: &'static str, sig: &'static str, doc: &'static str, ty: &'static str) -> Entry {
    Entry { name, sig, doc, ty }
}

pub const DOCS: &[Entry] = &[
    e(
        "net.ns.add",
        "net.ns.add(name, {lo = true}) -> Ns",
        "ip netns add NAME (+ lo up): a new network namespace",
        "fun(name: string, opts?: {lo?: boolean}): Ns",
    ),
    e(
        "net.ns.get",
        "net.ns.get(name) -> Ns",
        "opens a namespace (also one made by `ip netns add`)",
        "fun(name: string): Ns",
    ),
    e(
        "net.ns.exists",
        "net.ns.exists(name) -> boolean",
        "whether /run/netns/NAME exists",
        "fun(name: string): boolean",
    ),
    e(
        "net.ns.list",
        "net.ns.list() -> {name…}",
        "ip netns list, sorted",
        "fun(): string[]",
    ),
    e(
        "net.ns.delete",
        "net.ns.delete(name, {kill = true})",
        "ip netns pids + kill + ip netns del",
        "fun(name: string, opts?: {kill?: boolean})",
    ),
    e(
        "net.ns.identify",
        "net.ns.identify(pid) -> name|nil",
        "ip netns identify PID",
        "fun(pid: integer): string?",
    ),
    e(
        "net.ns.each_exec",
        "net.ns.each_exec(cmd, opts) -> {[name] = {code, stdout, stderr}}",
        "ip -all netns exec CMD: runs it in every namespace (check = false by default)",
        "fun(cmd: string|string[], opts?: {check?: boolean, stdin?: string, env?: table<string, string>, cwd?: string, timeout?: number, tty?: boolean, pid?: boolean, uts?: string, ipc?: boolean, mount?: boolean}): table<string, lunet.ExecResult>",
    ),
    e(
        "net.host",
        "net.host",
        "the namespace lunet runs in (an Ns)",
        "Ns",
    ),
    e(
        "net.version",
        "net.version",
        "lunet's version",
        "string",
    ),
    e(
        "net.ns",
        "net.ns",
        "the namespace functions (net.ns.add, …)",
        "lunet.ns",
    ),
    e(
        "net.scenario",
        "net.scenario{name, description, params, requires, setup, check, teardown}",
        "defines a scenario (for lunet up/down/check/plan)",
        "fun(def: lunet.Scenario): lunet.Scenario",
    ),
    e(
        "net.ip",
        "net.ip(command, {file, script}) -> what the Lua call returns",
        "ip COMMAND (`link add v0 type veth peer name v1`, `-n left route add default via …`), journaled",
        "fun(command: string, opts?: {file?: string, script?: boolean}): any",
    ),
    e(
        "net.undo",
        "net.undo() -> string|nil",
        "undoes the newest change still in effect and returns it as a command",
        "fun(): string?",
    ),
    e(
        "net.reset",
        "net.reset()",
        "undoes every change made so far, newest first",
        "fun()",
    ),
    e(
        "net.monitor",
        "net.monitor(fn?, {ns, timeout, count})",
        "ip monitor: calls fn per event (until it returns false), or returns an iterator",
        "fun(fn_or_opts?: (fun(ev: lunet.Event): boolean?)|{ns?: Ns|string, timeout?: number, count?: integer}, opts?: {ns?: Ns|string, timeout?: number, count?: integer}): (fun(): lunet.Event?)?",
    ),
    e(
        "net.sleep",
        "net.sleep(seconds)",
        "waits (other work goes on; Ctrl-C and signals interrupt it)",
        "fun(seconds: number)",
    ),
    e(
        "ns.name",
        "ns.name",
        "the namespace's name (`host` for lunet's own)",
        "string",
    ),
    e(
        "ns:veth",
        "ns:veth(name, peer, {peer_ns, mtu, master, up, shape, peer_shape}) -> Link, Link",
        "ip link add NAME type veth peer name PEER netns NS",
        "fun(self: Ns, name: string, peer: string, opts?: {peer_ns?: Ns|string, mtu?: integer, master?: Link|string, up?: boolean}): Link, Link",
    ),
    e(
        "ns:bridge",
        "ns:bridge(name, {mtu, mac, up}) -> Link",
        "ip link add NAME type bridge",
        "fun(self: Ns, name: string, opts?: {mtu?: integer, mac?: string, up?: boolean}): Link",
    ),
    e(
        "ns:dummy",
        "ns:dummy(name, {mtu, mac, up}) -> Link",
        "ip link add NAME type dummy",
        "fun(self: Ns, name: string, opts?: {mtu?: integer, mac?: string, up?: boolean}): Link",
    ),
    e(
        "ns:vlan",
        "ns:vlan(name, parent, id, {mtu, mac, up}) -> Link",
        "ip link add NAME link PARENT type vlan id ID",
        "fun(self: Ns, name: string, parent: string, id: integer, opts?: {mtu?: integer, mac?: string, up?: boolean}): Link",
    ),
    e(
        "ns:macvlan",
        "ns:macvlan(name, parent, {mode, mtu, mac, up}) -> Link",
        "ip link add NAME link PARENT type macvlan mode MODE",
        "fun(self: Ns, name: string, parent: string, opts?: {mode?: \"bridge\"|\"private\"|\"vepa\"|\"passthru\", mtu?: integer, mac?: string, up?: boolean}): Link",
    ),
    e(
        "ns:vxlan",
        "ns:vxlan(name, {id, remote|group, local, dev, port}) -> Link",
        "ip link add NAME type vxlan id VNI …",
        "fun(self: Ns, name: string, opts: {id: integer, remote?: string, group?: string, [\"local\"]?: string, dev?: string, port?: integer, mtu?: integer, mac?: string, up?: boolean}): Link",
    ),
    e(
        "ns:link",
        "ns:link(name) -> Link",
        "an existing interface (error if absent)",
        "fun(self: Ns, name: string): Link",
    ),
    e(
        "ns:links",
        "ns:links() -> {{name, index, kind, up, mtu, mac, master, peer, peer_index, peer_ns}…}",
        "ip -j link",
        "fun(self: Ns): lunet.LinkInfo[]",
    ),
    e(
        "ns:addrs",
        "ns:addrs(dev?) -> {{dev, family, cidr, address, prefix}…}",
        "ip -j addr [show dev DEV]",
        "fun(self: Ns, dev?: string): lunet.AddrInfo[]",
    ),
    e(
        "ns:route_add",
        "ns:route_add{to, via, dev, table, metric, src, scope, proto}",
        "ip route add …",
        "fun(self: Ns, spec: {to: string, via?: string, dev?: string, table?: integer|string, metric?: integer, src?: string, scope?: string, proto?: string|integer})",
    ),
    e(
        "ns:route_del",
        "ns:route_del{to, via, dev, table, metric, src, scope, proto}",
        "ip route del …",
        "fun(self: Ns, spec: {to: string, via?: string, dev?: string, table?: integer|string, metric?: integer, src?: string, scope?: string, proto?: string|integer})",
    ),
    e(
        "ns:routes",
        "ns:routes{table, family, dev} -> {route…}",
        "ip -j route [table T]",
        "fun(self: Ns, filter?: {table?: integer|string, family?: \"inet\"|\"inet6\", dev?: string}): lunet.RouteInfo[]",
    ),
    e(
        "ns:rule_add",
        "ns:rule_add{from, to, table, priority, iif, fwmark}",
        "ip rule add …",
        "fun(self: Ns, spec: {from?: string, to?: string, table?: integer|string, priority?: integer, iif?: string, fwmark?: integer, family?: \"inet\"|\"inet6\"})",
    ),
    e(
        "ns:rule_del",
        "ns:rule_del{from, to, table, priority, iif, fwmark}",
        "ip rule del …",
        "fun(self: Ns, spec: {from?: string, to?: string, table?: integer|string, priority?: integer, iif?: string, fwmark?: integer, family?: \"inet\"|\"inet6\"})",
    ),
    e(
        "ns:rules",
        "ns:rules() -> {rule…}",
        "ip -j rule",
        "fun(self: Ns): table[]",
    ),
    e(
        "ns:sysctl",
        "ns:sysctl(key, value?) -> old value",
        "ip netns exec NS sysctl [-w] KEY[=VALUE] (net.* only)",
        "fun(self: Ns, key: string, value?: string|number|boolean): string",
    ),
    e(
        "ns:exec",
        "ns:exec(cmd, {check, stdin, env, cwd, timeout, tty, pid, uts, ipc, mount}) -> {code, stdout, stderr}",
        "ip netns exec NS CMD (tty = true: on lunet's terminal)",
        "fun(self: Ns, cmd: string|string[], opts?: {check?: boolean, stdin?: string, env?: table<string, string>, cwd?: string, timeout?: number, tty?: boolean, pid?: boolean, uts?: string, ipc?: boolean, mount?: boolean}): lunet.ExecResult",
    ),
    e(
        "ns:sh",
        "ns:sh(script, opts) -> {code, stdout, stderr}",
        "ip netns exec NS sh -c SCRIPT",
        "fun(self: Ns, script: string, opts?: {check?: boolean, stdin?: string, env?: table<string, string>, cwd?: string, timeout?: number, tty?: boolean, pid?: boolean, uts?: string, ipc?: boolean, mount?: boolean}): lunet.ExecResult",
    ),
    e(
        "ns:spawn",
        "ns:spawn(cmd, {env, cwd, log, truncate, keep, tty, pid, uts, ipc, mount}) -> Proc",
        "ip netns exec NS CMD &",
        "fun(self: Ns, cmd: string|string[], opts?: {env?: table<string, string>, cwd?: string, log?: string, truncate?: boolean, keep?: boolean, tty?: boolean, pid?: boolean, uts?: string, ipc?: boolean, mount?: boolean}): Proc",
    ),
    e(
        "ns:ping",
        "ns:ping(addr, {count, timeout}) -> ok, rtt_ms",
        "ping -c1 -W1 inside NS",
        "fun(self: Ns, addr: string, opts?: {count?: integer, timeout?: integer}): boolean, number?",
    ),
    e(
        "ns:tcp_connect",
        "ns:tcp_connect(addr, port, {timeout}) -> ok, err",
        "a TCP connect from inside NS",
        "fun(self: Ns, addr: string, port: integer, opts?: {timeout?: number}): boolean, string?",
    ),
    e(
        "ns:wait_tcp",
        "ns:wait_tcp(addr, port, {timeout = 5}) -> ok, err",
        "retries a TCP connect from inside NS until it succeeds or timeout seconds pass",
        "fun(self: Ns, addr: string, port: integer, opts?: {timeout?: number}): boolean, string?",
    ),
    e(
        "ns:hosts",
        "ns:hosts{[addr] = name|{names}}",
        "writes /etc/netns/NS/hosts",
        "fun(self: Ns, map: table<string, string|string[]>)",
    ),
    e(
        "ns:resolv",
        "ns:resolv{nameserver, search, options}",
        "writes /etc/netns/NS/resolv.conf",
        "fun(self: Ns, conf: {nameserver?: string|string[], search?: string|string[], options?: string|string[]})",
    ),
    e(
        "ns:etc",
        "ns:etc(path, content, {mode})",
        "writes /etc/netns/NS/PATH (seen as /etc/PATH inside NS)",
        "fun(self: Ns, path: string, content: string, opts?: {mode?: string})",
    ),
    e(
        "ns:pids",
        "ns:pids() -> {pid…}",
        "ip netns pids NS",
        "fun(self: Ns): integer[]",
    ),
    e(
        "ns:ip",
        "ns:ip(command, {file, script}) -> what the Lua call returns",
        "ip COMMAND acting in NS (`link add v0 type veth peer name v1`, several lines: a script), journaled",
        "fun(self: Ns, command: string, opts?: {file?: string, script?: boolean}): any",
    ),
    e(
        "ns:iptables",
        "ns:iptables(args) -> output",
        "ip netns exec NS iptables ARGS (changes are undone on teardown)",
        "fun(self: Ns, args: string|string[]): string",
    ),
    e(
        "ns:ip6tables",
        "ns:ip6tables(args) -> output",
        "ip netns exec NS ip6tables ARGS",
        "fun(self: Ns, args: string|string[]): string",
    ),
    e(
        "ns:iptables_restore",
        "ns:iptables_restore(text, {v6})",
        "iptables-restore --noflush: one atomic batch",
        "fun(self: Ns, text: string, opts?: {v6?: boolean})",
    ),
    e(
        "ns:nat_masquerade",
        "ns:nat_masquerade{source, out}",
        "iptables -t nat -A POSTROUTING -s CIDR [-o DEV] -j MASQUERADE",
        "fun(self: Ns, spec: {source: string, out?: string})",
    ),
    e(
        "ns:forward_accept",
        "ns:forward_accept{iif, oif}",
        "iptables -A FORWARD [-i DEV] [-o DEV] -j ACCEPT",
        "fun(self: Ns, spec: {iif?: string, oif?: string})",
    ),
    e(
        "ns:port_forward",
        "ns:port_forward{proto, port, to, iif}",
        "iptables -t nat -A PREROUTING … -j DNAT",
        "fun(self: Ns, spec: {proto?: \"tcp\"|\"udp\", port: integer, to: string, iif?: string})",
    ),
    e(
        "ns:ip_forward",
        "ns:ip_forward(on)",
        "sysctl net.ipv4.ip_forward (and IPv6 forwarding)",
        "fun(self: Ns, on: boolean)",
    ),
    e(
        "ns:delete",
        "ns:delete({kill = true})",
        "ip netns del NS",
        "fun(self: Ns, opts?: {kill?: boolean})",
    ),
    e(
        "link.name",
        "link.name",
        "the interface's name",
        "string",
    ),
    e(
        "link.index",
        "link.index",
        "its ifindex",
        "integer",
    ),
    e(
        "link.ns",
        "link.ns",
        "the namespace it is in",
        "Ns",
    ),
    e(
        "link:up",
        "link:up()",
        "ip link set DEV up",
        "fun(self: Link)",
    ),
    e(
        "link:down",
        "link:down()",
        "ip link set DEV down",
        "fun(self: Link)",
    ),
    e(
        "link:set",
        "link:set{master, mtu, mac, name, ns, up}",
        "ip link set DEV …",
        "fun(self: Link, changes: {master?: Link|string|false, mtu?: integer, mac?: string, name?: string, ns?: Ns|string, up?: boolean})",
    ),
    e(
        "link:addr_add",
        "link:addr_add(cidr)",
        "ip addr add CIDR dev DEV",
        "fun(self: Link, cidr: string)",
    ),
    e(
        "link:addr_del",
        "link:addr_del(cidr)",
        "ip addr del CIDR dev DEV",
        "fun(self: Link, cidr: string)",
    ),
    e(
        "link:addrs",
        "link:addrs() -> {addr…}",
        "ip -j addr show dev DEV",
        "fun(self: Link): lunet.AddrInfo[]",
    ),
    e(
        "link:info",
        "link:info() -> {name, index, kind, up, mtu, mac, master, peer, peer_index, peer_ns, qdisc, shape}",
        "ip -j link show DEV; tc -j qdisc show dev DEV root",
        "fun(self: Link): lunet.LinkInfo",
    ),
    e(
        "link:shape",
        "link:shape{rate, burst, delay, jitter, loss, duplicate, reorder, corrupt, limit} / link:shape(nil)",
        "tc qdisc replace dev DEV root tbf|netem … / tc qdisc del dev DEV root",
        "fun(self: Link, shape: {rate?: number|string, burst?: number|string, delay?: number|string, jitter?: number|string, loss?: number|string, duplicate?: number|string, reorder?: number|string, corrupt?: number|string, limit?: integer}|nil)",
    ),
    e(
        "link:delete",
        "link:delete()",
        "ip link del DEV",
        "fun(self: Link)",
    ),
    e(
        "proc.pid",
        "proc.pid",
        "its pid",
        "integer",
    ),
    e(
        "proc.init_pid",
        "proc.init_pid",
        "with pid = true: the program itself (PID 1 of its namespace)",
        "integer?",
    ),
    e(
        "proc.log",
        "proc.log",
        "the log file, if spawned with log =",
        "string?",
    ),
    e(
        "proc:alive",
        "proc:alive() -> boolean",
        "whether the process still runs",
        "fun(self: Proc): boolean",
    ),
    e(
        "proc:wait",
        "proc:wait(timeout?) -> {code, signal}|nil",
        "waits for it to end (nil on timeout)",
        "fun(self: Proc, timeout?: number): {code: integer?, signal: integer?}?",
    ),
    e(
        "proc:kill",
        "proc:kill(sig?)",
        "kill -SIG PID (default TERM)",
        "fun(self: Proc, sig?: string|integer)",
    ),
    e(
        "proc:output",
        "proc:output() -> string",
        "what it wrote so far",
        "fun(self: Proc): string",
    ),
    e(
        "s.name",
        "s.name",
        "the scenario's name",
        "string",
    ),
    e(
        "s.params",
        "s.params",
        "its params (defaults overridden by --set)",
        "table",
    ),
    e(
        "s:expect_ping",
        "s:expect_ping(ns, addr, {tries, timeout}) -> rtt",
        "check: ns (an Ns or a name) reaches addr by ping",
        "fun(self: lunet.S, ns: Ns|string, addr: string, opts?: {tries?: integer, timeout?: integer}): number?",
    ),
    e(
        "s:expect_no_ping",
        "s:expect_no_ping(ns, addr)",
        "check: ns does not reach addr by ping",
        "fun(self: lunet.S, ns: Ns|string, addr: string)",
    ),
    e(
        "s:expect_tcp",
        "s:expect_tcp(ns, addr, port, {tries})",
        "check: ns opens a TCP connection to addr:port",
        "fun(self: lunet.S, ns: Ns|string, addr: string, port: integer, opts?: {tries?: integer})",
    ),
    e(
        "s:expect_no_tcp",
        "s:expect_no_tcp(ns, addr, port)",
        "check: ns cannot connect to addr:port",
        "fun(self: lunet.S, ns: Ns|string, addr: string, port: integer)",
    ),
    e(
        "s:expect_http",
        "s:expect_http(ns, url, pattern) -> body",
        "check: GET url from ns (curl) matches the Lua pattern",
        "fun(self: lunet.S, ns: Ns|string, url: string, pattern?: string): string",
    ),
    e(
        "s:expect",
        "s:expect(cond, msg)",
        "check: fails with msg unless cond holds",
        "fun(self: lunet.S, cond: any, msg: string)",
    ),
    e(
        "s:pass",
        "s:pass(msg)",
        "records a claim that held",
        "fun(self: lunet.S, msg: string)",
    ),
];

/// Method names of a lunet object type (`ns`, `link`, `proc`, `s`).
pub fn methods(kind: &str) -> Vec<&'static str> {
    DOCS.iter()
        .filter_map(|d| d.name.strip_prefix(kind)?.strip_prefix(':'))
        .collect()
}

/// Field names of a lunet object type (`ns`, `link`, `proc`, `s`).
pub fn fields(kind: &str) -> Vec<&'static str> {
    DOCS.iter()
        .filter_map(|d| d.name.strip_prefix(kind)?.strip_prefix('.'))
        .collect()
}

pub fn find(name: &str) -> Option<&'static Entry> {
    DOCS.iter().find(|d| d.name == name)
}

/// Which kind of object has a method `m`, other than `not`: for "that is a Link method" errors.
pub fn owner_of(m: &str, not: &str) -> Option<&'static str> {
    ["ns", "link", "proc"]
        .into_iter()
        .find(|k| *k != not && methods(k).contains(&m))
}

/// Shapes that several entries return, as LuaCATS classes.
const SHAPES: &str = r#"---@class lunet.LinkInfo
---@field name string
---@field index integer
---@field kind? string      veth, bridge, dummy, vlan, macvlan, vxlan (nil for lo)
---@field up boolean
---@field mtu integer
---@field mac? string
---@field master? string
---@field peer? string      a veth's peer
---@field peer_index? integer
---@field peer_ns? string   the namespace of a veth's peer (`host` for lunet's own)

---@class lunet.AddrInfo
---@field dev string
---@field family "inet"|"inet6"
---@field cidr string       "10.0.0.1/24"
---@field address string
---@field prefix integer

---@class lunet.RouteInfo
---@field family "inet"|"inet6"
---@field to string         "10.0.0.0/24" or "default"
---@field via? string
---@field dev? string
---@field table integer
---@field metric? integer
---@field src? string
---@field scope string
---@field proto string
---@field type string

---@class lunet.ExecResult
---@field code? integer
---@field signal? integer
---@field stdout string
---@field stderr string
---@field timed_out boolean

---@class lunet.Event
---@field kind "link"|"addr"|"route"
---@field action "new"|"del"
---@field dev? string
---@field up? boolean
---@field cidr? string
---@field to? string

---@class lunet.Scenario
---@field name string
---@field description? string
---@field params? table<string, string|number|boolean>  defaults; `--set key=value` overrides
---@field requires? string[]  programs that must be on PATH
---@field setup? fun(p: table, s: lunet.S)
---@field check? fun(p: table, s: lunet.S)
---@field teardown? fun(p: table, s: lunet.S)
"#;

/// The LuaCATS class of one kind: its fields, then its methods, each with its doc.
fn class(out: &mut String, class: &str, prefix: &str) {
    out.push_str(&format!("---@class {class}\n"));
    for d in DOCS
        .iter()
        .filter(|d| d.name.strip_prefix(prefix).is_some_and(|r| !r.contains(['.', ':'])))
    {
        let short = &d.name[prefix.len()..];
        out.push_str(&format!("---@field {short} {} {} — {}\n", d.ty, d.sig, d.doc));
    }
}

/// The definitions file (`---@meta`) for the whole API.
pub fn luacats() -> String {
    let mut s = format!(
        "---@meta lunet\n-- LuaCATS definitions of lunet {}'s Lua API, written by `lunet types`.\n-- Do not edit: run `lunet types DIR` again after upgrading lunet.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    s += SHAPES;
    s += "\n";
    class(&mut s, "Ns", "ns.");
    class(&mut s, "Ns", "ns:");
    s += "\n";
    class(&mut s, "Link", "link.");
    class(&mut s, "Link", "link:");
    s += "\n";
    class(&mut s, "Proc", "proc.");
    class(&mut s, "Proc", "proc:");
    s += "\n-- A scenario's handle: `setup(p, s)`, `check(p, s)`.\n";
    class(&mut s, "lunet.S", "s.");
    class(&mut s, "lunet.S", "s:");
    s += "\n";
    class(&mut s, "lunet.ns", "net.ns.");
    s += "\n";
    class(&mut s, "lunet", "net.");
    s += "\n---@type lunet\nnet = {}\n";
    s
}

const LUARC: &str = r#"{
  "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
  "runtime.version": "Lua 5.4",
  "workspace.library": ["lunet.d.lua"],
  "diagnostics.globals": ["net"]
}
"#;

/// `lunet types DIR`: `lunet.d.lua` and `.luarc.json` (kept if there is one).
pub fn write_types(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("types: cannot create {}", dir.display()))?;
    let defs = dir.join("lunet.d.lua");
    std::fs::write(&defs, luacats()).with_context(|| format!("types: cannot write {}", defs.display()))?;
    println!("wrote {}", defs.display());
    let rc = dir.join(".luarc.json");
    if rc.exists() {
        println!("kept {} (add \"lunet.d.lua\" to its workspace.library)", rc.display());
    } else {
        std::fs::write(&rc, LUARC).with_context(|| format!("types: cannot write {}", rc.display()))?;
        println!("wrote {}", rc.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use crate::core::firewall::Backend;
    use crate::core::net::Config;
    use crate::core::Net;

    /// A Lua state with the binding (plan mode: nothing is changed).
    fn lua() -> mlua::Lua {
        let lua = mlua::Lua::new();
        let cfg = Config {
            plan: true,
            backend: Backend::parse(None).unwrap(),
            ..Default::default()
        };
        super::super::install(&lua, Rc::new(Net::new(cfg).unwrap())).unwrap();
        lua
    }

    /// What is really registered in Lua: `net.*`, `net.ns.*` and the check helpers
    /// `s:*` (plain tables, read with `pairs`). Functions as `net.ns.add()`, fields as `net.host`.
    const WALK: &str = r#"
local out = {}
local function add(name) out[#out + 1] = name end
for k, v in pairs(net) do
  add((type(v) == "function" and "net.%s()" or "net.%s"):format(k))
end
for k, v in pairs(net.ns) do
  add((type(v) == "function" and "net.ns.%s()" or "net.ns.%s"):format(k))
end
for k, v in pairs(require "lunet.check") do
  if type(v) == "function" then add(("s:%s()"):format(k)) end
end
return out
"#;

    /// The names a userdata type registers, read through mlua's public traits: its own
    /// `add_methods`/`add_fields` are called with this recorder in place of mlua's
    /// registry (metamethods are left out). Not by reading mlua's private `__index`
    /// closure, whose shape and upvalue names change between mlua versions.
    #[derive(Default)]
    struct Names {
        methods: Vec<String>,
        fields: Vec<String>,
    }

    use mlua::{
        AnyUserData, FromLua, FromLuaMulti, IntoLua, IntoLuaMulti, Lua, MaybeSend, Result, UserDataRef, UserDataRefMut,
    };
    use std::future::Future;

    #[allow(unused_variables)]
    impl<T> mlua::UserDataMethods<T> for Names {
        fn add_method<M, A, R>(&mut self, name: impl Into<String>, method: M)
        where
            M: Fn(&Lua, &T, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_method_mut<M, A, R>(&mut self, name: impl Into<String>, method: M)
        where
            M: FnMut(&Lua, &mut T, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_async_method<M, A, MR, R>(&mut self, name: impl Into<String>, method: M)
        where
            T: 'static,
            M: Fn(Lua, UserDataRef<T>, A) -> MR + MaybeSend + 'static,
            A: FromLuaMulti,
            MR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_async_method_mut<M, A, MR, R>(&mut self, name: impl Into<String>, method: M)
        where
            T: 'static,
            M: Fn(Lua, UserDataRefMut<T>, A) -> MR + MaybeSend + 'static,
            A: FromLuaMulti,
            MR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_function<F, A, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_function_mut<F, A, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: FnMut(&Lua, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_async_function<F, A, FR, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: Fn(Lua, A) -> FR + MaybeSend + 'static,
            A: FromLuaMulti,
            FR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
            self.methods.push(name.into());
        }
        fn add_meta_method<M, A, R>(&mut self, name: impl Into<String>, method: M)
        where
            M: Fn(&Lua, &T, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
        }
        fn add_meta_method_mut<M, A, R>(&mut self, name: impl Into<String>, method: M)
        where
            M: FnMut(&Lua, &mut T, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
        }
        fn add_async_meta_method<M, A, MR, R>(&mut self, name: impl Into<String>, method: M)
        where
            T: 'static,
            M: Fn(Lua, UserDataRef<T>, A) -> MR + MaybeSend + 'static,
            A: FromLuaMulti,
            MR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
        }
        fn add_async_meta_method_mut<M, A, MR, R>(&mut self, name: impl Into<String>, method: M)
        where
            T: 'static,
            M: Fn(Lua, UserDataRefMut<T>, A) -> MR + MaybeSend + 'static,
            A: FromLuaMulti,
            MR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
        }
        fn add_meta_function<F, A, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
        }
        fn add_meta_function_mut<F, A, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: FnMut(&Lua, A) -> Result<R> + MaybeSend + 'static,
            A: FromLuaMulti,
            R: IntoLuaMulti,
        {
        }
        fn add_async_meta_function<F, A, FR, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: Fn(Lua, A) -> FR + MaybeSend + 'static,
            A: FromLuaMulti,
            FR: Future<Output = Result<R>> + MaybeSend + 'static,
            R: IntoLuaMulti,
        {
        }
    }
    #[allow(unused_variables)]
    impl<T> mlua::UserDataFields<T> for Names {
        fn add_field<V>(&mut self, name: impl Into<String>, value: V)
        where
            V: IntoLua + 'static,
        {
            self.fields.push(name.into());
        }
        fn add_field_method_get<M, R>(&mut self, name: impl Into<String>, method: M)
        where
            M: Fn(&Lua, &T) -> Result<R> + MaybeSend + 'static,
            R: IntoLua,
        {
            self.fields.push(name.into());
        }
        fn add_field_method_set<M, A>(&mut self, name: impl Into<String>, method: M)
        where
            M: FnMut(&Lua, &mut T, A) -> Result<()> + MaybeSend + 'static,
            A: FromLua,
        {
            self.fields.push(name.into());
        }
        fn add_field_function_get<F, R>(&mut self, name: impl Into<String>, function: F)
        where
            F: Fn(&Lua, AnyUserData) -> Result<R> + MaybeSend + 'static,
            R: IntoLua,
        {
            self.fields.push(name.into());
        }
        fn add_field_function_set<F, A>(&mut self, name: impl Into<String>, function: F)
        where
            F: FnMut(&Lua, AnyUserData, A) -> Result<()> + MaybeSend + 'static,
            A: FromLua,
        {
            self.fields.push(name.into());
        }
        fn add_meta_field<V>(&mut self, name: impl Into<String>, value: V)
        where
            V: IntoLua + 'static,
        {
        }
        fn add_meta_field_with<F, R>(&mut self, name: impl Into<String>, f: F)
        where
            F: FnOnce(&Lua) -> Result<R> + 'static,
            R: IntoLua,
        {
        }
    }

    /// `ns:veth()`, `ns.name`, … for one userdata type.
    fn names_of<T: mlua::UserData>(kind: &str) -> Vec<String> {
        let mut n = Names::default();
        T::add_fields(&mut n);
        T::add_methods(&mut n);
        let mut out: Vec<String> = n.methods.iter().map(|m| format!("{kind}:{m}()")).collect();
        out.extend(n.fields.iter().map(|f| format!("{kind}.{f}")));
        out
    }

    #[test]
    fn the_registry_is_exactly_what_lua_has() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _in_rt = rt.enter();
        let lua = lua();
        let mut live: Vec<String> = rt.block_on(lua.load(WALK).eval_async()).unwrap();
        live.extend(names_of::<super::super::ns::Ns>("ns"));
        live.extend(names_of::<super::super::link::Link>("link"));
        live.extend(names_of::<super::super::process::LuaProc>("proc"));
        let mut live: Vec<String> = live
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        live.retain(|n| !n.starts_with("s.")); // s.name and s.params are set per scenario
        for seen in [
            "ns:veth()",
            "ns.name",
            "link:addr_add()",
            "link.index",
            "proc:wait()",
            "proc.pid",
            "s:expect_ping()",
            "net.ns.add()",
            "net.host",
        ] {
            assert!(live.iter().any(|n| n == seen), "the walk did not find {seen}: {live:?}");
        }
        let mut registry: Vec<String> = super::DOCS
            .iter()
            .filter(|d| !d.name.starts_with("s."))
            .map(|d| {
                if d.is_function() {
                    format!("{}()", d.name)
                } else {
                    d.name.to_string()
                }
            })
            .collect();
        registry.sort();
        registry.dedup();
        let missing: Vec<&String> = live.iter().filter(|n| !registry.contains(n)).collect();
        let extra: Vec<&String> = registry.iter().filter(|n| !live.contains(n)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "registered in Lua but not in docs.rs: {missing:?}\nin docs.rs but not registered: {extra:?}"
        );
        // Methods really are methods, and each kind has some.
        for kind in ["ns", "link", "proc", "s"] {
            assert!(!super::methods(kind).is_empty(), "{kind}");
        }
    }

    #[test]
    fn every_entry_is_well_formed() {
        let mut names = std::collections::HashSet::new();
        for d in super::DOCS {
            assert!(names.insert(d.name), "{} twice", d.name);
            assert!(
                !d.doc.is_empty() && !d.doc.contains('\n'),
                "{}: one line of doc",
                d.name
            );
            let short = d.name.rsplit(['.', ':']).next().unwrap();
            assert!(d.sig.contains(short), "{}: signature {:?}", d.name, d.sig);
            if d.name.contains(':') {
                assert!(
                    d.ty.starts_with("fun(self: "),
                    "{}: a method takes self: {}",
                    d.name,
                    d.ty
                );
            }
        }
    }

    #[test]
    fn the_definitions_parse_as_lua() {
        let lua = mlua::Lua::new();
        let defs = super::luacats();
        lua.load(&defs).set_name("lunet.d.lua").exec().unwrap();
        let net_is_table: bool = lua.load("return type(net) == 'table'").eval().unwrap();
        assert!(net_is_table);
        for class in [
            "---@class Ns",
            "---@class Link",
            "---@class Proc",
            "---@class lunet.S",
            "---@class lunet.Scenario",
        ] {
            assert!(defs.contains(class), "{class}");
        }
        assert!(
            defs.contains("---@field veth fun(self: Ns, name: string, peer: string"),
            "{defs}"
        );
        assert!(defs.contains("---@field add fun(name: string"), "{defs}");
    }
}
