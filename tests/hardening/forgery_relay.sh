#!/usr/bin/env bash
# Forged, replayed and lying NTS answers: an observe-only kairosd NTS client reaches a kairosd NTS
# server through kairos-relay. Part 1: the relay corrupts, truncates, replays and duplicates the
# server's responses; the client must still synchronize from the clean ones and count the others
# as rejected. Part 2: the relay moves the timestamps of every response by +0.5 s (a lying
# server); NTS authentication covers them, so every altered response must be rejected and the
# client must never report an offset anywhere near 0.5 s. Part 3: the relay corrupts, truncates
# and replays the client's requests instead; the server must answer a forged request with an NTS
# NAK or drop it, and count it, while the client keeps its cookies through isolated NAKs (RFC 8915
# §5.7: they are unauthenticated), re-keys at most once a minute on them, and stays synchronized. No clock is
# steered (--no-steer).
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-forgery-relay.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' CLIENT_PID=''
trap 'stop_pid "$CLIENT_PID"; stop_relays; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14510}
ke_port=${KE_PORT:-14511}
relay_ntp=${RELAY_NTP_PORT:-14512}
relay_ke=${RELAY_KE_PORT:-14513}
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
client_sock="$work/run/client/control.sock"

write_server_config "$work/server.toml" "$ntp_port" "$ke_port" "$relay_ntp"
write_client_header "$work/client.toml" client
add_source "$work/client.toml" "localhost:$relay_ke" nts
"$build/daemon/kairosd" --config "$work/server.toml" --check-config >/dev/null
"$build/daemon/kairosd" --config "$work/client.toml" --check-config >/dev/null
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"

# sync_through_forgeries NAME requests|responses ARGS...: a relay NAME damaging the datagrams
# of one direction as ARGS say, the client started behind it and synchronized, and then at least
# 40 of those datagrams through, so the counts mean something. Sets RELAY_PID.
sync_through_forgeries() {
  local name=$1 direction=$2 i
  shift 2
  start_relay "$name" --udp-listen "127.0.0.1:$relay_ntp" --udp-upstream "127.0.0.1:$ntp_port" \
    --tcp-listen "127.0.0.1:$relay_ke" --tcp-upstream "127.0.0.1:$ke_port" --affect "$direction" "$@"
  start_client "$work/client.toml" client
  ctl waitsync --socket "$client_sock" --max-error 0.01 --timeout 30 --interval 0.5 ||
    { echo "FAIL: no synchronization through forged $direction"; tail -n 30 "$work/client.log"; exit 1; }
  for i in $(seq 1 60); do
    (($(relay_count "$RELAY_PID" "$name" "$direction" received) >= 40)) && break
    sleep 0.25
  done
}

# Part 1: forgeries among clean answers. Only responses are touched: the question is what the
# client accepts.
sync_through_forgeries forge responses --corrupt 0.3 --truncate 0.1 --replay 0.2 --duplicate 0.2 --seed 1
forge_pid=$RELAY_PID
sources=$(ctl sources --json --socket "$client_sock")
status=$(ctl status --json --socket "$client_sock")
rejected=$(get "$sources" '.sources[0].counters.rejected')
samples=$(get "$sources" '.sources[0].counters.samples')
timeouts=$(get "$sources" '.sources[0].counters.timeouts')
offset=$(get "$status" '.system.offset')
relay_snapshot "$forge_pid" forge
received=$(relay_field responses received)
corrupted=$(relay_field responses corrupted)
truncated=$(relay_field responses truncated)
replayed=$(relay_field responses replayed)
duplicated=$(relay_field responses duplicated)
echo "forgeries: relay saw $received responses, corrupted $corrupted, truncated $truncated, replayed $replayed," \
  "duplicated $duplicated; client rejected $rejected, $samples samples, $timeouts timeouts, offset $offset s"
[[ $(get "$status" '.system.state') == '"synchronized"' ]] || { echo "FAIL: not synchronized"; echo "$status"; exit 1; }
[[ $(get "$sources" '.sources[0].selected') == true ]] || { echo "FAIL: source not selected"; exit 1; }
((rejected > 0)) || { echo "FAIL: no response rejected"; echo "$sources"; exit 1; }
((corrupted + truncated > 0)) || { echo "FAIL: the relay forged nothing"; exit 1; }
python3 -c "import sys; sys.exit(not abs(float(sys.argv[1])) < 0.01)" "$offset" || { echo "FAIL: offset $offset"; exit 1; }
echo "PASS: ForgedResponsesAreRejectedCleanOnesSynchronize"

stop_pid "$CLIENT_PID"
CLIENT_PID=
stop_relays
RELAY_PIDS=()

# Part 2: a lying relay. Every response's receive and transmit timestamps move by +0.5 s.
start_relay liar --udp-listen "127.0.0.1:$relay_ntp" --udp-upstream "127.0.0.1:$ntp_port" \
  --tcp-listen "127.0.0.1:$relay_ke" --tcp-upstream "127.0.0.1:$ke_port" --offset 0.5 --seed 2
liar_pid=$RELAY_PID
start_client "$work/client.toml" client
# The largest |offset| of any sample the client took, read every 0.25 s for 8 s.
worst=$(python3 - "$build/tools/kairosctl/kairosctl" "$client_sock" <<'PY2'
import json, subprocess, sys, time
worst = 0.0
end = time.monotonic() + 8
while time.monotonic() < end:
    out = subprocess.check_output([sys.argv[1], "sources", "--json", "--socket", sys.argv[2]])
    last = json.loads(out)["sources"][0]["last_sample"]
    if last is not None:
        worst = max(worst, abs(last["offset"]))
    time.sleep(0.25)
print(worst)
PY2
)
# The client first, the relay right after: the relay may have passed on a few more since.
sources=$(ctl sources --json --socket "$client_sock")
relay_snapshot "$liar_pid" liar
status=$(ctl status --json --socket "$client_sock")
rejected=$(get "$sources" '.sources[0].counters.rejected')
samples=$(get "$sources" '.sources[0].counters.samples')
rewritten=$(relay_field responses rewritten)
received=$(relay_field responses received)
echo "liar: relay rewrote $rewritten of $received responses; client rejected $rejected, $samples samples," \
  "largest offset seen $worst s, state $(get "$status" '.system.state')"
((rewritten > 0)) || { echo "FAIL: the relay rewrote nothing"; exit 1; }
((samples == 0)) || { echo "FAIL: $samples samples taken from altered responses"; echo "$sources"; exit 1; }
# None was accepted (no samples above); those that came while their exchange still waited were
# counted as rejected, the rest arrived after it had timed out.
((rejected > 0 && rejected <= rewritten)) || { echo "FAIL: rejected $rejected of $rewritten"; exit 1; }
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 0.1)" "$worst" || { echo "FAIL: offset $worst seen"; exit 1; }
[[ $(get "$status" '.system.state') != '"synchronized"' ]] || { echo "FAIL: synchronized to a liar"; exit 1; }
echo "PASS: LyingNtsResponsesAreAllRejected"

stop_pid "$CLIENT_PID"
CLIENT_PID=
stop_relays
RELAY_PIDS=()

# Part 3: forged requests. The server's counters before and after say what it did with them.
server_sock="$work/run/server/control.sock"
sleep 0.3  # the last of part 2's requests reach the published counters
server_before=$(ctl server --json --socket "$server_sock")
sync_through_forgeries reqforge requests --corrupt 0.3 --truncate 0.1 --replay 0.2 --seed 3
reqforge_pid=$RELAY_PID
sources=$(ctl sources --json --socket "$client_sock")
status=$(ctl status --json --socket "$client_sock")
# No more requests, so the relay's counts and the server's cover the same ones.
stop_pid "$CLIENT_PID"
CLIENT_PID=
relay_snapshot "$reqforge_pid" reqforge
# The server's NTP workers publish their counters every 250 ms.
sleep 0.3
server_after=$(ctl server --json --socket "$server_sock")
server_delta() { echo $(($(get "$server_after" "$1") - $(get "$server_before" "$1"))); }
received=$(relay_field requests received)
corrupted=$(relay_field requests corrupted)
truncated=$(relay_field requests truncated)
replayed=$(relay_field requests replayed)
s_received=$(server_delta .server.ntp.received)
s_nts=$(server_delta .server.ntp.nts)
s_naks=$(server_delta .server.ntp.naks)
s_dropped=$(server_delta .server.ntp.dropped)
c_naks=$(get "$sources" '.sources[0].counters.naks')
c_samples=$(get "$sources" '.sources[0].counters.samples')
c_ke=$(get "$sources" '.sources[0].counters.ke_ok')
offset=$(get "$status" '.system.offset')
echo "forged requests: relay saw $received requests, corrupted $corrupted, truncated $truncated, replayed $replayed;" \
  "server received $s_received, answered $s_nts with NTS, $s_naks NAKs, dropped $s_dropped;" \
  "client $c_samples samples, $c_naks NAKs, $c_ke NTS-KE, offset $offset s"
((corrupted + truncated > 0)) || { echo "FAIL: the relay forged no request"; exit 1; }
((s_naks > 0)) || { echo "FAIL: the server sent no NAK for a forged request"; echo "$server_after"; exit 1; }
((s_dropped > 0)) || { echo "FAIL: the server dropped no forged request"; echo "$server_after"; exit 1; }
# Every request the relay let through clean was answered; every forged one NAKed or dropped; a
# replayed copy is a valid request (NTS servers keep no state) and answered too.
((s_naks + s_dropped <= corrupted + truncated)) ||
  { echo "FAIL: $s_naks NAKs and $s_dropped drops for $((corrupted + truncated)) forged requests"; exit 1; }
((s_nts + s_naks + s_dropped == s_received)) || { echo "FAIL: server counts do not add up"; echo "$server_after"; exit 1; }
((s_received == received + replayed)) || { echo "FAIL: the server received $s_received of $received + $replayed"; exit 1; }
# A request can be both corrupted and truncated, so the clean ones are at least these many.
((s_nts >= received - corrupted - truncated + replayed)) || { echo "FAIL: only $s_nts clean requests answered"; exit 1; }
# RFC 8915 §5.7: a NAK is unauthenticated; the client keeps its cookies through isolated ones and
# re-keys only when two polls in a row bring nothing but a NAK, at most once a minute.
((c_naks > 0)) || { echo "FAIL: the client counted no NAK"; echo "$sources"; exit 1; }
((c_ke <= 2)) || { echo "FAIL: $c_ke NTS-KEs for $c_naks NAKs (at most one a minute on NAKs)"; echo "$sources"; exit 1; }
[[ $(get "$status" '.system.state') == '"synchronized"' ]] || { echo "FAIL: not synchronized"; echo "$status"; exit 1; }
python3 -c "import sys; sys.exit(not abs(float(sys.argv[1])) < 0.01)" "$offset" || { echo "FAIL: offset $offset"; exit 1; }
echo "PASS: ForgedRequestsAreNakedOrDroppedAndCountedByTheServer"
grep -q "steering the system clock" "$work"/*.log && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: forgery relay"
