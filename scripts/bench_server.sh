#!/usr/bin/env bash
# Server benchmark: kairosd against Debian's chronyd 4.3, same setup, one run.
#
# Each server runs pinned to one CPU (SERVER_CPU), kairos-loadgen to another (LOADGEN_CPU), all on
# loopback. Per server:
#   - the highest plain-NTP and NTS request rate answered with < 1 % loss (rising rates, doubling,
#     then bisection; a failing rate is retried once, since the machine may be shared);
#   - server CPU µs per answered request at one moderate rate both servers sustain;
#   - NTS-KE handshakes per server CPU-second, with an ECDSA P-256 and an RSA-2048 certificate.
# Server CPU is utime + stime from /proc/PID/stat of the server process (all its threads) and its
# children (chronyd's NTS-KE helper). Both servers get AEAD 15 (AES-SIV-CMAC-256), no rate limits,
# one NTP thread and one NTS-KE process/thread. kairosd's NTS-KE rows are measured twice: with one
# worker thread on SERVER_CPU and with two workers on KE2_CPUS (default: SERVER_CPU and
# LOADGEN_CPU; on a 2-CPU machine the second worker competes with the load generator, so the
# 2-worker rate per wall-second is a floor, not the scaling a free second core would give).
#
# Prints one table with kairosd / chronyd per row and writes it with every run to
# BUILD/bench-server.json. A row the load generator could not saturate is marked as a lower bound.
# Numbers only: nothing here passes or fails on speed.
#
# Then scripts/ntpperf.sh (ntpperf between two network namespaces) when NTPPERF names its source
# or /var/cache/kairos/ntpperf exists; a line says it was skipped otherwise.
#
# Usage: bench_server.sh BUILD     (environment: see the defaults below)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/interop/lib.sh"

SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
RUN_SECONDS=${RUN_SECONDS:-2}       # each rate step
CPU_SECONDS=${CPU_SECONDS:-4}       # the CPU-per-request runs
KE_SECONDS=${KE_SECONDS:-3}
KE_CONCURRENCY=${KE_CONCURRENCY:-8}
START_RATE=${START_RATE:-10000}
MAX_RATE=${MAX_RATE:-2560000}
BISECT_STEPS=${BISECT_STEPS:-4}
SOCKETS=${SOCKETS:-64}
AEAD=${AEAD:-15}
KAIROSD=${KAIROSD:-auto}            # auto: skip kairosd if it does not serve; require; skip
LOSS_LIMIT=1                        # percent
KE2_CPUS=${KE2_CPUS:-$SERVER_CPU,$LOADGEN_CPU}
KE_ONLY=${KE_ONLY:-0}               # 1: the NTS-KE rows only (the NTP rows show n/a)

loadgen=$build/tools/loadgen/kairos-loadgen
kairosd_bin=$build/daemon/kairosd
[[ -x $loadgen ]] || { echo "no $loadgen: build first (make build)" >&2; exit 1; }
if (($(nproc) < 2)); then echo "bench-server needs 2 CPUs (server and load generator apart)" >&2; exit 1; fi
clk_tck=$(getconf CLK_TCK)

# Ports (16000–16999): NTP and NTS-KE per instance.
chronyd_ntp=16123 chronyd_ke=16460 chronyd_rsa_ntp=16124 chronyd_rsa_ke=16461
kairosd_ntp=16223 kairosd_ke=16560 kairosd_rsa_ntp=16224 kairosd_rsa_ke=16561
kairosd2_ntp=16225 kairosd2_ke=16562 kairosd2_rsa_ntp=16226 kairosd2_rsa_ke=16563  # 2 NTS-KE workers

work=$(mktemp -d /tmp/kairos-bench-server.XXXXXX)
chmod 0755 "$work"
started=()  # every server process (and helper) we started
declare -A server_log  # pid → log file
declare -A reported_exit
cleanup() {
  local pid
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# ---- servers ---------------------------------------------------------------------------------

# Children of PID (chronyd's NTS-KE helper), space separated.
children_of() { pgrep -P "$1" 2>/dev/null | tr '\n' ' ' || true; }

# DIR NTP_PORT KE_PORT [KE_WORKERS (1)] [CPUS (SERVER_CPU)]
start_kairosd_bench() {
  local dir=$1 ntp_port=$2 ke_port=$3 ke_workers=${4:-1} cpus=${5:-$SERVER_CPU}
  set_launcher
  mkdir -p "$dir/state"
  bench_server_toml "$dir" "$ntp_port" "$ke_port" "$ke_workers"
  [[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$dir"
  if ! "$kairosd_bin" --config "$dir/kairosd.toml" --check-config >"$dir/check.log" 2>&1; then
    KAIROSD_PID=
    KAIROSD_WHY="kairosd refuses the server configuration: $(head -n 3 "$dir/check.log" | tr '\n' ' ')"
    return 1
  fi
  taskset -c "$cpus" "${LAUNCHER[@]}" "$kairosd_bin" --config "$dir/kairosd.toml" --no-steer --foreground \
    >"$dir/kairosd.log" 2>&1 &
  KAIROSD_PID=$!
  started+=("$KAIROSD_PID")
  server_log[$KAIROSD_PID]=$dir/kairosd.log
  if ! wait_tcp_listener "$KAIROSD_PID" "$ke_port" "$dir/kairosd.log" kairosd 2>"$dir/wait.log"; then
    KAIROSD_WHY="kairosd did not open its NTS-KE port $ke_port: $(tail -n 3 "$dir/kairosd.log" | tr '\n' ' ')"
    return 1
  fi
  if ! answers_ntp "$ntp_port"; then
    KAIROSD_WHY="kairosd does not answer NTP on port $ntp_port"
    return 1
  fi
}

# True when a plain NTP request on PORT is answered.
answers_ntp() {
  local port=$1 i served
  for i in 1 2 3 4 5; do
    served=$("$loadgen" ntp --server "127.0.0.1:$port" --rate 50 --duration 0.1 --sockets 1 --json 2>/dev/null |
      jq -r '.served' 2>/dev/null || echo 0)
    ((served > 0)) && return 0
    sleep 0.5
  done
  return 1
}

# Server CPU seconds so far: utime + stime of each PID and its children.
server_cpu() {
  local pid p ticks=0 t
  for pid in "$@"; do
    for p in $pid $(children_of "$pid"); do
      [[ -r /proc/$p/stat ]] || continue
      # Fields after "pid (comm) ": state is 1st, utime 12th, stime 13th.
      t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')
      ticks=$((ticks + t))
    done
  done
  awk -v t="$ticks" -v hz="$clk_tck" 'BEGIN { printf "%.4f", t / hz }'
}

# ---- runs ------------------------------------------------------------------------------------

# False (with the server's log tail) when the server process has exited: its rows become errors.
server_alive() {
  local name=$1 pid=$2
  kill -0 "$pid" 2>/dev/null && return 0
  if [[ -z ${reported_exit[$pid]:-} ]]; then
    reported_exit[$pid]=1
    log "$name (pid $pid) has exited; the end of its log:"
    [[ -n ${server_log[$pid]:-} ]] && tail -n 20 "${server_log[$pid]}" >&2
  fi
  return 1
}

runs=$work/runs.jsonl
: >"$runs"

# One NTP load run: SERVER_NAME MODE RATE SECONDS PHASE; prints the run's JSON (one line), which
# is also appended to the run log with the server's CPU seconds.
ntp_run() {
  local name=$1 mode=$2 rate=$3 seconds=$4 phase=$5
  local port ke pids ca
  case $name in
    chronyd) port=$chronyd_ntp ke=$chronyd_ke pids=$chronyd_pid ca=$work/chronyd/ca.crt ;;
    kairosd) port=$kairosd_ntp ke=$kairosd_ke pids=$kairosd_pid ca=$work/kairosd/ca.crt ;;
  esac
  local -a args=(ntp --server "127.0.0.1:$port" --rate "$rate" --duration "$seconds" --sockets "$SOCKETS" --json)
  [[ $mode == nts ]] && args+=(--nts --ke "127.0.0.1:$ke" --ca "$ca" --aead "$AEAD")
  local before after out
  server_alive "$name" "$pids" || return 1
  before=$(server_cpu $pids)
  if ! out=$(taskset -c "$LOADGEN_CPU" "$loadgen" "${args[@]}" 2>"$work/loadgen.err"); then
    log "kairos-loadgen failed against $name ($mode, $rate/s): $(cat "$work/loadgen.err")"
    return 1
  fi
  after=$(server_cpu $pids)
  server_alive "$name" "$pids" || return 1
  out=$(jq -c --arg name "$name" --arg phase "$phase" --argjson before "$before" --argjson after "$after" \
    '. + {server_name: $name, phase: $phase, server_cpu_seconds: ($after - $before)}' <<<"$out")
  echo "$out" >>"$runs"
  echo "$out"
}

# Verdict of a run: pass (< 1 % loss), generator (the load generator fell behind or lost answers
# in its own queues), or fail.
verdict() {
  jq -r --argjson limit "$LOSS_LIMIT" '
    if (.achieved_rate < 0.98 * .target_rate) or (.client_drops > 0.001 * .sent) then "generator"
    elif .loss_percent < $limit then "pass" else "fail" end' <<<"$1"
}

describe() {
  jq -r '"\(.target_rate|floor)/s: sent \(.achieved_rate|floor)/s, loss \(.loss_percent*1000|round/1000) %, naks \(.naks), generator CPU \(.client_cpu_utilization*100|round) %, server CPU \(.server_cpu_seconds*100|round/100) s"' <<<"$1"
}

# A rate step: run, and retry once what does not pass (the machine may be busy).
step() {
  local name=$1 mode=$2 rate=$3 out v
  out=$(ntp_run "$name" "$mode" "$rate" "$RUN_SECONDS" search) || return 1
  v=$(verdict "$out")
  log "  $name $mode $(describe "$out") → $v"
  if [[ $v != pass ]]; then
    out=$(ntp_run "$name" "$mode" "$rate" "$RUN_SECONDS" search) || return 1
    v=$(verdict "$out")
    log "  $name $mode $(describe "$out") → $v (retry)"
  fi
  STEP_VERDICT=$v
}

# Highest rate with < 1 % loss for NAME MODE. Sets MAX_FOUND and MAX_NOTE (empty, or why the
# value is only a lower bound).
search_max() {
  local name=$1 mode=$2 good=0 bad=0 rate=$START_RATE i
  MAX_NOTE=
  while :; do
    step "$name" "$mode" "$rate" || return 1
    case $STEP_VERDICT in
      pass) good=$rate ;;
      generator) MAX_NOTE="lower bound: the load generator saturated at $rate/s"; break ;;
      fail) bad=$rate; break ;;
    esac
    if ((rate * 2 > MAX_RATE)); then MAX_NOTE="lower bound: reached MAX_RATE"; break; fi
    rate=$((rate * 2))
  done
  if ((bad > 0)); then
    for ((i = 0; i < BISECT_STEPS; i++)); do
      rate=$(((good + bad) / 2))
      ((bad - good < 1000)) && break
      step "$name" "$mode" "$rate" || return 1
      case $STEP_VERDICT in
        pass) good=$rate ;;
        generator) MAX_NOTE="lower bound: the load generator saturated at $rate/s"; break ;;
        fail) bad=$rate ;;
      esac
    done
  fi
  MAX_FOUND=$good
}

# Server CPU µs per answered request at RATE; sets CPU_US and CPU_NOTE.
cpu_per_request() {
  local name=$1 mode=$2 rate=$3 out
  out=$(ntp_run "$name" "$mode" "$rate" "$CPU_SECONDS" cpu) || return 1
  log "  $name $mode $(describe "$out")"
  CPU_US=$(jq -r 'if .served > 0 then (.server_cpu_seconds * 1e6 / .served * 100 | round / 100) else null end' <<<"$out")
  CPU_NOTE=
  if [[ $(verdict "$out") != pass ]]; then
    CPU_NOTE="loss $(jq -r '.loss_percent * 100 | round / 100' <<<"$out") % at $rate/s"
  fi
}

# NTS-KE handshakes per server CPU-second: NAME CERT PORT PIDS CA; sets KE_RATE, KE_WALL (handshakes
# per second) and KE_NOTE.
ke_run() {
  local name=$1 cert=$2 port=$3 pids=$4 ca=$5
  local before after out
  if ! server_alive "$name" "$pids"; then
    KE_RATE= KE_WALL= KE_NOTE="error: $name has exited"
    return 0
  fi
  before=$(server_cpu $pids)
  if ! out=$(taskset -c "$LOADGEN_CPU" "$loadgen" ke --server "127.0.0.1:$port" --ca "$ca" --aead "$AEAD" \
      --concurrency "$KE_CONCURRENCY" --duration "$KE_SECONDS" --json 2>"$work/loadgen.err"); then
    log "kairos-loadgen ke failed against $name ($cert): $(cat "$work/loadgen.err")"
    out=${out:-'{}'}
  fi
  after=$(server_cpu $pids)
  out=$(jq -c --arg name "$name" --arg cert "$cert" --argjson before "$before" --argjson after "$after" \
    '. + {server_name: $name, phase: "nts-ke", certificate: $cert, server_cpu_seconds: ($after - $before)}' <<<"$out")
  echo "$out" >>"$runs"
  KE_RATE=$(jq -r 'if (.completed // 0) > 0 and .server_cpu_seconds > 0 then (.completed / .server_cpu_seconds | round) else null end' <<<"$out")
  KE_WALL=$(jq -r '.rate // 0 | round' <<<"$out")
  KE_NOTE=
  if [[ $KE_RATE == null ]]; then
    KE_RATE=
    KE_NOTE="error: no NTS-KE handshake completed $(jq -r '.errors // {} | keys | join("; ")' <<<"$out")"
  elif jq -e '.failed > 0' <<<"$out" >/dev/null; then
    KE_NOTE="$(jq -r '"\(.failed) failed: \(.errors | keys | join("; "))"' <<<"$out")"
  fi
  server_alive "$name" "$pids" || KE_NOTE="error: $name has exited"
  if jq -e '(.client_cpu_utilization // 0) > 0.9' <<<"$out" >/dev/null; then
    KE_NOTE="${KE_NOTE:+$KE_NOTE; }the load generator was CPU-bound (per-CPU-second figure still valid)"
  fi
  log "  $name NTS-KE $cert: $(jq -r '"\(.completed // 0) handshakes (\(.rate // 0 | round)/s), server CPU \(.server_cpu_seconds*100|round/100) s, generator CPU \((.client_cpu_utilization // 0) * 100 | round) %"' <<<"$out")${KE_NOTE:+ ($KE_NOTE)}"
}

# ---- setup -----------------------------------------------------------------------------------

t_start=$SECONDS
fetch_chrony "$build/chrony"
chrony_version=$("$build/chrony/root/usr/sbin/chronyd" -v 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "version") print "chronyd " $(i + 1) }')
chrony_version=${chrony_version:-chronyd}
make_test_pki "$work/chronyd"
make_test_pki_rsa "$work/chronyd-rsa"
# kairosd gets the very same certificates.
mkdir -p "$work/kairosd" "$work/kairosd-rsa" "$work/kairosd2" "$work/kairosd2-rsa"
cp "$work/chronyd/"{ca.crt,fullchain.crt,server.key} "$work/kairosd/"
cp "$work/chronyd-rsa/"{ca.crt,fullchain.crt,server.key} "$work/kairosd-rsa/"
cp "$work/chronyd/"{ca.crt,fullchain.crt,server.key} "$work/kairosd2/"
cp "$work/chronyd-rsa/"{ca.crt,fullchain.crt,server.key} "$work/kairosd2-rsa/"

log "starting chronyd (ECDSA and RSA instances) on CPU $SERVER_CPU"
CHRONYD_PID=
# A chronyd that never opened its port may still run: stop it too before leaving.
start_chronyd_nts_server "$build/chrony" "$work/chronyd" "$chronyd_ntp" "$chronyd_ke" 1 "$SERVER_CPU" ||
  { started+=("$CHRONYD_PID"); exit 1; }
chronyd_pid=$CHRONYD_PID
started+=("$chronyd_pid")
server_log[$chronyd_pid]=$work/chronyd/chronyd.log
CHRONYD_PID=
start_chronyd_nts_server "$build/chrony" "$work/chronyd-rsa" "$chronyd_rsa_ntp" "$chronyd_rsa_ke" 1 "$SERVER_CPU" ||
  { started+=("$CHRONYD_PID"); exit 1; }
chronyd_rsa_pid=$CHRONYD_PID
started+=("$chronyd_rsa_pid")
server_log[$chronyd_rsa_pid]=$work/chronyd-rsa/chronyd.log
answers_ntp "$chronyd_ntp" || { log "chronyd does not answer NTP"; cat "$work/chronyd/chronyd.log" >&2; exit 1; }
sleep 0.5  # the NTS-KE helpers are forked at start; give them a moment
for pid in $(children_of "$chronyd_pid") $(children_of "$chronyd_rsa_pid"); do started+=("$pid"); done
log "chronyd pids: $chronyd_pid (helper $(children_of "$chronyd_pid")), RSA instance $chronyd_rsa_pid"

kairosd_ok=false
kairosd_why=
kairosd_pid= kairosd_rsa_pid= kairosd2_pid= kairosd2_rsa_pid=
if [[ $KAIROSD == skip ]]; then
  kairosd_why="skipped (KAIROSD=skip)"
elif [[ ! -x $kairosd_bin ]]; then
  kairosd_why="no $kairosd_bin"
else
  log "starting kairosd (ECDSA and RSA instances) on CPU $SERVER_CPU"
  KAIROSD_WHY=
  if start_kairosd_bench "$work/kairosd" "$kairosd_ntp" "$kairosd_ke"; then
    kairosd_pid=$KAIROSD_PID
    if start_kairosd_bench "$work/kairosd-rsa" "$kairosd_rsa_ntp" "$kairosd_rsa_ke"; then
      kairosd_rsa_pid=$KAIROSD_PID
      log "starting kairosd with 2 NTS-KE workers (ECDSA and RSA instances) on CPUs $KE2_CPUS"
      if start_kairosd_bench "$work/kairosd2" "$kairosd2_ntp" "$kairosd2_ke" 2 "$KE2_CPUS"; then
        kairosd2_pid=$KAIROSD_PID
        if start_kairosd_bench "$work/kairosd2-rsa" "$kairosd2_rsa_ntp" "$kairosd2_rsa_ke" 2 "$KE2_CPUS"; then
          kairosd2_rsa_pid=$KAIROSD_PID
          kairosd_ok=true
        fi
      fi
    fi
  fi
  $kairosd_ok || kairosd_why=$KAIROSD_WHY
fi
if ! $kairosd_ok; then
  if [[ $KAIROSD == require ]]; then log "kairosd: $kairosd_why"; exit 1; fi
  log "WARNING: kairosd rows skipped: $kairosd_why"
fi
servers=(chronyd)
$kairosd_ok && servers+=(kairosd)

# ---- measurements ----------------------------------------------------------------------------

# What the load generator can do at all: a rate far above any server, against chronyd.
ceiling='{}'
ntp_modes=(plain nts)
if [[ $KE_ONLY == 1 ]]; then
  ntp_modes=()
else
  log "load generator ceiling (plain, 4M/s asked, against chronyd)"
  ceiling=$(ntp_run chronyd plain 4000000 "$RUN_SECONDS" ceiling)
  log "  $(describe "$ceiling")"
fi

declare -A max max_note cpu cpu_note ke ke_note ke_wall
for mode in "${ntp_modes[@]}"; do
  for name in "${servers[@]}"; do
    log "max rate: $name $mode"
    if search_max "$name" "$mode"; then
      max[$name.$mode]=$MAX_FOUND
      max_note[$name.$mode]=$MAX_NOTE
    else
      max[$name.$mode]=
      max_note[$name.$mode]="error: no measurement (the server exited or the load generator failed; see the log above)"
      MAX_FOUND=none MAX_NOTE=${max_note[$name.$mode]}
    fi
    log "  → $name $mode: $MAX_FOUND/s${MAX_NOTE:+ ($MAX_NOTE)}"
  done
done

# One moderate rate per mode that every server sustained: half the smallest maximum.
declare -A cpu_rate
for mode in "${ntp_modes[@]}"; do
  lowest=
  for name in "${servers[@]}"; do
    m=${max[$name.$mode]}
    [[ -n $m ]] || continue
    if [[ -z $lowest ]] || ((m < lowest)); then lowest=$m; fi
  done
  cpu_rate[$mode]=$((((${lowest:-0}) / 2 / 1000) * 1000))
  ((cpu_rate[$mode] >= 1000)) || cpu_rate[$mode]=1000
  for name in "${servers[@]}"; do
    log "CPU per request: $name $mode at ${cpu_rate[$mode]}/s"
    if cpu_per_request "$name" "$mode" "${cpu_rate[$mode]}"; then
      cpu[$name.$mode]=$CPU_US
      cpu_note[$name.$mode]=$CPU_NOTE
    else
      cpu[$name.$mode]=
      cpu_note[$name.$mode]="error: no measurement (the server exited or the load generator failed; see the log above)"
    fi
  done
done

ke_servers=("${servers[@]}")
$kairosd_ok && ke_servers+=(kairosd2)
for cert in ecdsa rsa; do
  for name in "${ke_servers[@]}"; do
    case $name.$cert in
      chronyd.ecdsa) ke_run chronyd "ECDSA P-256" "$chronyd_ke" "$chronyd_pid" "$work/chronyd/ca.crt" ;;
      chronyd.rsa) ke_run chronyd "RSA-2048" "$chronyd_rsa_ke" "$chronyd_rsa_pid" "$work/chronyd-rsa/ca.crt" ;;
      kairosd.ecdsa) ke_run kairosd "ECDSA P-256" "$kairosd_ke" "$kairosd_pid" "$work/kairosd/ca.crt" ;;
      kairosd.rsa) ke_run kairosd "RSA-2048" "$kairosd_rsa_ke" "$kairosd_rsa_pid" "$work/kairosd-rsa/ca.crt" ;;
      kairosd2.ecdsa) ke_run "kairosd (2 workers)" "ECDSA P-256" "$kairosd2_ke" "$kairosd2_pid" "$work/kairosd2/ca.crt" ;;
      kairosd2.rsa) ke_run "kairosd (2 workers)" "RSA-2048" "$kairosd2_rsa_ke" "$kairosd2_rsa_pid" "$work/kairosd2-rsa/ca.crt" ;;
    esac
    ke_wall[$name.$cert]=$KE_WALL
    ke[$name.$cert]=$KE_RATE
    ke_note[$name.$cert]=$KE_NOTE
  done
done

# ---- report ----------------------------------------------------------------------------------

rows=$work/rows.jsonl
: >"$rows"
# ROW NAME UNIT BETTER(higher|lower) CHRONYD KAIROSD CHRONYD_NOTE KAIROSD_NOTE
row() {
  jq -nc --arg name "$1" --arg unit "$2" --arg better "$3" --arg c "$4" --arg k "$5" --arg cn "$6" --arg kn "$7" '
    def num: if . == "" or . == "null" then null else tonumber end;
    ($c | num) as $cv | ($k | num) as $kv |
    { name: $name, unit: $unit, better: $better, chronyd: $cv, kairosd: $kv,
      ratio: (if $cv != null and $kv != null and $cv != 0 then ($kv / $cv * 100 | round / 100) else null end),
      target: (if $better == "higher" then ">= 2" else "<= 0.5" end),
      chronyd_note: (if $cn == "" then null else $cn end), kairosd_note: (if $kn == "" then null else $kn end) }' >>"$rows"
}
for mode in plain nts; do
  label=$([[ $mode == plain ]] && echo "plain NTP" || echo "NTS")
  row "$label: highest rate with < 1 % loss" "req/s" higher "${max[chronyd.$mode]:-}" "${max[kairosd.$mode]:-}" \
    "${max_note[chronyd.$mode]:-}" "${max_note[kairosd.$mode]:-}"
done
for mode in plain nts; do
  label=$([[ $mode == plain ]] && echo "plain NTP" || echo "NTS")
  row "$label: server CPU per request at ${cpu_rate[$mode]:-?}/s" "µs" lower "${cpu[chronyd.$mode]:-}" \
    "${cpu[kairosd.$mode]:-}" "${cpu_note[chronyd.$mode]:-}" "${cpu_note[kairosd.$mode]:-}"
done
row "NTS-KE ECDSA P-256: handshakes per server CPU-second" "1/CPU-s" higher "${ke[chronyd.ecdsa]}" \
  "${ke[kairosd.ecdsa]:-}" "${ke_note[chronyd.ecdsa]}" "${ke_note[kairosd.ecdsa]:-}"
row "NTS-KE RSA-2048: handshakes per server CPU-second" "1/CPU-s" higher "${ke[chronyd.rsa]}" \
  "${ke[kairosd.rsa]:-}" "${ke_note[chronyd.rsa]}" "${ke_note[kairosd.rsa]:-}"
# The same with two kairosd workers (chronyd: its one NTS-KE helper, as above).
row "NTS-KE ECDSA P-256, kairosd 2 workers: per server CPU-second" "1/CPU-s" higher "${ke[chronyd.ecdsa]}" \
  "${ke[kairosd2.ecdsa]:-}" "${ke_note[chronyd.ecdsa]}" "${ke_note[kairosd2.ecdsa]:-}"
row "NTS-KE RSA-2048, kairosd 2 workers: per server CPU-second" "1/CPU-s" higher "${ke[chronyd.rsa]}" \
  "${ke[kairosd2.rsa]:-}" "${ke_note[chronyd.rsa]}" "${ke_note[kairosd2.rsa]:-}"

jq -n --slurpfile rows "$rows" --slurpfile runs "$runs" --argjson ceiling "$ceiling" \
  --arg chrony "$chrony_version" --arg kairosd_status "$($kairosd_ok && echo ok || echo "unavailable: $kairosd_why")" \
  --argjson server_cpu "$SERVER_CPU" --argjson loadgen_cpu "$LOADGEN_CPU" --argjson aead "$AEAD" \
  --argjson sockets "$SOCKETS" --argjson run_seconds "$RUN_SECONDS" --argjson elapsed "$((SECONDS - t_start))" \
  --arg cpu_model "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" --argjson cpus "$(nproc)" \
  --arg kernel "$(uname -r)" '
  { setup: { chronyd: $chrony, kairosd: $kairosd_status, server_cpu: $server_cpu, loadgen_cpu: $loadgen_cpu,
             aead: $aead, sockets: $sockets, run_seconds: $run_seconds, loss_limit_percent: 1,
             host: { cpu: $cpu_model, cpus: $cpus, kernel: $kernel }, elapsed_seconds: $elapsed },
    loadgen_ceiling: { asked: $ceiling.target_rate, sent_per_second: $ceiling.achieved_rate,
                       served_per_second: $ceiling.served_rate,
                       cpu_utilization: $ceiling.client_cpu_utilization },
    rows: $rows, runs: $runs }' >"$build/bench-server.json"

echo
echo "Server benchmark: kairosd vs $chrony_version — servers on CPU $SERVER_CPU, load generator on CPU $LOADGEN_CPU, loopback, AEAD $AEAD"
$kairosd_ok || echo "kairosd: not measured ($kairosd_why)"
printf '%-66s %10s %10s %6s %7s\n' "" chronyd kairosd "k/c" target
jq -r '
  def show: if . == null then "n/a" else tostring end;
  [.name + " (" + .unit + ")",
   ((if .chronyd_note and (.chronyd_note | startswith("lower bound")) then ">=" else "" end) + (.chronyd | show)),
   ((if .kairosd_note and (.kairosd_note | startswith("lower bound")) then ">=" else "" end) + (.kairosd | show)),
   (.ratio | show), .target] | @tsv' "$rows" |
  while IFS=$'\t' read -r name c k r t; do printf '%-66s %10s %10s %6s %7s\n' "$name" "$c" "$k" "$r" "$t"; done
jq -r 'select(.chronyd_note != null or .kairosd_note != null) |
  "  note: \(.name): " + ([(if .chronyd_note then "chronyd: " + .chronyd_note else empty end),
                          (if .kairosd_note then "kairosd: " + .kairosd_note else empty end)] | join("; "))' "$rows"
[[ $KE_ONLY == 1 ]] || jq -r '"load generator ceiling: asked \(.target_rate|floor)/s plain, sent \(.achieved_rate|floor)/s, \(.served_rate|floor)/s answered by chronyd, generator CPU \(.client_cpu_utilization*100|round) %"' <<<"$ceiling"
if $kairosd_ok; then
  for cert in ecdsa rsa; do
    one=${ke_wall[kairosd.$cert]:-} two=${ke_wall[kairosd2.$cert]:-}
    if [[ -n $one && -n $two && $one != 0 ]]; then
      echo "kairosd NTS-KE $cert handshakes per second, 1 worker -> 2 workers (CPUs $KE2_CPUS, shared with the load generator): $one -> $two ($(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / a }')x)"
    fi
  done
fi
echo "k/c = kairosd / chronyd; target is the issue's 2x per core (rates higher, CPU per request lower)."
echo "JSON: $build/bench-server.json ($((SECONDS - t_start)) s)"
# ntpperf (an independent benchmark, built from its public source) on its own setup: two network
# namespaces instead of loopback. Its table follows this one; BUILD/ntpperf.json holds its runs.
ntpperf_rc=0
if [[ -n ${NTPPERF:-} || -d /var/cache/kairos/ntpperf ]]; then
  stop_all() { local pid; for pid in "${started[@]}"; do stop_pid "$pid"; done; started=(); }
  stop_all  # the servers above would share the CPUs with ntpperf's
  NTPPERF=${NTPPERF:-/var/cache/kairos/ntpperf} SERVER_CPU=$SERVER_CPU CLIENT_CPU=$LOADGEN_CPU \
    bash "$top/scripts/ntpperf.sh" "$build" || ntpperf_rc=$?
else
  echo "ntpperf: skipped: set NTPPERF=/path/to/ntpperf-source (github.com/mlichvar/ntpperf) to run it too"
fi
# Speed never fails this script; a measurement that could not be made does.
((ntpperf_rc == 0)) || { echo "the ntpperf harness failed (exit $ntpperf_rc)" >&2; exit 1; }
if jq -e -s 'any(.[]; ((.chronyd_note // "") + (.kairosd_note // "")) | test("error:"))' "$rows" >/dev/null; then
  echo "some measurements failed (see the notes above)" >&2
  exit 1
fi
