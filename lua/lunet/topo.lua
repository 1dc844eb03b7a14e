--- lunet.topo: a topology described as data, built with the lunet API in the
--- order the kernel needs: namespaces, then bridges, then veth links (each
--- created directly where it belongs, joined to its bridge, up, addressed),
--- then routes. Nothing is hidden: every step is one ordinary lunet call, so
--- `lunet -v` and `lunet plan` show them as `ip` commands.
---
---   local topo = require "lunet.topo"
---   local t = topo.build {
---     nodes   = { "h1", "h2" },
---     bridges = { { name = "br0", addr = "10.0.0.1/24" } },     -- in the host
---     links   = {
---       { a = "h1", b = "br0", addr = "10.0.0.2/24" },          -- h1's eth0 on br0
---       { a = "h2", b = "br0", addr = "10.0.0.3/24" },
---     },
---     routes  = { { node = "h1", to = "default", via = "10.0.0.1" } },
---     -- a link may carry conditions, one table per direction (see link:shape):
---     --   { a = "h1", b = "h2", shape = { rate = "10mbit", delay = "5ms" }, peer_shape = { rate = "10mbit" } }
---   }
---   t.nodes.h1:ping("10.0.0.3")
---
--- The name "host" stands for `net.host` (the namespace lunet runs in)
--- wherever a node is expected.
local M = {}

---@class lunet.topo.Bridge
---@field name string       interface name of the bridge
---@field ns? string        node it lives in (default "host")
---@field addr? string|string[]  address(es) of the bridge itself, CIDR

---@class LinkShape  conditions on a link's egress (link:shape); numbers in bits/s, bytes, seconds, percent
---@field rate? number|string      "10mbit", "1gbit" (tbf alone; netem's rate with the others)
---@field burst? number|string     "32kb" (tbf only)
---@field delay? number|string     "5ms"
---@field jitter? number|string    "1ms" (needs delay)
---@field loss? number|string      "1%" or 1
---@field duplicate? number|string
---@field reorder? number|string   (needs delay)
---@field corrupt? number|string
---@field limit? number|string     queue: bytes with tbf, packets with netem

---@class lunet.topo.LinkSpec
---@field a string          a node: its end of the veth
---@field b string          a bridge (the veth's other end becomes its port) or another node
---@field addr? string|string[]       address(es) of a's end
---@field peer_addr? string|string[]  address(es) of b's end (only when b is a node)
---@field a_name? string    name of a's end (default: eth0, eth1, … in the order links reach a)
---@field b_name? string    name of b's end (default: "veth-" .. a for a bridge port, else eth0, eth1, …)
---@field mtu? integer
---@field shape? LinkShape      conditions on a's end (its egress: traffic from a towards b)
---@field peer_shape? LinkShape conditions on b's end (traffic from b towards a)

---@class lunet.topo.Route: RouteSpec
---@field node string       where the route is added ("host" for net.host)

---@class lunet.topo.Spec
---@field nodes? (string|{name: string, lo?: boolean})[]  namespaces to create
---@field bridges? (string|lunet.topo.Bridge)[]
---@field links? lunet.topo.LinkSpec[]
---@field routes? lunet.topo.Route[]

---@class lunet.topo.Topology
---@field nodes table<string, Ns>     every node by name ("host" included)
---@field bridges table<string, Link> every bridge by name
---@field links {a: Link, b: Link}[]  both ends of each link, in the order given

-- A mistake in the spec is raised as a table and turned into the usual
-- one-line error at the user's call by M.build, wherever it was found.
local function fail(msg, ...)
  error({ topo = msg:format(...) })
end

-- Unknown keys are errors, as everywhere in lunet: a typo must not be ignored.
local function check_keys(what, t, allowed)
  if type(t) ~= "table" then
    fail("%s must be a table, got %s", what, type(t))
  end
  for k in pairs(t) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do
        names[#names + 1] = n
      end
      table.sort(names)
      fail("%s: unknown key %q (expected one of: %s)", what, tostring(k), table.concat(names, ", "))
    end
  end
end

local function set(list)
  local s = {}
  for _, k in ipairs(list) do
    s[k] = true
  end
  return s
end

local function list_of(v)
  if v == nil then
    return {}
  end
  if type(v) == "string" then
    return { v }
  end
  return v
end

local function build(spec)
  check_keys("spec", spec, set({ "nodes", "bridges", "links", "routes" }))
  local t = { nodes = { host = net.host }, bridges = {}, links = {} }
  local next_eth = {} -- node name -> next free ethN index

  local function node(name, what)
    local ns = t.nodes[name]
    if not ns then
      fail("%s: no node %q (declare it in `nodes`)", what, tostring(name))
    end
    return ns
  end
  local function eth(name)
    local n = next_eth[name] or 0
    next_eth[name] = n + 1
    return "eth" .. n
  end

  -- 1. Namespaces: each starts with only a loopback device (up).
  for i, n in ipairs(spec.nodes or {}) do
    if type(n) == "string" then
      n = { name = n }
    end
    check_keys(("nodes[%d]"):format(i), n, set({ "name", "lo" }))
    if n.name == "host" then
      fail('nodes[%d]: "host" is net.host, it need not be declared', i)
    end
    if t.nodes[n.name] then
      fail("nodes[%d]: node %q declared twice", i, n.name)
    end
    t.nodes[n.name] = net.ns.add(n.name, { lo = n.lo })
  end

  -- 2. Bridges: a bridge is a switch inside one namespace; its own address
  --    makes that namespace a host (or the router) on the segment.
  for i, b in ipairs(spec.bridges or {}) do
    if type(b) == "string" then
      b = { name = b }
    end
    local what = ("bridges[%d]"):format(i)
    check_keys(what, b, set({ "name", "ns", "addr" }))
    if t.bridges[b.name] then
      fail("%s: bridge %q declared twice", what, b.name)
    end
    local br = node(b.ns or "host", what):bridge(b.name, { up = true })
    for _, a in ipairs(list_of(b.addr)) do
      br:addr_add(a)
    end
    t.bridges[b.name] = br
  end

  -- 3. Links: a veth pair is a cable. The end in `a` is created where it
  --    belongs (never created in one namespace and moved), the other end is
  --    either a port of bridge `b` (no address: a switch port is not a host)
  --    or an interface of node `b`.
  for i, l in ipairs(spec.links or {}) do
    local what = ("links[%d]"):format(i)
    check_keys(what, l, set({ "a", "b", "addr", "peer_addr", "a_name", "b_name", "mtu", "shape", "peer_shape" }))
    local a_ns = node(l.a, what)
    local br = t.bridges[l.b]
    local a_end, b_end
    if br then
      if l.peer_addr then
        fail("%s: peer_addr: the end on bridge %q is a switch port, it takes no address", what, l.b)
      end
      -- Here a's end is the veth's peer: shapes swap places.
      b_end, a_end = br.ns:veth(
        l.b_name or ("veth-" .. l.a),
        l.a_name or eth(l.a),
        { peer_ns = a_ns, master = br, up = true, mtu = l.mtu, shape = l.peer_shape, peer_shape = l.shape }
      )
    else
      local b_ns = node(l.b, what)
      a_end, b_end = a_ns:veth(
        l.a_name or eth(l.a),
        l.b_name or eth(l.b),
        { peer_ns = b_ns, up = true, mtu = l.mtu, shape = l.shape, peer_shape = l.peer_shape }
      )
    end
    for _, a in ipairs(list_of(l.addr)) do
      a_end:addr_add(a)
    end
    for _, a in ipairs(list_of(l.peer_addr)) do
      b_end:addr_add(a)
    end
    t.links[i] = { a = a_end, b = b_end }
  end

  -- 4. Routes last: a gateway must be on a subnet that is already there.
  for i, r in ipairs(spec.routes or {}) do
    local what = ("routes[%d]"):format(i)
    if type(r) ~= "table" then
      fail("%s must be a table, got %s", what, type(r))
    end
    local ns = node(r.node, what)
    local route = {}
    for k, v in pairs(r) do
      if k ~= "node" then
        route[k] = v
      end
    end
    ns:route_add(route)
  end
  return t
end

--- Builds a topology; returns handles to everything it made.
---@param spec lunet.topo.Spec
---@return lunet.topo.Topology
function M.build(spec)
  local ok, res = pcall(build, spec)
  if ok then
    return res
  end
  if type(res) == "table" and res.topo then
    error("lunet.topo.build: " .. res.topo, 2)
  end
  error(res, 0) -- a lunet call failed: its message already says where and why
end

return M
