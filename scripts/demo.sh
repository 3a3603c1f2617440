#!/usr/bin/env bash
# The demo: authenticated time on loopback with no outside network.
#  1. kairosd serves NTS (NTS-KE over TLS 1.3 + NTPv4 with NTS fields) as a local stratum-1 server;
#  2. a second kairosd, observe-only, is its NTS client: kairosctl watches it synchronize over its
#     control socket, and kairos-now reads the time page it publishes for applications;
#  3. Debian's chronyd (-x: never touches the clock; as nobody with no capabilities) syncs from the
#     kairosd server, and kairosctl measures chronyd as an NTS server;
#  4. a client without the test CA refuses the server's certificate.
# No clock is steered: neither configuration sets `steer`, and both daemons run with --no-steer.
# Usage: scripts/demo.sh [BUILD_DIR] (relative to the source tree or absolute; default build).
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
[[ $build == /* ]] || build="$top/$build"
source "$top/tests/interop/lib.sh"

# Ports of its own so the demo can run beside the interop tests (ctest -j).
ntp_port=${DEMO_NTP_PORT:-11143}
ke_port=${DEMO_KE_PORT:-14470}
chrony_ntp_port=${DEMO_CHRONY_NTP_PORT:-11144}
chrony_ke_port=${DEMO_CHRONY_KE_PORT:-14471}

kairosctl="$build/tools/kairosctl/kairosctl"
kairos_now="$build/tools/kairos_now/kairos-now"
work=$(mktemp -d /tmp/kairos-demo.XXXXXX)
chmod 0755 "$work"
CHRONYD_PID= CHRONYD_CLIENT_PID= KAIROSD_PID= CLIENT_PID=
cleanup() {
  stop_pid "$CHRONYD_CLIENT_PID"
  stop_pid "$CHRONYD_PID"
  stop_pid "$CLIENT_PID"
  stop_pid "$KAIROSD_PID"
  rm -rf "$work"
}
trap cleanup EXIT

# step TITLE: the one-line header of each step.
step() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /'; }
started=$SECONDS

step "preparing: Debian's chronyd (unpacked, not installed) and a throwaway CA for localhost"
fetch_chrony "$build/chrony"
make_test_pki "$work/pki"
set_launcher
mkdir -p "$work/state-server" "$work/state-client" "$work/run"
# As root the daemons run as nobody: they make their socket and page directories under run/.
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state-server" "$work/state-client" "$work/run"
server_sock="$work/run/server/control.sock"
client_sock="$work/run/client/control.sock"
client_page="$work/run/client/time.shm"

# rate-limit = false: both clients (kairosd and chronyd) poll every 0.25 s from 127.0.0.1, which
# the default limit (one request per 2 s per address) would answer with RATE kisses.
cat >"$work/server.toml" <<CONF
[daemon]
state-dir = "$work/state-server"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 2
local-stratum = 1
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
[control]
socket = "$server_sock"
[shm]
enabled = false
CONF
step "(a) kairosd as an NTS server on loopback, local stratum 1, certificate from the test CA"
indent <"$work/server.toml"
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
echo "   listening: NTS-KE 127.0.0.1:$ke_port, NTP 127.0.0.1:$ntp_port (pid $KAIROSD_PID)"

cat >"$work/client.toml" <<CONF
[daemon]
state-dir = "$work/state-client"
[[source]]
address = "localhost:$ke_port"
ca = "$work/pki/ca.crt"
minpoll = -2
maxpoll = -2
iburst = true
[control]
socket = "$client_sock"
[shm]
path = "$client_page"
CONF
step "(b) a second kairosd, observe-only (no clock is steered), NTS client of the first"
indent <"$work/client.toml"
"$build/daemon/kairosd" --config "$work/client.toml" --check-config | indent
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
CLIENT_PID=$!
for _ in $(seq 1 50); do [[ -S $client_sock ]] && break; sleep 0.1; done
[[ -S $client_sock ]] || { echo "the client kairosd did not open its control socket:"; cat "$work/client.log"; exit 1; }
echo "   control socket $client_sock, time page $client_page (pid $CLIENT_PID)"

step "(c) kairosctl status and sources every 2 s (at least 3 times) until synchronized within 1 ms"
# iburst on loopback synchronizes within a second: the rounds after that show the frequency
# estimate and the error bound settling.
synced=
for round in $(seq 1 15); do
  echo "-- round $round: kairosctl status; kairosctl sources; is it synchronized within 1 ms?"
  "$kairosctl" status --socket "$client_sock" | indent
  "$kairosctl" sources --socket "$client_sock" | indent
  # --timeout 0: one look, no waiting; the wait is this loop's, so the progress shows.
  if "$kairosctl" waitsync --socket "$client_sock" --max-error 0.001 --timeout 0 2>/dev/null | indent; then
    synced=${synced:-$round}
  fi
  [[ -n $synced ]] && ((round >= 3)) && break
  sleep 2
done
echo "-- kairosctl waitsync --max-error 0.001 --timeout 10"
if ! "$kairosctl" waitsync --socket "$client_sock" --max-error 0.001 --timeout 10 --interval 0.5 | indent; then
  echo "   not synchronized; the client's log:"
  tail -n 20 "$work/client.log" | indent
  exit 1
fi
[[ -n $synced ]] && echo "   (first synchronized within 1 ms in round $synced)"

step "kairosctl status: the client's system clock (observed: its offset is measured, not corrected)"
"$kairosctl" status --socket "$client_sock" | indent
step "kairosctl sources: the NTS source, its keys, cookies, reach and last sample"
"$kairosctl" sources --socket "$client_sock" | indent
step "kairosctl clocks: every clock the client models"
"$kairosctl" clocks --socket "$client_sock" | indent
step "kairosctl server (asked of the server kairosd): what its NTP and NTS-KE servers did"
"$kairosctl" server --socket "$server_sock" | indent
step "kairos-now --path $client_page: the time with its error bound, as an application reads it"
"$kairos_now" --path "$client_page" | indent

step "(d) chronyd -x as an NTS client of the kairosd server (chronyc sources once synced)"
start_chronyd_nts_client "$build/chrony" "$work/chronyd-client" 127.0.0.1 "$ke_port" "$work/pki/ca.crt"
for _ in $(seq 1 60); do
  sleep 0.25
  state=$(chronyc_client "$build/chrony" "$work/chronyd-client" -c sources 2>/dev/null | cut -d, -f2 || true)
  [[ $state == '*' ]] && break
done
chronyc_client "$build/chrony" "$work/chronyd-client" sources | indent

step "chronyd -x as an NTS server; kairosctl query localhost:$chrony_ke_port (kairos client -> chronyd)"
start_chronyd_nts_server "$build/chrony" "$work/pki" "$chrony_ntp_port" "$chrony_ke_port"
"$kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --count 2 --interval 0.25 "localhost:$chrony_ke_port" | indent

step "without trusting the test CA, the kairosd server's certificate is refused"
if "$kairosctl" query --no-system-ca --timeout 2 "localhost:$ke_port" 2>&1 | indent; then
  echo "   unexpected: the query succeeded"
  exit 1
fi
echo "   refused, as it should be"

step "(e) SIGTERM to both kairosd: each stops cleanly"
stop_kairosd() {
  local name=$1 pid=$2 rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  echo "   $name kairosd (pid $pid) exited with code $rc"
  [[ $rc == 0 ]]
}
client_rc=0 server_rc=0
stop_kairosd client "$CLIENT_PID" || client_rc=1
CLIENT_PID=
stop_kairosd server "$KAIROSD_PID" || server_rc=1
KAIROSD_PID=
echo "   the server's counters at exit:"
grep -E "server:|nts-ke:" "$work/server.log" | tail -2 | indent
if grep -q "steering the system clock" "$work/client.log" "$work/server.log"; then
  echo "   unexpected: a daemon says it steered" && exit 1
fi
((client_rc == 0 && server_rc == 0)) || exit 1

echo
echo "demo: done in $((SECONDS - started)) s (kairosd and chronyd stopped, temporary files removed)"
