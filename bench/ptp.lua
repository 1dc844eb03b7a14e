-- The point-to-point workload P(N) (see bench/README.md and bench/peers/ptp_*): N namespaces
-- p1..pN, each joined to the host (the namespace this script runs in) by its own veth, no bridge:
--   host:   the gateway address 169.254.1.1/32 on `lo`, once (the host answers ARP for it
--           on every vpI: no address per veth); per namespace the veth end `vpI` (up) and a
--           host route 10.a.b.c/32 dev vpI back to the namespace;
--   inside: lo up, `eth0` (up) with 10.a.b.c/32, a link-scope route 169.254.1.1 dev eth0 and
--           a default route via 169.254.1.1 dev eth0.
-- Namespace i gets 10.(i/65536 + 1).((i/256)%256).(i%256): N up to 65535·… fits.
-- Usage: lunet run bench/ptp.lua N
local N = tonumber(arg[1])
assert(N and N >= 1 and N <= 65000 and N == math.floor(N), "usage: lunet run bench/ptp.lua N (1..65000)")

local function addr(i)
  return string.format("10.%d.%d.%d", i // 65536 + 1, (i // 256) % 256, i % 256)
end

net.host:link("lo"):addr_add("169.254.1.1/32")
for i = 1, N do
  local p = net.ns.add("p" .. i) -- lo comes up by default
  local vp, eth0 = net.host:veth("vp" .. i, "eth0", { peer_ns = p, up = true })
  local a = addr(i)
  eth0:addr_add(a .. "/32")
  p:route_add({ to = "169.254.1.1/32", dev = "eth0", scope = "link" })
  p:route_add({ to = "default", via = "169.254.1.1", dev = "eth0" })
  net.host:route_add({ to = a .. "/32", dev = vp.name })
end
