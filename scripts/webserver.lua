-- A web server inside a namespace, reached from the host over a veth pair.
--
-- A namespace has its own ports as well as its own interfaces: a server
-- listening on "all addresses" inside ns_web listens on ns_web's addresses
-- only (its loopback and its end of the veth), never on the host's. The
-- host reaches it through the veth, like any machine on the same LAN.

local function ip(cidr)
  return (cidr:gsub("/.*", ""))
end

return net.scenario({
  name = "webserver",
  description = "python3 http.server in namespace ns_web, fetched from the host over a veth",
  params = {
    ns = "ns_web",
    host_if = "veth-web",
    ns_if = "eth0",
    host_addr = "10.0.0.10/24",
    ns_addr = "10.0.0.11/24",
    port = 4000,
    root = "/srv", -- the directory served (FHS: "data served by this system")
  },
  requires = { "python3", "curl" },

  setup = function(p)
    local web = net.ns.add(p.ns)
    local host_end, ns_end = net.host:veth(p.host_if, p.ns_if, { peer_ns = web, up = true })
    host_end:addr_add(p.host_addr)
    ns_end:addr_add(p.ns_addr)

    -- ip netns exec ns_web python3 -m http.server 4000 &   (in the directory `root`)
    -- The process is recorded in the scenario's journal: `lunet down` ends it.
    web:spawn({ "python3", "-m", "http.server", tostring(p.port) }, { cwd = p.root })
  end,

  check = function(p, s)
    local url = ("http://%s:%d/"):format(ip(p.ns_addr), p.port)
    -- The page is http.server's listing of `root` (retried while it starts).
    s:expect_http(net.host, url, "Directory listing for /")
    -- The port is ns_web's, not the host's: nothing answers on the host's loopback.
    s:expect_no_tcp(net.host, "127.0.0.1", p.port)
  end,
})
