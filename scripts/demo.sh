#!/usr/bin/env bash
# The demo: authenticated time on loopback with no outside network, both ways.
#  1. kairosd serves NTS (NTS-KE over TLS 1.3 + NTPv4 with NTS fields) as a local stratum-1 server;
#  2. kairosctl queries it; Debian's chronyd (-x: never touches the clock; as nobody with no
#     capabilities) syncs from it as an NTS client;
#  3. kairosctl queries chronyd as an NTS server, and refuses a server it has no trust for.
# No clock is steered: kairosd runs observe-only.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/interop/lib.sh"

kairosctl="$top/$build/tools/kairosctl/kairosctl"
work=$(mktemp -d /tmp/kairos-demo.XXXXXX)
chmod 0755 "$work"
CHRONYD_PID= CHRONYD_CLIENT_PID= KAIROSD_PID=
cleanup() {
  stop_pid "$CHRONYD_CLIENT_PID"
  stop_pid "$CHRONYD_PID"
  stop_pid "$KAIROSD_PID"
  rm -rf "$work"
}
trap cleanup EXIT

echo "== preparing: Debian's chronyd (unpacked, not installed) and a throwaway CA for localhost"
fetch_chrony "$top/$build/chrony"
make_test_pki "$work/pki"
mkdir -p "$work/state"
[[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$work/state"
echo

cat >"$work/kairosd.toml" <<CONF
[daemon]
state-dir = "$work/state"
[server]
listen = ["127.0.0.1:11123"]
workers = 2
local-stratum = 1
[nts-ke-server]
listen = ["127.0.0.1:14460"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
CONF
echo "== kairosd as an NTS server (config below), observe-only"
sed 's/^/   /' "$work/kairosd.toml"
start_kairosd "$top/$build" "$work/kairosd.toml" "$work/kairosd.log" 14460
sed 's/^/   /' "$work/kairosd.log"
echo

echo "== kairosctl query --ca ca.crt --count 4 localhost:14460   (kairos client -> kairosd)"
"$kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --count 4 --interval 0.25 localhost:14460
echo

echo "== chronyd -x as an NTS client of kairosd (server 127.0.0.1 nts ntsport 14460, poll 0.25 s)"
start_chronyd_nts_client "$top/$build/chrony" "$work/chronyd-client" 127.0.0.1 14460 "$work/pki/ca.crt"
for i in $(seq 1 30); do
  sleep 0.5
  state=$(chronyc_client "$top/$build/chrony" "$work/chronyd-client" -c sources 2>/dev/null | cut -d, -f2 || true)
  [[ $state == '*' ]] && break
done
sleep 1
echo "   chronyc sources:"
chronyc_client "$top/$build/chrony" "$work/chronyd-client" sources | sed 's/^/   /'
echo "   chronyc authdata:"
chronyc_client "$top/$build/chrony" "$work/chronyd-client" authdata | sed 's/^/   /'
echo

echo "== chronyd -x as an NTS server; kairosctl query localhost:14461   (kairos client -> chronyd)"
start_chronyd_nts_server "$top/$build/chrony" "$work/pki" 11124 14461
"$kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --count 2 --interval 0.25 localhost:14461
echo

echo "== the same as JSON (one sample)"
"$kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --json localhost:14461
echo

echo "== without trusting the test CA, the server's certificate is refused"
if "$kairosctl" query --no-system-ca --timeout 2 localhost:14460 2>&1; then
  echo "   unexpected: the query succeeded" && exit 1
fi
echo

echo "== kairosd's counters at exit"
kill -TERM "$KAIROSD_PID"
wait "$KAIROSD_PID" || true
KAIROSD_PID=
grep -E "server:|nts-ke:" "$work/kairosd.log" | tail -2 | sed 's/^/   /'
echo
echo "demo: done (kairosd and chronyd stopped, temporary files removed)"
