#!/usr/bin/env bash
# What an operator does with kairosd, end to end in one run: an NTS server kairosd on loopback and
# an observe-only NTS client kairosd with a control socket, a metrics endpoint and a shared-memory
# time page. Every kairosctl command answers (text and JSON), GET /metrics shows the synchronized
# clock, kairos-now reads a bound that holds the true time (the client is only observing, so its
# bound is around the system clock's reading corrected by the model), SIGHUP reloads the file (a
# source added is polled), SIGTERM stops both cleanly with exit 0.
# Never steers: both daemons run with --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-operator-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13543}
ke_port=${KE_PORT:-13880}
metrics_port=${METRICS_PORT:-13914}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
server_sock="$work/run/server/control.sock"
client_sock="$work/run/client/control.sock"
page="$work/run/client/time.shm"

loopback_server_config "$work/state" "$ntp_port" "$ke_port" "$work/pki" "$server_sock" >"$work/server.toml"
client_config() {
  loopback_client_config "$work/state" "$ke_port" "$work/pki"
  # $1: a second, plain NTP source (added by the reload).
  [[ ${1:-} == plain ]] && cat <<CONF
[[source]]
address = "127.0.0.1:$ntp_port"
nts = false
minpoll = -2
maxpoll = -2
CONF
  cat <<CONF
[control]
socket = "$client_sock"
[metrics]
listen = "127.0.0.1:$metrics_port"
[shm]
path = "$page"
CONF
}
client_config >"$work/client.toml"
client_config plain >"$work/client-plain.toml"
"$build/daemon/kairosd" --config "$work/client.toml" --check-config
"$build/daemon/kairosd" --config "$work/client-plain.toml" --check-config

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
client_pid=$!
wait_tcp_listener "$client_pid" "$metrics_port" "$work/client.log" kairosd

"$ctl" waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.5 ||
  { echo "FAIL: waitsync"; tail -n 20 "$work/client.log"; exit 1; }
echo "PASS: waitsync"

echo "--- kairosctl status"
"$ctl" status --socket "$client_sock"
echo "--- kairosctl sources"
"$ctl" sources --socket "$client_sock"
echo "--- kairosctl clocks"
"$ctl" clocks --socket "$client_sock"
echo "--- kairosctl server (the server daemon)"
"$ctl" server --socket "$server_sock"
for command in status sources clocks server; do
  "$ctl" "$command" --json --socket "$client_sock" | python3 -m json.tool >/dev/null ||
    { echo "FAIL: $command --json"; exit 1; }
done
echo "PASS: every kairosctl command answers, in text and JSON"

# GET /metrics: rendered every second by the loop.
for i in $(seq 1 20); do
  metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$metrics_port/metrics")
  grep -qx 'kairos_clock_synchronized{clock="system"} 1' <<<"$metrics" && break
  sleep 0.2
done
grep -qx 'kairos_clock_synchronized{clock="system"} 1' <<<"$metrics" || { echo "FAIL: metrics"; echo "$metrics"; exit 1; }
bound=$(sed -n 's/^kairos_clock_error_bound_seconds{clock="system"} //p' <<<"$metrics")
echo "PASS: /metrics: system clock synchronized, error bound $bound s"

# The shared page, read as an application would: the bound holds CLOCK_REALTIME corrected by the
# model, and the interval is no wider than twice the status's bound (plus its growth since).
now_out=$("$build/tools/kairos_now/kairos-now" --path "$page") || { echo "FAIL: kairos-now: $now_out"; exit 1; }
echo "$now_out"
grep -q '^0 system: synchronized, observed$' <<<"$now_out" || { echo "FAIL: page status"; exit 1; }
half=$(sed -n 's/^  ± \([0-9.]*\) s .*/\1/p' <<<"$now_out")
python3 -c "import sys; h=float(sys.argv[1]); b=float(sys.argv[2]); sys.exit(0 if 0 < h <= 2*b + 1e-3 else 1)" "$half" "$bound" ||
  { echo "FAIL: page bound ±$half s against status bound $bound s"; exit 1; }
echo "PASS: kairos-now: ±$half s"

# SIGHUP with a second source in the file: it is polled, the first keeps its NTS keys.
ke_before=$("$ctl" server --json --socket "$server_sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["nts_ke"]["ok"])')
cp "$work/client-plain.toml" "$work/client.toml"
kill -HUP "$client_pid"
for i in $(seq 1 30); do
  n=$("$ctl" sources --json --socket "$client_sock" | python3 -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin)["sources"] if s["counters"]["samples"] > 0))')
  ((n == 2)) && break
  sleep 0.2
done
((n == 2)) || { echo "FAIL: after SIGHUP $n sources with samples"; "$ctl" sources --socket "$client_sock"; tail -n 20 "$work/client.log"; exit 1; }
ke_after=$("$ctl" server --json --socket "$server_sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["nts_ke"]["ok"])')
((ke_after == ke_before)) || { echo "FAIL: the reload made a new NTS-KE ($ke_before -> $ke_after)"; exit 1; }
"$ctl" sources --socket "$client_sock"
echo "PASS: SIGHUP added a source; the NTS source kept its keys"

# SIGTERM: both exit 0, the client's socket and metrics port are gone.
kill -TERM "$client_pid"
rc=0
wait "$client_pid" || rc=$?
client_pid=
((rc == 0)) || { echo "FAIL: client exit $rc"; tail -n 5 "$work/client.log"; exit 1; }
[[ ! -e $client_sock ]] || { echo "FAIL: the control socket outlived kairosd"; exit 1; }
curl -s --max-time 2 "http://127.0.0.1:$metrics_port/metrics" >/dev/null && { echo "FAIL: metrics after exit"; exit 1; }
kill -TERM "$KAIROSD_PID"
rc=0
wait "$KAIROSD_PID" || rc=$?
KAIROSD_PID=
((rc == 0)) || { echo "FAIL: server exit $rc"; tail -n 5 "$work/server.log"; exit 1; }
echo "PASS: operator end to end"
