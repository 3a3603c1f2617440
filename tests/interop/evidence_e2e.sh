#!/usr/bin/env bash
# The evidence log end to end (issue 25): kairosd as an NTS server on loopback and a second
# kairosd, observe-only, its NTS client with [evidence]. After waitsync the client is stopped and
# started again; `kairosctl report` over the directory must verify the chain, name the NTS source
# with its AEAD, count the two starts (the second naming the last record of the first run) and
# exit 0; `kairosctl status` shows the tiers. An edited record then makes report exit 1 at its line.
# Both daemons run with --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-evidence-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13433}
ke_port=${KE_PORT:-13770}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
client_sock="$work/run/client/control.sock"
evidence="$work/state/evidence"

loopback_server_config "$work/state" "$ntp_port" "$ke_port" "$work/pki" "$work/run/server/control.sock" >"$work/server.toml"
{
  loopback_client_config "$work/state" "$ke_port" "$work/pki"
  cat <<CONF
[control]
socket = "$client_sock"
[shm]
enabled = false
[evidence]
interval = 0.5
tiers = [100e-6, 1e-3, 0.05]
CONF
} >"$work/client.toml"
"$build/daemon/kairosd" --config "$work/client.toml" --check-config

start_client() {
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>>"$work/client.log" &
  client_pid=$!
  for _ in $(seq 1 50); do
    [[ -S $client_sock ]] && return
    sleep 0.1
  done
}

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
start_client
"$ctl" waitsync --socket "$client_sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
  { echo "FAIL: waitsync"; tail -n 20 "$work/client.log"; exit 1; }
sleep 2
status=$("$ctl" status --socket "$client_sock")
grep -q '^Tiers *: 100 µs .*, 1 ms .*, 50 ms within (0 breaches)' <<<"$status" ||
  { echo "FAIL: status without tiers"; echo "$status"; exit 1; }
echo "PASS: status shows the tiers"
stop_pid "$client_pid"
client_pid=
sleep 1
rm -f "$client_sock"
start_client
"$ctl" waitsync --socket "$client_sock" --max-error 0.05 --timeout 20 --interval 0.5 ||
  { echo "FAIL: waitsync after the restart"; tail -n 20 "$work/client.log"; exit 1; }
sleep 2
stop_pid "$client_pid"
client_pid=

report=$("$ctl" report --dir "$evidence" --tier 50ms) || { echo "FAIL: report exit $?"; echo "$report"; exit 1; }
echo "$report"
grep -q '^hash chain verified: 1 files, [0-9]* records$' <<<"$report" || { echo "FAIL: chain"; exit 1; }
# The NTS-KE server named by its certificate, as openssl shows its fingerprint (issue 25 item 1).
fingerprint=$(openssl x509 -in "$work/pki/server.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
grep -q "system: localhost:$ke_port (nts,aead=1[567],ntp=127.0.0.1:$ntp_port,stratum=[0-9]*,refid=[^,]*,cert-sha256=$fingerprint)" <<<"$report" ||
  { echo "FAIL: traceability"; exit 1; }
[[ $(grep -c '^  start at ' <<<"$report") == 2 ]] || { echo "FAIL: two starts"; exit 1; }
grep -q '^  start at .*, last record before it: 20' <<<"$report" || { echo "FAIL: the restart names no last record"; exit 1; }
grep -q '^  without records: [0-9]' <<<"$report" || { echo "FAIL: the restart's gap is not shown"; exit 1; }
"$ctl" report --dir "$evidence" --format json | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["chain"]["verified"], r["chain"]
assert r["days"][0]["clock"] == "system" and r["days"][0]["readings"] > 4, r["days"][0]
print("PASS: json report")'
"$ctl" report --dir "$evidence" --format html >"$work/report.html"
grep -q '<svg' "$work/report.html" || { echo "FAIL: html without a plot"; exit 1; }
echo "PASS: report verified, NTS source traced, restart recorded"

# One reading edited: report names the line and exits 1.
file=$(ls "$evidence"/evidence-*.log | head -n 1)
line=$(grep -n '^R ' "$file" | sed -n 5p | cut -d: -f1)
sed -i "${line}s/^R \([0-9-]*\) \([0-9]*\) \([a-z]\) \([0-9-]*\) /R \1 \2 \3 0 /" "$file"
set +e
"$ctl" report --dir "$evidence" >"$work/broken.txt" 2>&1
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "line $line: the line does not match the chain" "$work/broken.txt" ||
  { echo "FAIL: an edited record: rc $rc"; cat "$work/broken.txt"; exit 1; }
echo "PASS: an edited record is found at line $line (exit 1)"
