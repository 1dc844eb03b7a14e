//! Hostile input: numbers that used to panic, state files others could write,
//! values that could inject lines or shell, damaged state — each gives one
//! clear line, changes nothing it should not, and never panics. Plus a fuzz
//! test that feeds every public Lua function values of every type.

mod common;
use common::{lunet_bin, text, Sandbox};

/// Runs `code`, which must fail with exit 1 and one clear first line holding every `want`,
/// leave the network as it was, and never panic.
fn fails_with(sb: &Sandbox, code: &str, want: &[&str]) -> String {
    let err = sb.lua_err_clean(code);
    let first = err.lines().next().unwrap_or_default().to_string();
    for w in want {
        assert!(first.contains(w), "for:\n{code}\nexpected {w:?} in:\n{err}");
    }
    for bad in ["panicked", "internal error", "Integer(", "Number(", "String("] {
        assert!(
            !err.contains(bad),
            "for:\n{code}\nRust internals reached the user:\n{err}"
        );
    }
    err
}

#[test]
fn huge_nan_and_negative_numbers_are_one_line_errors() {
    let sb = Sandbox::new();
    let secs = "must be a number of seconds";
    for v in ["1e300", "math.huge", "0/0", "-1", "2^63"] {
        fails_with(
            &sb,
            &format!("net.host:exec('true', {{ timeout = {v} }})"),
            &["ns:exec", "\"timeout\"", secs],
        );
        fails_with(
            &sb,
            &format!("net.host:tcp_connect('127.0.0.1', 9, {{ timeout = {v} }})"),
            &["ns:tcp_connect", secs],
        );
        fails_with(
            &sb,
            &format!("net.monitor(function() end, {{ timeout = {v} }})"),
            &["net.monitor", secs],
        );
        fails_with(
            &sb,
            &format!("local p = net.host:spawn('sleep 5'); p:wait({v})"),
            &["proc:wait", "argument #1 (timeout)", secs],
        );
    }
    fails_with(
        &sb,
        "net.ns.identify(2^40)",
        &["net.ns.identify", "pid", "1..4194304", "1099511627776"],
    );
    fails_with(&sb, "net.ns.identify(-1)", &["net.ns.identify", "got -1"]);
    fails_with(
        &sb,
        "net.host:vlan('v', 'lo', 1e300)",
        &["ns:vlan", "must be an integer, got 1e300"],
    );
    sb.sh("ip link add b0 type bridge");
    fails_with(
        &sb,
        "net.host:link('b0'):set { master = 'b0' }",
        &["link:set", "loop of masters"],
    );
    fails_with(&sb, "net.ns.add('host')", &["net.ns.add", "\"host\" is lunet's name"]);
}

#[test]
fn values_cannot_inject_lines_or_environment_variables() {
    let sb = Sandbox::new();
    sb.sh("ip netns add a");
    fails_with(
        &sb,
        r#"net.ns.get("a"):resolv { nameserver = "10.0.0.1", options = "ndots:1\nnameserver 7.7.7.7" }"#,
        &["ns:resolv", "bad option"],
    );
    fails_with(
        &sb,
        r#"net.ns.get("a"):resolv { search = "lab\nnameserver 7.7.7.7" }"#,
        &["ns:resolv", "bad search domain"],
    );
    fails_with(
        &sb,
        r#"net.ns.get("a"):hosts { ["10.0.0.1"] = "x\n10.6.6.6 evil" }"#,
        &["ns:hosts", "bad host name"],
    );
    fails_with(
        &sb,
        r#"net.host:exec({ "env" }, { env = { ["A=B C"] = "x" } })"#,
        &["ns:exec", "bad environment variable name"],
    );
    fails_with(
        &sb,
        r#"net.ns.get("a"):etc("../../passwd", "x")"#,
        &["ns:etc", "bad /etc file name"],
    );
    assert_eq!(sb.sh("ls -A /etc/netns"), "", "a refused write left a file");
}

#[test]
fn plan_output_is_safe_to_run_whatever_the_names() {
    let sb = Sandbox::new();
    let path = sb.write(
        "plan.lua",
        r#"return net.scenario { name = "p", params = { n = "a", dev = "v0" },
             setup = function(p)
               local ns = net.ns.add(p.n)
               local v = ns:veth(p.dev, "x'y", { up = true })
               v:addr_add("10.0.0.1/24")
               ns:sysctl("net.ipv4.ip_forward", 1)
               print("line one\nrm -rf /run/netns/pwned-too")
             end }"#,
    );
    let hostile = ["n=a;id>&2;`id>&2`", "dev=$(id>&2)"];
    let mut args = vec!["plan", path.to_str().unwrap()];
    for h in &hostile {
        args.extend(["--set", h]);
    }
    let o = sb.lunet(&args);
    assert!(o.status.success(), "{}", text(&o));
    let script = sb.write("plan.sh", &String::from_utf8_lossy(&o.stdout));
    sb.sh("touch /run/netns/pwned-too");
    let run = sb.run("sh", &[script.to_str().unwrap()]);
    assert!(run.status.success(), "the plan failed to run: {}", text(&run));
    assert!(
        !text(&run).contains("uid="),
        "the plan ran injected shell: {}",
        text(&run)
    );
    assert!(
        sb.ok("test -e /run/netns/pwned-too"),
        "the script's output ran as a command"
    );
    // It made exactly the namespace and link with the hostile names.
    assert!(
        sb.ok("ip -n 'a;id>&2;`id>&2`' link show '$(id>&2)'"),
        "{:?}",
        sb.netns_list()
    );
}

#[test]
fn state_files_are_private_whatever_the_umask_and_others_files_are_refused() {
    let sb = Sandbox::new();
    let path = sb.write(
        "s.lua",
        r#"return net.scenario { name = "s", setup = function() net.ns.add("sa"):hosts { ["10.0.0.1"] = "x" } end }"#,
    );
    // An existing state dir open to others is tightened.
    sb.sh("chmod 0777 /run/lunet");
    let up = sb.run(
        "sh",
        &[
            "-c",
            &format!("umask 000; {} up {}", lunet_bin().display(), path.display()),
        ],
    );
    assert!(up.status.success(), "{}", text(&up));
    assert_eq!(
        sb.sh("stat -c '%a %n' /run/lunet /run/lunet/s.journal /run/lunet/s.json /etc/netns/sa /etc/netns/sa/hosts"),
        "700 /run/lunet\n600 /run/lunet/s.journal\n600 /run/lunet/s.json\n755 /etc/netns/sa\n644 /etc/netns/sa/hosts\n"
    );
    // A journal someone else could have written is never acted on.
    sb.sh("chmod 0666 /run/lunet/s.journal");
    let o = sb.lunet(&["down", "s"]);
    assert!(
        !o.status.success() && text(&o).contains("refusing to use"),
        "{}",
        text(&o)
    );
    assert!(
        sb.netns_list().contains(&"sa".to_string()),
        "down acted on an untrusted journal"
    );
    sb.sh("chmod 0600 /run/lunet/s.journal");
    sb.down("s");
    // A state dir owned by someone else is refused.
    sb.sh("chown 1234 /run/lunet");
    let o = sb.lunet(&["up", path.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("refusing to use /run/lunet"),
        "{}",
        text(&o)
    );
    sb.sh("chown 0 /run/lunet");
    // A file under /etc/netns that someone else owns is not bound over /etc.
    sb.sh("ip netns add evil && mkdir -p /etc/netns/evil && echo 'root::0:0::/:/bin/sh' > /etc/netns/evil/passwd && chown 1234 /etc/netns/evil/passwd");
    let err = fails_with(
        &sb,
        r#"net.ns.get("evil"):exec("cat /etc/passwd")"#,
        &["ns:exec", "refusing to bind"],
    );
    assert!(err.contains("/etc/netns/evil/passwd"), "{err}");
}

#[test]
fn a_damaged_state_file_affects_only_its_own_instance() {
    let sb = Sandbox::new();
    for n in ["d1", "d2", "d3"] {
        let p = sb.write(
            &format!("{n}.lua"),
            &format!("return net.scenario {{ name = \"{n}\", setup = function() net.ns.add(\"{n}a\"); net.ns.add(\"{n}b\") end }}"),
        );
        sb.up(p.to_str().unwrap(), &[]);
    }
    sb.sh("echo '{ not json' > /run/lunet/d1.json");
    sb.sh("printf '\\377\\376 binary junk\\n' >> /run/lunet/d2.journal");
    let st = text(&sb.lunet(&["status"]));
    assert!(
        st.contains("d1  (damaged") && st.contains("d2  (damaged: 1 unreadable"),
        "{st}"
    );
    assert!(st.contains("d3  (") && st.contains("ip netns add d3a"), "{st}");
    // d1: the journal is intact: down undoes all of it.
    sb.down("d1");
    assert!(!sb.netns_list().iter().any(|n| n.starts_with("d1")));
    // d2: the intact records are undone, the damage is reported, --forget clears it.
    let o = sb.lunet(&["down", "d2"]);
    assert!(!o.status.success() && text(&o).contains("1 records"), "{}", text(&o));
    assert!(
        !sb.netns_list().iter().any(|n| n.starts_with("d2")),
        "intact records were not undone"
    );
    let o = sb.lunet(&["down", "--forget", "d2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&sb.lunet(&["status"])).contains("d2"));
    sb.down("d3");
    assert_eq!(sb.sh("ls /run/lunet"), "");
}

/// Every public function and method, fed values of every Lua type; none may
/// panic or leave anything behind. Runs for LUNET_FUZZ_SECS (default 20).
#[test]
fn fuzz_every_public_function_with_values_of_every_type() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let secs: u64 = std::env::var("LUNET_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let code = format!(
        r#"
local deadline = os.time() + {secs}
local seed = 12345
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
local ns = net.ns.add("fz")
local l0 = net.host:bridge("fzbr")
local proc = net.host:spawn("sleep 60")
local values = table.pack(
  nil, true, false, 0, 1, -1, 2, 7, 255, 256, 65535, 65536, 4094, 4095,
  math.maxinteger, math.mininteger, 1e300, -1e300, math.huge, -math.huge, 0/0, 0.5, -0.5, 2^31, 2^32, 2^63,
  "", "x", "fz", "fzbr", "lo", "host", "eth0", "10.0.0.1", "10.0.0.1/24", "fd00::1/64", "default",
  "a\nb", "a\0b", "../etc", "; rm -rf /", string.rep("x", 70000), "%s%s%n",
  {{}}, {{1, 2, 3}}, {{ to = "10.1.0.0/16" }}, {{ up = true }}, {{ foo = 1 }}, {{ [{{}}] = 1 }},
  {{ timeout = 1e300 }}, {{ timeout = 0/0 }}, {{ timeout = -1, check = false }}, {{ mtu = 1e300 }},
  {{ mtu = -1 }}, {{ id = 2^40 }}, {{ count = math.huge }}, {{ port = 0/0 }}, {{ mode = "99999" }},
  {{ peer_ns = "nope" }}, {{ kill = 1 }}, {{ env = {{ ["A=B"] = "x" }} }}, {{ source = "10.0.0.0/8", out = "a b" }},
  function() end, ns, l0, proc, coroutine.create(function() end)
)
local function v() return values[rnd(values.n)] end
local targets = {{
  {{ net.ns, {{ "add", "get", "exists", "list", "delete", "identify" }}, false }},
  {{ net, {{ "monitor" }}, false }},
  {{ ns, {{ "veth", "bridge", "dummy", "vlan", "macvlan", "vxlan", "link", "links", "addrs", "route_add",
          "route_del", "routes", "rule_add", "rule_del", "rules", "sysctl", "exec", "sh", "spawn", "ping",
          "tcp_connect", "hosts", "resolv", "etc", "iptables", "ip6tables", "iptables_restore",
          "nat_masquerade", "forward_accept", "port_forward", "ip_forward", "pids" }} }},
  {{ l0, {{ "up", "down", "set", "addr_add", "addr_del", "info" }} }},
  {{ proc, {{ "alive", "wait", "kill", "output" }} }},
}}
for _, t in ipairs(targets) do if t[3] == nil then t[3] = true end end
local calls, errors = 0, 0
local function try(t, name, args, argc)
  local obj, f = t[1], t[1][name]
  -- (monitor and wait would block: they get a short timeout; their bad-input paths are tested elsewhere)
  if name == "monitor" then f = function() return net.monitor(function() return false end, {{ timeout = 0.01 }}) end end
  if name == "wait" then f = function() return proc:wait(0.001) end end
  local ok, err
  if t[3] then ok, err = pcall(f, obj, table.unpack(args, 1, argc))
  else ok, err = pcall(f, table.unpack(args, 1, argc)) end
  calls = calls + 1
  if not ok then
    errors = errors + 1
    local msg = tostring(err)
    if msg:find("panic") or msg:find("internal error") then
      error("PANIC after " .. name .. ": " .. msg)
    end
  end
end
-- Plausible leading arguments, so that every position of every function is reached.
local lead = {{
  exec = {{ "true" }}, sh = {{ "true" }}, spawn = {{ "true" }}, ping = {{ "127.0.0.1" }},
  tcp_connect = {{ "127.0.0.1", 9 }}, veth = {{ "fv1", "fv2" }}, vlan = {{ "fv3", "lo" }},
  macvlan = {{ "fv4", "lo" }}, sysctl = {{ "net.ipv4.ip_forward" }}, etc = {{ "x", "y" }},
  iptables = {{ "-S" }}, ip6tables = {{ "-S" }}, delete = {{ "fz9" }}, get = {{ "fz" }},
}}
-- A sweep: every value at every one of the first three positions of every function.
for _, t in ipairs(targets) do
  for _, name in ipairs(t[2]) do
    for pos = 1, 3 do
      for i = 1, values.n do
        if os.time() >= deadline then break end
        local args = {{}}
        local l = lead[name] or {{ "x", "x" }}
        for j = 1, pos - 1 do args[j] = l[j] end
        args[pos] = values[i]
        try(t, name, args, pos)
      end
    end
  end
end
local swept = calls
-- Then random calls until the deadline.
while os.time() < deadline do
  local t = targets[rnd(#targets)]
  local name = t[2][rnd(#t[2])]
  local argc = rnd(4) - 1
  local args = {{}}
  for i = 1, argc do args[i] = v() end
  try(t, name, args, argc)
end
proc:kill("KILL")
net.reset()
print("fuzz calls=" .. calls .. " swept=" .. swept .. " errors=" .. errors)
"#
    );
    let path = sb.write("fuzz.lua", &code);
    let o = sb.lunet(&["run", path.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "fuzzing failed:\n{out}");
    assert!(!out.contains("panicked") && !out.contains("internal error"), "{out}");
    let calls: u64 = out
        .split("fuzz calls=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let swept: u64 = out
        .split("swept=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // The sweep (every value at each of the first three positions of every function) must finish.
    assert!(
        calls > swept && swept > 5_000,
        "the sweep did not finish in {secs} s: {out}"
    );
    println!("fuzz: {calls} calls ({swept} in the sweep) in {secs} s");
    for name in common::instances(&sb) {
        let _ = sb.lunet(&["down", &name]);
    }
    assert_eq!(sb.state_dump(), before, "the fuzzed calls left something behind");
}
