-- Seed 000: a namespace on the physical LAN, through a bridge. The NIC's
-- addresses and routes (the default route included) move to a new bridge,
-- br0; the NIC becomes a port of br0; a veth joins ns1 to br0 with an
-- address of its own on the LAN. ns1 and the host then both reach the LAN's
-- gateway, and `lunet down` puts the NIC back as it was.
--
-- Done by hand this often fails "inexplicably". The usual causes, and what
-- this script does about each:
--   * The bridge's MAC: a bridge takes the lowest MAC of its ports and changes
--     it as ports come and go, so the LAN's ARP caches point at a MAC that
--     moved. br0 is created with the NIC's MAC, and keeps it.
--   * The default route vanishes: when a NIC loses its last address the kernel
--     flushes every route through it, default route included, and does not put
--     it back. Routes are removed first (journaled, with their inverse), then
--     the addresses; on the bridge, addresses go first, then routes.
--   * rp_filter: strict reverse-path filtering is fine as long as the routes
--     and the addresses are on the same device (br0). It is set on br0 and in
--     ns1 to show it.
--   * br_netfilter: with it loaded, bridged frames go through iptables FORWARD,
--     whose policy is often DROP (Docker sets it): br0's own traffic is accepted.
--   * Wi-Fi: a NIC in client (station) mode cannot be bridged. Use a wired one.
--
-- By default the "physical NIC" and its LAN are simulated (simulate=true): a
-- veth nic0 whose other end is in an `upstream` namespace holding the gateway,
-- configured first (address, default route) as a real NIC would be. That is
-- what `lunet --sandbox up bridge-physical-nic` and the tests use. On a real
-- machine, with a wired NIC, a free address on its LAN, a console (the host's
-- connectivity goes through br0 while this is up) and no DHCP client or
-- network manager about to put the NIC's address back behind our back:
--
--   lunet up bridge-physical-nic --set simulate=false --set nic=eth0 \
--     --set ns_addr=192.168.1.250/24 --set beyond=1.1.1.1
--
-- Only IPv4 addresses and routes move; routes keep their protocol (boot, dhcp, …).
-- What cannot be restored exactly: an address comes back with "brd +" and no lifetime.

local function host(cidr)
  return (cidr:gsub("/.*", ""))
end

-- The IPv4 addresses of `dev`, in order (the primary of each subnet first).
local function inet_addrs(ns, dev)
  local out = {}
  for _, a in ipairs(ns:addrs(dev)) do
    if a.family == "inet" then
      out[#out + 1] = a.cidr
    end
  end
  return out
end

-- A route as a spec for route_add/route_del, on `dev`.
local function spec(r, dev)
  local scope = ({ global = true, link = true, host = true })[r.scope] and r.scope or nil
  return {
    to = r.to,
    via = r.via,
    dev = dev,
    table = r.table,
    metric = r.metric,
    src = r.src,
    scope = scope,
    proto = r.proto,
  }
end

local function link_info(ns, name)
  for _, l in ipairs(ns:links()) do
    if l.name == name then
      return l
    end
  end
end

return net.scenario({
  name = "bridge-physical-nic",
  description = "a NIC's addresses and routes move to a bridge that ns1 joins with its own LAN address; down puts them back",
  params = {
    simulate = true, -- simulate the NIC and its LAN (false: use the real NIC `nic`)
    nic = "nic0",
    bridge = "br0",
    ns = "ns1",
    ns_addr = "192.168.77.50/24", -- ns1's address on the LAN (on a real LAN: a free one)
    -- simulate=true only:
    upstream = "upstream",
    gateway = "192.168.77.1/24",
    nic_addr = "192.168.77.10/24",
    metric = 1000, -- of the simulated default route: above a real one, which keeps winning outside --sandbox
    beyond = "198.51.100.1", -- an address past the gateway, pinged through it ("" to skip)
  },
  requires = { "ping", "ip" },

  setup = function(p)
    local ns1 = net.ns.add(p.ns) -- first: a name already taken fails before the NIC is touched
    if p.simulate then
      -- The simulated LAN: the gateway in `upstream` (and `beyond` behind it),
      -- the NIC in the host, configured as DHCP or an admin would have.
      local upstream = net.ns.add(p.upstream)
      local nic, lan = net.host:veth(p.nic, "eth0", { peer_ns = upstream, up = true })
      lan:addr_add(p.gateway)
      if p.beyond ~= "" then
        upstream:link("lo"):addr_add(p.beyond .. "/32")
      end
      nic:addr_add(p.nic_addr)
      net.host:route_add({ to = "default", via = host(p.gateway), dev = p.nic, metric = p.metric })
    end

    -- What the NIC has now: its addresses, and the routes through it that
    -- are not the kernel's own (those come and go with the addresses).
    local nic = net.host:link(p.nic)
    local info = link_info(net.host, p.nic) or {}
    if info.master then
      error(("%s is already a port of %s"):format(p.nic, info.master))
    end
    local addrs = inet_addrs(net.host, p.nic)
    local routes = {}
    for _, r in ipairs(net.host:routes({ dev = p.nic, table = "all", family = "inet" })) do
      if r.proto ~= "kernel" and r.type == "unicast" then
        routes[#routes + 1] = r
      end
    end

    -- The bridge, wearing the NIC's MAC.
    local br = net.host:bridge(p.bridge, { mac = info.mac, up = true })
    net.host:sysctl("net.ipv4.conf." .. p.bridge .. ".rp_filter", 1)
    -- With br_netfilter loaded, frames between br0's ports pass iptables FORWARD.
    local ok, nf = pcall(net.host.sysctl, net.host, "net.bridge.bridge-nf-call-iptables")
    if ok and tostring(nf) == "1" then
      net.host:iptables({ "-I", "FORWARD", "-i", p.bridge, "-o", p.bridge, "-j", "ACCEPT" })
    end

    -- The move. Off the NIC: routes, then addresses (newest first, so that a
    -- secondary address goes before its primary). Onto the bridge: addresses,
    -- then routes. Each removal is journaled with its inverse, so `down`
    -- replays this backwards and the NIC gets everything back.
    for i = #routes, 1, -1 do
      net.host:route_del(spec(routes[i], p.nic))
    end
    for i = #addrs, 1, -1 do
      nic:addr_del(addrs[i])
    end
    nic:set({ master = br })
    for _, a in ipairs(addrs) do
      br:addr_add(a)
    end
    for _, r in ipairs(routes) do
      net.host:route_add(spec(r, p.bridge))
    end

    -- ns1 joins the LAN through the bridge, with its own address and the same gateway.
    local _, eth0 = net.host:veth("veth-" .. p.ns, "eth0", { peer_ns = ns1, master = br, up = true })
    eth0:addr_add(p.ns_addr)
    ns1:sysctl("net.ipv4.conf.all.rp_filter", 1)
    for _, r in ipairs(routes) do
      if r.to == "default" and r.via and r.table == 254 then
        ns1:route_add({ to = "default", via = r.via })
        break
      end
    end
  end,

  check = function(p, s)
    local ns1 = net.ns.get(p.ns)
    local gw
    for _, r in ipairs(net.host:routes({ dev = p.bridge, family = "inet" })) do
      if r.to == "default" then
        gw = r.via
      end
    end
    s:expect(gw, ("the default route is on %s now, via %s"):format(p.bridge, tostring(gw)))
    s:expect((link_info(net.host, p.nic) or {}).master == p.bridge, ("%s is a port of %s"):format(p.nic, p.bridge))
    local left = inet_addrs(net.host, p.nic)
    s:expect(
      #left == 0,
      ("%s has no IPv4 address left (%s has %s)"):format(
        p.nic,
        p.bridge,
        table.concat(inet_addrs(net.host, p.bridge), ", ")
      )
    )

    local route = net.host:exec({ "ip", "-o", "route", "get", gw }).stdout
    s:expect(route:find("dev " .. p.bridge .. " ", 1, true), ("the host reaches %s by %s"):format(gw, p.bridge))
    s:expect_ping(net.host, gw)
    s:expect_ping(ns1, gw)

    if p.beyond ~= "" then
      -- Past the gateway: ns1 by its default route; the host by br0's (ping -I
      -- keeps to br0, so a machine's own default route cannot stand in for it).
      s:expect_ping(ns1, p.beyond)
      local r
      for _ = 1, 3 do
        r = net.host:exec({ "ping", "-n", "-c1", "-W1", "-I", p.bridge, p.beyond }, { check = false })
        if r.code == 0 then
          break
        end
      end
      s:expect(r.code == 0, ("the host reaches %s through %s's default route"):format(p.beyond, p.bridge))
    end
  end,
})
