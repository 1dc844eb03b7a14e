-- Seed 001's use: what does a TCP proxy cost? Three namespaces in a line,
-- client -- proxy -- server. The proxy namespace is also a router, so the
-- client can reach the server directly (routed through the proxy namespace's
-- kernel) or through the proxy program listening there. iperf3 measures both.
--
--   client eth0 ---------- eth0 [proxy] eth1 ---------- eth0 server
--          10.0.1.0/24                       10.0.2.0/24
--
-- Try another proxy with --set proxy='…' ({listen}, {server} and {port} are
-- filled in), e.g. --set proxy='socat TCP-LISTEN:{port},bind={listen},fork,reuseaddr,nodelay TCP:{server}:{port},nodelay'.

local function host(cidr)
  return (cidr:gsub("/.*", ""))
end

--- Runs iperf3 from `ns` to addr:port; returns the bits per second received
--- and the address the iperf3 server saw the connection come from.
local function iperf(ns, target, port, seconds)
  local r = ns:exec(
    { "iperf3", "-c", target, "-p", port, "-t", seconds, "-J", "--get-server-output" },
    { check = false, timeout = seconds + 15 }
  )
  local bps = r.stdout:match('"sum_received"%s*:%s*{.-"bits_per_second"%s*:%s*([%d%.eE%+%-]+)')
  if r.code ~= 0 or not bps then
    local err = r.stdout:match('"error"%s*:%s*"([^"]*)"') or r.stderr
    error(("check failed: iperf3 from %s to %s:%d: %s"):format(ns.name, target, port, err), 2)
  end
  return tonumber(bps), r.stdout:match("Accepted connection from ([%x%.:]+),")
end

--- Waits until something in `ns` listens on addr:port. (Not by connecting:
--- iperf3 takes any connection for a test, and a probe that hangs up leaves
--- it busy resetting the next one.)
local function wait_listening(s, ns, addr, port)
  local want = ("%s:%d"):format(addr, port)
  for _ = 1, 50 do
    if ns:exec({ "ss", "-Hltn" }).stdout:find(want, 1, true) then
      return s:pass(("%s listens on %s"):format(ns.name, want))
    end
    ns:exec({ "sleep", "0.1" })
  end
  error(("check failed: nothing listens on %s in %s"):format(want, ns.name), 2)
end

local function gbits(bps)
  return ("%.2f Gbit/s"):format(bps / 1e9)
end

return net.scenario({
  name = "proxy-bench",
  description = "client, proxy and server in a line: iperf3 throughput direct vs. through a TCP proxy",
  params = {
    client = "client",
    proxy_ns = "proxy",
    server = "server",
    client_addr = "10.0.1.2/24",
    proxy_client_addr = "10.0.1.1/24",
    proxy_server_addr = "10.0.2.1/24",
    server_addr = "10.0.2.2/24",
    port = 5201, -- iperf3's port, on the server and on the proxy
    seconds = 1, -- per measurement
    proxy = "socat TCP-LISTEN:{port},bind={listen},fork,reuseaddr TCP:{server}:{port}",
  },
  requires = { "iperf3", "socat", "ss" },

  setup = function(p)
    local client, proxy, server = net.ns.add(p.client), net.ns.add(p.proxy_ns), net.ns.add(p.server)
    local pc, c = proxy:veth("eth0", "eth0", { peer_ns = client, up = true })
    local ps, s = proxy:veth("eth1", "eth0", { peer_ns = server, up = true })
    c:addr_add(p.client_addr)
    pc:addr_add(p.proxy_client_addr)
    ps:addr_add(p.proxy_server_addr)
    s:addr_add(p.server_addr)

    -- The proxy namespace routes between its two subnets: the direct path.
    proxy:ip_forward(true)
    client:route_add({ to = "default", via = host(p.proxy_client_addr) })
    server:route_add({ to = "default", via = host(p.proxy_server_addr) })

    server:spawn({ "iperf3", "-s", "-B", host(p.server_addr), "-p", p.port })

    -- The proxy program, on the proxy's client-side address.
    local vars = { listen = host(p.proxy_client_addr), server = host(p.server_addr), port = p.port }
    local cmd = p.proxy:gsub("{(%w+)}", function(k)
      return vars[k] and tostring(vars[k])
        or error(("proxy: unknown placeholder {%s} (use {listen}, {server}, {port})"):format(k))
    end)
    proxy:spawn(cmd)
  end,

  check = function(p, s)
    local client = net.ns.get(p.client)
    local direct_ip, proxy_ip = host(p.server_addr), host(p.proxy_client_addr)
    -- Both listeners are up (servers take a moment to start).
    wait_listening(s, net.ns.get(p.server), direct_ip, p.port)
    wait_listening(s, net.ns.get(p.proxy_ns), proxy_ip, p.port)

    -- The server tells the two paths apart: directly it sees the client's
    -- address; through the proxy, the proxy's.
    local direct, seen = iperf(client, direct_ip, p.port, p.seconds)
    s:expect(
      direct > 0 and seen == host(p.client_addr),
      ("direct, routed through %s: %s (the server sees %s)"):format(p.proxy_ns, gbits(direct), tostring(seen))
    )
    local proxied, seen2 = iperf(client, proxy_ip, p.port, p.seconds)
    s:expect(
      proxied > 0 and seen2 == host(p.proxy_server_addr),
      ("through the proxy program in %s: %s (the server sees %s)"):format(p.proxy_ns, gbits(proxied), tostring(seen2))
    )
    print(
      ("  proxy-bench: direct %s, proxied %s, proxied/direct = %.2f"):format(
        gbits(direct),
        gbits(proxied),
        proxied / direct
      )
    )
  end,
})
