#!/usr/bin/env python3
"""P(N) teardown with pyroute2: the gateway address on lo, then netns.remove() each namespace (umount+unlink)."""
import sys, time
t0 = time.perf_counter()
from pyroute2 import IPRoute, netns
t1 = time.perf_counter()
N = int(sys.argv[1])
with IPRoute() as ipr:
    ipr.addr('del', index=ipr.link_lookup(ifname='lo')[0], address='169.254.1.1', prefixlen=32)
for i in range(1, N + 1):
    netns.remove(f'p{i}')
t2 = time.perf_counter()
print(f'pr2td import_ms={(t1-t0)*1000:.1f} api_ms={(t2-t1)*1000:.1f}', file=sys.stderr)
