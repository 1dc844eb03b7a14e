-- Tears down the point-to-point workload P(N) built by bench/ptp.lua: deletes p1..pN (each
-- veth goes with its namespace, the host routes with the veths), then the gateway address on lo.
-- Usage: lunet run bench/ptp_teardown.lua N
local N = tonumber(arg[1])
assert(N and N >= 1 and N == math.floor(N), "usage: lunet run bench/ptp_teardown.lua N")

for i = 1, N do
  net.ns.delete("p" .. i)
end
net.host:link("lo"):addr_del("169.254.1.1/32")
