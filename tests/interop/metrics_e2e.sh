#!/usr/bin/env bash
# GET /metrics end to end: kairosd as an NTS server on loopback (local stratum 1) and a second
# kairosd, observe-only, as its NTS client with [metrics] on a loopback port. After waitsync the
# page must say the system clock is synchronized and the source has samples, in well-formed
# Prometheus text with the 0.0.4 Content-Type; other paths are 404, and a second daemon that
# cannot have the port refuses to start. Both daemons run with --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-metrics-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13423}
ke_port=${KE_PORT:-13760}
metrics_port=${METRICS_PORT:-13912}
url="http://127.0.0.1:$metrics_port"
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
client_sock="$work/run/client/control.sock"

loopback_server_config "$work/state" "$ntp_port" "$ke_port" "$work/pki" "$work/run/server/control.sock" >"$work/server.toml"
client_config() {
  loopback_client_config "$work/state" "$ke_port" "$work/pki"
  cat <<CONF
[control]
socket = "$1"
[shm]
enabled = false
[metrics]
listen = "127.0.0.1:$metrics_port"
CONF
}
client_config "$client_sock" >"$work/client.toml"
client_config "$work/run/second/control.sock" >"$work/second.toml"
"$build/daemon/kairosd" --config "$work/client.toml" --check-config

# fetch PATH: the body on stdout, the status code in $work/code, the headers in $work/headers.
fetch() {
  curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 5 "$url$1" >"$work/code"
  cat "$work/body"
}

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
client_pid=$!
wait_tcp_listener "$client_pid" "$metrics_port" "$work/client.log" kairosd

# A second daemon cannot share the port: it says so and stops at start.
set +e
timeout 10 "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/second.toml" --no-steer --foreground 2>"$work/second.log"
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "\[metrics\] cannot listen on 127.0.0.1:$metrics_port" "$work/second.log" ||
  { echo "FAIL: a second kairosd on the metrics port: rc $rc"; cat "$work/second.log"; exit 1; }
echo "PASS: a second kairosd on the same metrics port is refused"

"$ctl" waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.5 ||
  { echo "FAIL: waitsync"; tail -n 20 "$work/client.log"; exit 1; }
# The page is rendered every second: give it two to catch up with the socket's answer.
source_label="source=\"localhost:$ke_port\""
for i in $(seq 1 20); do
  page=$(fetch /metrics)
  grep -qx 'kairos_clock_synchronized{clock="system"} 1' <<<"$page" && break
  sleep 0.2
done
echo "$page" | grep -E '^kairos_(clock|source)_' | head -n 40
[[ $(cat "$work/code") == 200 ]] || { echo "FAIL: /metrics answered $(cat "$work/code")"; exit 1; }
grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers" ||
  { echo "FAIL: content type"; cat "$work/headers"; exit 1; }
grep -qx 'kairos_clock_synchronized{clock="system"} 1' <<<"$page" ||
  { echo "FAIL: system clock not synchronized on the page"; echo "$page"; exit 1; }
grep -qx 'kairos_clock_steered{clock="system"} 0' <<<"$page" || { echo "FAIL: a steered clock"; exit 1; }
grep -qx "kairos_build_info{version=\"[0-9.]*\"} 1" <<<"$page" || { echo "FAIL: build info"; exit 1; }
samples=$(sed -n "s/^kairos_source_samples_total{$source_label} //p" <<<"$page")
((${samples:-0} > 0)) || { echo "FAIL: samples_total '$samples'"; echo "$page"; exit 1; }
grep -qx "kairos_source_reachable{$source_label} 1" <<<"$page" || { echo "FAIL: source unreachable"; exit 1; }
grep -qx "kairos_source_selected{$source_label} 1" <<<"$page" || { echo "FAIL: source not selected"; exit 1; }
grep -qx "kairos_source_nts_ke_total{$source_label,result=\"ok\"} 1" <<<"$page" || { echo "FAIL: NTS-KE count"; exit 1; }
grep -q '^kairos_server_' <<<"$page" && { echo "FAIL: the client shows server counters"; exit 1; }

# Every line is a HELP, a TYPE or a sample of the family the last TYPE named, with a number.
python3 - "$work/body" <<'PY'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (\S+)$')
family, seen = None, set()
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final line feed"
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, family, kind = line.split(" ")
        assert kind in ("gauge", "counter"), line
        assert family not in seen, "family twice: " + family
        seen.add(family)
        continue
    m = sample.match(line)
    assert m, "bad line: " + line
    assert m.group(1) == family, "sample outside its family: " + line
    v = m.group(3)
    assert v in ("+Inf", "-Inf", "NaN") or float(v) == float(v), line
print(f"PASS: {len(seen)} well-formed families")
PY
echo "PASS: /metrics: synchronized, $samples samples, 0.0.4 text"

fetch /other >/dev/null
[[ $(cat "$work/code") == 404 ]] || { echo "FAIL: /other answered $(cat "$work/code")"; exit 1; }
echo "PASS: other paths are 404"

# The loop still answers kairosctl, and kairosd exits cleanly (HTTP thread joined) on SIGTERM.
"$ctl" status --socket "$client_sock" >/dev/null
kill -TERM "$client_pid"
rc=0
wait "$client_pid" || rc=$?
client_pid=
((rc == 0)) || { echo "FAIL: exit code $rc after SIGTERM"; tail -n 5 "$work/client.log"; exit 1; }
curl -s --max-time 2 "$url/metrics" >/dev/null && { echo "FAIL: still serving after exit"; exit 1; }
echo "PASS: metrics end to end"
