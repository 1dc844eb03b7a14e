-- Variant of bench/star.lua: IPv6 off, with the `default` disable_ipv6 sysctl once on the
-- bridge side and `net.ns.add(name, { ipv6 = false })` for every host (set while the namespace
-- is made, before the links exist): no IPv6 traffic at all.
-- Usage: STAR=bench/variants/star_ipv6_off.lua bench/run.sh 200 500
local N = tonumber(arg[1])
assert(N and N >= 1 and N == math.floor(N), "usage: lunet run star_ipv6_off.lua N")
local function addr(i)
  local j = i + 1
  return string.format("10.0.%d.%d/16", j // 256, j % 256)
end

net.host:sysctl("net.ipv6.conf.default.disable_ipv6", 1)
local br0 = net.host:bridge("br0", { up = true })
br0:addr_add("10.0.0.1/16")
for i = 1, N do
  local h = net.ns.add("h" .. i, { ipv6 = false })
  local _, eth0 = net.host:veth("veth" .. i, "eth0", { peer_ns = h, master = br0, up = true })
  eth0:addr_add(addr(i))
  h:route_add({ to = "default", via = "10.0.0.1" })
end
