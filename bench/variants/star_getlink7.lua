-- Variant of bench/star.lua that prices a netlink round trip: the same W(N) plus 7 extra
-- `ns:link` look-ups (one RTM_GETLINK each) per host, as many as lunet already makes per host.
-- (setup time of this − setup time of star.lua) / (7 N) = the cost of one look-up.
-- Usage: STAR=bench/variants/star_getlink7.lua bench/run.sh 200
local N = tonumber(arg[1])
assert(N and N >= 1 and N == math.floor(N), "usage: lunet run star_getlink7.lua N")
local function addr(i)
  local j = i + 1
  return string.format("10.0.%d.%d/16", j // 256, j % 256)
end

local br0 = net.host:bridge("br0", { up = true })
br0:addr_add("10.0.0.1/16")
for i = 1, N do
  local h = net.ns.add("h" .. i)
  local _, eth0 = net.host:veth("veth" .. i, "eth0", { peer_ns = h, master = br0, up = true })
  eth0:addr_add(addr(i))
  h:route_add({ to = "default", via = "10.0.0.1" })
  for _ = 1, 7 do
    net.host:link("veth" .. i)
  end
end
