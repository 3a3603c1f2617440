#!/usr/bin/env bash
# Falsetickers: an observe-only kairosd with plain NTP sources that all reach one kairosd server,
# each through its own kairos-relay; the liars' relays add 0.2 s to every response's receive and
# transmit timestamps. With 3 sources and 1 liar, and with 5 sources and 2 liars (who agree with
# each other), a liar must never be selected and the client's offset must stay far below 0.2 s.
# With 2 sources, one honest and one liar, there is no majority (clock/selection.hpp: 1 of 2 is
# not one): the daemon must neither select a source nor call itself synchronized; its state is
# "no majority". Last, a source whose served time steps by 0.2 s once the client is synchronized
# to it must be dropped by the selection, and the client's offset must not follow the step.
# No clock is steered (--no-steer).
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-falsetickers.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' CLIENT_PID=''
trap 'stop_pid "$CLIENT_PID"; stop_relays; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14520}
relay_base=${RELAY_BASE_PORT:-14521}  # relays on relay_base .. relay_base + 5
lie=0.2
set_launcher
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"

start_plain_server "$ntp_port"

# Relays 1, 2 and 4 are honest; 3 and 5 lie by the same amount, so they agree with each other.
declare -A relay_pid
for n in 1 2 3 4 5; do
  port=$((relay_base + n - 1))
  args=()
  [[ $n == 3 || $n == 5 ]] && args=(--offset "$lie")
  start_relay "relay$n" --udp-listen "127.0.0.1:$port" --udp-upstream "127.0.0.1:$ntp_port" --seed "$n" "${args[@]}"
  relay_pid[$n]=$RELAY_PID
done
# Relay 6 is honest for its first 30 responses, then lies: the served time steps.
start_relay relay6 --udp-listen "127.0.0.1:$((relay_base + 5))" --udp-upstream "127.0.0.1:$ntp_port" --seed 6 \
  --offset "$lie" --offset-from 30
relay_pid[6]=$RELAY_PID

# run_client NAME RELAYS...: a client with one plain source per relay, in that order.
run_client() {
  local name=$1 n
  shift
  write_client_header "$work/$name.toml" "$name"
  for n in "$@"; do add_source "$work/$name.toml" "127.0.0.1:$((relay_base + n - 1))" plain; done
  "$build/daemon/kairosd" --config "$work/$name.toml" --check-config >/dev/null
  start_client "$work/$name.toml" "$name"
}

# watch NAME SECONDS LIAR_INDEXES...: polls status and sources every 0.25 s; sets CHECKS,
# LIAR_SELECTED (checks where a liar was selected), HONEST_SELECTED (checks where at least one
# honest source was), SYNCED (checks that said synchronized), WORST (largest |offset| while
# synchronized) and STATES (the distinct states seen).
watch() {
  local name=$1 seconds=$2 sock="$work/run/$1/control.sock" status sources out
  shift 2
  out=$(python3 - "$build/tools/kairosctl/kairosctl" "$sock" "$seconds" "$@" <<'PY'
import json, subprocess, sys, time
ctl, sock, seconds, liars = sys.argv[1], sys.argv[2], float(sys.argv[3]), {int(i) for i in sys.argv[4:]}
checks = liar = honest = synced = 0
worst = 0.0
states = set()
end = time.monotonic() + seconds
while time.monotonic() < end:
    status = json.loads(subprocess.check_output([ctl, "status", "--json", "--socket", sock]))
    sources = json.loads(subprocess.check_output([ctl, "sources", "--json", "--socket", sock]))["sources"]
    checks += 1
    selected = {i for i, s in enumerate(sources) if s["selected"]}
    liar += bool(selected & liars)
    honest += bool(selected - liars)
    state = status["system"]["state"]
    states.add(state)
    if state == "synchronized":
        synced += 1
        worst = max(worst, abs(status["system"]["offset"]))
    time.sleep(0.25)
print(checks, liar, honest, synced, worst, "/".join(sorted(states)).replace(" ", "_"))
PY
)
  read -r CHECKS LIAR_SELECTED HONEST_SELECTED SYNCED WORST STATES <<<"$out"
}

# Part 1: three sources, the third lies.
run_client three 1 2 3
ctl waitsync --socket "$work/run/three/control.sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
  { echo "FAIL: 3 sources, 1 liar: no synchronization"; tail -n 20 "$work/three.log"; exit 1; }
watch three 6 2
sources=$(ctl sources --json --socket "$work/run/three/control.sock")
echo "3 sources, 1 liar: liar selected in $LIAR_SELECTED of $CHECKS checks, honest in $HONEST_SELECTED," \
  "synchronized in $SYNCED (states $STATES), largest |offset| $WORST s; liar's last offset $(get "$sources" '.sources[2].last_sample.offset') s"
((LIAR_SELECTED == 0)) || { echo "FAIL: the liar was selected"; echo "$sources"; exit 1; }
# A loaded machine may delay an honest answer past its age limit for a moment: most checks,
# not every one, must find the client synchronized to the honest sources.
((5 * HONEST_SELECTED >= 4 * CHECKS && 5 * SYNCED >= 4 * CHECKS)) || { echo "FAIL: lost the honest sources"; exit 1; }
python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 0.02)" "$WORST" || { echo "FAIL: offset $WORST"; exit 1; }
echo "PASS: FalsetickerIsNotSelected"
stop_pid "$CLIENT_PID"

# Part 2: five sources, the third and fifth lie and agree with each other.
run_client five 1 2 3 4 5
ctl waitsync --socket "$work/run/five/control.sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
  { echo "FAIL: 5 sources, 2 liars: no synchronization"; tail -n 20 "$work/five.log"; exit 1; }
watch five 6 2 4
echo "5 sources, 2 agreeing liars: liars selected in $LIAR_SELECTED of $CHECKS checks, honest in $HONEST_SELECTED," \
  "synchronized in $SYNCED (states $STATES), largest |offset| $WORST s"
((LIAR_SELECTED == 0)) || { echo "FAIL: a liar was selected"; ctl sources --socket "$work/run/five/control.sock"; exit 1; }
# A loaded machine may delay an honest answer past its age limit for a moment: most checks,
# not every one, must find the client synchronized to the honest sources.
((5 * HONEST_SELECTED >= 4 * CHECKS && 5 * SYNCED >= 4 * CHECKS)) || { echo "FAIL: lost the honest sources"; exit 1; }
python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 0.02)" "$WORST" || { echo "FAIL: offset $WORST"; exit 1; }
echo "PASS: TwoAgreeingFalsetickersAmongFiveAreNotSelected"
stop_pid "$CLIENT_PID"

# Part 3: one honest source, one liar: no majority, nothing to follow.
run_client two 1 3
watch two 8 1
status=$(ctl status --json --socket "$work/run/two/control.sock")
sources=$(ctl sources --json --socket "$work/run/two/control.sock")
samples=$(( $(get "$sources" '.sources[0].counters.samples') + $(get "$sources" '.sources[1].counters.samples') ))
echo "2 sources, 1 liar: states seen $STATES, synchronized in $SYNCED of $CHECKS checks, liar selected in" \
  "$LIAR_SELECTED, honest in $HONEST_SELECTED; $samples samples; final state $(get "$status" '.system.state')"
((samples > 4)) || { echo "FAIL: the sources did not answer"; echo "$sources"; exit 1; }
((SYNCED == 0 && LIAR_SELECTED == 0 && HONEST_SELECTED == 0)) || { echo "FAIL: followed a source without a majority"; exit 1; }
[[ $(get "$status" '.system.state') == '"no majority"' ]] || { echo "FAIL: state"; echo "$status"; exit 1; }
[[ $(get "$status" '.system.sources_selected') == 0 ]] || { echo "FAIL: sources selected"; exit 1; }
echo "PASS: NoMajorityFollowsNeitherSource"
stop_pid "$CLIENT_PID"
CLIENT_PID=

# Part 4: three sources; the third's served time steps by +0.2 s after its 30th answer.
run_client step 1 2 6
step_sock="$work/run/step/control.sock"
ctl waitsync --socket "$step_sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
  { echo "FAIL: 3 sources before the step: no synchronization"; tail -n 20 "$work/step.log"; exit 1; }
selected_before=0
for i in $(seq 1 40); do
  (($(relay_count "${relay_pid[6]}" relay6 responses rewritten) > 0)) && break
  [[ $(get "$(ctl sources --json --socket "$step_sock")" '.sources[2].selected') == true ]] && selected_before=1
  sleep 0.25
done
((selected_before == 1)) || { echo "FAIL: the source was never selected before its step"; exit 1; }
relay_snapshot "${relay_pid[6]}" relay6
(($(relay_field responses rewritten) > 0)) || { echo "FAIL: the served time never stepped"; exit 1; }
watch step 6 2
sources=$(ctl sources --json --socket "$step_sock")
echo "3 sources, one steps by $lie s: selected before the step; after it selected in $LIAR_SELECTED of $CHECKS checks," \
  "honest in $HONEST_SELECTED, synchronized in $SYNCED (states $STATES), largest |offset| $WORST s;" \
  "its last offset $(get "$sources" '.sources[2].last_sample.offset') s"
# Its estimate may lag its first stepped sample by a poll; after that it must stay out.
((LIAR_SELECTED <= 2)) || { echo "FAIL: the stepped source stayed selected"; echo "$sources"; exit 1; }
[[ $(get "$sources" '.sources[2].selected') == false ]] || { echo "FAIL: the stepped source is selected"; exit 1; }
((5 * HONEST_SELECTED >= 4 * CHECKS && 5 * SYNCED >= 4 * CHECKS)) || { echo "FAIL: lost the honest sources"; exit 1; }
python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 0.02)" "$WORST" || { echo "FAIL: offset $WORST"; exit 1; }
echo "PASS: SourceWhoseServedTimeStepsIsDropped"
stop_pid "$CLIENT_PID"
CLIENT_PID=

for n in 1 2 3 4 5 6; do
  relay_snapshot "${relay_pid[$n]}" "relay$n"
  echo "relay$n: $(relay_field responses received) responses, $(relay_field responses rewritten) rewritten"
done
grep -q "steering the system clock" "$work"/*.log && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: falsetickers"
