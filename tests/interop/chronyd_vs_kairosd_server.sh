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
rate-limit = { interval = 0.1, burst = 16 }
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

# 3. Garbage and floods: the server survives and still answers.
for i in $(seq 1 20); do
  head -c 3000 /dev/urandom >"/dev/tcp/127.0.0.1/$ke_port" 2>/dev/null || true
done
python3 - "$ntp_port" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20000):
    size = (i * 37) % 1200
    s.sendto(os.urandom(size), ("127.0.0.1", int(sys.argv[1])))
PY
kill -0 "$KAIROSD_PID" || { echo "FAIL: kairosd died"; cat "$work/kairosd.log"; exit 1; }
"$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca "localhost:$ke_port" >/dev/null
echo "PASS: NTS-KE garbage and a 20000-packet random flood survived"

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
