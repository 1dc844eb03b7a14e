#!/bin/bash
# P(N) setup with plain `ip`, one process per command (9 per namespace), `ip -n` inside
set -e; N=$1
ip addr add 169.254.1.1/32 dev lo
for ((i=1;i<=N;i++)); do
  a=10.$(( i / 65536 + 1 )).$(( (i / 256) % 256 )).$(( i % 256 ))   # as ptp_addr.sh
  ip netns add p$i
  ip link add vp$i type veth peer name eth0 netns p$i
  ip link set vp$i up
  ip route add $a/32 dev vp$i
  ip -n p$i link set lo up
  ip -n p$i addr add $a/32 dev eth0
  ip -n p$i link set eth0 up
  ip -n p$i route add 169.254.1.1/32 dev eth0 scope link
  ip -n p$i route add default via 169.254.1.1 dev eth0
done
