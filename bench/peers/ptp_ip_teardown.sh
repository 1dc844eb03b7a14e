#!/bin/bash
# P(N) teardown with plain `ip`: deleting a netns destroys its veth (and the host route with it)
set -e; N=$1
for ((i=1;i<=N;i++)); do ip netns del p$i; done
ip addr del 169.254.1.1/32 dev lo
