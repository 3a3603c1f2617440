#!/usr/bin/env bash
# A bad path: an observe-only kairosd NTS client reaches a kairosd NTS server through kairos-relay
# dropping half the datagrams (requests and responses alike, so three exchanges in four fail) and
# delaying the rest by 5 ms ± 2 ms each way. The client must still synchronize within 50 ms of
# error bound in 40 s, with the truth (offset 0: one clock) inside its bound, and count its lost
# exchanges as timeouts. No clock is steered (--no-steer).
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-loss-delay.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' CLIENT_PID=''
trap 'stop_pid "$CLIENT_PID"; stop_relays; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14530}
ke_port=${KE_PORT:-14531}
relay_ntp=${RELAY_NTP_PORT:-14532}
relay_ke=${RELAY_KE_PORT:-14533}
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
client_sock="$work/run/client/control.sock"

write_server_config "$work/server.toml" "$ntp_port" "$ke_port" "$relay_ntp"
write_client_header "$work/client.toml" client
add_source "$work/client.toml" "localhost:$relay_ke" nts
"$build/daemon/kairosd" --config "$work/client.toml" --check-config >/dev/null
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
start_relay lossy --udp-listen "127.0.0.1:$relay_ntp" --udp-upstream "127.0.0.1:$ntp_port" \
  --tcp-listen "127.0.0.1:$relay_ke" --tcp-upstream "127.0.0.1:$ke_port" \
  --loss 0.5 --delay 0.005 --jitter 0.002 --seed 3
lossy_pid=$RELAY_PID
start_client "$work/client.toml" client
start=$(date +%s.%N)
ctl waitsync --socket "$client_sock" --max-error 0.05 --timeout 40 --interval 0.5 ||
  { echo "FAIL: no synchronization through 50 % loss"; tail -n 30 "$work/client.log"; exit 1; }
took=$(python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$start")
sleep 3  # a few more polls, so lost ones are counted
# The relay first, the client right after: every datagram the relay lost belongs to an exchange
# the client has finished or is still waiting for.
relay_snapshot "$lossy_pid" lossy
sources=$(ctl sources --json --socket "$client_sock")
status=$(ctl status --json --socket "$client_sock")
samples=$(get "$sources" '.sources[0].counters.samples')
timeouts=$(get "$sources" '.sources[0].counters.timeouts')
requests=$(relay_field requests received)
lost_requests=$(relay_field requests lost)
lost_responses=$(relay_field responses lost)
echo "loss and delay: synchronized after $took s; relay lost $lost_requests of $requests requests and" \
  "$lost_responses responses; client $samples samples, $timeouts timeouts, error bound" \
  "$(get "$status" '.system.error_bound') s, offset $(get "$status" '.system.offset') s"
[[ $(get "$status" '.system.state') == '"synchronized"' ]] || { echo "FAIL: not synchronized"; exit 1; }
# Server and client read the same clock, so the true offset is 0: the bound must hold it.
python3 -c 'import sys; o, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(not abs(o) <= b)' \
  "$(get "$status" '.system.offset')" "$(get "$status" '.system.error_bound')" ||
  { echo "FAIL: the true offset (0) is outside the error bound"; exit 1; }
((lost_requests + lost_responses > 0)) || { echo "FAIL: the relay lost nothing"; exit 1; }
((timeouts > 0)) || { echo "FAIL: no timeouts counted"; echo "$sources"; exit 1; }
# Each lost datagram costs one exchange (a lost request has no response to lose), so the
# timeouts cover the losses but for the one exchange that may still be waiting; a slow answer
# times out too, so there may be more.
((timeouts + 1 >= lost_requests + lost_responses)) ||
  { echo "FAIL: $timeouts timeouts for $((lost_requests + lost_responses)) lost datagrams"; exit 1; }
echo "PASS: SynchronizesThroughHalfLossAndDelay"
grep -q "steering the system clock" "$work"/*.log && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: loss and delay"
