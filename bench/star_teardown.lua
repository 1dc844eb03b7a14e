-- Tears down the star workload W(N) built by bench/star.lua: deletes h1..hN as one batch
-- (each veth pair goes with its namespace), then br0.
-- Usage: lunet run bench/star_teardown.lua N
local N = tonumber(arg[1])
assert(N and N >= 1 and N == math.floor(N), "usage: lunet run bench/star_teardown.lua N")

local names = {}
for i = 1, N do
  names[i] = "h" .. i
end
net.ns.delete(names)
net.host:link("br0"):delete()
