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
