#!/bin/bash
# P(N) teardown with one `ip -batch` process
set -e; N=$1
{ for ((i=1;i<=N;i++)); do echo "netns del p$i"; done; echo "addr del 169.254.1.1/32 dev lo"; } | ip -batch -
