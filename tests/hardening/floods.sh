#!/usr/bin/env bash
# Floods against a kairosd server on loopback with its rate limits on (the defaults) and a small
# NTS-KE connection limit, driven by kairos-loadgen; legitimate queries (kairosctl query, NTS)
# come from 127.0.0.1, the floods from other loopback addresses. Each phase prints its counts,
# one "floods:" line per fact, and asserts what the server is designed to hold:
#  a. NTP at 20 k/s from 127.0.0.2, 20 % of it malformed or oversize: RATE kisses sent, the
#     flooder served a small share, no junk answered, the legitimate client served during it,
#     the server's memory bounded;
#  b. NTS-KE exchanges back to back from 127.0.0.3: refused over the rate limit, each refusal
#     cheap, a legitimate query served during it;
#  c. slowloris: more connections than max-connections from four addresses, each trickling a
#     TLS record that never completes: the server's descriptors stay bounded, the excess is
#     refused while the held ones are young, a legitimate query served while every slot is held
#     (it takes the oldest one's slot), every held connection closed by the deadline;
#  d. random bytes on the NTS-KE port at rate: counted as failures, survived;
#  e. a kairosd client polling 4 times a second, over the rate limit: it counts the RATE kisses
#     it gets and polls less often (last, as it spends 127.0.0.1's allowance).
# At the end the server still answers, exits cleanly and its log has no crash or sanitizer
# report. Observe-only throughout: --no-steer, no configuration mentions steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-floods.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' FLOOD_PID='' CLIENT_PID=''
trap 'stop_pid "$FLOOD_PID"; stop_pid "$CLIENT_PID"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14600}
ke_port=${KE_PORT:-14601}
max_connections=32
ke_timeout=2
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
sock="$work/run/server/control.sock"

# No rate-limit lines: both limits are on with their defaults (NTP: 2 s interval, burst 8;
# NTS-KE: 0.1 s, burst 32, per address).
cat >"$work/server.toml" <<CONF
[daemon]
state-dir = "$work/state"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 1
local-stratum = 1
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
max-connections = $max_connections
timeout = $ke_timeout
[control]
socket = "$sock"
[shm]
enabled = false
CONF
if grep -q steer "$work/server.toml"; then echo "FAIL: the configuration mentions steer"; exit 1; fi
"$build/daemon/kairosd" --config "$work/server.toml" --check-config >/dev/null
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
pid=$KAIROSD_PID

loadgen() { "$build/tools/loadgen/kairos-loadgen" "$@"; }
# The legitimate client: NTS from 127.0.0.1 (the kernel's source for 127.0.0.1).
query() { ctl query --ca "$work/pki/ca.crt" --no-system-ca --json "$@" "127.0.0.1:$ke_port"; }
fd_count() {
  local fds=("/proc/$pid/fd/"*)
  echo "${#fds[@]}"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# The server's counters; its NTP workers publish theirs every 250 ms, so wait that long first.
server_counters() {
  sleep 0.3
  ctl server --json --socket "$sock"
}
# delta BEFORE AFTER PATH: how much the counter at PATH grew.
delta() { echo $(($(get "$2" "$3") - $(get "$1" "$3"))); }
# Samples in a kairosctl query --json answer (0 for a failure or no answer at all).
samples_in() {
  python3 -c '
import json, sys
try:
    print(len(json.load(sys.stdin).get("samples", [])))
except ValueError:
    print(0)' <<<"$1"
}
fail() {
  echo "FAIL: $*"
  tail -n 20 "$work/server.log"
  exit 1
}
alive() { kill -0 "$pid" 2>/dev/null || fail "kairosd is gone"; }

for _ in $(seq 1 50); do [[ -S $sock ]] && break; sleep 0.1; done
query --count 1 >/dev/null || fail "no answer before any flood"
fd_baseline=$(fd_count)
rss_before=$(rss_kib)
echo "floods: server baseline fds=$fd_baseline rss_kib=$rss_before max_connections=$max_connections timeout=$ke_timeout"

# --- a. NTP flood with junk -------------------------------------------------------------------
before=$(server_counters)
loadgen ntp --server "127.0.0.1:$ntp_port" --bind 127.0.0.2 --rate 20000 --duration 3 --junk 0.2 \
  --sockets 16 --json >"$work/ntp.json" &
FLOOD_PID=$!
sleep 0.5
legit_rc=0
legit=$(query --count 4 --interval 0.4 --timeout 1) || legit_rc=$?
wait "$FLOOD_PID" || fail "kairos-loadgen ntp failed"
FLOOD_PID=''
after=$(server_counters)
rss_after=$(rss_kib)
flood=$(<"$work/ntp.json")
sent=$(get "$flood" .sent) served=$(get "$flood" .served) kisses=$(get "$flood" .kisses)
junk=$(get "$flood" .junk_sent) answered_junk=$(get "$flood" .answered_junk)
legit_samples=$(samples_in "$legit")
rss_growth=$((rss_after - rss_before))
echo "floods: ntp flood from 127.0.0.2 sent=$sent served=$served rate_kisses=$kisses junk=$junk" \
  "answered_junk=$answered_junk achieved_rate=$(get "$flood" .achieved_rate)"
echo "floods: ntp server received=$(delta "$before" "$after" .server.ntp.received)" \
  "served=$(delta "$before" "$after" .server.ntp.served) rate_kisses=$(delta "$before" "$after" .server.ntp.rate_limited)" \
  "dropped=$(delta "$before" "$after" .server.ntp.dropped)"
echo "floods: ntp legitimate client from 127.0.0.1 during the flood samples=$legit_samples of 4 (exit $legit_rc)"
echo "floods: ntp server rss_kib before=$rss_before after=$rss_after growth=$rss_growth"
((junk > 0)) || fail "no junk sent"
((answered_junk == 0)) || fail "the server answered $answered_junk junk datagrams"
((kisses > 0)) || fail "no RATE kiss reached the flooder"
(($(delta "$before" "$after" .server.ntp.rate_limited) > 0)) || fail "the server counted no RATE kiss"
((served * 100 < sent)) || fail "the flooder was served $served of $sent: not limited"
((legit_rc == 0 && legit_samples >= 1)) || fail "the legitimate client got no sample during the flood: $legit"
((rss_growth < 32 * 1024)) || fail "RSS grew by $rss_growth KiB"
alive
echo "PASS: NtpFloodIsRateLimitedJunkUnansweredLegitimateClientServed"

# --- b. NTS-KE exchange flood -----------------------------------------------------------------
# 16 at a time stays under max-connections: every refusal here is the per-address rate limit.
before=$(server_counters)
loadgen ke --server "127.0.0.1:$ke_port" --ca "$work/pki/ca.crt" --bind 127.0.0.3 --concurrency 16 \
  --duration 3 --timeout 2 --json >"$work/ke.json" &
FLOOD_PID=$!
sleep 0.5
legit_rc=0
legit=$(query --count 1 --timeout 2) || legit_rc=$?
wait "$FLOOD_PID" || true  # exit 1 only means no exchange completed: judged from the counts below
FLOOD_PID=''
after=$(server_counters)
flood=$(<"$work/ke.json")
completed=$(get "$flood" .completed) failed=$(get "$flood" .failed) wall=$(get "$flood" .wall_seconds)
refused=$(delta "$before" "$after" .server.nts_ke.refused)
echo "floods: ke flood from 127.0.0.3 completed=$completed failed=$failed in ${wall}s;" \
  "server ok=$(delta "$before" "$after" .server.nts_ke.ok) refused=$refused failed=$(delta "$before" "$after" .server.nts_ke.failed)"
echo "floods: ke legitimate query from 127.0.0.1 during the flood exit=$legit_rc samples=$(samples_in "$legit")"
((refused > 0)) || fail "no NTS-KE connection refused by the rate limit"
# The limit allows a burst of 32 and then one per 0.1 s; 5 spare for the legitimate query.
python3 -c 'import sys; c, w = int(sys.argv[1]), float(sys.argv[2]); sys.exit(not c <= 32 + 10 * w + 5)' "$completed" "$wall" ||
  fail "$completed exchanges completed in ${wall}s: more than the rate limit allows"
((legit_rc == 0)) || fail "the legitimate query failed during the NTS-KE flood: $legit"
alive
echo "PASS: NtsKeFloodIsRateLimitedLegitimateQueryServed"

# --- c. Slowloris ----------------------------------------------------------------------------
# Three times max-connections, trickling one byte every 0.5 s; opened within half a second so
# the per-address rate limit lets them all reach the connection limit.
before=$(server_counters)
fd_baseline=$(fd_count)
loadgen hold --server "127.0.0.1:$ke_port" --bind 127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7 \
  --connections $((3 * max_connections)) --rate 200 --trickle 0.5 --duration $((ke_timeout + 4)) \
  --json >"$work/hold.json" &
FLOOD_PID=$!
# Once every slot is held by a connection older than the eviction age (min(timeout/4, 1 s) =
# 0.5 s; after 1 s), a legitimate client gets in: at the limit it takes the oldest one's slot.
(sleep 1; query --count 1 --timeout 1 >"$work/during.json" 2>&1) &
during_pid=$!
fd_peak=0
while kill -0 "$FLOOD_PID" 2>/dev/null; do
  n=$(fd_count)
  if ((n > fd_peak)); then fd_peak=$n; fi
  sleep 0.02
done
wait "$FLOOD_PID" || fail "kairos-loadgen hold failed"
FLOOD_PID=''
during_rc=0
wait "$during_pid" || during_rc=$?
after=$(server_counters)
hold=$(<"$work/hold.json")
opened=$(get "$hold" .opened) closed=$(get "$hold" .closed_by_server) still_open=$(get "$hold" .still_open)
longest=$(get "$hold" .longest_lifetime) median=$(get "$hold" .median_lifetime)
refused=$(delta "$before" "$after" .server.nts_ke.refused)
ke_failed=$(delta "$before" "$after" .server.nts_ke.failed)
echo "floods: slowloris connections=$((3 * max_connections)) opened=$opened connect_failed=$(get "$hold" .connect_failed)" \
  "closed_by_server=$closed still_open=$still_open longest_s=$longest median_s=$median"
echo "floods: slowloris server fds baseline=$fd_baseline peak=$fd_peak (bound $((fd_baseline + max_connections + 2)))" \
  "refused=$refused failed=$ke_failed"
echo "floods: slowloris legitimate query while every slot was held: exit=$during_rc samples=$(samples_in "$(<"$work/during.json")")"
legit_rc=0
legit=$(query --count 1 --timeout 2) || legit_rc=$?
echo "floods: slowloris legitimate query after the flood exit=$legit_rc"
# Two spare: one connection accepted and about to be closed at once, one control connection.
((fd_peak <= fd_baseline + max_connections + 2)) || fail "descriptors peaked at $fd_peak"
((refused > 0)) || fail "no connection refused over the limits"
((still_open == 0 && closed == opened)) || fail "connections outlived the server's deadline: $hold"
python3 -c 'import sys; l, t = float(sys.argv[1]), float(sys.argv[2]); sys.exit(not (0.9 * t <= l <= t + 1))' "$longest" "$ke_timeout" ||
  fail "the longest connection lived ${longest}s; the deadline is ${ke_timeout}s"
((ke_failed > 0)) || fail "the held connections were not counted as failed (timed out)"
((during_rc == 0)) || fail "the legitimate query while every slot was held failed: $(<"$work/during.json")"
((legit_rc == 0)) || fail "the legitimate query failed after the slowloris: $legit"
alive
echo "PASS: SlowlorisIsBoundedLegitimateQueryServedDuringIt"

# --- d. Garbage on the NTS-KE port --------------------------------------------------------------
before=$(server_counters)
loadgen hold --server "127.0.0.1:$ke_port" --bind 127.0.0.8,127.0.0.9 --connections 200 --rate 100 \
  --garbage 512 --duration $((ke_timeout + 4)) --json >"$work/garbage.json" || fail "kairos-loadgen hold --garbage failed"
after=$(server_counters)
garbage=$(<"$work/garbage.json")
opened=$(get "$garbage" .opened) closed=$(get "$garbage" .closed_by_server) still_open=$(get "$garbage" .still_open)
ke_failed=$(delta "$before" "$after" .server.nts_ke.failed)
echo "floods: garbage connections=200 opened=$opened closed_by_server=$closed still_open=$still_open" \
  "bytes_sent=$(get "$garbage" .bytes_sent) longest_s=$(get "$garbage" .longest_lifetime);" \
  "server failed=$ke_failed refused=$(delta "$before" "$after" .server.nts_ke.refused)"
((ke_failed > 0)) || fail "garbage was not counted as failed handshakes"
((still_open == 0 && closed == opened)) || fail "garbage connections left open: $garbage"
alive
echo "PASS: GarbageOnTheKePortIsCountedAndSurvived"

# --- The end ------------------------------------------------------------------------------------
final=$(query --count 1 --timeout 2) || fail "no answer after the floods: $final"
echo "floods: final query offset=$(get "$final" .offset) authenticated=$(get "$final" .authenticated)"

# --- e. A kairosd client over the rate limit ----------------------------------------------------
write_client_header "$work/client.toml" client
add_source "$work/client.toml" "127.0.0.1:$ntp_port" plain
sed -i 's/^maxpoll = -2$/maxpoll = 4/' "$work/client.toml"
start_client "$work/client.toml" client
kiss_sources=''
for _ in $(seq 1 40); do
  kiss_sources=$(ctl sources --json --socket "$work/run/client/control.sock")
  (($(get "$kiss_sources" '.sources[0].counters.kisses') > 0)) && break
  sleep 0.25
done
stop_pid "$CLIENT_PID"
CLIENT_PID=''
kisses=$(get "$kiss_sources" '.sources[0].counters.kisses') poll=$(get "$kiss_sources" '.sources[0].poll')
echo "floods: kairosd client at 2^-2 s: samples=$(get "$kiss_sources" '.sources[0].counters.samples') kisses=$kisses" \
  "timeouts=$(get "$kiss_sources" '.sources[0].counters.timeouts') poll now 2^$poll s"
((kisses > 0)) || fail "the client counted no RATE kiss: $kiss_sources"
((poll > -2)) || fail "the client did not slow down after a RATE kiss: $kiss_sources"
grep -q "kiss RATE" "$work/client.log" || fail "the client did not log the kiss"
echo "PASS: ClientOverTheRateLimitCountsKissesAndSlowsDown"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
KAIROSD_PID=''
((rc == 0)) || fail "kairosd exited with $rc"
# Its counters at exit split the refusals (over the connection limit, over the rate limit) and
# count the slowloris connections evicted for the legitimate query.
ke_line=$(grep "nts-ke: .* accepted" "$work/server.log" | tail -n 1)
ntp_line=$(grep "server: .* received" "$work/server.log" | tail -n 1)
echo "floods: at exit $ntp_line"
echo "floods: at exit $ke_line"
over_limit=$(grep -oE '[0-9]+ over the connection limit' <<<"$ke_line" | cut -d' ' -f1)
rate_limited=$(grep -oE '[0-9]+ rate-limited' <<<"$ke_line" | cut -d' ' -f1)
timed_out=$(grep -oE '[0-9]+ timed out' <<<"$ke_line" | cut -d' ' -f1)
evicted=$(grep -oE '[0-9]+ evicted' <<<"$ke_line" | cut -d' ' -f1)
((over_limit > 0 && rate_limited > 0 && timed_out > 0 && evicted > 0)) ||
  fail "expected over-limit, rate-limited, timed-out and evicted NTS-KE connections: $ke_line"
if grep -qE "AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:|Segmentation fault|terminate called|Aborted" \
  "$work/server.log"; then
  fail "crash or sanitizer report in the server's log"
fi
grep -q "steering the system clock" "$work/server.log" && fail "kairosd steered"
echo "PASS: floods"
