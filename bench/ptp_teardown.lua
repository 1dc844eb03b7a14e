-- Tears down the point-to-point workload P(N) built by bench/ptp.lua: the gateway address on
-- lo first (before the kernel starts freeing namespaces, which holds the RTNL lock for long
-- stretches), then p1..pN as one batch (each veth goes with its namespace, the host routes
-- with the veths). `lunet down` orders a teardown the same way by itself.
-- Usage: lunet run bench/ptp_teardown.lua N
local N = tonumber(arg[1])
assert(N and N >= 1 and N == math.floor(N), "usage: lunet run bench/ptp_teardown.lua N")

net.host:link("lo"):addr_del("169.254.1.1/32")
local names = {}
for i = 1, N do
  names[i] = "p" .. i
end
net.ns.delete(names)
