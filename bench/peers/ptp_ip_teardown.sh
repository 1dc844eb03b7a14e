#!/bin/bash
# P(N) teardown with plain `ip`: the gateway address on lo first (before the kernel starts
# freeing namespaces, which holds the RTNL lock), then the namespaces (deleting a netns
# destroys its veth, and the host route with it)
set -e; N=$1
ip addr del 169.254.1.1/32 dev lo
for ((i=1;i<=N;i++)); do ip netns del p$i; done
