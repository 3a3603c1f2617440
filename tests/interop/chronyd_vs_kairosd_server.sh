#!/usr/bin/env bash
# kairosd as an NTS server (NTS-KE + NTP, two workers) on loopback:
#  1. Debian's chronyd (-x, unprivileged) as the NTS client syncs authenticated from it;
#  2. kairos' own client (kairosctl) gets authenticated and plain samples, and the forgery test's
#     tampered responses are all rejected;
#  3. garbage on the NTS-KE port and an NTP flood are survived;
#  4. SIGHUP loads a new certificate without dropping service.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-server-interop.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= CHRONYD_CLIENT_PID=
trap 'stop_pid "$CHRONYD_CLIENT_PID"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13123}
ke_port=${KE_PORT:-13460}
fetch_chrony "$build/chrony"
make_test_pki "$work/pki"
mkdir -p "$work/state"
[[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$work/state"

cat >"$work/kairosd.toml" <<CONF
[daemon]
state-dir = "$work/state"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 2
local-stratum = 1
# Generous for 127.0.0.1 (chronyd, kairosctl and the forgery test's ~300 quick exchanges share
# it); the flood below, from 127.0.0.5, goes far beyond it.
rate-limit = { interval = 0.001, burst = 1000 }
# The flood tests the rate limit: every request must reach it, however slow the build (a
# sanitizer's server falls 5 ms behind the flood and would drop the rest as late; dropping late
# requests is NtpServer.RequestOlderThanMaxWaitIsDroppedAndCounted's).
max-wait = 0
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
CONF
"$build/daemon/kairosd" --config "$work/kairosd.toml" --check-config
start_kairosd "$build" "$work/kairosd.toml" "$work/kairosd.log" "$ke_port"

# 1. chronyd as the NTS client.
start_chronyd_nts_client "$build/chrony" "$work/chronyd" 127.0.0.1 "$ke_port" "$work/pki/ca.crt"
ok=
for i in $(seq 1 60); do
  sleep 0.5
  auth=$(chronyc_client "$build/chrony" "$work/chronyd" -c authdata 2>/dev/null | head -1 || true)
  src=$(chronyc_client "$build/chrony" "$work/chronyd" -c sources 2>/dev/null | head -1 || true)
  # authdata: name,mode,keyid,type,klen,last,attempts,naks,cookies,cookie_len
  # sources:  mode,state,name,stratum,poll,reach,...
  IFS=, read -r _ amode _ _ _ _ _ naks cookies _ <<<"$auth" || true
  IFS=, read -r _ state _ stratum _ reach _ <<<"$src" || true
  if [[ $amode == NTS && $state == '*' && $stratum == 1 && ${cookies:-0} -ge 1 && $((8#${reach:-0})) -ge 15 ]]; then
    ok=1
    break
  fi
done
echo "chronyd authdata: $auth"
echo "chronyd sources:  $src"
if [[ -z $ok ]]; then
  echo "FAIL: chronyd did not sync authenticated from kairosd"
  cat "$work/chronyd/chronyd.log"
  cat "$work/kairosd.log"
  exit 1
fi
[[ $naks == 0 ]] || { echo "FAIL: chronyd saw $naks NTS NAKs"; exit 1; }
echo "PASS: chronyd selected kairosd (NTS, stratum 1, reach $reach, $cookies cookies)"

# 2. kairos' own client: authenticated, port negotiated (the server is not on 123).
json=$("$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --count 3 \
  --interval 0.2 --json "localhost:$ke_port")
field() { echo "$json" | awk -F': ' -v k="\"$1\"" '$1 ~ k {gsub(/[",]/, "", $2); print $2; exit}'; }
[[ $(field authenticated) == true ]] || { echo "FAIL: kairosctl sample not authenticated"; echo "$json"; exit 1; }
[[ $(field aead) == 17 ]] || { echo "FAIL: expected the client's first choice, AEAD 17"; echo "$json"; exit 1; }
[[ $(field server) == "127.0.0.1:$ntp_port" ]] || { echo "FAIL: port negotiation"; echo "$json"; exit 1; }
for aead in 15 16; do
  "$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --aead "$aead" --json \
    "localhost:$ke_port" | grep -q "\"aead\": $aead" || { echo "FAIL: AEAD $aead"; exit 1; }
done
"$build/tools/kairosctl/kairosctl" query --no-nts "127.0.0.1:$ntp_port" >/dev/null
echo "PASS: kairosctl authenticated (AEAD 15, 16, 17) and plain samples from kairosd"
"$build/tests/kairos_forgery_test" "localhost:$ke_port" "$work/pki/ca.crt"

# 3. Garbage and floods: the server survives and still answers; a client far over the rate limit
#    gets RATE kisses and then silence.
for i in $(seq 1 20); do
  head -c 3000 /dev/urandom >"/dev/tcp/127.0.0.1/$ke_port" 2>/dev/null || true
done
python3 - "$ntp_port" <<'PY'
import os, socket, struct, sys, time
port = int(sys.argv[1])
junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
junk.bind(("127.0.0.6", 0))
for i in range(20000):
    junk.sendto(os.urandom((i * 37) % 1200), ("127.0.0.1", port))
flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flood.bind(("127.0.0.5", 0))
flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
request = bytes([0x23]) + bytes(47)  # NTPv4, client mode
start = time.monotonic()
for i in range(5000):
    flood.sendto(request, ("127.0.0.1", port))
elapsed = time.monotonic() - start
flood.settimeout(0.5)
served = kisses = 0
try:
    while True:
        data = flood.recv(2048)
        if data[1] == 0 and data[12:16] == b"RATE":
            kisses += 1
        elif data[1] == 1:
            served += 1
except socket.timeout:
    pass
allowed = 1000 + elapsed / 0.001 + 50
print(f"flood: 5000 requests in {elapsed * 1000:.0f} ms: {served} served, {kisses} RATE kisses, "
      f"{5000 - served - kisses} dropped (at most {allowed:.0f} may be served)")
if kisses < 1 or served > allowed or served < 900:
    sys.exit("FAIL: rate limit")
PY
kill -0 "$KAIROSD_PID" || { echo "FAIL: kairosd died"; cat "$work/kairosd.log"; exit 1; }
"$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca "localhost:$ke_port" >/dev/null
echo "PASS: NTS-KE garbage, a 20000-packet junk flood and a rate-limited client survived"

# 4. SIGHUP reloads the certificate: a new CA's certificate replaces the old one in place.
make_test_pki "$work/pki2"
cp "$work/pki2/fullchain.crt" "$work/pki/fullchain.crt"
cp "$work/pki2/server.key" "$work/pki/server.key"
kill -HUP "$KAIROSD_PID"
sleep 0.5
"$build/tools/kairosctl/kairosctl" query --ca "$work/pki2/ca.crt" --no-system-ca "localhost:$ke_port" >/dev/null ||
  { echo "FAIL: new certificate not served after SIGHUP"; cat "$work/kairosd.log"; exit 1; }
if "$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --timeout 2 "localhost:$ke_port" \
  >/dev/null 2>&1; then
  echo "FAIL: old certificate still served after SIGHUP"
  exit 1
fi
# chronyd keeps its cookies (sealed by the same master keys) and stays in sync.
reach_before=$(chronyc_client "$build/chrony" "$work/chronyd" -c sources | head -1 | cut -d, -f6)
sleep 2
src=$(chronyc_client "$build/chrony" "$work/chronyd" -c sources | head -1)
IFS=, read -r _ state _ _ _ reach _ <<<"$src"
[[ $state == '*' && $((8#$reach & 7)) -eq 7 ]] || { echo "FAIL: chronyd lost kairosd after SIGHUP: $src (before $reach_before)"; exit 1; }
echo "PASS: SIGHUP loaded the new certificate; NTP service to chronyd continued (reach $reach)"

kill -TERM "$KAIROSD_PID"
wait "$KAIROSD_PID" || { echo "FAIL: kairosd exited with an error"; cat "$work/kairosd.log"; exit 1; }
KAIROSD_PID=
grep -E "server|nts-ke" "$work/kairosd.log" | tail -5
echo "PASS"
