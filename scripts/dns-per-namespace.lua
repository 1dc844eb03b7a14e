-- Name resolution per namespace, the iproute2 way.
--
-- A network namespace has its own interfaces and routes, but files are not
-- namespaced: every namespace would read the machine's /etc/resolv.conf and
-- /etc/hosts. `ip netns exec NS` fixes that by convention: it gives each
-- program a private mount table and bind-mounts every file of
-- /etc/netns/NS/ over its twin in /etc. lunet's ns:exec and ns:spawn do the
-- same, so a namespace can have its own resolver and its own host names
-- while the machine's /etc stays untouched.

return net.scenario({
  name = "dns-per-namespace",
  description = "ns1 with its own resolv.conf and hosts under /etc/netns/ns1",
  params = {
    ns = "ns1",
    nameserver = "8.8.1.1",
    hostname = "mytest",
    address = "1.2.3.4",
  },
  requires = { "getent", "cat" },

  setup = function(p)
    local ns1 = net.ns.add(p.ns)
    ns1:resolv({ nameserver = p.nameserver }) -- /etc/netns/ns1/resolv.conf
    ns1:hosts({ [p.address] = p.hostname }) -- /etc/netns/ns1/hosts
  end,

  check = function(p, s)
    local ns1 = net.ns.get(p.ns)
    local function words(text, first)
      for line in text:gmatch("[^\n]+") do
        local w = {}
        for x in line:gmatch("%S+") do
          w[#w + 1] = x
        end
        if w[1] == first then
          return w
        end
      end
    end

    -- Inside: the resolver library reads ns1's files.
    local inside = ns1:exec({ "getent", "hosts", p.hostname }, { check = false })
    local got = inside.stdout:match("^(%S+)")
    s:expect(
      inside.code == 0 and got == p.address,
      ("inside %s, `getent hosts %s` gives %s%s"):format(
        p.ns,
        p.hostname,
        p.address,
        got == p.address and "" or (" (got %s)"):format(got or "nothing")
      )
    )
    local resolv = ns1:exec({ "cat", "/etc/resolv.conf" }).stdout
    local ns_line = words(resolv, "nameserver") or {}
    s:expect(
      ns_line[2] == p.nameserver,
      ("inside %s, /etc/resolv.conf names nameserver %s%s"):format(
        p.ns,
        p.nameserver,
        ns_line[2] == p.nameserver and "" or (" (it reads %q)"):format(resolv)
      )
    )

    -- Outside: the machine's own files, as before.
    local outside = net.host:exec({ "getent", "hosts", p.hostname }, { check = false })
    s:expect(
      outside.stdout:match("^(%S+)") ~= p.address,
      ("outside, %s does not resolve to %s"):format(p.hostname, p.address)
    )
    local host_resolv = net.host:exec({ "cat", "/etc/resolv.conf" }, { check = false }).stdout
    s:expect(host_resolv ~= resolv, "outside, /etc/resolv.conf is the machine's own")
  end,
})
