-- Variant of bench/ptp.lua: IPv6 off, with the `default` disable_ipv6 sysctl once in the host
-- and `net.ns.add(name, { ipv6 = false })` for every namespace (all and default disable_ipv6,
-- set while the namespace is made, before its eth0 exists): no IPv6 addresses, DAD, MLD or
-- router solicitations at all.
-- Usage: lunet run bench/variants/ptp_ipv6_off.lua N   (run.sh: method lunet-v6off)
local N = tonumber(arg[1])
assert(N and N >= 1 and N <= 65000 and N == math.floor(N), "usage: lunet run ptp_ipv6_off.lua N")

local function addr(i)
  return string.format("10.%d.%d.%d", i // 65536 + 1, (i // 256) % 256, i % 256)
end

net.host:sysctl("net.ipv6.conf.default.disable_ipv6", 1)
net.host:link("lo"):addr_add("169.254.1.1/32")
for i = 1, N do
  local p = net.ns.add("p" .. i, { ipv6 = false })
  local vp, eth0 = net.host:veth("vp" .. i, "eth0", { peer_ns = p, up = true })
  local a = addr(i)
  eth0:addr_add(a .. "/32")
  p:route_add({ to = "169.254.1.1/32", dev = "eth0", scope = "link" })
  p:route_add({ to = "default", via = "169.254.1.1", dev = "eth0" })
  net.host:route_add({ to = a .. "/32", dev = vp.name })
end
