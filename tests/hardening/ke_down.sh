#!/usr/bin/env bash
# A dead NTS-KE server, then a restarted one. An observe-only kairosd NTS client reaches the
# NTS-KE port through kairos-relay, which counts every TCP connection the client opens.
# 1. No server for 9 s: the client retries with a growing, randomized backoff (2, 4, 8 s ± 20 %),
#    so 3 connections and never more than 4 — no hammering.
# 2. The server comes up: the client gets keys at its next try and synchronizes.
# 3. Synchronized, it opens no more NTS-KE connections (cookies come with every answer).
# 4. The server restarts with new cookie keys: the client's cookies get NTS NAKs, it runs NTS-KE
#    once and takes samples again.
# Never steers: every daemon runs with --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-ke-down.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' CLIENT_PID=''
trap '[[ -n $CLIENT_PID ]] && kill -CONT "$CLIENT_PID" 2>/dev/null; stop_pid "$CLIENT_PID"; stop_relays; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14560}
ke_port=${KE_PORT:-14561}
relay_ke=${RELAY_KE_PORT:-14562}
relay_unused=${RELAY_UDP_PORT:-14563}
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
client_sock="$work/run/client/control.sock"

write_server_config "$work/server.toml" "$ntp_port" "$ke_port" "$ntp_port"
# The client keeps its state apart from the server's: the server's cookie keys live in $work/state.
mkdir -p "$work/client-state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/client-state"
write_client_header "$work/client.toml" client "$work/client-state"
add_source "$work/client.toml" "localhost:$relay_ke" nts
"$build/daemon/kairosd" --config "$work/server.toml" --check-config >/dev/null
"$build/daemon/kairosd" --config "$work/client.toml" --check-config >/dev/null

# The relay's UDP side is unused (the server sends clients straight to its NTP port).
start_relay ke --tcp-listen "127.0.0.1:$relay_ke" --tcp-upstream "127.0.0.1:$ke_port" \
  --udp-listen "127.0.0.1:$relay_unused" --udp-upstream "127.0.0.1:$ntp_port" --seed 1
relay_pid=$RELAY_PID
connections() { relay_count "$relay_pid" ke tcp connections; }
source_field() { get "$(ctl sources --json --socket "$client_sock")" ".sources[0].$1"; }

# 1. Nobody listens behind the relay.
start_client "$work/client.toml" client
sleep 9
down=$(connections)
ke_failed=$(source_field counters.ke_failed)
echo "ke_down: $down NTS-KE connections in 9 s with the server down; client counted ke_failed=$ke_failed"
((down >= 3 && down <= 4)) || { echo "FAIL: expected 3-4 attempts (backoff 2, 4, 8 s), saw $down"; tail -n 20 "$work/client.log"; exit 1; }
((ke_failed == down)) || { echo "FAIL: ke_failed $ke_failed != attempts $down"; exit 1; }
echo "PASS: DeadKeServerIsRetriedWithBackoff"

# 2. The server comes up.
up_at=$(date +%s.%N)
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
ctl waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.25 ||
  { echo "FAIL: no synchronization after the server came up"; tail -n 30 "$work/client.log"; exit 1; }
synced_at=$(date +%s.%N)
after_up=$(connections)
recovery=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$up_at" "$synced_at")
echo "ke_down: synchronized ${recovery} s after the server came up; $((after_up - down)) more NTS-KE connection(s)"
((after_up - down <= 2)) || { echo "FAIL: $((after_up - down)) connections to recover"; exit 1; }
echo "PASS: ClientRecoversWhenTheKeServerReturns"

# 3. Synchronized: samples every 0.25 s, no NTS-KE.
samples_before=$(source_field counters.samples)
sleep 3
steady=$(connections)
samples_after=$(source_field counters.samples)
echo "ke_down: $((samples_after - samples_before)) samples and $((steady - after_up)) NTS-KE connections in 3 s"
((steady == after_up)) || { echo "FAIL: NTS-KE while cookies last"; exit 1; }
((samples_after - samples_before >= 4)) || { echo "FAIL: too few samples"; exit 1; }
echo "PASS: NoKeWhileCookiesLast"

# 4. Restart with new cookie keys (a fresh state-dir): old cookies get NAKs, one new NTS-KE.
# The client is paused meanwhile, so the restart falls between two of its polls however long it
# takes (a sanitized server on a busy machine needs seconds; at 4 polls a second the client
# would spend its 8 cookies on timeouts and re-key without ever seeing a NAK).
naks_before=$(source_field counters.naks)
kill -STOP "$CLIENT_PID"
stop_pid "$KAIROSD_PID"
rm -rf "$work/state"
mkdir -p "$work/state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state"
restart_at=$(date +%s.%N)
start_kairosd "$build" "$work/server.toml" "$work/server2.log" "$ke_port"
kill -CONT "$CLIENT_PID"
for i in $(seq 1 80); do
  (($(source_field counters.samples) > samples_after + 4)) && break
  sleep 0.25
done
back_at=$(date +%s.%N)
restarted=$(connections)
naks=$(($(source_field counters.naks) - naks_before))
samples_end=$(source_field counters.samples)
took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$restart_at" "$back_at")
echo "ke_down: server restarted with new keys: $naks NAK(s), $((restarted - steady)) NTS-KE connection(s), samples again within ${took} s"
((samples_end > samples_after + 4)) || { echo "FAIL: no samples after the restart"; tail -n 30 "$work/client.log"; exit 1; }
((naks >= 1)) || { echo "FAIL: no NAK counted for cookies of the old keys"; exit 1; }
((restarted - steady >= 1 && restarted - steady <= 2)) || { echo "FAIL: $((restarted - steady)) NTS-KE connections after the restart"; exit 1; }
echo "PASS: ServerRestartWithNewKeysIsRecoveredByOneKe"
