-- The star workload W(N) (see bench/README.md and bench/peers/): N namespaces h1..hN, a bridge
-- br0 10.0.0.1/16 in the namespace this script runs in; per host lo up, a veth pair with eth0
-- inside the host (up, 10.0.x.y/16) and vethI on the bridge (up), a default route via 10.0.0.1.
-- Usage: lunet run bench/star.lua N
local N = tonumber(arg[1])
assert(N and N >= 1 and N <= 65000 and N == math.floor(N), "usage: lunet run bench/star.lua N (1..65000)")

-- host i -> 10.0.((i+1)/256).((i+1)%256), as bench/peers/addr.sh
local function addr(i)
  local j = i + 1
  return string.format("10.0.%d.%d/16", j // 256, j % 256)
end

local br0 = net.host:bridge("br0", { up = true })
br0:addr_add("10.0.0.1/16")
for i = 1, N do
  local h = net.ns.add("h" .. i) -- lo comes up by default
  local _, eth0 = net.host:veth("veth" .. i, "eth0", { peer_ns = h, master = br0, up = true })
  eth0:addr_add(addr(i))
  h:route_add({ to = "default", via = "10.0.0.1" })
end
