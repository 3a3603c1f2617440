#!/usr/bin/env bash
# Leap second announcements: an observe-only kairosd server reached through four kairos-relays;
# relays 1 and 2 set the leap indicator of every response to "insert" (LI = 1).
# - Client "majority" (relays 1, 2, 3): 2 of 3 selected sources announce, so the daemon shows the
#   insertion as announced; it arms it (here: on the observed clock, never the kernel's) only if
#   today is the last day of a month in UTC, as the kernel leaps at the next midnight.
# - Client "minority" (relays 1, 3, 4): 1 of 3 announces: no leap second.
# The insertion itself (23:59:60 on a clock) is proven by the simulator (scenario "leap") and
# Discipline.LeapAnnouncedBySourcesArmsTheDevice. Never steers: --no-steer everywhere.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
source "$top/tests/hardening/lib.sh"
work=$(mktemp -d /tmp/kairos-leap.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID='' CLIENT_PID='' minority_pid=''
trap 'stop_pid "$CLIENT_PID"; stop_pid "$minority_pid"; stop_relays; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14570}
relay_base=${RELAY_BASE_PORT:-14571}  # relays on relay_base .. relay_base + 3
set_launcher
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"

start_plain_server "$ntp_port"

declare -A relay_pid
for n in 1 2 3 4; do
  args=()
  ((n <= 2)) && args=(--leap insert)
  start_relay "relay$n" --udp-listen "127.0.0.1:$((relay_base + n - 1))" --udp-upstream "127.0.0.1:$ntp_port" \
    --seed "$n" "${args[@]}"
  relay_pid[$n]=$RELAY_PID
done

client_config() {
  local name=$1 n
  shift
  write_client_header "$work/$name.toml" "$name"
  for n in "$@"; do add_source "$work/$name.toml" "127.0.0.1:$((relay_base + n - 1))" plain; done
  "$build/daemon/kairosd" --config "$work/$name.toml" --check-config >/dev/null
}
client_config majority 1 2 3
client_config minority 1 3 4
start_client "$work/minority.toml" minority
minority_pid=$CLIENT_PID
start_client "$work/majority.toml" majority

for name in majority minority; do
  ctl waitsync --socket "$work/run/$name/control.sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
    { echo "FAIL: $name: no synchronization"; tail -n 20 "$work/$name.log"; exit 1; }
done
sleep 2  # a few more samples with the announcement
relay_snapshot "${relay_pid[1]}" relay1
marked=$(relay_field responses rewritten)
((marked > 0)) || { echo "FAIL: relay 1 marked no response"; exit 1; }

last_day=$(python3 -c 'import datetime as d; t = d.datetime.now(d.timezone.utc); print(str((t + d.timedelta(days=1)).day == 1).lower())')
status=$(ctl status --json --socket "$work/run/majority/control.sock")
leap=$(get "$status" '.system.leap')
armed=$(get "$status" '.system.leap_armed')
text=$(ctl status --socket "$work/run/majority/control.sock" | grep "Leap second" || true)
echo "leap_second: 2 of 3 sources announce insert ($marked responses marked by relay 1): leap $leap, armed $armed" \
  "(today the month's last day: $last_day); kairosctl says: ${text:-nothing}"
[[ $leap == '"insert"' ]] || { echo "FAIL: the majority's announcement is not shown"; echo "$status"; exit 1; }
[[ $armed == "$last_day" ]] || { echo "FAIL: armed=$armed on a day where last_day=$last_day"; exit 1; }
[[ $text == *"insert announced"* ]] || { echo "FAIL: kairosctl status does not name the leap second"; exit 1; }
echo "PASS: LeapAnnouncedByTheMajorityIsShownAndArmedOnlyOnTheMonthsLastDay"

status=$(ctl status --json --socket "$work/run/minority/control.sock")
echo "leap_second: 1 of 3 sources announces insert: leap $(get "$status" '.system.leap'), armed $(get "$status" '.system.leap_armed')"
[[ $(get "$status" '.system.leap') == '"none"' && $(get "$status" '.system.leap_armed') == false ]] ||
  { echo "FAIL: a minority's announcement was taken"; echo "$status"; exit 1; }
echo "PASS: LeapAnnouncedByAMinorityIsIgnored"
grep -q "steering the system clock" "$work"/*.log && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: leap_second"
