#!/usr/bin/env bash
# SIGHUP end to end: kairosd as an NTS/NTP server on loopback (local stratum 1) and a second
# kairosd, observe-only, as its client with one source. The client's file is edited and SIGHUP
# sent: a source added (the server's plain NTP port under another name) is listed and measured,
# a removed one disappears, a setting bound at start is named and kept, a broken file changes
# nothing and its problem is logged, 20 SIGHUPs in a row are harmless, and SIGTERM still ends it
# with 0. No clock is steered: both run with --no-steer and no `steer` in their configuration.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-reload-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13523}
ke_port=${KE_PORT:-13860}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
server_sock="$work/run/server/control.sock"
client_sock="$work/run/client/control.sock"
nts_source="localhost:$ke_port"
plain_source="127.0.0.1:$ntp_port"

loopback_server_config "$work/state" "$ntp_port" "$ke_port" "$work/pki" "$server_sock" >"$work/server.toml"

# client_conf MODE SOURCES...: the client's file with these [[source]] entries ("nts" or "plain").
client_conf() {
  local mode=$1
  shift
  cat <<CONF
[daemon]
state-dir = "$work/state"
[control]
socket = "$client_sock"
mode = "$mode"
CONF
  local s
  for s in "$@"; do
    if [[ $s == nts ]]; then
      printf '[[source]]\naddress = "%s"\nca = "%s"\nminpoll = -2\nmaxpoll = -2\niburst = true\n' "$nts_source" "$work/pki/ca.crt"
    else
      printf '[[source]]\naddress = "%s"\nnts = false\nminpoll = -2\nmaxpoll = -2\n' "$plain_source"
    fi
  done
}
# Written in place (same inode), as an editor might; kairosd reads it again on SIGHUP.
write_client_conf() { client_conf "$@" >"$work/client.toml.new" && cat "$work/client.toml.new" >"$work/client.toml"; }

write_client_conf 0600 nts
if grep -q "steer" "$work/server.toml" "$work/client.toml"; then echo "FAIL: a config mentions steer"; exit 1; fi
"$build/daemon/kairosd" --config "$work/client.toml" --check-config

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
client_pid=$!
for i in $(seq 1 50); do [[ -S $client_sock ]] && break; sleep 0.1; done
[[ -S $client_sock ]] || { echo "FAIL: no client control socket"; cat "$work/client.log"; exit 1; }

# sources_json: `kairosctl sources --json` of the client. count / names / samples of NAME from it.
sources_json() { "$ctl" sources --json --socket "$client_sock"; }
count() { python3 -c 'import json, sys; print(len(json.load(sys.stdin)["sources"]))' <<<"$1"; }
names() { python3 -c 'import json, sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["sources"]))' <<<"$1"; }
samples() {
  python3 -c '
import json, sys
print(sum(s["counters"]["samples"] for s in json.load(sys.stdin)["sources"] if s["name"] == sys.argv[1]))' "$2" <<<"$1"
}
# wait_for CONDITION-COMMAND...: up to 10 s.
wait_for() {
  local i
  for i in $(seq 1 50); do "$@" && return 0; sleep 0.2; done
  return 1
}
has_samples() { (($(samples "$(sources_json)" "$1") > 0)); }
log_has() { grep -q -- "$1" "$work/client.log"; }
# The source's keys: an unchanged source keeps its association, so no second NTS-KE.
ke_ok() { python3 -c 'import json, sys; print(json.load(sys.stdin)["sources"][0]["counters"]["ke_ok"])' <<<"$(sources_json)"; }

wait_for has_samples "$nts_source" || { echo "FAIL: the NTS source measures nothing"; tail -n 20 "$work/client.log"; exit 1; }
[[ $(count "$(sources_json)") == 1 ]] || { echo "FAIL: not one source at start"; exit 1; }
echo "PASS: one NTS source at start"

# A second source and a setting that needs a restart.
write_client_conf 0640 nts plain
kill -HUP "$client_pid"
wait_for log_has "reloaded: +1 source" || { echo "FAIL: no reload summary"; tail -n 20 "$work/client.log"; exit 1; }
json=$(sources_json)
[[ $(count "$json") == 2 && $(names "$json") == "$nts_source $plain_source" ]] ||
  { echo "FAIL: after adding: $(names "$json")"; exit 1; }
wait_for has_samples "$plain_source" || { echo "FAIL: the added source measures nothing"; tail -n 20 "$work/client.log"; exit 1; }
[[ $(ke_ok) == 1 ]] || { echo "FAIL: the unchanged NTS source did NTS-KE again ($(ke_ok))"; exit 1; }
log_has "control.mode changed: needs a restart; keeping the old value" ||
  { echo "FAIL: control.mode not named"; tail -n 20 "$work/client.log"; exit 1; }
[[ $(stat -c %a "$client_sock") == 600 ]] || { echo "FAIL: the socket's mode changed"; exit 1; }
echo "PASS: SIGHUP adds a source (2 listed, measured, the first keeps its keys); control.mode needs a restart"

# The first one removed.
write_client_conf 0600 plain
kill -HUP "$client_pid"
wait_for log_has "reloaded: -1 source" || { echo "FAIL: no removal summary"; tail -n 20 "$work/client.log"; exit 1; }
json=$(sources_json)
[[ $(count "$json") == 1 && $(names "$json") == "$plain_source" ]] || { echo "FAIL: after removing: $(names "$json")"; exit 1; }
before=$(samples "$json" "$plain_source")
wait_for eval '(($(samples "$(sources_json)" "$plain_source") > before))' ||
  { echo "FAIL: the remaining source stopped"; exit 1; }
clocks=$("$ctl" clocks --json --socket "$client_sock")
[[ $(python3 -c 'import json, sys; print(json.load(sys.stdin)["clocks"][0]["sources"])' <<<"$clocks") == 1 ]] ||
  { echo "FAIL: the clock model still counts the removed source"; echo "$clocks"; exit 1; }
removed_samples=$(grep -c "$nts_source: sample" "$work/client.log")
echo "PASS: SIGHUP removes a source (1 listed, 1 in the clock model)"

# A broken file: nothing changes, the problem is logged.
printf '[[source]]\naddress = "%s"\nminpoll = "fast"\n' "$plain_source" >"$work/client.toml"
kill -HUP "$client_pid"
wait_for log_has "has problems; nothing changed" || { echo "FAIL: broken file not reported"; tail -n 20 "$work/client.log"; exit 1; }
grep -q "minpoll" "$work/client.log" || { echo "FAIL: the problem is not named"; tail -n 20 "$work/client.log"; exit 1; }
kill -0 "$client_pid" || { echo "FAIL: kairosd died on a broken file"; exit 1; }
json=$(sources_json)
[[ $(count "$json") == 1 && $(names "$json") == "$plain_source" ]] || { echo "FAIL: a broken file changed the sources"; exit 1; }
# Seconds later, the removed source has not measured again: its association is gone.
[[ $(grep -c "$nts_source: sample" "$work/client.log") == "$removed_samples" ]] ||
  { echo "FAIL: the removed source still measures"; exit 1; }
echo "PASS: a broken file changes nothing and its problem is logged; the removed source is silent"

# A storm of SIGHUPs with a valid file (adding the NTS source back).
write_client_conf 0600 plain nts
for i in $(seq 1 20); do kill -HUP "$client_pid"; done
sleep 1
kill -0 "$client_pid" || { echo "FAIL: kairosd died in a SIGHUP storm"; tail -n 20 "$work/client.log"; exit 1; }
json=$(sources_json) || { echo "FAIL: no answer after the storm"; exit 1; }
[[ $(count "$json") == 2 ]] || { echo "FAIL: after the storm: $(names "$json")"; exit 1; }
[[ $(grep -c "SIGHUP: source $nts_source added" "$work/client.log") == 1 ]] ||
  { echo "FAIL: the storm added the source more than once"; exit 1; }
echo "PASS: 20 SIGHUPs in a row: still answering, the source added once"

kill -TERM "$client_pid"
set +e
wait "$client_pid"
rc=$?
set -e
client_pid=
[[ $rc == 0 ]] || { echo "FAIL: exit status $rc after SIGTERM"; tail -n 20 "$work/client.log"; exit 1; }
grep -q "steering the system clock" "$work/client.log" "$work/server.log" && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: SIGHUP reload end to end"
