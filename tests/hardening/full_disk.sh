#!/usr/bin/env bash
# A full state disk: an observe-only NTS client kairosd keeps its state-dir on a small tmpfs. Its
# NTS state (keys and unused cookies) is written at a clean exit only, never while it runs (a
# crash must not leave cookies that were sent since). The disk is filled to the last byte; at
# SIGTERM saving the NTS state and the frequency fails: kairosd says so, exits 0 and leaves no
# partial file. Restarted, it runs NTS-KE (nothing saved: no cookie sent twice); stopped cleanly
# on a disk with room, it saves, and the next start synchronizes on those keys without NTS-KE.
# Needs root for the mount (exit 77 = skipped otherwise). Never steers: --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root to mount a small tmpfs"; exit 77; }
work=$(mktemp -d /tmp/kairos-full-disk.XXXXXX)
chmod 0755 "$work"
state="$work/client-state"
mkdir -p "$state" "$work/server-state" "$work/run"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; umount "$state" 2>/dev/null; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-14543}
ke_port=${KE_PORT:-14544}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
owner=$(id -u "$RUN_USER"):$(id -g "$RUN_USER")
mount -t tmpfs -o size=64k,mode=0700,uid=${owner%:*},gid=${owner#*:} kairos-state "$state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/server-state" "$work/run"
make_test_pki "$work/pki"
client_sock="$work/run/client/control.sock"
server_sock="$work/run/server/control.sock"
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

ke_ok() { "$ctl" server --json --socket "$server_sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["nts_ke"]["ok"])'; }
run_client() {
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$1" &
  client_pid=$!
  for i in $(seq 1 50); do [[ -S $client_sock ]] && break; sleep 0.1; done
  "$ctl" waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.5 >/dev/null ||
    { echo "FAIL: waitsync"; tail -n 20 "$1"; exit 1; }
}
stop_client() {
  kill -TERM "$client_pid"
  local rc=0
  wait "$client_pid" || rc=$?
  client_pid=
  ((rc == 0)) || { echo "FAIL: exit $rc on SIGTERM"; tail -n 10 "$1"; exit 1; }
}

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
before=$(ke_ok)
run_client "$work/client1.log"
[[ ! -e $nts_file ]] || { echo "FAIL: NTS state written while running (a crash would leave sent cookies)"; exit 1; }

# Fill the disk to the last byte (as root: tmpfs keeps nothing in reserve).
dd if=/dev/zero of="$state/filler" bs=1k 2>/dev/null || true
[[ $(df --output=avail -k "$state" | tail -1 | tr -d ' ') == 0 ]] || { echo "FAIL: the disk is not full"; df "$state"; exit 1; }
stop_client "$work/client1.log"
grep -q "NTS state not saved" "$work/client1.log" || { echo "FAIL: no warning for the NTS state"; tail "$work/client1.log"; exit 1; }
frequency_warning=$(grep -c "frequency not saved" "$work/client1.log" || true)
[[ ! -e $nts_file ]] || { echo "FAIL: a partial NTS state file was left on a full disk"; ls -l "$nts_file"; exit 1; }
leftovers=$(find "$state/nts" -type f 2>/dev/null | wc -l)
((leftovers == 0)) || { echo "FAIL: temporary files left in $state/nts"; ls -l "$state/nts"; exit 1; }
echo "PASS: full disk at exit: warned (NTS state; frequency warnings $frequency_warning), exit 0, no partial file"

run_client "$work/client2.log"
((${ke_ok_after:=$(ke_ok)} == before + 2)) || { echo "FAIL: expected a second NTS-KE after the full-disk exit ($before -> $ke_ok_after)"; exit 1; }
echo "PASS: restarted with nothing saved: a new NTS-KE, no cookie sent twice"
rm -f "$state/filler"
stop_client "$work/client2.log"
[[ -s $nts_file ]] || { echo "FAIL: no NTS state after a clean exit with room"; ls -lR "$state"; exit 1; }

before=$(ke_ok)
run_client "$work/client3.log"
after=$(ke_ok)
((after == before)) || { echo "FAIL: a new NTS-KE despite the saved state ($before -> $after)"; exit 1; }
grep -q "from the last run" "$work/client3.log" || { echo "FAIL: saved keys not used"; tail "$work/client3.log"; exit 1; }
[[ ! -e $nts_file ]] || { echo "FAIL: the saved state was not removed when taken"; exit 1; }
stop_client "$work/client3.log"
echo "PASS: a clean exit saves the NTS state; the next start synchronizes on it without NTS-KE and removes the file"
