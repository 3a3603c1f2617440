#!/usr/bin/env bash
# A full state disk: an observe-only NTS client kairosd keeps its state-dir on a small tmpfs. After
# its NTS-KE the keys and cookies are saved; then the disk is filled to the last byte. At SIGTERM
# saving the NTS state and the frequency fails: kairosd says so, exits 0, and the file saved
# before is intact — restarted on the still-full disk, it synchronizes on those keys without a new
# NTS-KE. Needs root for the mount (exit 77 = skipped otherwise). Never steers: --no-steer.
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
run_client "$work/client1.log"
for i in $(seq 1 20); do [[ -s $nts_file ]] && break; sleep 0.1; done
[[ -s $nts_file ]] || { echo "FAIL: no NTS state after the NTS-KE"; ls -lR "$state"; exit 1; }
saved=$(sha256sum <"$nts_file")

# Fill the disk to the last byte (as root: tmpfs keeps nothing in reserve).
dd if=/dev/zero of="$state/filler" bs=1k 2>/dev/null || true
[[ $(df --output=avail -k "$state" | tail -1 | tr -d ' ') == 0 ]] || { echo "FAIL: the disk is not full"; df "$state"; exit 1; }
stop_client "$work/client1.log"
grep -q "NTS state not saved" "$work/client1.log" || { echo "FAIL: no warning for the NTS state"; tail "$work/client1.log"; exit 1; }
frequency_warning=$(grep -c "frequency not saved" "$work/client1.log" || true)
[[ $(sha256sum <"$nts_file") == "$saved" ]] || { echo "FAIL: the saved NTS state changed on a full disk"; exit 1; }
echo "PASS: full disk at exit: warned (NTS state; frequency warnings $frequency_warning), exit 0, old file intact"

before=$(ke_ok)
run_client "$work/client2.log"
after=$(ke_ok)
((after == before)) || { echo "FAIL: a new NTS-KE after the full-disk exit ($before -> $after)"; exit 1; }
grep -q "from the last run" "$work/client2.log" || { echo "FAIL: saved keys not used"; tail "$work/client2.log"; exit 1; }
stop_client "$work/client2.log"
echo "PASS: restarted on the full disk, synchronized on the saved keys without NTS-KE"
