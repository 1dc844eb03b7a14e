#!/usr/bin/env python3
"""P(N) setup with pyroute2 0.9.x (NetNS/IPRoute API), as bench/ptp.lua.
Prints in-script ms (excluding interpreter start) on stderr."""
import sys, time
t0 = time.perf_counter()
from pyroute2 import IPRoute, NetNS
t1 = time.perf_counter()
N = int(sys.argv[1])
def addr(i): return f'10.{i // 65536 + 1}.{(i // 256) % 256}.{i % 256}'
with IPRoute() as ipr:
    lo = ipr.link_lookup(ifname='lo')[0]
    ipr.addr('add', index=lo, address='169.254.1.1', prefixlen=32)
    for i in range(1, N + 1):
        name = f'p{i}'
        a = addr(i)
        with NetNS(name) as ns:          # creates /run/netns/pI (flags=O_CREAT) + an RTNL socket inside it
            ipr.link('add', ifname=f'vp{i}', kind='veth',
                     peer={'ifname': 'eth0', 'net_ns_fd': name})
            vp = ipr.link_lookup(ifname=f'vp{i}')[0]
            ipr.link('set', index=vp, state='up')
            ipr.route('add', dst=f'{a}/32', oif=vp)
            ns.link('set', ifname='lo', state='up')
            idx = ns.link_lookup(ifname='eth0')[0]
            ns.addr('add', index=idx, address=a, prefixlen=32)
            ns.link('set', index=idx, state='up')
            ns.route('add', dst='169.254.1.1/32', oif=idx, scope=253)   # scope link
            ns.route('add', dst='default', gateway='169.254.1.1', oif=idx)
t2 = time.perf_counter()
print(f'pr2 import_ms={(t1-t0)*1000:.1f} api_ms={(t2-t1)*1000:.1f}', file=sys.stderr)
