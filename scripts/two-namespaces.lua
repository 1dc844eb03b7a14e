-- Seed 001: two namespaces, "left" and "right", each with a veth whose other
-- end is a port of the bridge br0 in the host namespace. The two sides are on
-- different subnets of one L2 segment, so each routes the other's subnet out
-- of its own veth: they reach each other across br0 with no router.

return net.scenario({
  name = "two-namespaces",
  description = "left and right namespaces joined by a bridge",
  params = {
    left = "left",
    right = "right",
    bridge = "br0",
    left_addr = "10.0.1.1/24",
    right_addr = "10.0.0.1/24",
  },
  requires = { "ping" },

  setup = function(p)
    local left = net.ns.add(p.left)
    local right = net.ns.add(p.right)
    local br = net.host:bridge(p.bridge, { up = true })

    -- Each peer ("eth0") is created directly inside its namespace; the near end joins the bridge.
    local _, l = net.host:veth("veth-" .. p.left, "eth0", { peer_ns = left, master = br, up = true })
    local _, r = net.host:veth("veth-" .. p.right, "eth0", { peer_ns = right, master = br, up = true })
    l:addr_add(p.left_addr)
    r:addr_add(p.right_addr)

    -- The other subnet is on-link: reach it straight out of eth0.
    local addr = require("lunet.addr")
    left:route_add({ to = addr.subnet(p.right_addr).network, dev = "eth0" })
    right:route_add({ to = addr.subnet(p.left_addr).network, dev = "eth0" })
  end,

  check = function(p, s)
    local host = function(cidr)
      return (cidr:gsub("/.*", ""))
    end
    s:expect_ping(net.ns.get(p.left), host(p.right_addr))
    s:expect_ping(net.ns.get(p.right), host(p.left_addr))
  end,
})
