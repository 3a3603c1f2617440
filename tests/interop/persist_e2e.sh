#!/usr/bin/env bash
# Persisted state end to end: kairosd as an NTS server on loopback (local stratum 1) and a second
# kairosd, observe-only, as its NTS client with its own state-dir. After waitsync and SIGTERM the
# client has left <state-dir>/frequency and <state-dir>/nts/<source>; restarted, it synchronizes
# again on the saved keys and cookies without an NTS-KE (neither its counters nor the server's
# show one) and starts from the saved frequency. With both files corrupted it warns, does an
# NTS-KE and synchronizes all the same. Both daemons run with --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-persist-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13443}
ke_port=${KE_PORT:-13780}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/server-state" "$work/client-state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/server-state" "$work/client-state" "$work/run"
client_sock="$work/run/client/control.sock"
server_sock="$work/run/server/control.sock"
state="$work/client-state"
source_name="localhost:$ke_port"
nts_file="$state/nts/localhost_3a$ke_port"

loopback_server_config "$work/server-state" "$ntp_port" "$ke_port" "$work/pki" "$server_sock" >"$work/server.toml"
{
  loopback_client_config "$state" "$ke_port" "$work/pki"
  cat <<CONF
[control]
socket = "$client_sock"
[shm]
enabled = false
CONF
} >"$work/client.toml"

server_ke_ok() { get "$("$ctl" server --json --socket "$server_sock")" '.server.nts_ke.ok'; }
client_ke_ok() { get "$("$ctl" sources --json --socket "$client_sock")" '.sources[0].counters.ke_ok'; }

# start_client LOG: runs the client and waits until it is synchronized.
start_client() {
  local log=$1
  rm -f "$client_sock"
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$log" &
  client_pid=$!
  for i in $(seq 1 50); do [[ -S $client_sock ]] && break; sleep 0.1; done
  "$ctl" waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.5 ||
    { echo "FAIL: waitsync"; tail -n 30 "$log"; exit 1; }
  # Until the model has learned the frequency (a first sample synchronizes, a frequency wants
  # two), kairosd keeps the old frequency file: wait for it.
  for i in $(seq 1 80); do
    sd=$(get "$("$ctl" status --json --socket "$client_sock")" '.system.frequency_sd_ppm' 2>/dev/null || echo 1e9)
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 100 else 1)" "$sd" && return 0
    sleep 0.25
  done
  echo "FAIL: the frequency was not learned in 20 s (sd $sd ppm)"; tail -n 20 "$log"; exit 1
}

# stop_client LOG: SIGTERM, and a clean exit.
stop_client() {
  local log=$1 rc=0
  kill -TERM "$client_pid"
  wait "$client_pid" || rc=$?
  client_pid=
  ((rc == 0)) || { echo "FAIL: exit code $rc after SIGTERM"; tail -n 10 "$log"; exit 1; }
}

check_files() {
  [[ -f $state/frequency ]] || { echo "FAIL: no frequency file"; ls -lR "$state"; exit 1; }
  [[ -f $nts_file ]] || { echo "FAIL: no NTS state file $nts_file"; ls -lR "$state"; exit 1; }
  [[ $(stat -c %a "$nts_file") == 600 ]] || { echo "FAIL: NTS state mode $(stat -c %a "$nts_file")"; exit 1; }
  python3 - "$state/frequency" "$nts_file" "$source_name" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
assert f["version"] == 1 and abs(f["frequency_ppm"]) < 1000 and f["sd_ppm"] >= 0, f
n = json.load(open(sys.argv[2]))
assert n["version"] == 1 and n["source"] == sys.argv[3] and n["cookies"], n
assert n["ntp_port"] > 0 and n["aead"] in (15, 16, 17), n
PY
}

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"

# 1. First run: an NTS-KE, then the files at exit.
start_client "$work/client1.log"
[[ $(client_ke_ok) == 1 ]] || { echo "FAIL: first run without an NTS-KE"; exit 1; }
stop_client "$work/client1.log"
check_files
ke_before=$(server_ke_ok)
[[ $ke_before == 1 ]] || { echo "FAIL: server counted $ke_before NTS-KEs"; exit 1; }
echo "PASS: frequency and NTS state written at exit"

# 2. Restart: the saved keys and cookies, no NTS-KE; the file is consumed at start.
start_client "$work/client2.log"
[[ $(client_ke_ok) == 0 ]] || { echo "FAIL: the restarted client did an NTS-KE"; tail -n 30 "$work/client2.log"; exit 1; }
[[ $(server_ke_ok) == "$ke_before" ]] || { echo "FAIL: the server saw another NTS-KE"; exit 1; }
[[ ! -e $nts_file ]] || { echo "FAIL: the NTS state file is still there while its cookies are in use"; exit 1; }
grep -q "cookies from the last run" "$work/client2.log" || { echo "FAIL: no restore in the log"; exit 1; }
grep -q "system clock: frequency .* from $state/frequency" "$work/client2.log" ||
  { echo "FAIL: frequency not seeded"; grep -i frequency "$work/client2.log"; exit 1; }
samples=$(get "$("$ctl" sources --json --socket "$client_sock")" '.sources[0].counters.samples')
((samples > 0)) || { echo "FAIL: no samples on the saved cookies"; exit 1; }
stop_client "$work/client2.log"
check_files
echo "PASS: restarted on the saved state without an NTS-KE ($samples samples)"

# 3. Both files corrupt: warnings, an NTS-KE, synchronized all the same.
echo '{"version": 1, "frequency_ppm": ' >"$state/frequency"
printf 'garbage\0\1\2' >"$nts_file"
start_client "$work/client3.log"
grep -q "frequency file ignored" "$work/client3.log" || { echo "FAIL: no warning for the frequency file"; exit 1; }
grep -q "saved NTS state ignored" "$work/client3.log" || { echo "FAIL: no warning for the NTS file"; exit 1; }
[[ $(client_ke_ok) == 1 ]] || { echo "FAIL: no NTS-KE after a corrupt NTS file"; exit 1; }
[[ $(server_ke_ok) == $((ke_before + 1)) ]] || { echo "FAIL: server NTS-KE count $(server_ke_ok)"; exit 1; }
stop_client "$work/client3.log"
check_files
echo "PASS: corrupt files are ignored with a warning, replaced at exit"
echo "PASS: persisted state end to end"
