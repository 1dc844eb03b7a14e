-- Seed 001: two namespaces, "left" and "right", each with a veth whose other
-- end is a port of the bridge br0 in the host namespace. Each side routes the
-- other's subnet out of its own veth, so they reach each other across br0.

local left = net.ns.add("left")
local right = net.ns.add("right")

local br0 = net.host:bridge("br0", { up = true })

-- The peer ("eth0") is created directly inside its namespace; the near end joins br0.
local _, left_eth0 = net.host:veth("veth-left", "eth0", { peer_ns = left, master = br0, up = true })
local _, right_eth0 = net.host:veth("veth-right", "eth0", { peer_ns = right, master = br0, up = true })

left_eth0:addr_add("10.0.1.1/24")
right_eth0:addr_add("10.0.0.1/24")

-- Different subnets on one L2 segment: tell each side the other is on-link.
left:route_add { to = "10.0.0.0/24", dev = "eth0" }
right:route_add { to = "10.0.1.0/24", dev = "eth0" }

local ok = os.execute("ip netns exec left ping -c1 -W2 10.0.0.1 >/dev/null")
print(ok and "left -> right: ping ok" or "left -> right: ping FAILED")
