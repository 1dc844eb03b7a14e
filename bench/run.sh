#!/usr/bin/env bash
# On-demand benchmark: build the star workload W(N) or the point-to-point workload P(N)
# (bench/README.md) with lunet, plain `ip`, `ip -batch` and pyroute2, and report the median
# setup/teardown wall time of each, side by side.
#
#   bench/run.sh [N…]          default N = 10 100 200
#   R=3 bench/run.sh 10 100    R runs of every method per N (default 5); the median is reported
#   WORKLOAD=ptp bench/run.sh 100   P(N) instead of W(N) (default WORKLOAD=star)
#   bench/run.sh --scale [N…]  P(N) at N = 500 1000 2000 5000 (R=1, METHODS="lunet-v6off lunet
#                              batch", peak RSS on): per-namespace cost and its growth with N
#
# lunet's teardown is `lunet down --all` (the journal of the setup run undone, as a user does it).
# Other knobs (environment): METHODS="lunet ip batch pyroute2" (which methods, in this order;
# also lunet-v6off: the workload's variant with IPv6 off on new links, bench/variants/*_ipv6_off.lua;
# also lunet-script: set up as lunet, torn down by the hand-written star/ptp_teardown.lua;
# also proto-MODE: the sketch in bench/proto, star only, torn down with ip -batch),
# LUNET_BIN=path (use this binary, skip `cargo build --release`), STAR=bench/star.lua and
# STAR_TEARDOWN=bench/star_teardown.lua, PTP=bench/ptp.lua and PTP_TEARDOWN=bench/ptp_teardown.lua
# (the lunet scripts: lets you time a variant), RSS=1 (peak RSS of each run via /usr/bin/time).
# Method lunet-b is an A/B partner for lunet in the same run: B_BIN (default LUNET_BIN),
# B_SCRIPT (default the lunet script) and B_TEARDOWN (default: `down --all`; else a teardown
# script), e.g. an older binary or a variant script.
# Every teardown is also timed until the sandbox is clean ("clean": only lo left, no namespace):
# `lunet down` returns when its links are gone; `ip netns del` returns before the kernel has
# removed the veths that go with the namespaces.
#
# Everything runs inside ONE throw-away sandbox (new network, mount and PID namespaces, fresh
# tmpfs on /run/netns, /etc/netns, /run/lunet): nothing is created in the machine's own
# network namespace, and all of it vanishes when the script exits, even on failure.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
PEERS=$BENCH/peers

die() { echo "bench/run.sh: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# ---------------------------------------------------------------------------------------------
# Outside: check, build, install, then re-run this script inside the sandbox.
# ---------------------------------------------------------------------------------------------
outside() {
  local n
  SCALE=0
  local -a ns=()
  for n in "$@"; do
    case $n in
      -h|--help) usage 0 ;;
      --scale) SCALE=1; continue ;;
      *[!0-9]*|'') die "N must be a positive integer, got '$n' (usage: bench/run.sh [N…])" ;;
    esac
    ((n >= 1 && n <= 60000)) || die "N must be in 1..60000, got $n"
    ns+=("$n")
  done
  WORKLOAD=${WORKLOAD:-star}
  if ((SCALE)); then
    WORKLOAD=ptp
    ((${#ns[@]})) || ns=(500 1000 2000 5000)
    R=${R:-1}
    RSS=${RSS:-1}
    METHODS=${METHODS:-lunet-v6off lunet batch}
  fi
  case $WORKLOAD in star|ptp) ;; *) die "WORKLOAD must be star or ptp, got '$WORKLOAD'" ;; esac
  RSS=${RSS:-0}
  R=${R:-5}
  [[ $R =~ ^[1-9][0-9]*$ ]] || die "R must be a positive integer, got '$R'"
  METHODS=${METHODS:-lunet ip batch pyroute2}
  local m
  for m in $METHODS; do
    case $m in
      lunet|lunet-v6off|lunet-b|lunet-script|ip|batch|pyroute2) ;;
      proto-lunet|proto-min|proto-minioctl|proto-lunet-pipe|proto-min-pipe|proto-minioctl-pipe) ;;
      *) die "unknown method '$m' in METHODS (lunet ip batch pyroute2, or proto-MODE: see bench/proto)" ;;
    esac
  done
  if [[ $WORKLOAD == ptp && " $METHODS " == *" proto-"* ]]; then die "the proto-MODE methods build W(N) only (WORKLOAD=star)"; fi

  [[ $(id -u) == 0 ]] || die "must run as root (it creates namespaces, inside a private sandbox)"
  local tool
  for tool in ip ping unshare mount timeout awk; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y iproute2 iputils-ping util-linux)"
  done

  if [[ $RSS == 1 && ! -x /usr/bin/time ]]; then
    echo "# installing GNU time for the peak RSS (apt-get install -y time)" >&2
    { command -v apt-get >/dev/null && apt-get install -y -q time >&2; } || die "cannot install GNU time (/usr/bin/time); or run with RSS=0"
  fi

  if [[ " $METHODS " == *" pyroute2 "* ]]; then
    command -v python3 >/dev/null || die "python3 not found (needed for the pyroute2 method)"
    if ! python3 -c 'import pyroute2' 2>/dev/null; then
      echo "# installing pyroute2 (python3 -m pip install pyroute2)" >&2
      python3 -m pip install -q pyroute2 >&2 || die "cannot install pyroute2 (python3 -m pip install pyroute2)"
      python3 -c 'import pyroute2' || die "pyroute2 installed but cannot be imported by $(command -v python3)"
    fi
  fi

  if [[ " $METHODS " == *" lunet"[\ -]* ]]; then
    if [[ -z ${LUNET_BIN:-} ]]; then
      command -v cargo >/dev/null || die "cargo not found (or set LUNET_BIN to a built lunet)"
      echo "# building lunet (cargo build --release)" >&2
      (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
      LUNET_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/lunet
      [[ $LUNET_BIN == /* ]] || LUNET_BIN=$REPO/$LUNET_BIN
    fi
    [[ -x $LUNET_BIN ]] || die "lunet binary not found or not executable: $LUNET_BIN"
    if [[ $WORKLOAD == star ]]; then
      SCRIPT=$(realpath "${STAR:-$BENCH/star.lua}")
      SCRIPT_TEARDOWN=$(realpath "${STAR_TEARDOWN:-$BENCH/star_teardown.lua}")
    else
      SCRIPT=$(realpath "${PTP:-$BENCH/ptp.lua}")
      SCRIPT_TEARDOWN=$(realpath "${PTP_TEARDOWN:-$BENCH/ptp_teardown.lua}")
    fi
    SCRIPT_V6OFF=$BENCH/variants/${WORKLOAD}_ipv6_off.lua
    B_BIN=${B_BIN:-$LUNET_BIN}
    B_SCRIPT=$(realpath "${B_SCRIPT:-$SCRIPT}")
    if [[ -n ${B_TEARDOWN:-} ]]; then B_TEARDOWN=$(realpath "$B_TEARDOWN"); fi
    [[ -x $B_BIN && -f $B_SCRIPT && ( -z ${B_TEARDOWN:-} || -f $B_TEARDOWN ) ]] \
      || die "lunet-b: not found: $B_BIN, $B_SCRIPT or $B_TEARDOWN"
    [[ -f $SCRIPT && -f $SCRIPT_TEARDOWN && -f $SCRIPT_V6OFF ]] \
      || die "lunet scripts not found: $SCRIPT, $SCRIPT_TEARDOWN, $SCRIPT_V6OFF"
  fi

  PROTO_BIN=
  if [[ " $METHODS " == *" proto-"* ]]; then
    echo "# building the sketch (cargo build --release in bench/proto)" >&2
    (cd "$BENCH/proto" && cargo build --release --quiet --target-dir "$BENCH/proto/target") \
      || die "cannot build bench/proto"
    PROTO_BIN=$BENCH/proto/target/release/star-proto
  fi

  export R METHODS WORKLOAD SCALE RSS LUNET_BIN="${LUNET_BIN:-}" SCRIPT="${SCRIPT:-}"
  export SCRIPT_TEARDOWN="${SCRIPT_TEARDOWN:-}" SCRIPT_V6OFF="${SCRIPT_V6OFF:-}"
  export PROTO_BIN B_BIN="${B_BIN:-}" B_SCRIPT="${B_SCRIPT:-}" B_TEARDOWN="${B_TEARDOWN:-}"
  export PYTHON3 LUNET_REV
  PYTHON3=$(command -v python3 || true)
  LUNET_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "# warning: load average $load: other work on this machine will skew the numbers" >&2
  fi
  export LUNET_BENCH_INSIDE=1
  echo "# entering the sandbox (unshare --net --mount --pid --fork --mount-proc)" >&2
  exec unshare --net --mount --pid --fork --mount-proc --kill-child --propagation private \
    -- bash "${BASH_SOURCE[0]}" "${ns[@]}"
}

# ---------------------------------------------------------------------------------------------
# Inside the sandbox.
# ---------------------------------------------------------------------------------------------
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# host i -> 10.0.((i+1)/256).((i+1)%256), as peers/addr.sh (W(N));
# namespace i -> 10.(i/65536+1).((i/256)%256).(i%256), as peers/ptp_addr.sh (P(N))
addr_of() {
  if [[ $WORKLOAD == ptp ]]; then
    echo "10.$(( $1 / 65536 + 1 )).$(( ($1 / 256) % 256 )).$(( $1 % 256 ))"
  else
    local j=$(( $1 + 1 )); echo "10.0.$(( j / 256 )).$(( j % 256 ))"
  fi
}

# IPv6 defaults of the sandbox's own namespace: a variant script may change them (e.g.
# addr_gen_mode), and settle puts them back so they never leak into the other methods.
SYSCTLS=(net/ipv6/conf/default/addr_gen_mode net/ipv6/conf/default/disable_ipv6
         net/ipv6/conf/all/disable_ipv6)
declare -A SYSCTL0=()
save_sysctls() { local k; for k in "${SYSCTLS[@]}"; do SYSCTL0[$k]=$(<"/proc/sys/$k"); done; }
restore_sysctls() { local k; for k in "${SYSCTLS[@]}"; do echo "${SYSCTL0[$k]}" >"/proc/sys/$k"; done; }

# Kernel CPU time (system + irq + softirq) of the whole machine over 0.5 s, in % of one core.
kernel_busy() {
  local a b
  a=$(awk '/^cpu / { print $4 + $7 + $8 }' /proc/stat)
  sleep 0.5
  b=$(awk '/^cpu / { print $4 + $7 + $8 }' /proc/stat)
  echo $(( (b - a) * 100 * 2 / $(getconf CLK_TCK) ))
}

# Wait until the previous run is gone: no named namespace and only lo left (the kernel
# dismantles deleted namespaces in the background; their veth peers on this side vanish with
# them), then until the kernel has also finished freeing the namespaces themselves, which
# goes on for seconds after the links are gone at large N, on one kernel worker, and would
# steal CPU from the next run: until the machine's kernel time is under 30 % of a core (other
# work may keep it busier: 30 s at most). Then a short settle.
settle() {
  restore_sysctls
  local deadline=$(( SECONDS + 180 + ${1:-0} / 20 )) links
  while :; do
    links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
    if [[ $links == "lo " && -z $(ls -A /run/netns) ]]; then break; fi
    ((SECONDS < deadline)) || die "the kernel did not free the namespaces in time (links left: $(echo "$links" | cut -c1-200))"
    sleep 0.05
  done
  kernel_quiet "${1:-0}"
}

# Until the machine's kernel time is under 30 % of a core (30 s at most, more at large N: the
# kernel frees thousands of namespaces for minutes, on one worker), then 0.3 s.
kernel_quiet() {
  local deadline=$(( SECONDS + 30 + ${1:-0} / 20 )) busy
  while busy=$(kernel_busy); ((busy > 30)); do
    if ((SECONDS >= deadline)); then
      echo "# warning: the kernel is still busy ($busy % of a core) after $(( 30 + ${1:-0} / 20 )) s; going on" >&2
      break
    fi
  done
  sleep 0.3
}

# run_timed LOG CMD… : runs CMD with a time limit, output to LOG; prints the wall time in µs.
# With RSS=1, under /usr/bin/time: the peak RSS (KiB, of the process or its largest child)
# goes to LOG.rss.
run_timed() {
  local log=$1; shift
  local t0 t1 rc=0
  local -a wrap=()
  if [[ $RSS == 1 ]]; then wrap=(/usr/bin/time -o "$log.rss" -f %M); fi
  t0=$(now_us)
  timeout 3600 "${wrap[@]}" "$@" >"$log" 2>&1 || rc=$?
  t1=$(now_us)
  if ((rc != 0)); then
    echo "bench/run.sh: error: '$*' failed (exit $rc); its output:" >&2
    tail -n 20 "$log" | sed 's/^/    /' >&2
    exit 1
  fi
  echo $(( t1 - t0 ))
}

# Waits until the sandbox is clean (only lo, no namespace name); prints the time since t0 in µs.
clean_after() {
  local t0=$1 deadline=$(( SECONDS + 600 ))
  while [[ $(ip -o link show | awk -F': ' '$2 != "lo" {n++} END {print n+0}') != 0 || -n $(ls -A /run/netns) ]]; do
    ((SECONDS < deadline)) || die "the sandbox is not clean 600 s after a teardown"
    sleep 0.005
  done
  echo $(( $(now_us) - t0 ))
}

setup_cmd() {
  local m=$1 n=$2
  case $m in
    lunet|lunet-script) echo "$LUNET_BIN" run "$SCRIPT" "$n" ;;
    lunet-v6off) echo "$LUNET_BIN" run "$SCRIPT_V6OFF" "$n" ;;
    lunet-b)  echo "$B_BIN" run "$B_SCRIPT" "$n" ;;
    ip)       echo "$PEERS/${PFX}ip_setup.sh" "$n" ;;
    batch)    echo "$PEERS/${PFX}batch_setup.sh" "$n" ;;
    pyroute2) echo "$PYTHON3" "$PEERS/${PFX}pr2_setup.py" "$n" ;;
    proto-*)  echo "$PROTO_BIN" "${m#proto-}" "$n" ;;
  esac
}

teardown_cmd() {
  local m=$1 n=$2
  case $m in
    lunet|lunet-v6off) echo "$LUNET_BIN" down --all ;;
    lunet-script) echo "$LUNET_BIN" run "$SCRIPT_TEARDOWN" "$n" ;;
    lunet-b)  if [[ -n $B_TEARDOWN ]]; then echo "$B_BIN" run "$B_TEARDOWN" "$n"; else echo "$B_BIN" down --all; fi ;;
    ip)       echo "$PEERS/${PFX}ip_teardown.sh" "$n" ;;
    batch)    echo "$PEERS/${PFX}batch_teardown.sh" "$n" ;;
    pyroute2) echo "$PYTHON3" "$PEERS/${PFX}pr2_teardown.py" "$n" ;;
    proto-*)  echo "$PEERS/batch_teardown.sh" "$n" ;;
  esac
}

label() {
  case $1 in
    lunet) echo lunet ;; lunet-v6off) echo "lunet, IPv6 off" ;; lunet-b) echo "lunet B" ;; lunet-script) echo "lunet, script" ;; ip) echo "ip (1 process/cmd)" ;; batch) echo "ip -batch" ;; pyroute2) echo pyroute2 ;;
    proto-*) echo "sketch ${1#proto-}" ;;
  esac
}

verify_setup() {
  local m=$1 n=$2 log=$3 target
  target=$(addr_of "$n")
  local got
  got=$(ip netns list | wc -l)
  ((got == n)) || { echo "bench/run.sh: error: $m N=$n: expected $n namespaces after setup, found $got; output:" >&2; tail -n 20 "$log" | sed "s/^/    /" >&2; exit 1; }
  if ! ip netns exec "${NSP}1" ping -c1 -W2 "$target" >"$WORK/ping.log" 2>&1; then
    echo "bench/run.sh: error: $m N=$n: after setup, ${NSP}1 cannot ping ${NSP}$n ($target):" >&2
    sed 's/^/    /' "$WORK/ping.log" >&2
    echo "    ${NSP}1: $(ip -n "${NSP}1" -br addr 2>&1 | tr '\n' ';')  routes: $(ip -n "${NSP}1" route 2>&1 | tr '\n' ';')" >&2
    echo "    $GWDEV: $(ip -br addr show "$GWDEV" 2>&1)" >&2
    exit 1
  fi
}

verify_teardown() {
  local m=$1 n=$2 left
  left=$(ip netns list)
  [[ -z $left ]] || die "$m N=$n: namespaces left after teardown: $(echo "$left" | head -5 | tr '\n' ' ')…"
  if [[ $WORKLOAD == star ]] && ip link show br0 >/dev/null 2>&1; then die "$m N=$n: br0 still exists after teardown"; fi
  if [[ $WORKLOAD == ptp && $(ip -4 -o addr show dev lo) == *169.254.1.1* ]]; then
    die "$m N=$n: the gateway address 169.254.1.1 is still on lo after teardown"
  fi
}

median() { # numbers on stdin -> median
  sort -n | awk '{a[NR]=$1} END {if (NR==0) exit 1; if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

inside() {
  # This shell is PID 1 of the sandbox's PID namespace: the kernel drops signals it has no
  # handler for, so Ctrl-C needs these. When it exits, everything in the sandbox goes with it.
  trap 'echo "bench/run.sh: interrupted" >&2; exit 130' INT
  trap 'echo "bench/run.sh: terminated" >&2; exit 143' TERM
  # Refuse to run anywhere but a fresh network namespace.
  local links
  links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
  [[ $links == "lo " ]] || die "not in a fresh sandbox (links: $links); run bench/run.sh, not its inner part"
  local d
  for d in /run/netns /etc/netns /run/lunet; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$d"
  done
  ip link set lo up
  save_sysctls

  # Per workload: peer script prefix, namespace prefix, the host-side device with the gateway.
  case $WORKLOAD in
    star) PFX=; NSP=h; GWDEV=br0 ;;
    ptp)  PFX=ptp_; NSP=p; GWDEV=lo
          # P(N) routes through the sandbox's namespace (p1 -> host -> pN): this is the sandbox's
          # own sysctl, not the machine's.
          echo 1 >/proc/sys/net/ipv4/ip_forward ;;
  esac
  # Open files: lunet keeps 3 fds per namespace and raises its soft limit to the hard one;
  # make sure the hard limit allows 60000 namespaces (rlimits are per process: only this
  # sandbox's processes see it).
  if (( $(ulimit -Hn) < 200000 )); then ulimit -Hn 200000 2>/dev/null || echo "# warning: cannot raise the open-file limit above $(ulimit -Hn)" >&2; fi

  WORK=$(mktemp -d /tmp/lunet-bench.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT

  local Ns=("$@")
  ((${#Ns[@]})) || Ns=(10 100 200)
  local -a methods
  read -r -a methods <<<"$METHODS"

  echo "# lunet $WORKLOAD benchmark$( ((SCALE)) && echo ' (--scale)'): $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), R=$R"
  echo "# $(ip -V 2>&1 | head -1); pyroute2 $("${PYTHON3:-python3}" -c 'import pyroute2; print(pyroute2.__version__)' 2>/dev/null || echo '-')"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); open-file limit in the sandbox: $(ulimit -Hn)"
  if [[ -n $LUNET_BIN ]]; then echo "# lunet $LUNET_REV: $LUNET_BIN run ${SCRIPT#"$REPO"/} N"; fi

  local n r m us setup_ms teardown_ms clean_ms rss summary=""
  for n in "${Ns[@]}"; do
    declare -A S=() T=() M=() C=()
    for m in "${methods[@]}"; do S[$m]=""; T[$m]=""; M[$m]=""; C[$m]=""; done
    for ((r = 1; r <= R; r++)); do
      # Methods interleaved within each round, so slow drift hits them all alike.
      for m in "${methods[@]}"; do
        settle "$n"
        # shellcheck disable=SC2046
        us=$(run_timed "$WORK/setup.log" $(setup_cmd "$m" "$n"))
        verify_setup "$m" "$n" "$WORK/setup.log"
        S[$m]+="$us "
        rss=-
        if [[ $RSS == 1 ]]; then rss=$(tail -n1 "$WORK/setup.log.rss"); M[$m]+="$rss "; fi
        # Teardown starts from a quiet kernel: the setup's own background work (IPv6 DAD and
        # MLD timers, linkwatch) would otherwise slow down the teardown of whoever set up fastest.
        sleep 1
        kernel_quiet "$n"
        local t0
        t0=$(now_us)
        # shellcheck disable=SC2046
        us=$(run_timed "$WORK/teardown.log" $(teardown_cmd "$m" "$n"))
        verify_teardown "$m" "$n"
        T[$m]+="$us "
        C[$m]+="$(clean_after "$t0") "
        # A teardown script leaves the setup run's journal: taken down untimed (all of it is gone).
        if [[ -n $(ls -A /run/lunet) && -n $LUNET_BIN ]]; then "$LUNET_BIN" down --all >/dev/null 2>&1 || true; fi
        printf '#   N=%-5s run %d/%d %-12s setup %9.1f ms  teardown %9.1f ms  clean %9.1f ms  %s(load %s)\n' \
          "$n" "$r" "$R" "$m" \
          "$(echo "${S[$m]}" | awk '{print $NF/1000}')" "$(echo "${T[$m]}" | awk '{print $NF/1000}')" \
          "$(echo "${C[$m]}" | awk '{print $NF/1000}')" \
          "$([[ $RSS == 1 ]] && echo "peak RSS $rss KiB  ")" "$(cut -d' ' -f1 /proc/loadavg)" >&2
      done
    done
    settle "$n"

    local base_s base_t
    base_s=$(echo "${S[${methods[0]}]}" | tr ' ' '\n' | grep . | median)
    base_t=$(echo "${T[${methods[0]}]}" | tr ' ' '\n' | grep . | median)
    echo
    echo "N=$n  (median of $R runs, wall ms; ratio = method / $(label "${methods[0]}"); load $(cut -d' ' -f1-3 /proc/loadavg))"
    printf '%-20s %10s %8s %12s %8s %10s %9s %9s %9s %10s\n' method setup ratio teardown ratio clean \
      setup/ns down/ns clean/ns "RSS MiB"
    for m in "${methods[@]}"; do
      setup_ms=$(echo "${S[$m]}" | tr ' ' '\n' | grep . | median)
      teardown_ms=$(echo "${T[$m]}" | tr ' ' '\n' | grep . | median)
      clean_ms=$(echo "${C[$m]}" | tr ' ' '\n' | grep . | median)
      rss=$(echo "${M[$m]}" | tr ' ' '\n' | { grep . || true; } | sort -n | tail -n1)
      awk -v l="$(label "$m")" -v s="$setup_ms" -v t="$teardown_ms" -v bs="$base_s" -v bt="$base_t" \
        -v n="$n" -v k="${rss:-}" -v c="$clean_ms" \
        'BEGIN { printf "%-20s %10.1f %7.2fx %12.1f %7.2fx %10.1f %9.3f %9.3f %9.3f %10s\n", l, s/1000, s/bs, t/1000, t/bt,
                 c/1000, s/1000/n, t/1000/n, c/1000/n, (k == "" ? "-" : sprintf("%.1f", k/1024)) }'
      summary+="$m $n $setup_ms $teardown_ms ${rss:--} $clean_ms"$'\n'
    done
    unset S T M C
  done

  # Per-namespace cost against N (with --scale, or whenever more than one N was run).
  if ((${#Ns[@]} > 1)); then
    echo
    echo "Per-namespace cost (setup ms / N, teardown ms / N, until clean ms / N; growth = cost at the largest N / cost at the smallest)"
    printf '%-20s' method
    for n in "${Ns[@]}"; do printf ' %26s' "N=$n"; done
    printf ' %9s %9s\n' "growth" "down gr."
    for m in "${methods[@]}"; do
      printf '%-20s' "$(label "$m")"
      echo "$summary" | awk -v m="$m" '$1 == m { printf " %8.3f/%8.3f/%8.3f", $3/1000/$2, $4/1000/$2, $6/1000/$2;
          c[++k] = $3/$2; d[k] = $4/$2 } END { printf " %8.2fx %8.2fx\n", c[k]/c[1], d[k]/d[1] }'
    done
    if [[ $RSS == 1 ]]; then
      echo
      echo "Peak RSS of the setup (MiB; the largest of the R runs; for a shell script: its largest process)"
      printf '%-20s' method
      for n in "${Ns[@]}"; do printf ' %9s' "N=$n"; done
      echo
      for m in "${methods[@]}"; do
        printf '%-20s' "$(label "$m")"
        echo "$summary" | awk -v m="$m" '$1 == m { if ($5 == "-") printf " %9s", "-"; else printf " %9.1f", $5/1024 } END { print "" }'
      done
    fi
  fi
}

if [[ ${LUNET_BENCH_INSIDE:-} == 1 ]]; then
  inside "$@"
else
  outside "$@"
fi
