--- lunet.pretty: values as people want to read them. Lists of records (links,
--- addresses, routes) become aligned tables like `ip -br`; other tables are
--- shown nested, with cycles marked; lunet objects use their `__tostring`.
---
---   local pretty = require "lunet.pretty"
---   print(pretty.format(net.host:links()))
local M = {}

-- Columns in the order `ip` shows them; others follow alphabetically.
local ORDER = {
  "name",
  "index",
  "kind",
  "up",
  "mtu",
  "mac",
  "master",
  "peer",
  "peer_index",
  "to",
  "via",
  "dev",
  "family",
  "cidr",
  "table",
  "metric",
  "src",
  "scope",
  "proto",
  "type",
  "priority",
  "from",
  "iif",
  "fwmark",
  "action",
  "code",
  "signal",
  "stdout",
  "stderr",
}
local RANK = {}
for i, k in ipairs(ORDER) do
  RANK[k] = i
end

local function scalar(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean" or t == "nil"
end

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then
      return false
    end
    n = n + 1
  end
  return n == #t
end

--- Whether `t` is a non-empty list of flat records (every value scalar).
local function records(t)
  if type(t) ~= "table" or getmetatable(t) or #t == 0 or not is_array(t) then
    return nil
  end
  local keys, seen = {}, {}
  for _, r in ipairs(t) do
    if type(r) ~= "table" or getmetatable(r) or #r > 0 then
      return nil
    end
    for k, v in pairs(r) do
      if type(k) ~= "string" or not scalar(v) then
        return nil
      end
      if not seen[k] then
        seen[k] = true
        keys[#keys + 1] = k
      end
    end
  end
  table.sort(keys, function(a, b)
    local ra, rb = RANK[a] or 1000, RANK[b] or 1000
    if ra ~= rb then
      return ra < rb
    end
    return a < b
  end)
  return keys
end

local function cell(v)
  if v == nil then
    return "-"
  end
  local s = tostring(v):gsub("\n", "\\n")
  if #s > 40 then
    s = s:sub(1, 37) .. "..."
  end
  return s
end

--- A list of records as aligned columns (keys present in no record are not shown).
---@param list table[]
---@param keys string[]
---@return string
function M.columns(list, keys)
  local width = {}
  for i, k in ipairs(keys) do
    width[i] = #k
  end
  local rows = {}
  for r, rec in ipairs(list) do
    rows[r] = {}
    for i, k in ipairs(keys) do
      local c = cell(rec[k])
      rows[r][i] = c
      if #c > width[i] then
        width[i] = #c
      end
    end
  end
  local out = {}
  local function line(cells)
    local parts = {}
    for i, c in ipairs(cells) do
      parts[i] = i == #cells and c or c .. string.rep(" ", width[i] - #c)
    end
    out[#out + 1] = table.concat(parts, "  ")
  end
  line(keys)
  for _, r in ipairs(rows) do
    line(r)
  end
  return table.concat(out, "\n")
end

local function key_repr(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return k
  end
  return "[" .. (type(k) == "string" and ("%q"):format(k) or tostring(k)) .. "]"
end

local function nested(v, indent, seen)
  if type(v) == "string" then
    return ("%q"):format(v)
  end
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__tostring then
    return tostring(v)
  end
  if seen[v] then
    return "<cycle>"
  end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do
    keys[#keys + 1] = k
  end
  if #keys == 0 then
    seen[v] = nil
    return "{}"
  end
  local n = #v
  table.sort(keys, function(a, b)
    local ia, ib = math.type(a) == "integer", math.type(b) == "integer"
    if ia ~= ib then
      return ia
    end
    if ia then
      return a < b
    end
    return tostring(a) < tostring(b)
  end)
  local pad = string.rep("  ", indent + 1)
  local parts = {}
  for _, k in ipairs(keys) do
    local val = nested(v[k], indent + 1, seen)
    if math.type(k) == "integer" and k >= 1 and k <= n then
      parts[#parts + 1] = pad .. val
    else
      parts[#parts + 1] = pad .. key_repr(k) .. " = " .. val
    end
  end
  seen[v] = nil
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. string.rep("  ", indent) .. "}"
end

--- A value as text: record lists as columns, tables nested, the rest via tostring.
---@param v any
---@return string
function M.format(v)
  local keys = records(v)
  if keys then
    return M.columns(v, keys)
  end
  return nested(v, 0, {})
end

--- Prints each value with `format`.
function M.print(...)
  for i = 1, select("#", ...) do
    print(M.format((select(i, ...))))
  end
end

return M
