#!/bin/bash
# P(N) teardown with one `ip -batch` process: the gateway address first, then the namespaces
set -e; N=$1
{ echo "addr del 169.254.1.1/32 dev lo"; for ((i=1;i<=N;i++)); do echo "netns del p$i"; done; } | ip -batch -
