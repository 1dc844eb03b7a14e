#!/bin/bash
# P(N) setup with `ip -batch` (bench/ptp.lua): ONE ip process for everything done in the host
# (the gateway address on lo, namespaces, veths, host routes), plus one `ip -n pI -batch -` process per
# namespace for lo/addr/up/routes (as batch_setup.sh does for the star).
set -e; N=$1   # namespace i -> 10.(i/65536+1).((i/256)%256).(i%256)/32, as ptp_addr.sh (inline: no subshell per line)
{
  echo "addr add 169.254.1.1/32 dev lo"
  for ((i=1;i<=N;i++)); do
    echo "netns add p$i"
    echo "link add vp$i type veth peer name eth0 netns p$i"
    echo "link set vp$i up"
    printf 'route add 10.%d.%d.%d/32 dev vp%d\n' $(( i / 65536 + 1 )) $(( (i / 256) % 256 )) $(( i % 256 )) $i
  done
} | ip -batch -
for ((i=1;i<=N;i++)); do
  printf 'link set lo up\naddr add %s/32 dev eth0\nlink set eth0 up\nroute add 169.254.1.1/32 dev eth0 scope link\nroute add default via 169.254.1.1 dev eth0\n' \
    "10.$(( i / 65536 + 1 )).$(( (i / 256) % 256 )).$(( i % 256 ))" | ip -n p$i -batch -
done
