-- A light container: a network namespace plus PID, mount and UTS namespaces.
--
-- A container is not one kernel object but a process placed in several
-- namespaces at once. Here the node gets its own network (a veth to the
-- host), its own PID numbering (its init is PID 1 and sees no other
-- process of the machine), its own mount table (with its own /proc, so `ps`
-- shows that PID namespace) and its own hostname. This is what
-- `ip netns exec NODE unshare --pid --fork --mount-proc --uts` builds.

local function ip(cidr)
  return (cidr:gsub("/.*", ""))
end

-- The node's init. PID 1 is special: the kernel delivers it only the signals
-- it has a handler for, so an init that forgets to trap TERM cannot be
-- stopped politely. This one traps TERM and waits on a child; when PID 1
-- exits, the kernel kills everything else in its PID namespace.
local INIT = "trap 'exit 0' TERM; sleep infinity & wait"

return net.scenario({
  name = "container",
  description = "node1: own network, PID, mount and UTS namespaces, a veth to the host",
  params = {
    node = "node1", -- namespace name and hostname
    host_if = "veth-node1",
    node_if = "eth0",
    host_addr = "10.2.0.1/24",
    node_addr = "10.2.0.2/24",
  },
  requires = { "sh", "sleep", "nsenter", "ps", "hostname", "ping" },

  setup = function(p)
    local node = net.ns.add(p.node)
    local host_end, node_end = net.host:veth(p.host_if, p.node_if, { peer_ns = node, up = true })
    host_end:addr_add(p.host_addr)
    node_end:addr_add(p.node_addr)

    -- unshare --pid --fork --mount-proc --uts: the init runs as PID 1 of a new
    -- PID namespace, with /proc remounted and the hostname set to the node's name.
    node:spawn({ "sh", "-c", INIT }, { pid = true, mount = true, uts = p.node })
  end,

  check = function(p, s)
    local node = net.ns.get(p.node)

    -- Find the init among the node's processes: /proc/PID/status lists a
    -- process's pid in each PID namespace it is in, outermost first
    -- ("NSpid: 4242 1" is pid 4242 here and pid 1 inside).
    local init
    for _, pid in ipairs(node:pids()) do
      local f = io.open(("/proc/%d/status"):format(pid))
      local status = f and f:read("a") or ""
      if f then
        f:close()
      end
      local nspid = status:match("\nNSpid:%s*([^\n]*)")
      if nspid and nspid:match("%s1%s*$") then
        init = pid
      end
    end
    s:expect(
      init,
      "the node's init runs as PID 1 of its own PID namespace"
        .. (init and (" (pid %d out here)"):format(init) or (": none of %s's processes is"):format(p.node))
    )

    -- Look inside the way `docker exec` does: nsenter joins the init's
    -- namespaces, and what runs there sees the node's world.
    local function inside(cmd)
      local argv = { "nsenter", "-t", tostring(init), "-n", "-p", "-m", "-u", "--" }
      for _, w in ipairs(cmd) do
        argv[#argv + 1] = w
      end
      return net.host:exec(argv).stdout
    end

    local procs = {}
    for pid, comm in inside({ "ps", "-e", "-o", "pid=,comm=" }):gmatch("(%d+)%s+(%S+)") do
      procs[#procs + 1] = pid .. " " .. comm
    end
    local seen = table.concat(procs, ", ")
    s:expect(procs[1] == "1 sh", ("inside, PID 1 is the init (ps: %s)"):format(seen))
    -- Only the init, its sleep, and ps itself: no process of the machine.
    local others = {}
    for _, pc in ipairs(procs) do
      local comm = pc:match("%S+$")
      if comm ~= "sh" and comm ~= "sleep" and comm ~= "ps" then
        others[#others + 1] = pc
      end
    end
    s:expect(#procs == 3 and #others == 0, ("inside, ps sees only the node's processes (ps: %s)"):format(seen))

    local hostname = inside({ "hostname" }):gsub("%s+$", "")
    s:expect(
      hostname == p.node,
      ("inside, the hostname is %s%s"):format(p.node, hostname == p.node and "" or (" (got %q)"):format(hostname))
    )
    local outside = net.host:exec({ "hostname" }).stdout:gsub("%s+$", "")
    s:expect(outside ~= p.node, ("outside, the hostname is still %s"):format(outside))

    -- And the node is on the network: the host and the node reach each other.
    s:expect_ping(node, ip(p.host_addr))
    s:expect_ping(net.host, ip(p.node_addr))
  end,
})
