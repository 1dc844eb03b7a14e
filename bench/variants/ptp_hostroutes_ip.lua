-- Diagnostic variant of bench/ptp.lua: the same P(N), but the N host routes (10.a.b.c/32 dev vpI)
-- are added at the end by ONE `ip -batch` process instead of N `net.host:route_add` calls.
-- Why: before adding a route to a namespace lunet did not make (the host), lunet dumps that
-- namespace's main table to see whether the route is already there (ownership: API.md), and
-- the host's table holds one route per namespace already made, so P(N)'s setup is O(N²).
-- These routes are not journaled (they go with their veths anyway).
-- Usage: PTP=bench/variants/ptp_hostroutes_ip.lua bench/run.sh --scale 500 2000
--        (PTP_IPV6_OFF=1 in the environment: with IPv6 off on the new links)
local N = tonumber(arg[1])
assert(N and N >= 1 and N <= 65000 and N == math.floor(N), "usage: lunet run ptp_hostroutes_ip.lua N")

local function addr(i)
  return string.format("10.%d.%d.%d", i // 65536 + 1, (i // 256) % 256, i % 256)
end

-- PTP_IPV6_OFF=1: also IPv6 off on new links, as variants/ptp_ipv6_off.lua.
local v6off = os.getenv("PTP_IPV6_OFF") == "1"
if v6off then net.host:sysctl("net.ipv6.conf.default.disable_ipv6", 1) end
net.host:link("lo"):addr_add("169.254.1.1/32")
local batch = {}
for i = 1, N do
  local p = net.ns.add("p" .. i)
  if v6off then p:sysctl("net.ipv6.conf.default.disable_ipv6", 1) end
  local _, eth0 = net.host:veth("vp" .. i, "eth0", { peer_ns = p, up = true })
  local a = addr(i)
  eth0:addr_add(a .. "/32")
  p:route_add({ to = "169.254.1.1/32", dev = "eth0", scope = "link" })
  p:route_add({ to = "default", via = "169.254.1.1", dev = "eth0" })
  batch[#batch + 1] = string.format("route add %s/32 dev vp%d\n", a, i)
end
net.host:exec({ "ip", "-batch", "-" }, { stdin = table.concat(batch) })
