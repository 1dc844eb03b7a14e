#!/usr/bin/env bash
# The whole test suite, on a fresh machine, as root. Installs what the tests
# need (idempotently), then checks formatting and lints, then runs every test.
# Arguments go to every test binary (e.g. `./tests/run.sh --test-threads=8`).
# Each test builds its own throw-away sandbox: the machine's network is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

# program:package pairs (Debian)
need="ip:iproute2 tc:iproute2 iptables:iptables nft:nftables ping:iputils-ping ps:procps python3:python3 curl:curl
      socat:socat iperf3:iperf3 sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client
      tmux:tmux nsenter:util-linux unshare:util-linux getent:libc-bin ss:iproute2 man:man-db
      cc:gcc bash:bash luacheck:lua-check strace:strace zsh:zsh fish:fish"
missing=""
for pair in $need; do
  prog=${pair%%:*} pkg=${pair#*:}
  command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] || missing="$missing $pkg"
done
# Completion tests load bash-completion's own script into a real bash.
[ -f /usr/share/bash-completion/bash_completion ] || missing="$missing bash-completion"
if [ -n "$missing" ]; then
  echo "tests/run.sh: installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
for comp in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp"
done
# stylua must read Lua 5.4 (`&`, `<const>`): built with that feature.
printf 'local x <const> = 1 & 2\n' | stylua - >/dev/null 2>&1 || cargo install --locked --quiet --force stylua --features lua54

# The Lua standard library and the bundled scenarios: linted and formatted.
luacheck --no-color -q lua scripts
stylua --check lua scripts

cargo fmt --check
cargo clippy --all-targets -- -D warnings
log=$(mktemp)
# Tests that cannot run here (the kernel lacks something) call common::skip, which
# appends `SKIPPED: BINARY::TEST: REASON` to this file and returns; libtest counts
# them as passed, this script counts them as skipped.
LUNET_SKIP_LOG=$(mktemp)
export LUNET_SKIP_LOG
trap 'rm -f "$log" "$LUNET_SKIP_LOG"' EXIT
# Every test binary runs even when one fails; the status says whether all passed.
status=0
cargo test --no-fail-fast -- "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary).
# (not `tee /dev/stderr`: when the output goes to a file, that reopens and truncates it)
sort -u "$LUNET_SKIP_LOG"
skipped=$(sort -u "$LUNET_SKIP_LOG" | wc -l)
awk -v s="$skipped" '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
exit "$status"
