#!/usr/bin/env bash
# kairosd started as root with [daemon] user = "nobody": once its NTS server listens it must run
# as nobody with no capability at all (observe-only, ports above 1024, no interfaces), bounding
# set empty and no_new_privs in every thread, and still serve kairosctl. Then the same with
# seccomp = true: a query, a GET /metrics, a SIGHUP reload and a clean SIGTERM exit must all pass
# the filter.
# Needs root (exit 77 = skipped otherwise). Never steers: observe-only, --no-steer.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to start kairosd as root"
  exit 77
fi
work=$(mktemp -d /tmp/kairos-privileges.XXXXXX)
chmod 0755 "$work"
pid=
trap 'stop_pid "$pid"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13333}
ke_port=${KE_PORT:-13670}
metrics_port=${METRICS_PORT:-13913}
make_test_pki "$work/pki"
mkdir -p "$work/state"
chown nobody:nogroup "$work/state"
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)

write_config() {
  local seccomp=$1
  cat >"$work/kairosd.toml" <<CONF
[daemon]
state-dir = "$work/state"
user = "nobody"
seccomp = $seccomp
[control]
socket = "$work/control.sock"
[shm]
path = "$work/time.shm"
[metrics]
listen = "127.0.0.1:$metrics_port"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 2
local-stratum = 1
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
CONF
}

# status_field PID_OR_TASK_DIR FIELD -> the field's value(s), tabs as spaces
status_field() { awk -v k="$2:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "$1/status"; }

fail() {
  echo "FAIL: $*"
  cat "$work/kairosd.log"
  exit 1
}

check_dropped() {
  local task
  for task in /proc/"$pid"/task/*; do
    local name="thread ${task##*/}"
    [[ $(status_field "$task" Uid) == "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ]] || fail "$name: Uid $(status_field "$task" Uid)"
    [[ $(status_field "$task" Gid) == "$nobody_gid $nobody_gid $nobody_gid $nobody_gid" ]] || fail "$name: Gid $(status_field "$task" Gid)"
    [[ $(status_field "$task" CapEff) == 0000000000000000 ]] || fail "$name: CapEff $(status_field "$task" CapEff)"
    [[ $(status_field "$task" CapPrm) == 0000000000000000 ]] || fail "$name: CapPrm $(status_field "$task" CapPrm)"
    [[ $(status_field "$task" CapAmb) == 0000000000000000 ]] || fail "$name: CapAmb $(status_field "$task" CapAmb)"
    [[ $(status_field "$task" NoNewPrivs) == 1 ]] || fail "$name: NoNewPrivs $(status_field "$task" NoNewPrivs)"
  done
  # The bounding set is trimmed by the main thread (threads started before keep theirs, but with
  # no_new_privs and exec refused it can never be used).
  [[ $(status_field /proc/"$pid" CapBnd) == 0000000000000000 ]] || fail "CapBnd $(status_field /proc/"$pid" CapBnd)"
  local threads
  threads=$(ls /proc/"$pid"/task | wc -l)
  ((threads >= 3)) || fail "expected the main thread and 2 workers, saw $threads threads"
}

query() {
  local json
  json=$("$build/tools/kairosctl/kairosctl" query --ca "$work/pki/ca.crt" --no-system-ca --json "localhost:$ke_port") ||
    fail "kairosctl query failed: $json"
  grep -q '"authenticated": true' <<<"$json" || fail "query not authenticated: $json"
  # The control socket (made before the drop) and the time page still work as nobody.
  json=$("$build/tools/kairosctl/kairosctl" status --socket "$work/control.sock" --json) ||
    fail "kairosctl status failed: $json"
  grep -q '"state"' <<<"$json" || fail "status without a state: $json"
  # (exit 1: not synchronized, as a server with no sources is; the page itself must be readable)
  local page
  page=$("$build/tools/kairos_now/kairos-now" --path "$work/time.shm" 2>&1) || true
  grep -q '^0 system: ' <<<"$page" || fail "kairos-now cannot read the page: $page"
  # The metrics thread (bound as root, serving as nobody, under the filter) answers.
  page=$(curl -sS --max-time 5 "http://127.0.0.1:$metrics_port/metrics" 2>&1) || fail "GET /metrics: $page"
  grep -q '^kairos_clock_synchronized{clock="system"} [01]$' <<<"$page" || fail "metrics page: $page"
}

run_case() {
  local seccomp=$1
  write_config "$seccomp"
  # As root, not through start_kairosd's setpriv: dropping is what is under test.
  "$build/daemon/kairosd" --config "$work/kairosd.toml" --no-steer --foreground 2>"$work/kairosd.log" &
  pid=$!
  wait_tcp_listener "$pid" "$ke_port" "$work/kairosd.log" kairosd
  # The drop follows the listeners by a few milliseconds.
  local i
  for i in $(seq 1 50); do
    grep -q "running as nobody" "$work/kairosd.log" && break
    sleep 0.1
  done
  grep -q "running as nobody" "$work/kairosd.log" || fail "no privilege drop logged"
  check_dropped
  if [[ $seccomp == true ]]; then
    [[ $(status_field /proc/"$pid" Seccomp) == 2 ]] || fail "no seccomp filter"
  fi
  query
  kill -HUP "$pid"
  for i in $(seq 1 30); do
    grep -q "certificate and key reloaded" "$work/kairosd.log" && break
    sleep 0.1
  done
  grep -q "certificate and key reloaded" "$work/kairosd.log" || fail "SIGHUP reload did not happen"
  query
  kill -0 "$pid" 2>/dev/null || fail "kairosd died"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  ((rc == 0)) || fail "exit code $rc after SIGTERM (159 = killed by seccomp)"
  echo "PASS: seccomp = $seccomp: nobody, no capabilities, no_new_privs; NTS query, reload and SIGTERM ok"
}

run_case false
run_case true
