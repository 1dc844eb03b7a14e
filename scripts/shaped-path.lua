-- A program on a slow path: two namespaces joined by a cable shaped to a
-- rate in both directions (like Mininet's TCLink(bw=…) or containerlab's
-- `tools netem set`), and iperf3 checking that what gets through is the rate
-- asked for. The shape is an ordinary lunet change: `lunet plan` prints it as
-- `tc qdisc replace … root tbf …`, and `down` takes it off with the rest.
--
--   client eth0 ===== 20mbit each way ===== eth0 server
--                      10.0.9.0/24
--
-- Try --set rate=100mbit, or --set delay=20ms (needs a kernel with sch_netem).

local topo = require("lunet.topo")

local function host(cidr)
  return (cidr:gsub("/.*", ""))
end

return net.scenario({
  name = "shaped-path",
  description = "client and server on a rate-limited link: iperf3 measures the shaped rate (±15 %)",
  params = {
    client = "client",
    server = "server",
    client_addr = "10.0.9.1/24",
    server_addr = "10.0.9.2/24",
    rate = "20mbit", -- each way
    delay = "", -- e.g. "20ms": adds netem (kernel module sch_netem)
    port = 5201,
    seconds = 2, -- per measurement
  },
  requires = { "iperf3", "ss" },

  setup = function(p)
    local shape = { rate = p.rate }
    if p.delay ~= "" then
      shape.delay = p.delay
    end
    local t = topo.build({
      nodes = { p.client, p.server },
      links = {
        {
          a = p.client,
          b = p.server,
          addr = p.client_addr,
          peer_addr = p.server_addr,
          shape = shape,
          peer_shape = shape,
        },
      },
    })
    t.nodes[p.server]:spawn({ "iperf3", "-s", "-B", host(p.server_addr), "-p", p.port })
  end,

  check = function(p, s)
    local client, server = net.ns.get(p.client), net.ns.get(p.server)
    -- What the kernel holds, read back: the rate we compare against.
    local shaped = client:link("eth0"):info().shape
    s:expect(shaped and shaped.rate, "client's eth0 is shaped")
    local want = shaped.rate

    local listening = false
    for _ = 1, 50 do
      if server:exec({ "ss", "-Hltn" }).stdout:find(host(p.server_addr) .. ":" .. p.port, 1, true) then
        listening = true
        break
      end
      server:exec({ "sleep", "0.1" })
    end
    s:expect(listening, ("iperf3 listens in %s"):format(p.server))

    -- A busy machine can starve iperf3, which then measures less than the link lets
    -- through (never more): up to three tries, and the best one counts.
    local got
    for _ = 1, 3 do
      local r = client:exec(
        { "iperf3", "-c", host(p.server_addr), "-p", p.port, "-t", p.seconds, "-J" },
        { check = false, timeout = p.seconds + 15 }
      )
      local this = tonumber(r.stdout:match('"sum_received"%s*:%s*{.-"bits_per_second"%s*:%s*([%d%.eE%+%-]+)'))
      s:expect(
        r.code == 0 and this,
        r.code == 0 and "iperf3 ran" or ("iperf3 failed: " .. (r.stdout:match('"error"%s*:%s*"([^"]*)"') or r.stderr))
      )
      got = math.max(got or this, this)
      if math.abs(got - want) <= 0.15 * want then
        break
      end
    end
    s:expect(
      math.abs(got - want) <= 0.15 * want,
      ("measured %.1f Mbit/s on a link shaped to %.1f Mbit/s (within 15 %%)"):format(got / 1e6, want / 1e6)
    )
  end,
})
