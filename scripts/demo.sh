#!/usr/bin/env bash
# The demo: authenticated time on loopback with no outside network. A reference NTS server
# (Debian's chronyd, started with -x so it never touches the clock, as nobody with no
# capabilities) serves time; kairosctl performs NTS-KE over TLS 1.3 and authenticated NTPv4
# exchanges against it, then shows an untrusted server being refused.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/interop/lib.sh"

kairosctl="$top/$build/tools/kairosctl/kairosctl"
work=$(mktemp -d /tmp/kairos-demo.XXXXXX)
chmod 0755 "$work"
CHRONYD_PID=
cleanup() { stop_pid "$CHRONYD_PID"; rm -rf "$work"; }
trap cleanup EXIT

echo "== preparing: Debian's chronyd (unpacked, not installed) and a throwaway CA for localhost"
fetch_chrony "$top/$build/chrony"
make_test_pki "$work/server"
start_chronyd_nts_server "$top/$build/chrony" "$work/server" 11123 14460
echo "   chronyd -x is serving NTS-KE on 127.0.0.1:14460 and NTP on 127.0.0.1:11123"
echo

echo "== kairosctl query --ca ca.crt --count 4 localhost:14460"
"$kairosctl" query --ca "$work/server/ca.crt" --no-system-ca --count 4 --interval 0.25 localhost:14460
echo

echo "== the same as JSON (one sample)"
"$kairosctl" query --ca "$work/server/ca.crt" --no-system-ca --json localhost:14460
echo

echo "== without trusting the test CA, the server's certificate is refused"
if "$kairosctl" query --no-system-ca --timeout 2 localhost:14460 2>&1; then
  echo "   unexpected: the query succeeded" && exit 1
fi
echo
echo "demo: done (chronyd stopped, temporary files removed)"
