-- A namespace and a veth pair: the smallest useful lab.
--
-- A new network namespace starts with nothing but a loopback device: no
-- interfaces, no addresses, no routes. A veth pair is a virtual cable: what
-- goes in one end comes out of the other. Put one end inside the namespace
-- and keep the other in the host, give both ends an address on one subnet,
-- and the two can talk, while each keeps its own routing table.

local function ip(cidr)
  return (cidr:gsub("/.*", ""))
end

return net.scenario({
  name = "veth-pair",
  description = "namespace blue joined to the host by a veth pair",
  params = {
    ns = "blue",
    host_if = "veth0",
    ns_if = "veth1",
    host_addr = "10.1.1.2/24",
    ns_addr = "10.1.1.1/24",
  },
  requires = { "ping" },

  setup = function(p)
    local blue = net.ns.add(p.ns) -- ip netns add blue (and lo up)

    -- The peer is created directly inside blue: no "create here, then move".
    local host_end, ns_end = net.host:veth(p.host_if, p.ns_if, { peer_ns = blue, up = true })

    -- An address with a prefix also adds the "connected" route for its subnet:
    -- each side learns that 10.1.1.0/24 is reached straight out of its own end.
    ns_end:addr_add(p.ns_addr)
    host_end:addr_add(p.host_addr)
  end,

  check = function(p, s)
    local blue = net.ns.get(p.ns)

    -- Inside blue, its own address answers (over blue's own loopback).
    s:expect_ping(blue, ip(p.ns_addr))
    -- Across the cable, both ways.
    s:expect_ping(net.host, ip(p.ns_addr))
    s:expect_ping(blue, ip(p.host_addr))

    -- Two routing tables: blue's knows only blue's interfaces. (IPv4 only:
    -- the kernel adds IPv6 link-local routes on its own time.)
    local function table_of(ns)
      local out = {}
      for _, r in ipairs(ns:routes({ family = "inet" })) do
        out[#out + 1] = r.to .. (r.via and (" via " .. r.via) or "") .. " dev " .. tostring(r.dev)
      end
      table.sort(out)
      return table.concat(out, "; ")
    end
    local mine, host = table_of(blue), table_of(net.host)
    print(("  %s: %s"):format(p.ns, mine))
    print(("  host: %s"):format(host))
    s:expect(mine ~= host, p.ns .. "'s routing table differs from the host's")
    local foreign = {}
    for _, r in ipairs(blue:routes({ family = "inet" })) do
      if r.dev ~= p.ns_if and r.dev ~= "lo" then
        foreign[#foreign + 1] = r.to .. " dev " .. tostring(r.dev)
      end
    end
    s:expect(
      #foreign == 0 and mine:find(" dev " .. p.ns_if, 1, true) ~= nil,
      ("%s routes only through its own %s%s"):format(
        p.ns,
        p.ns_if,
        #foreign == 0 and "" or (" (also: %s)"):format(table.concat(foreign, ", "))
      )
    )
  end,
})
