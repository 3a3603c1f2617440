#!/usr/bin/env bash
# kairosctl query against Debian's chronyd as an NTS server on loopback (chronyd -x, unprivileged):
# the sample must be authenticated, use the negotiated AEAD and be within 1 ms (same clock).
# Then the forgery test drives relayed exchanges against the same server.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-interop.XXXXXX)
chmod 0755 "$work"
CHRONYD_PID=
trap 'stop_pid "$CHRONYD_PID"; rm -rf "$work"' EXIT

# Distinct ports per test so parallel ctest runs never share a server (see INTEROP.md pitfalls).
ntp_port=${NTP_PORT:-12123}
ke_port=${KE_PORT:-14461}
fetch_chrony "$build/chrony"
make_test_pki "$work/server"
start_chronyd_nts_server "$build/chrony" "$work/server" "$ntp_port" "$ke_port"

json=$("$build/tools/kairosctl/kairosctl" query --ca "$work/server/ca.crt" --no-system-ca --count 3 \
  --interval 0.2 --json "localhost:$ke_port")
echo "$json" | head -20
field() { echo "$json" | awk -F': ' -v k="\"$1\"" '$1 ~ k {gsub(/[",]/, "", $2); print $2; exit}'; }
[[ $(field authenticated) == true ]] || { echo "FAIL: sample not authenticated"; exit 1; }
[[ $(field aead) == 15 ]] || { echo "FAIL: expected AEAD 15 from chronyd 4.3"; exit 1; }
[[ $(field server) == "127.0.0.1:$ntp_port" ]] || { echo "FAIL: port negotiation not honoured"; exit 1; }
offset=$(field offset)
awk -v o="$offset" 'BEGIN { exit !(o < 0.001 && o > -0.001) }' || { echo "FAIL: |offset| >= 1 ms: $offset"; exit 1; }
echo "PASS: authenticated NTS sample from chronyd, offset $offset s"

# Plain NTP to the same server.
"$build/tools/kairosctl/kairosctl" query --no-nts "127.0.0.1:$ntp_port" >/dev/null
echo "PASS: plain NTP sample"

# Forged, replayed, truncated and dropped responses through an in-process relay.
"$build/tests/kairos_forgery_test" "localhost:$ke_port" "$work/server/ca.crt"

# kairosd --no-steer with the same server over NTS, plus a source whose NTS-KE port is closed:
# the good source yields authenticated samples, the dead one is retried with backoff.
cat >"$work/kairosd.toml" <<CONF
[daemon]
steer = false
state-dir = "$work/state"
[[source]]
address = "localhost:$ke_port"
nts = true
ca = "$work/server/ca.crt"
minpoll = -2
maxpoll = 4
iburst = true
[[source]]
address = "127.0.0.1:1"
nts = true
CONF
"$build/daemon/kairosd" --config "$work/kairosd.toml" --check-config
"$build/daemon/kairosd" --config "$work/kairosd.toml" --no-steer 2>"$work/kairosd.log" &
kairosd_pid=$!
# 12 s: past the model's 10 s wait for a majority of the two sources (one of which is dead).
sleep 12
kill -TERM "$kairosd_pid"
wait "$kairosd_pid" || { echo "FAIL: kairosd exited with $?"; cat "$work/kairosd.log"; exit 1; }
tail -n 4 "$work/kairosd.log"
samples=$(grep -c "localhost:$ke_port: sample .* authenticated" "$work/kairosd.log" || true)
far=$(grep "localhost:$ke_port: sample" "$work/kairosd.log" | awk '{ o = $6 + 0; if (o > 0.001 || o < -0.001) n++ } END { print n + 0 }')
retries=$(grep -c "127.0.0.1:1: NTS-KE failed: .*retrying in" "$work/kairosd.log" || true)
kes=$(grep -c "localhost:$ke_port: NTS-KE done" "$work/kairosd.log" || true)
echo "kairosd: $samples authenticated samples, $far beyond 1 ms, $kes NTS-KE, $retries retries of the dead source"
((samples >= 10)) || { echo "FAIL: too few authenticated samples"; exit 1; }
((far == 0)) || { echo "FAIL: samples beyond 1 ms"; exit 1; }
((kes == 1)) || { echo "FAIL: cookies were not refilled (NTS-KE ran $kes times)"; exit 1; }
((retries >= 1 && retries <= 3)) || { echo "FAIL: dead source retried $retries times in 12 s (want backoff)"; exit 1; }
# The model ran on those samples without touching the clock: the exit status line says how far
# the (same-machine, so ~0) system clock is, and it must be within its bound and 1 ms.
status=$(grep "system clock: " "$work/kairosd.log" | tail -n 1)
echo "$status"
[[ $status == *": synchronized (observed, not steered), offset"* ]] || { echo "FAIL: model not synchronized"; exit 1; }
read -r offset bound < <(sed -E 's/.*offset ([-+0-9.e]+) s ± ([0-9.e]+) s.*/\1 \2/' <<<"$status")
awk -v o="$offset" -v b="$bound" 'BEGIN { if (o < 0) o = -o; exit !(o < 0.001 && o <= b) }' ||
  { echo "FAIL: observed offset $offset s outside its bound $bound s or beyond 1 ms"; exit 1; }
echo "PASS: kairosd observe-only over NTS (model: offset $offset s ± $bound s)"
