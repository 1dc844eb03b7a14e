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
    // A name the file system would refuse: refused first, no directory made for it.
    fails_with(
        &sb,
        r#"net.ns.get("a"):etc(string.rep("x", 300), "x")"#,
        &["ns:etc", "longer than 244 bytes"],
    );
    fails_with(
        &sb,
        r#"net.ns.get("a"):etc("d/" .. string.rep("x", 250), "x")"#,
        &["ns:etc", "longer than 244 bytes"],
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
    let st = sb.lunet(&["status"]);
    assert!(
        st.status.success() && text(&st).contains("d3") && !text(&st).contains("d2"),
        "{}",
        text(&st)
    );
    sb.down("d3");
    assert_eq!(sb.sh("ls /run/lunet"), "");
}

/// How many parameters a function of the registry takes (`self` not counted), from its
/// LuaCATS type: `fun(self: Ns, name: string, opts?: {…}): Link` takes 2.
fn arity(ty: &str) -> usize {
    let params = ty.strip_prefix("fun(").expect("a function type");
    let (mut depth, mut commas, mut empty) = (0, 0, true);
    for c in params.chars() {
        match c {
            '(' | '{' | '[' | '<' => depth += 1,
            ')' | '}' | ']' | '>' if depth == 0 => break,
            ')' | '}' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => commas += 1,
            _ => {}
        }
        empty &= c.is_whitespace();
    }
    let n = if empty { 0 } else { commas + 1 };
    n - usize::from(params.starts_with("self:"))
}

/// The functions the fuzz calls, from the API registry (`lunet::luabind::docs::DOCS`, the
/// one `help()`, completion and `lunet types` read, and that a unit test checks against
/// what Lua really has): a function is fuzzed the day it is registered. As
/// `{ "KIND", "NAME", ARITY }` Lua lines, where KIND says how it is called: `net`,
/// `net.ns` (plain functions) or the fixture object of `ns`, `link`, `proc` (methods).
fn fuzz_targets() -> Vec<String> {
    let mut lines = vec![];
    for d in lunet::luabind::docs::DOCS.iter().filter(|d| d.is_function()) {
        let (kind, name) = if let Some(n) = d.name.strip_prefix("net.ns.") {
            ("net.ns", n)
        } else if let Some(n) = d.name.strip_prefix("net.") {
            ("net", n)
        } else if let Some((kind @ ("ns" | "link" | "proc"), n)) = d.name.split_once(':') {
            (kind, n)
        } else if d.name.starts_with("s:") {
            // The check helpers of a scenario's handle are Lua code of lunet's own
            // library (lua/lunet/check.lua) over the functions fuzzed here.
            continue;
        } else {
            panic!("the fuzz does not know how to call {}: teach fuzz_targets", d.name);
        };
        assert!(!name.contains(['.', ':']), "{}", d.name);
        lines.push(format!("  {{ {kind:?}, {name:?}, {} }},", arity(d.ty)));
    }
    for (must, arity) in [
        ("link:shape", 1),
        ("ns:ip", 2),
        ("net.ip", 2),
        ("ns:wait_tcp", 3),
        ("net.ns.each_exec", 2),
        ("ns:veth", 3),
        ("net.reset", 0),
        ("net.monitor", 2),
    ] {
        let (kind, name) = must.rsplit_once([':', '.']).unwrap();
        let line = format!("  {{ {kind:?}, {name:?}, {arity} }},");
        assert!(lines.contains(&line), "{line} is not among {lines:#?}");
    }
    lines
}

/// The fuzz script: `@TARGETS@` and `@SECS@` are filled in. First a sweep: every value at
/// each position of every function up to one past its last parameter (at most three),
/// all of it, however long that takes on the machine; then random calls for @SECS@ seconds. A call that could
/// block gets timeouts it can reach (its bad values are kept), and a call that may have
/// ended a fixture (the namespace `fz`, the bridge `fzbr`, the process) is followed by a
/// new one: the functions after it are called on live objects.
const FUZZ: &str = r#"
local seed = 12345
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
local fx = {}
local function fixture()
  fx.ns = net.ns.exists("fz") and net.ns.get("fz") or net.ns.add("fz")
  local ok, l = pcall(fx.ns.link, fx.ns, "fzbr")
  fx.link = ok and l or fx.ns:bridge("fzbr")
  if not (fx.proc and fx.proc:alive()) then fx.proc = net.host:spawn("sleep 60") end
end
fixture()
local values = table.pack(
  nil, true, false, 0, 1, -1, 2, 7, 255, 256, 65535, 65536, 4094, 4095,
  math.maxinteger, math.mininteger, 1e300, -1e300, math.huge, -math.huge, 0/0, 0.5, -0.5, 2^31, 2^32, 2^63,
  "", "x", "fz", "fzbr", "lo", "host", "eth0", "10.0.0.1", "10.0.0.1/24", "fd00::1/64", "default",
  "a\nb", "a\0b", "../etc", "; rm -rf /", string.rep("x", 70000), "%s%s%n",
  {}, {1, 2, 3}, { to = "10.1.0.0/16" }, { up = true }, { foo = 1 }, { [{}] = 1 },
  { timeout = 1e300 }, { timeout = 0/0 }, { timeout = -1, check = false }, { mtu = 1e300 },
  { mtu = -1 }, { id = 2^40 }, { count = math.huge }, { port = 0/0 }, { mode = "99999" },
  { peer_ns = "nope" }, { kill = 1 }, { env = { ["A=B"] = "x" } }, { source = "10.0.0.0/8", out = "a b" },
  { rate = "10mbit" }, { rate = -1 }, { delay = 1e300 }, { loss = "200%" }, { script = true },
  { file = "/nonexistent" },
  function() end, fx.ns, fx.link, fx.proc, coroutine.create(function() end)
)
local function v() return values[rnd(values.n)] end
local targets = {
@TARGETS@
}
local plain = { net = net, ["net.ns"] = net.ns }
local function fn_of(t)
  local obj = plain[t[1]] or fx[t[1]]
  local f = obj[t[2]]
  if type(f) ~= "function" then
    error("the registry names " .. t[1] .. " " .. t[2] .. " but Lua has no such function")
  end
  return f, not plain[t[1]] and obj or nil
end
-- A timeout the sweep can wait for: valid waits of more than 10 ms become 1 ms (what
-- lunet must refuse, NaN, infinities, negatives, more than 1e9 s, is passed as it is).
local function short(x)
  if type(x) == "number" and x > 0.01 and x <= 1e9 then return 0.001 end
  if type(x) == "table" and getmetatable(x) == nil and x.timeout == nil then
    local c = {}
    for k, y in pairs(x) do c[k] = y end
    c.timeout = 0.01
    return c
  end
  return x
end
-- Functions that wait, and the position of their timeout (nil there waits for ever, or 5 s).
local waits = { sleep = 1, wait = 1, monitor = 2, wait_tcp = 3 }
local ends_fixture = { reset = true, undo = true, delete = true, kill = true, set = true }
local calls, errors = 0, 0
local function try(t, args, argc)
  local f, self = fn_of(t)
  local name = t[2]
  local at = waits[name]
  if at then
    if name == "monitor" and type(args[1]) == "table" then args[1] = short(args[1]) end
    if name == "sleep" or args[at] ~= nil then
      args[at] = short(args[at])
    else
      args[at] = at == 1 and 0.001 or { timeout = 0.01 }
    end
    if argc < at then argc = at end
  end
  local ok, err
  if self then
    ok, err = pcall(f, self, table.unpack(args, 1, argc))
  else
    ok, err = pcall(f, table.unpack(args, 1, argc))
  end
  calls = calls + 1
  if not ok then
    errors = errors + 1
    local msg = tostring(err)
    if msg:find("panic") or msg:find("internal error") then
      error("PANIC after " .. t[1] .. " " .. name .. ": " .. msg)
    end
  end
  if ends_fixture[name] or not net.ns.exists("fz") then fixture() end
end
-- Plausible leading arguments, so that every position of every function is reached.
local lead = {
  exec = { "true" }, sh = { "true" }, spawn = { "true" }, ping = { "127.0.0.1" }, each_exec = { "true" },
  tcp_connect = { "127.0.0.1", 9 }, wait_tcp = { "127.0.0.1", 9 }, veth = { "fv1", "fv2" },
  vlan = { "fv3", "lo" }, macvlan = { "fv4", "lo" }, sysctl = { "net.ipv4.ip_forward" }, etc = { "x", "y" },
  iptables = { "-S" }, ip6tables = { "-S" }, delete = { "fz9" }, get = { "fz" },
  ip = { "link add fzv0 type veth peer name fzv1" },
}
local swept = 0
for _, t in ipairs(targets) do
  for pos = 1, math.min(3, t[3] + 1) do
    for i = 1, values.n do
      local args = {}
      local l = lead[t[2]] or { "x", "x" }
      for j = 1, pos - 1 do args[j] = l[j] end
      args[pos] = values[i]
      try(t, args, pos)
      swept = swept + 1
    end
  end
end
assert(swept == @SWEEP@ * values.n)
-- Then random calls until the deadline.
local deadline = os.time() + @SECS@
while os.time() < deadline do
  local t = targets[rnd(#targets)]
  local argc = rnd(4) - 1
  local args = {}
  for i = 1, argc do args[i] = v() end
  try(t, args, argc)
end
fx.proc:kill("KILL")
net.reset()
print("fuzz calls=" .. calls .. " swept=" .. swept .. " functions=" .. #targets .. " errors=" .. errors)
"#;

/// Every public function and method, fed values of every Lua type; none may panic
/// or leave anything behind. The sweep always runs to its end (no bound on its time:
/// how fast it goes is the machine's); then random calls for LUNET_FUZZ_SECS (default 5).
#[test]
fn fuzz_every_public_function_with_values_of_every_type() {
    let sb = Sandbox::new();
    let before = sb.state_dump();
    let secs: u64 = std::env::var("LUNET_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let targets = fuzz_targets();
    let functions = targets.len();
    // Positions swept per value: the Lua asserts it made exactly that many calls.
    let sweep: usize = lunet::luabind::docs::DOCS
        .iter()
        .filter(|d| d.is_function() && !d.name.starts_with("s:"))
        .map(|d| (arity(d.ty) + 1).min(3))
        .sum();
    let code = FUZZ
        .replace("@TARGETS@", &targets.join("\n"))
        .replace("@SWEEP@", &sweep.to_string())
        .replace("@SECS@", &secs.to_string());
    let path = sb.write("fuzz.lua", &code);
    let started = std::time::Instant::now();
    let o = sb.lunet(&["run", path.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "fuzzing failed:\n{out}");
    assert!(!out.contains("panicked") && !out.contains("internal error"), "{out}");
    let count = |key: &str| -> u64 {
        out.split(key)
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let (calls, swept) = (count("fuzz calls="), count("swept="));
    // The sweep ran to its end (the script asserts it made every call), over every function.
    assert_eq!(count("functions="), functions as u64, "{out}");
    assert!(calls > swept && swept > 5_000, "{out}");
    println!(
        "fuzz: {calls} calls ({swept} in the sweep of {functions} functions) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for name in common::instances(&sb) {
        let _ = sb.lunet(&["down", &name]);
    }
    assert_eq!(
        sb.state_dump(),
        before,
        "the fuzzed calls left something behind; lunet said:\n{out}"
    );
}
