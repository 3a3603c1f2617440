#!/usr/bin/env bash
# Interleaved client/server mode (RFC 9769) against Debian's chronyd 4.3 on loopback, both ways,
# plain NTP and NTS, all four at once (chronyd -x and kairosd --no-steer: no clock is touched):
#  A. two chronyd clients (`xleave`, one plain, one NTS) of kairosd's server: `chronyc ntpdata`
#     must say "Interleaved : Yes" for kairosd;
#  B. kairosd as the client (`xleave = true`, one plain and one NTS source) of chronyd's server:
#     kairosd logs that the server answers in the interleaved mode, chronyd counts interleaved
#     requests, and the samples keep coming within 1 ms (same clock).
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-xleave.XXXXXX)
[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $work"
chmod 0755 "$work"
KAIROSD_PID= CHRONYD_PID= kairosd_server_pid= kairosd_client_pid= plain_client_pid= nts_client_pid=
cleanup() {
  stop_pid "$plain_client_pid"
  stop_pid "$nts_client_pid"
  stop_pid "$kairosd_client_pid"
  stop_pid "$kairosd_server_pid"
  stop_pid "$CHRONYD_PID"
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# Distinct ports per interop test (see INTEROP.md pitfalls).
kairos_ntp=${KAIROS_NTP_PORT:-15323}
kairos_ke=${KAIROS_KE_PORT:-15660}
chrony_ntp=${CHRONY_NTP_PORT:-15324}
chrony_ke=${CHRONY_KE_PORT:-15661}
fetch_chrony "$build/chrony"
chrony="$build/chrony"
set_launcher
make_test_pki "$work/pki"

# chronyd as a client of kairosd (plain or NTS), xleave, polling every 0.25 s. DIR holds its
# command socket. Prints nothing; the caller reads $!.
start_chronyd_xleave_client() {
  local dir=$1 server_line=$2
  mkdir -p "$dir"
  chmod 0770 "$dir"
  cp "$work/pki/ca.crt" "$dir/ca.crt"
  chmod 0644 "$dir/ca.crt"
  cat >"$dir/chronyd.conf" <<CONF
pidfile $dir/chronyd.pid
user $RUN_USER
port 0
cmdport 0
bindcmdaddress $dir/chronyd.sock
$server_line
nosystemcert
ntstrustedcerts $dir/ca.crt
ntsdumpdir $dir
CONF
  [[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$dir"
  "${LAUNCHER[@]}" "$chrony/root/usr/sbin/chronyd" -U -x -d -f "$dir/chronyd.conf" >"$dir/chronyd.log" 2>&1 &
}

# --- kairosd's server (A) ---------------------------------------------------------------------
mkdir -p "$work/server-state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/server-state"
cat >"$work/server.toml" <<CONF
[daemon]
state-dir = "$work/server-state"
[server]
listen = ["127.0.0.1:$kairos_ntp"]
workers = 2
local-stratum = 1
interleaved = true
# Both chronyd clients poll from 127.0.0.1 four times a second: far over the default limit.
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$kairos_ke"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
CONF
"$build/daemon/kairosd" --config "$work/server.toml" --check-config >/dev/null
start_kairosd "$build" "$work/server.toml" "$work/kairosd-server.log" "$kairos_ke"
kairosd_server_pid=$KAIROSD_PID

# --- chronyd's server (B), with a command socket for serverstats --------------------------------
mkdir -p "$work/chrony-server"
chmod 0770 "$work/chrony-server"
cp "$work/pki/server.key" "$work/pki/fullchain.crt" "$work/chrony-server/"
cat >"$work/chrony-server/chronyd.conf" <<CONF
pidfile $work/chrony-server/chronyd.pid
user $RUN_USER
port $chrony_ntp
bindaddress 127.0.0.1
cmdport 0
bindcmdaddress $work/chrony-server/chronyd.sock
local stratum 1
allow 127.0.0.1
ntsport $chrony_ke
ntsserverkey $work/chrony-server/server.key
ntsservercert $work/chrony-server/fullchain.crt
ntsprocesses 0
ntsdumpdir $work/chrony-server
CONF
[[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$work/chrony-server"
"${LAUNCHER[@]}" "$chrony/root/usr/sbin/chronyd" -U -x -d -f "$work/chrony-server/chronyd.conf" \
  >"$work/chrony-server/chronyd.log" 2>&1 &
CHRONYD_PID=$!
wait_tcp_listener "$CHRONYD_PID" "$chrony_ke" "$work/chrony-server/chronyd.log" chronyd

# --- the clients: two chronyd (A) and one kairosd (B) --------------------------------------------
start_chronyd_xleave_client "$work/chrony-plain" \
  "server 127.0.0.1 port $kairos_ntp xleave minpoll -2 maxpoll -2 iburst"
plain_client_pid=$!
start_chronyd_xleave_client "$work/chrony-nts" \
  "server localhost port $kairos_ntp nts ntsport $kairos_ke xleave minpoll -2 maxpoll -2 iburst"
nts_client_pid=$!

mkdir -p "$work/client-state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/client-state"
cat >"$work/client.toml" <<CONF
[daemon]
steer = false
state-dir = "$work/client-state"
[[source]]
address = "127.0.0.1:$chrony_ntp"
nts = false
minpoll = -2
maxpoll = -2
xleave = true
[[source]]
address = "localhost:$chrony_ke"
nts = true
ca = "$work/pki/ca.crt"
minpoll = -2
maxpoll = -2
xleave = true
CONF
"$build/daemon/kairosd" --config "$work/client.toml" --check-config >/dev/null
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground \
  2>"$work/kairosd-client.log" &
kairosd_client_pid=$!

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- A: chronyd sees kairosd answer in the interleaved mode -----------------------------------
# ntpdata shows the last response. chrony 4.3 does not take the first interleaved one, so the
# field may say No at first; once it has said Yes, every later response must be interleaved too
# (a No then means kairosd lost the exchange, e.g. a request reached another worker).
chronyd_sees_interleaved() {
  local dir=$1 want_auth=$2 yes=0 i data=
  for i in $(seq 1 120); do
    sleep 0.25
    data=$(chronyc_client "$chrony" "$dir" ntpdata 2>/dev/null || true)
    echo "$SECONDS $(grep -E '^Interleaved' <<<"$data")" >>"$dir/ntpdata.trace"
    if grep -Eq '^Interleaved +: Yes' <<<"$data" && grep -Eq "^Authenticated +: $want_auth" <<<"$data"; then
      yes=$((yes + 1))
      ((yes >= 16)) && break
    elif ((yes > 0)); then
      echo "basic response after $yes interleaved ones"
      break
    fi
  done
  echo "$data" | grep -E '^(Remote address|Stratum|Offset|Interleaved|Authenticated|TX timestamping|RX timestamping|Total)'
  ((yes >= 16))
}
for kind in plain nts; do
  want_auth=No
  [[ $kind == nts ]] && want_auth=Yes
  echo "chronyd ($kind, xleave) -> kairosd:"
  if chronyd_sees_interleaved "$work/chrony-$kind" "$want_auth"; then
    echo "PASS: chronyd ($kind) gets interleaved responses from kairosd (${SECONDS} s)"
  else
    fail "chronyd ($kind) did not get interleaved responses from kairosd"
    cat "$work/chrony-$kind/chronyd.log"
  fi
done

# --- B: kairosd sees chronyd answer in the interleaved mode -----------------------------------
sleep 3  # (A took at least 2 s) the client's samples since start: ~5 s at 4 per second per source
kill -0 "$kairosd_client_pid" || fail "kairosd (client) died"
for source in "127.0.0.1:$chrony_ntp" "localhost:$chrony_ke"; do
  log=$work/kairosd-client.log
  # Samples after the switch to the interleaved mode, and whether it ever switched back.
  after=$(awk -v s="$source:" '$0 ~ s" server answers in the interleaved mode" { on = 1; next }
                              $0 ~ s" server answers in the basic mode" { back++ }
                              on && $0 ~ s" sample " { n++ } END { print n + 0, back + 0 }' "$log")
  read -r samples back <<<"$after"
  far=$( (grep -F "$source: sample" "$log" || true) | awk '{ for (i = 1; i < NF; i++) if ($i == "offset") { o = $(i + 1) + 0; if (o > 0.001 || o < -0.001) n++ } } END { print n + 0 }')
  auth=$(grep -F "$source: sample" "$log" | grep -c " authenticated" || true)
  echo "kairosd -> chronyd $source: $samples samples in the interleaved mode, $back switches back, $far beyond 1 ms, $auth authenticated"
  grep -F "$source: sample" "$log" | tail -n 2 || true
  ((samples >= 8)) || fail "kairosd: too few interleaved samples from $source"
  ((back == 0)) || fail "kairosd: $source fell back to the basic mode"
  ((far == 0)) || fail "kairosd: samples from $source beyond 1 ms"
  if [[ $source == localhost:* ]]; then
    ((auth >= 8)) || fail "kairosd: NTS samples from $source not authenticated"
  fi
done
stats=$("${LAUNCHER[@]}" "$chrony/root/usr/bin/chronyc" -n -h "$work/chrony-server/chronyd.sock" serverstats)
echo "$stats" | grep -E 'NTP packets received|Authenticated NTP|Interleaved NTP|timestamps held'
interleaved=$(awk -F: '/^Interleaved NTP packets/ { print $2 + 0 }' <<<"$stats")
((interleaved >= 16)) || fail "chronyd counted only ${interleaved:-0} interleaved requests"

# Both kairosd end cleanly.
for pid_var in kairosd_client_pid kairosd_server_pid; do
  pid=${!pid_var}
  kill -TERM "$pid"
  wait "$pid" || fail "kairosd ($pid_var) exited with an error"
  printf -v "$pid_var" ''
done
grep -E "server: .* received" "$work/kairosd-server.log" | tail -n 1 || true

if ((failures > 0)); then
  echo "--- kairosd server log (tail)"
  tail -n 20 "$work/kairosd-server.log"
  echo "--- kairosd client log (tail)"
  tail -n 30 "$work/kairosd-client.log"
  echo "FAIL: $failures checks failed"
  exit 1
fi
echo "PASS"
