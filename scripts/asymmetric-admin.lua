-- Seed 000: an admin interface that answers from the right place.
--
-- A server has two interfaces: eth0 on the production network, whose router
-- (10.0.1.1) holds its default route, and eth1 on the admin network, whose
-- router is 10.0.2.1. An admin's client sits on a third subnet behind them.
-- Here one namespace, "router", plays both routers. It filters by reverse
-- path (rp_filter = 1), as real routers do: a packet from the admin network
-- must come in on its admin leg.
--
-- Naively (--set naive=true) eth1 stays in the server's namespace, next to
-- eth0. The client's request comes in on eth1, but the reply to the client's
-- subnet follows the server's only default route: out of eth0, with eth1's
-- address as source. The router sees an admin-network source on its
-- production leg and drops it. Ping and TCP to the admin address fail.
--
-- The fix: move eth1 into a namespace of its own ("admin"),
-- which gets its own default route, via the admin router. Replies from the
-- admin address now leave by the admin interface. (Policy routing, `ip rule
-- add from ADMIN table N`, is the other classic fix.)
--
--             10.0.1.0/24                         10.0.3.0/24
--   server eth0 ------------ prod  [router]  lan ------------ eth0 client
--   admin  eth1 ------------ admin
--             10.0.2.0/24

local addr = require("lunet.addr")
local function host(cidr)
  return (cidr:gsub("/.*", ""))
end

-- The router's count of packets dropped by its reverse-path filter.
local function rp_drops(router)
  local text = router:exec({ "cat", "/proc/net/netstat" }).stdout
  local names, values = text:match("TcpExt:([^\n]*)\nTcpExt:([^\n]*)")
  local i = 0
  local want
  for n in (names or ""):gmatch("%S+") do
    i = i + 1
    if n == "IPReversePathFilter" then
      want = i
    end
  end
  i = 0
  for v in (values or ""):gmatch("%S+") do
    i = i + 1
    if i == want then
      return tonumber(v)
    end
  end
  error("no IPReversePathFilter counter in /proc/net/netstat")
end

return net.scenario({
  name = "asymmetric-admin",
  description = "an admin interface in its own namespace answers across a router with rp_filter on; naive=true shows why it must",
  params = {
    naive = false, -- true: leave the admin interface in the server's namespace
    server = "server",
    admin = "admin",
    router = "router",
    client = "client",
    prod_gw = "10.0.1.1/24",
    server_prod = "10.0.1.10/24",
    admin_gw = "10.0.2.1/24",
    server_admin = "10.0.2.10/24",
    client_gw = "10.0.3.1/24",
    client_addr = "10.0.3.10/24",
    port = 2222, -- the admin service (a socat banner) listens here, on the admin address
  },
  requires = { "ping", "socat", "ip" },

  setup = function(p)
    local server = net.ns.add(p.server)
    local router = net.ns.add(p.router)
    local client = net.ns.add(p.client)

    -- Where the admin interface lives is the whole difference between the two
    -- modes: naively, next to eth0 in the server's namespace; fixed, in a
    -- namespace of its own. (By hand: `ip netns add admin; ip link set eth1
    -- netns admin`; here eth1 is created there directly.)
    local admin_ns = p.naive and server or net.ns.add(p.admin)

    -- The router: one leg per subnet, forwarding, and strict reverse-path
    -- filtering on all of them (the effective value is the larger of "all"
    -- and the interface's own).
    local prod, eth0 = router:veth("prod", "eth0", { peer_ns = server, up = true })
    local admin_leg, eth1 = router:veth("admin", "eth1", { peer_ns = admin_ns, up = true })
    local lan, client_eth0 = router:veth("lan", "eth0", { peer_ns = client, up = true })
    prod:addr_add(p.prod_gw)
    admin_leg:addr_add(p.admin_gw)
    lan:addr_add(p.client_gw)
    router:ip_forward(true)
    router:sysctl("net.ipv4.conf.all.rp_filter", 1)
    for _, leg in ipairs({ "prod", "admin", "lan" }) do
      router:sysctl("net.ipv4.conf." .. leg .. ".rp_filter", 1)
    end

    -- The client, on its own subnet behind the router.
    client_eth0:addr_add(p.client_addr)
    client:route_add({ to = "default", via = host(p.client_gw) })

    -- The server: production address and the default route via the production router.
    -- It is a host, not a router: loose reverse-path filtering (rp_filter = 2,
    -- systemd's default) lets the admin request in on eth1 even though the
    -- route back to the client is via eth0 (strict would drop it right there).
    eth0:addr_add(p.server_prod)
    server:route_add({ to = "default", via = host(p.prod_gw) })
    server:sysctl("net.ipv4.conf.all.rp_filter", 2)

    -- The admin address. In a namespace of its own, eth1 has a routing table
    -- of its own too: its default route goes via the admin router, so replies
    -- leave by the interface the requests came in on.
    eth1:addr_add(p.server_admin)
    if not p.naive then
      admin_ns:route_add({ to = "default", via = host(p.admin_gw) })
    end

    -- The admin service: answers with a banner on the admin address only.
    admin_ns:spawn({
      "socat",
      ("TCP-LISTEN:%d,bind=%s,fork,reuseaddr"):format(p.port, host(p.server_admin)),
      "SYSTEM:echo admin service in " .. admin_ns.name,
    })
  end,

  check = function(p, s)
    local client, router = net.ns.get(p.client), net.ns.get(p.router)
    local admin_ns = net.ns.get(p.naive and p.server or p.admin)
    local admin_ip, client_ip = host(p.server_admin), host(p.client_addr)

    -- Production works either way.
    s:expect_ping(client, host(p.server_prod))

    -- The service itself is up (asked from its own namespace): what follows is about routing.
    s:expect_tcp(admin_ns, admin_ip, p.port)

    -- Where does a reply from the admin address to the client go?
    local route = admin_ns:exec({ "ip", "-o", "route", "get", client_ip, "from", admin_ip }).stdout
    local dev = route:match("dev (%S+)")
    local before = rp_drops(router)

    if p.naive then
      s:expect(
        dev == "eth0",
        ("in %s, the reply from %s to %s is routed out of %s, the production interface, not eth1 where the request came in"):format(
          p.server,
          admin_ip,
          client_ip,
          tostring(dev)
        )
      )
      s:expect_no_ping(client, admin_ip)
      s:expect_no_tcp(client, admin_ip, p.port)
      local dropped = rp_drops(router) - before
      s:expect(
        dropped > 0,
        ("why: the router's rp_filter dropped %d replies from %s that came in on its production leg (%s is behind its admin leg)"):format(
          dropped,
          admin_ip,
          addr.subnet(p.server_admin).network
        )
      )
      return
    end

    s:expect(
      dev == "eth1",
      ("in %s, a reply from %s to %s leaves by %s, the admin interface"):format(
        p.admin,
        admin_ip,
        client_ip,
        tostring(dev)
      )
    )
    s:expect_ping(client, admin_ip)
    s:expect_tcp(client, admin_ip, p.port)
    local banner = client:exec({ "socat", "-T", "2", "-u", ("TCP:%s:%d"):format(admin_ip, p.port), "STDOUT" }).stdout
    s:expect(
      banner:find("admin service in " .. p.admin, 1, true),
      ("the client reads the banner of the service in %s: %q"):format(p.admin, (banner:gsub("%s+$", "")))
    )
    s:expect(rp_drops(router) == before, "the router's rp_filter dropped nothing")
  end,
})
