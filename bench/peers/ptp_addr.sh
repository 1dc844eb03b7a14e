# P(N): namespace i -> 10.(i/65536+1).((i/256)%256).(i%256) (a /32), as bench/ptp.lua
ptp_addr() { local i=$1; echo "10.$(( i / 65536 + 1 )).$(( (i / 256) % 256 )).$(( i % 256 ))"; }
