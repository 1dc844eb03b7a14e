-- Seed 000: an sshd of its own inside a namespace. ns1 and ns2 are joined by
-- a veth; an sshd runs in ns1, listening on ns1's address only, with its own
-- host key, its own config and its own authorized_keys; ns2 logs in with a
-- key made for the occasion and runs a command that shows it landed in ns1.
--
-- Nothing of the machine's ssh is touched: not /etc/ssh, not its sshd, not
-- /run/sshd. Everything lives in /etc/netns/NS/ssh, which `ip netns exec`
-- (and lunet) bind over /etc/ssh for programs run in NS. Each file is written
-- with ns:etc, so `lunet down` removes exactly those files (and the
-- directories lunet made for them), nothing else.
--
--   lunet --sandbox up sshd-per-namespace
--   ip netns exec ns2 ssh 1.1.1.1 hostname     # while it is up (no --sandbox)

-- The address without its prefix length.
local function host(cidr)
  return (cidr:gsub("/.*", ""))
end

-- A fresh ed25519 key pair, made in a private temporary directory: private, public.
local function keypair(comment)
  local dir = net.host:exec({ "mktemp", "-d" }).stdout:gsub("%s+$", "")
  net.host:exec({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", dir .. "/key" })
  local function read(f)
    local h = assert(io.open(dir .. "/" .. f))
    local text = h:read("a")
    h:close()
    return text
  end
  local private, public = read("key"), read("key.pub")
  net.host:exec({ "rm", "-rf", dir })
  return private, public
end

return net.scenario({
  name = "sshd-per-namespace",
  description = "an sshd of its own in ns1 (own key, config, listener), logged into from ns2",
  params = {
    ns1 = "ns1",
    ns2 = "ns2",
    addr1 = "1.1.1.1/10",
    addr2 = "1.1.1.2/10",
    port = 22,
    user = "root", -- who ns2 logs in as (its account must not be locked: sshd runs with UsePAM no)
  },
  requires = { "sshd", "ssh", "ssh-keygen", "ss" },

  setup = function(p)
    local ns1, ns2 = net.ns.add(p.ns1), net.ns.add(p.ns2)
    local a, b = ns1:veth("eth0", "eth0", { peer_ns = ns2, up = true })
    a:addr_add(p.addr1)
    b:addr_add(p.addr2)

    -- /etc/netns/ns1/ssh is ns1's /etc/ssh (and ns2's for ns2).
    local srv = "/etc/netns/" .. p.ns1 .. "/ssh"
    local cli = "/etc/netns/" .. p.ns2 .. "/ssh"

    -- A host key for this sshd alone, and a key pair for the client in ns2.
    local hostkey, hostpub = keypair("sshd in " .. p.ns1)
    ns1:etc("ssh/ssh_host_ed25519_key", hostkey, { mode = "600" })
    ns1:etc("ssh/ssh_host_ed25519_key.pub", hostpub)
    local clikey, clipub = keypair("client in " .. p.ns2)
    ns2:etc("ssh/id_ed25519", clikey, { mode = "600" })
    ns2:etc("ssh/id_ed25519.pub", clipub)
    ns1:etc("ssh/authorized_keys", clipub, { mode = "600" })
    -- Made empty now, so that they are lunet's and go at down with the rest.
    ns1:etc("ssh/sshd.log", "", { mode = "600" })
    ns1:etc("ssh/sshd.pid", "")

    -- Paths are spelled in full (/etc/netns/…): they hold inside ns1 and out.
    -- ListenAddress keeps this sshd off every other address; PidFile keeps it
    -- off the machine's sshd's pid file; UsePAM no keeps PAM's session modules
    -- (loginuid, motd) out of a lab.
    ns1:etc(
      "ssh/sshd_config",
      table.concat({
        "ListenAddress " .. host(p.addr1) .. ":" .. p.port,
        "HostKey " .. srv .. "/ssh_host_ed25519_key",
        "PidFile " .. srv .. "/sshd.pid",
        "AuthorizedKeysFile " .. srv .. "/authorized_keys",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PrintMotd no",
        "",
      }, "\n")
    )

    -- ns2's /etc/ssh/ssh_config: inside ns2, plain `ssh 1.1.1.1` uses the new
    -- key and does not learn the lab's throw-away host key.
    ns2:etc(
      "ssh/ssh_config",
      table.concat({
        "Host *",
        "  User " .. p.user,
        "  IdentityFile " .. cli .. "/id_ed25519",
        "  StrictHostKeyChecking no",
        "  UserKnownHostsFile /dev/null",
        "  LogLevel ERROR",
        "",
      }, "\n")
    )

    -- sshd insists on its privilege-separation directory, /run/sshd, which only
    -- exists while the machine's own sshd runs. Every program lunet starts in a
    -- namespace has a mount namespace of its own, so when it is missing this sshd
    -- gets a tmpfs over /run that only it sees: nothing is left behind on the machine.
    local prep =
      "[ -d /run/sshd ] || { mount -t tmpfs -o mode=755,size=1m lunet-sshd /run && mkdir -m 755 /run/sshd; }; "
    local sshd = "/usr/sbin/sshd -f " .. srv .. "/sshd_config"
    ns1:sh(prep .. sshd .. " -t") -- a bad config fails here, with sshd's own words
    -- -D: stay in the foreground (lunet ends it at down); -E: its log, beside its config.
    ns1:spawn({ "sh", "-c", ("%sexec %s -D -E %s/sshd.log"):format(prep, sshd, srv) })
  end,

  check = function(p, s)
    local ns1, ns2 = net.ns.get(p.ns1), net.ns.get(p.ns2)
    local a1, a2 = host(p.addr1), host(p.addr2)
    local listen = ("%s:%d"):format(a1, p.port)
    s:expect_tcp(ns2, a1, p.port) -- waits for sshd to be up

    -- The listener is in ns1, and only there.
    local function listening(ns)
      for line in ns:exec({ "ss", "-Hltn" }).stdout:gmatch("[^\n]+") do
        if line:find(listen, 1, true) then
          return true
        end
      end
      return false
    end
    s:expect(listening(ns1), ("ss -ltn in %s shows %s"):format(p.ns1, listen))
    s:expect(not listening(net.host), ("the host namespace has no listener on %s"):format(listen))

    -- Log in from ns2 with the generated key and look around: the command runs in ns1.
    local cli = "/etc/netns/" .. p.ns2 .. "/ssh"
    local r = ns2:exec({
      "ssh",
      "-i",
      cli .. "/id_ed25519",
      "-p",
      p.port,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=5",
      "-o",
      "LogLevel=ERROR",
      p.user .. "@" .. a1,
      "ip -f inet addr show",
    }, { check = false, timeout = 15 })
    if r.code ~= 0 then
      local log = net.host:exec({ "cat", "/etc/netns/" .. p.ns1 .. "/ssh/sshd.log" }, { check = false }).stdout
      error(
        ("check failed: ssh from %s to %s exited with %s: %s\n--- sshd log:\n%s"):format(
          p.ns2,
          a1,
          tostring(r.code),
          r.stderr,
          log
        )
      )
    end
    s:expect(
      r.stdout:find("inet " .. p.addr1, 1, true),
      ("ssh from %s runs `ip -f inet addr show` in %s: it sees %s"):format(p.ns2, p.ns1, p.addr1)
    )
    s:expect(not r.stdout:find("inet " .. a2 .. "/", 1, true), ("... and not %s's own %s"):format(p.ns2, a2))
  end,
})
