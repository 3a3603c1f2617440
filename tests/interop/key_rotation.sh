#!/usr/bin/env bash
# Cookie master-key rotation while NTS clients run: kairosd serves with a 60 s rotation and no old
# keys kept, so at the next minute every cookie held by a client stops opening. Both clients —
# chronyd and a second kairosd — must get an NTS NAK, run NTS-KE again and keep syncing.
# (That old cookies are still accepted while their key is inside the window is proven by the unit
# tests with simulated time; here the window is deliberately empty.)
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-rotation.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= CHRONYD_CLIENT_PID= client_pid=
trap 'stop_pid "$CHRONYD_CLIENT_PID"; stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13223}
ke_port=${KE_PORT:-13560}
fetch_chrony "$build/chrony"
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/client-state"
[[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$work/state" "$work/client-state"

# A rotation 5 s or less from now would race the clients' first NTS-KE; wait it out.
while (($(date +%s) % 60 > 54)); do sleep 0.5; done

cat >"$work/server.toml" <<CONF
[daemon]
state-dir = "$work/state"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 1
local-stratum = 1
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
key-rotation-interval = 60
old-keys = 0
CONF
start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"

start_chronyd_nts_client "$build/chrony" "$work/chronyd" 127.0.0.1 "$ke_port" "$work/pki/ca.crt"

cat >"$work/client.toml" <<CONF
[daemon]
state-dir = "$work/client-state"
[[source]]
address = "localhost:$ke_port"
ca = "$work/pki/ca.crt"
minpoll = -2
maxpoll = -2
iburst = true
CONF
"$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
client_pid=$!

rotation_at=$((($(date +%s) / 60 + 1) * 60))
echo "waiting for the key rotation at $(date -d "@$rotation_at" +%T) ($((rotation_at - $(date +%s))) s)"
while (($(date +%s) < rotation_at + 4)); do sleep 1; done

grep -q "cookie keys rotated" "$work/server.log" || { echo "FAIL: server did not rotate"; cat "$work/server.log"; exit 1; }
auth=$(chronyc_client "$build/chrony" "$work/chronyd" -c authdata | head -1)
src=$(chronyc_client "$build/chrony" "$work/chronyd" -c sources | head -1)
echo "chronyd authdata: $auth"
echo "chronyd sources:  $src"
# authdata's key id counts chronyd's NTS-KE sessions (its NAK counter restarts with each one).
IFS=, read -r _ amode keyid _ _ _ _ _ cookies _ <<<"$auth"
IFS=, read -r _ state _ _ _ reach _ <<<"$src"
[[ $amode == NTS && $keyid -ge 2 ]] || { echo "FAIL: chronyd did not run NTS-KE again after the rotation"; exit 1; }
[[ $state == '*' && $((8#$reach & 7)) -eq 7 && $cookies -ge 1 ]] ||
  { echo "FAIL: chronyd did not recover after the rotation"; cat "$work/chronyd/chronyd.log"; exit 1; }
echo "PASS: chronyd ran NTS-KE again (key $keyid) and kept syncing (reach $reach)"

kill -TERM "$client_pid"
wait "$client_pid" || true
client_pid=
summary=$(grep -E "samples .* NAKs" "$work/client.log" | tail -1)
echo "kairosd client: $summary"
naks=$(sed -E 's/.* ([0-9]+) NAKs.*/\1/' <<<"$summary")
ke_ok=$(sed -E 's/.*NTS-KE ([0-9]+) ok.*/\1/' <<<"$summary")
((naks >= 1 && ke_ok >= 2)) || { echo "FAIL: kairosd client did not see the NAK and re-key"; cat "$work/client.log"; exit 1; }
# Authenticated samples after the rotation.
after=$(awk -v t="$(date -d "@$rotation_at" +%Y-%m-%dT%H:%M:%S)" '$1 >= t && /authenticated/ && !/unauthenticated/' \
  "$work/client.log" | wc -l)
((after >= 4)) || { echo "FAIL: only $after authenticated samples after the rotation"; cat "$work/client.log"; exit 1; }
echo "PASS: kairosd client got $naks NAK(s), ran NTS-KE $ke_ok times, $after authenticated samples after the rotation"

kill -TERM "$KAIROSD_PID"
wait "$KAIROSD_PID" || true
KAIROSD_PID=
server_naks=$(grep -oE "[0-9]+ NTS NAKs" "$work/server.log" | tail -1 | cut -d' ' -f1)
grep -E "rotated|NTS NAKs" "$work/server.log"
((server_naks >= 2)) || { echo "FAIL: the server counted $server_naks NAKs, expected one per client at least"; exit 1; }
echo "PASS: the server NAKed $server_naks requests with rotated-out cookies"
