--- lunet.addr: an address allocator for labs.
--- Hands out subnets of a pool and host addresses inside a subnet, in order,
--- so scripts need not hard-code every address.
---
---   local addr = require "lunet.addr"
---   local pool = addr.pool("10.0.0.0/16", 24)   -- /24 subnets of 10.0.0.0/16
---   local lan  = pool:next()                    -- subnet 10.0.0.0/24
---   print(lan:host())                           -- "10.0.0.1/24"
---   print(lan:host())                           -- "10.0.0.2/24"
local M = {}

local function parse4(cidr)
  local a, b, c, d, len = cidr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$")
  if not a then
    error(('lunet.addr: bad IPv4 CIDR %q (expected like "10.0.0.0/24")'):format(tostring(cidr)), 3)
  end
  a, b, c, d, len = tonumber(a), tonumber(b), tonumber(c), tonumber(d), tonumber(len)
  for _, o in ipairs({ a, b, c, d }) do
    if o > 255 then
      error(("lunet.addr: bad IPv4 CIDR %q"):format(cidr), 3)
    end
  end
  if len > 32 then
    error(("lunet.addr: bad prefix length in %q"):format(cidr), 3)
  end
  return ((a * 256 + b) * 256 + c) * 256 + d, len
end

local function fmt4(n)
  return ("%d.%d.%d.%d"):format(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
end

local function mask(len)
  return len == 0 and 0 or (0xffffffff << (32 - len)) & 0xffffffff
end

---@class lunet.Subnet
---@field network string   the network, e.g. "10.0.1.0/24"
---@field prefix integer
local Subnet = {}
Subnet.__index = Subnet
Subnet.__tostring = function(s)
  return s.network
end

--- The next free host address, in CIDR form ("10.0.1.1/24").
---@return string
function Subnet:host()
  local n = self._next
  if n >= self._last then
    error(("lunet.addr: subnet %s is full"):format(self.network), 2)
  end
  self._next = n + 1
  return fmt4(n) .. "/" .. self.prefix
end

--- The i-th host address without allocating it (1 = first host), as a plain address.
---@param i integer
---@return string
function Subnet:nth(i)
  local n = self._base + i
  if i < 1 or n >= self._last then
    error(("lunet.addr: host %d is outside %s"):format(i, self.network), 2)
  end
  return fmt4(n)
end

--- A subnet from its CIDR.
---@param cidr string
---@return lunet.Subnet
function M.subnet(cidr)
  local n, len = parse4(cidr)
  if len > 30 then
    error(("lunet.addr: %s has no room for hosts"):format(cidr), 2)
  end
  local base = n & mask(len)
  local size = 1 << (32 - len)
  return setmetatable({
    network = fmt4(base) .. "/" .. len,
    prefix = len,
    _base = base,
    _next = base + 1,
    _last = base + size - 1,
  }, Subnet)
end

---@class lunet.Pool
local Pool = {}
Pool.__index = Pool

--- The next free subnet of the pool.
---@return lunet.Subnet
function Pool:next()
  if self._next >= self._limit then
    error(("lunet.addr: pool %s is exhausted"):format(self.network), 2)
  end
  local s = M.subnet(fmt4(self._next) .. "/" .. self.sub)
  self._next = self._next + (1 << (32 - self.sub))
  return s
end

--- A pool of /`sub` subnets carved out of `cidr`.
---@param cidr string
---@param sub integer
---@return lunet.Pool
function M.pool(cidr, sub)
  local n, len = parse4(cidr)
  if type(sub) ~= "number" or sub < len or sub > 30 then
    error(("lunet.addr.pool: subnet length must be %d..30, got %s"):format(len, tostring(sub)), 2)
  end
  local base = n & mask(len)
  return setmetatable(
    { network = fmt4(base) .. "/" .. len, sub = sub, _next = base, _limit = base + (1 << (32 - len)) },
    Pool
  )
end

return M
