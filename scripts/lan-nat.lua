-- A LAN behind a NAT router (seed 004).
--
-- Two hosts, netns_0 and netns_1, are plugged into the bridge br0: a switch.
-- The bridge has an address of its own, 192.168.1.11, which makes the
-- namespace it lives in a host on the LAN too, and the LAN's gateway: the
-- router. The router forwards the LAN's packets to the outside and rewrites
-- their source to its own outside address (MASQUERADE), so the outside,
-- which has no route back to 192.168.1.0/24, can still answer.
--
-- By default the router is a namespace of its own and "the outside world"
-- is one more namespace, `outside` (203.0.113.1, a documentation address),
-- so the lab touches nothing of the machine. With `--set uplink=eth0
-- --set probe=ADDR` the machine itself is the router, as in the seed, and
-- the LAN goes out through the real interface eth0; the check then pings
-- ADDR, an address beyond that uplink.

local addr = require("lunet.addr")
local topo = require("lunet.topo")

local function ip(cidr)
  return (cidr:gsub("/.*", ""))
end

return net.scenario({
  name = "lan-nat",
  description = "netns_0 and netns_1 on bridge br0 behind a masquerading router",
  params = {
    host0 = "netns_0",
    host0_addr = "192.168.1.20/24",
    host1 = "netns_1",
    host1_addr = "192.168.1.21/24",
    bridge = "br0",
    bridge_addr = "192.168.1.11/24",
    router = "router",
    wan_addr = "203.0.113.254/24",
    outside = "outside",
    outside_addr = "203.0.113.1/24",
    port = 9000, -- the outside's "who am I" service
    uplink = "",
    probe = "",
  },
  requires = { "ping", "socat" },

  setup = function(p)
    local real = p.uplink ~= ""
    if real then
      if p.probe == "" then
        error(
          ("lan-nat: uplink=%s needs probe=ADDRESS too: an address beyond %s that the check must reach"):format(
            p.uplink,
            p.uplink
          ),
          0
        )
      end
      net.host:link(p.uplink) -- it must exist: fail before changing anything
    end
    local router = real and "host" or p.router
    local lan = addr.subnet(p.bridge_addr).network -- 192.168.1.0/24
    local gateway = ip(p.bridge_addr)

    local spec = {
      nodes = { p.host0, p.host1 },
      bridges = { { name = p.bridge, ns = router, addr = p.bridge_addr } },
      -- Each host's eth0 is cabled to a port of the bridge.
      links = {
        { a = p.host0, b = p.bridge, addr = p.host0_addr },
        { a = p.host1, b = p.bridge, addr = p.host1_addr },
      },
      -- Everything not on the LAN goes to the gateway.
      routes = {
        { node = p.host0, to = "default", via = gateway },
        { node = p.host1, to = "default", via = gateway },
      },
    }
    if not real then
      -- The simulated outside: a router's WAN cable to one more namespace,
      -- which knows nothing of 192.168.1.0/24 (no route back).
      table.insert(spec.nodes, 1, p.router)
      table.insert(spec.nodes, p.outside)
      table.insert(spec.links, {
        a = p.router,
        a_name = "wan",
        addr = p.wan_addr,
        b = p.outside,
        b_name = "eth0",
        peer_addr = p.outside_addr,
      })
    end
    local t = topo.build(spec)
    local r = t.nodes[router]

    -- Make the router a router: forward between interfaces, let the LAN's
    -- traffic (and the replies) through the FORWARD chain, and rewrite the
    -- LAN's source address on the way out.
    r:ip_forward(true) -- sysctl net.ipv4.ip_forward=1
    r:forward_accept({ iif = p.bridge }) -- iptables -A FORWARD -i br0 -j ACCEPT
    r:forward_accept({ oif = p.bridge }) -- iptables -A FORWARD -o br0 -j ACCEPT
    r:nat_masquerade({ source = lan, out = real and p.uplink or "wan" })

    if not real then
      -- The outside runs a tiny "who am I" service: it answers each client
      -- with the source address it saw (socat sets SOCAT_PEERADDR).
      t.nodes[p.outside]:spawn({
        "socat",
        ("TCP-LISTEN:%d,reuseaddr,fork"):format(p.port),
        "SYSTEM:echo $SOCAT_PEERADDR",
      })
    end
  end,

  check = function(p, s)
    local hosts = { net.ns.get(p.host0), net.ns.get(p.host1) }
    local real = p.uplink ~= ""
    local target = real and p.probe or ip(p.outside_addr)

    -- The LAN hosts reach each other across the bridge (no router involved).
    s:expect_ping(hosts[1], ip(p.host1_addr))
    s:expect_ping(hosts[2], ip(p.host0_addr))

    -- Both reach the outside. The outside has no route to 192.168.1.0/24:
    -- the replies find their way back only because the router masqueraded.
    for _, h in ipairs(hosts) do
      s:expect_ping(h, target)
    end
    if real then
      return
    end

    -- Ask the outside who is calling: it must see the router, not the host.
    local want = ip(p.wan_addr)
    for _, h in ipairs(hosts) do
      local seen
      for _ = 1, 30 do -- the service may still be starting
        local r = h:exec(
          { "socat", "-T1", "-", ("TCP:%s:%d,connect-timeout=1"):format(target, p.port) },
          { check = false }
        )
        seen = r.stdout:match("%S+")
        if seen then
          break
        end
        h:exec({ "sleep", "0.1" })
      end
      s:expect(
        seen == want,
        ("%s reaches the outside as %s, the router's address (the outside saw %s)"):format(h.name, want, tostring(seen))
      )
    end
  end,
})
