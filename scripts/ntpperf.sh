#!/usr/bin/env bash
# Server benchmark with ntpperf (github.com/mlichvar/ntpperf, Miroslav Lichvar's NTP server
# benchmark): kairosd against Debian's chronyd 4.3, as issue 24 measured them. An independent
# tool: it builds raw Ethernet frames with libpcap, from a whole /16 of client addresses, so the
# servers see many clients, as in the field, and not a few loopback sockets.
#
# Setup (all removed at exit): two network namespaces joined by a veth pair. The server side has
# a route back to ntpperf's client network; the client side drops the answers in iptables' raw
# PREROUTING (ntpperf reads them with libpcap before that, and the kernel wastes no time on
# them). ntpperf is built outside the tree, in BUILD/ntpperf, from NTPPERF (a copy of its public
# source; default /var/cache/kairos/ntpperf) with NTS (`make NTPPERF_NTS=1`).
#
# One server at a time (both answer on port 123), pinned to SERVER_CPU; ntpperf on CLIENT_CPU.
# chronyd runs with -x, kairosd observe-only (--no-steer), both as nobody without capabilities.
# The servers alternate, ROUNDS times; each row is the median over the rounds. Per server and
# round:
#   - the highest rate with < 1 % loss: ntpperf's rising rates (×MULT per step, STEP_SECONDS
#     each), then a finer pass (×1.05) between the last good and the first bad rate; basic mode
#     (-B), interleaved mode (-I), and NTS (basic mode with a C2S key and cookie from an NTS-KE
#     exchange with that server, AEAD 15: ntpperf knows no other);
#   - server CPU µs per answered request at a steady CPU_RATE (50k/s), over a window that starts
#     after ntpperf's warm-up: the run time of the server's threads (/proc/PID/task/*/schedstat,
#     exact), split into user and system as their ticks in /proc/PID/stat split (sampled);
#   - interleaved answers to basic requests (ntpperf's "xleave" column in basic mode: must be 0);
#   - at 80 % of that round's highest basic rate: ntpperf's view of the server's response time
#     (its RX→TX stamps) and kairosd's own RX→TX latency p50/p99/max from its metrics (a fresh
#     kairosd, so the quantiles hold that run only).
# The machine may be shared: numbers are noisy, hence the medians over alternated rounds.
#
# Prints the table with raw numbers and kairosd / chronyd, and writes BUILD/ntpperf.json (every
# ntpperf line of every run too). Numbers only: this never passes or fails on speed; it exits 1
# only when the harness itself broke, and 0 (with a "skipped" line) when it cannot run here.
#
# Usage: ntpperf.sh BUILD     (environment: see the defaults below)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/interop/lib.sh"

NTPPERF=${NTPPERF:-/var/cache/kairos/ntpperf}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
MIN_RATE=${MIN_RATE:-2000}
MAX_RATE=${MAX_RATE:-1000000}
MULT=${MULT:-1.3}
STEP_SECONDS=${STEP_SECONDS:-1}
CPU_RATE=${CPU_RATE:-50000}
CPU_SECONDS=${CPU_SECONDS:-4}
LATENCY_SECONDS=${LATENCY_SECONDS:-3}
# KAIROSD_BEFORE=/path/to/another/kairosd adds it as a third server, "kairosd-before", in the
# same rounds: before/after numbers for a change, from one run.
KAIROSD_BEFORE=${KAIROSD_BEFORE:-}
# kairosd drops requests that waited longer than [server] max-wait (default 5 ms) instead of
# answering late; on a busy machine a server that waits for its CPU that long loses them, which
# ntpperf counts as loss. MAX_WAIT sets it for the run (0: answer however late, as chronyd does);
# the table shows the requests kairosd dropped late either way.
MAX_WAIT=${MAX_WAIT:-}
SERVERS=${SERVERS:-"chronyd kairosd${KAIROSD_BEFORE:+ kairosd-before}"}
# ntpperf gives up on a rate when it falls 1/40 of its client cycle behind (25 ms): on a shared
# machine that is a scheduling hiccup, not its limit, so by default it sends late requests late
# (-l) and still counts them. ALLOW_LATE=0 for an idle machine.
ALLOW_LATE=${ALLOW_LATE:-1}
# Where the CPU goes: PROFILE is a command that takes `-p PID` and is stopped with SIGINT, run
# over the CPU window of PROFILE_RUN on PROFILE_SERVER (its numbers are then perturbed), e.g.
# PROFILE="perf record -g -o /tmp/kairosd.perf" or PROFILE="strace -c -f -o /tmp/kairosd.strace".
PROFILE=${PROFILE:-}
# SWEEPS=0: the CPU and latency runs only (no highest-rate searches), for a quick look.
SWEEPS=${SWEEPS:-1}
PROFILE_SERVER=${PROFILE_SERVER:-kairosd}
PROFILE_RUN=${PROFILE_RUN:-cpu.basic}

skip() { echo "ntpperf: skipped: $*"; exit 0; }
log() { printf '%s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, raw sockets)"
(($(nproc) >= 2)) || skip "needs 2 CPUs (server and ntpperf apart)"
[[ -f $NTPPERF/perf.c ]] || skip "no ntpperf source in NTPPERF=$NTPPERF"
for tool in ip iptables taskset setpriv python3 curl; do
  command -v "$tool" >/dev/null || skip "no $tool (make deps)"
done
loadgen=$build/tools/loadgen/kairos-loadgen
kairosd_bin=$build/daemon/kairosd
declare -A kairosd_of=([kairosd]=$kairosd_bin [kairosd-before]=$KAIROSD_BEFORE)
[[ -x $loadgen && -x $kairosd_bin ]] || { log "no $loadgen or $kairosd_bin: build first (make build)"; exit 1; }

# ---- ntpperf, built outside the tree ----------------------------------------------------------

ntpperf_dir=$build/ntpperf
ntpperf=$ntpperf_dir/ntpperf
if [[ ! -x $ntpperf || $NTPPERF/perf.c -nt $ntpperf || $NTPPERF/sender.c -nt $ntpperf ]]; then
  pkg-config --exists libpcap gnutls 2>/dev/null || skip "libpcap-dev and libgnutls28-dev are needed to build ntpperf (make deps)"
  log "building ntpperf from $NTPPERF in $ntpperf_dir"
  rm -rf "$ntpperf_dir"
  mkdir -p "$ntpperf_dir"
  cp "$NTPPERF"/{Makefile,perf.c,sender.c,sender.h} "$ntpperf_dir/"
  if ! make -C "$ntpperf_dir" NTPPERF_NTS=1 >"$ntpperf_dir/build.log" 2>&1; then
    tail -n 20 "$ntpperf_dir/build.log" >&2
    log "ntpperf: the build failed (log: $ntpperf_dir/build.log)"
    exit 1
  fi
fi

fetch_chrony "$build/chrony"
chronyd_bin=$build/chrony/root/usr/sbin/chronyd

# ---- namespaces --------------------------------------------------------------------------------

tag=$$
srv_ns=kairos-perf-srv-$tag cli_ns=kairos-perf-cli-$tag
srv_if=kps$tag cli_if=kpc$tag
srv_ip=10.231.0.1 cli_ip=10.231.0.2
client_net=172.18.0.0/16
metrics_port=9123
ke_port=4460

work=$(mktemp -d /tmp/kairos-ntpperf.XXXXXX)
chmod 0755 "$work"
server_pid=
cleanup() {
  [[ -n $server_pid ]] && stop_pid "$server_pid"
  ip netns del "$srv_ns" 2>/dev/null || true
  ip netns del "$cli_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_srv() { ip netns exec "$srv_ns" "$@"; }
in_cli() { ip netns exec "$cli_ns" "$@"; }

ip netns add "$srv_ns"
ip netns add "$cli_ns"
ip link add "$srv_if" type veth peer name "$cli_if"
ip link set "$srv_if" netns "$srv_ns"
ip link set "$cli_if" netns "$cli_ns"
in_srv ip link set lo up
in_cli ip link set lo up
in_srv ip addr add "$srv_ip/24" dev "$srv_if"
in_cli ip addr add "$cli_ip/24" dev "$cli_if"
in_srv ip link set "$srv_if" up
in_cli ip link set "$cli_if" up
# The answers go back to ntpperf's client network through the veth pair...
in_srv ip route add "$client_net" via "$cli_ip" dev "$srv_if"
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.$srv_if.rp_filter=0"
# ...and are dropped there as early as the kernel can (ntpperf has read them through pcap).
in_cli iptables -t raw -A PREROUTING -p udp -d "$client_net" -j DROP
# Port 123 for servers that run as nobody without capabilities (this namespace only).
in_srv sysctl -qw net.ipv4.ip_unprivileged_port_start=0
srv_mac=$(in_srv cat "/sys/class/net/$srv_if/address")
# ARP once, so the first rate step does not start with an unresolved neighbour.
in_cli ping -c 1 -W 2 "$srv_ip" >/dev/null 2>&1 || true

make_test_pki "$work/pki"

# ---- servers -----------------------------------------------------------------------------------

set_launcher

# Starts NAME in the server namespace on SERVER_CPU; sets server_pid. False when it does not come up.
start_server() {
  local name=$1 dir=$work/$1
  rm -rf "$dir"
  mkdir -p "$dir/state"
  cp "$work/pki/"{ca.crt,fullchain.crt,server.key} "$dir/"
  case $name in
    chronyd)
      cat >"$dir/chronyd.conf" <<CONF
pidfile $dir/chronyd.pid
user $RUN_USER
port 123
cmdport 0
local stratum 1
allow
ntsport $ke_port
ntsserverkey $dir/server.key
ntsservercert $dir/fullchain.crt
ntsprocesses 0
ntsdumpdir $dir/state
CONF
      ;;
    kairosd*)
      cat >"$dir/kairosd.toml" <<CONF
[daemon]
state-dir = "$dir/state"
[server]
listen = ["$srv_ip:123"]
workers = 1
local-stratum = 1
rate-limit = false
${MAX_WAIT:+max-wait = $MAX_WAIT}
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$dir/fullchain.crt"
private-key = "$dir/server.key"
rate-limit = false
[metrics]
listen = "127.0.0.1:$metrics_port"
[shm]
enabled = false
CONF
      ;;
  esac
  [[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$dir"
  case $name in
    chronyd) ip netns exec "$srv_ns" taskset -c "$SERVER_CPU" "${LAUNCHER[@]}" "$chronyd_bin" -U -x -d \
      -f "$dir/chronyd.conf" >"$dir/server.log" 2>&1 & ;;
    kairosd*) ip netns exec "$srv_ns" taskset -c "$SERVER_CPU" "${LAUNCHER[@]}" "${kairosd_of[$name]}" \
      --config "$dir/kairosd.toml" --no-steer --foreground >"$dir/server.log" 2>&1 & ;;
  esac
  server_pid=$!
  # `ip netns exec`, taskset and setpriv each exec the next: $! is the server itself.
  local i
  for i in $(seq 1 100); do
    if in_srv bash -c "exec 3<>/dev/tcp/127.0.0.1/$ke_port" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "$name exited at start; its log:"; cat "$dir/server.log" >&2; server_pid=; return 1
    fi
    sleep 0.1
  done
  for i in 1 2 3 4 5 6 7 8 9 10; do
    served=$(in_srv "$loadgen" ntp --server "$srv_ip:123" --rate 50 --duration 0.1 --sockets 1 --json 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["served"])' 2>/dev/null || echo 0)
    ((served > 0)) && return 0
    sleep 0.3
  done
  log "$name does not answer NTP on $srv_ip:123; its log:"; tail -n 20 "$dir/server.log" >&2
  return 1
}

stop_server() {
  [[ -n $server_pid ]] && stop_pid "$server_pid"
  server_pid=
}

# ---- runs --------------------------------------------------------------------------------------

late_flag=()
((ALLOW_LATE)) && late_flag=(-l)
runs=$work/runs.jsonl
: >"$runs"

# ntpperf in the client namespace on CLIENT_CPU: run_ntpperf NAME KIND ROUND ARGS...; appends
# one JSON line with every rate line it printed (and why it stopped) to the run log.
run_ntpperf() {
  local name=$1 kind=$2 round=$3
  shift 3
  local out=$work/ntpperf.out err=$work/ntpperf.err rc=0
  in_cli taskset -c "$CLIENT_CPU" "$ntpperf" -i "$cli_if" -m "$srv_mac" -d "$srv_ip" -s "$client_net" "${late_flag[@]}" "$@" \
    >"$out" 2>"$err" || rc=$?
  python3 - "$name" "$kind" "$round" "$rc" "$out" "$err" "$@" >>"$runs" <<'PY'
import json, sys
name, kind, round_, rc, out, err = sys.argv[1:7]
args = sys.argv[7:]
steps = []
for line in open(out):
    f = line.split()
    if len(f) >= 6 and f[0].isdigit():
        step = {"rate": int(f[0]), "clients": int(f[1]), "lost": float(f[2].rstrip("%")),
                "invalid": float(f[3].rstrip("%")), "basic": float(f[4].rstrip("%")),
                "xleave": float(f[5].rstrip("%"))}
        if len(f) >= 10:  # without -o: the server's response time (its TX - RX stamps), ns
            step.update({"response_min_ns": float(f[6]), "response_mean_ns": float(f[7]),
                         "response_max_ns": float(f[8])})
        steps.append(step)
print(json.dumps({"server": name, "kind": kind, "round": int(round_), "exit": int(rc),
                  "args": args, "steps": steps, "stderr": open(err).read().strip()}))
PY
  if ((rc != 0)) && ! grep -q "Could not send" "$err"; then
    log "  ntpperf failed ($rc): $(head -c 300 "$err")"
  fi
}

# The highest rate of the last run with < 1 % lost and < 1 % invalid; 0 when none.
last_max() {
  tail -n 1 "$runs" | python3 -c '
import json, sys
r = json.load(sys.stdin)
good = [s["rate"] for s in r["steps"] if s["lost"] < 1 and s["invalid"] < 1]
bad = [s["rate"] for s in r["steps"] if not (s["lost"] < 1 and s["invalid"] < 1)]
print(max(good, default=0), min([b for b in bad if b > max(good, default=0)], default=0))'
}

# Rising rates, then a finer pass between the last good and the first bad one.
sweep() {
  local name=$1 kind=$2 round=$3
  shift 3
  local good bad
  # The report takes the highest good rate of both passes.
  run_ntpperf "$name" "$kind" "$round" "$@" -r "$MIN_RATE-$MAX_RATE" -x "$MULT" -t "$STEP_SECONDS"
  read -r good bad < <(last_max)
  if ((good > 0 && bad > good)); then
    run_ntpperf "$name" "$kind.fine" "$round" "$@" -r "$((good * 105 / 100))-$((bad - 1))" -x 1.05 -t "$STEP_SECONDS"
  fi
  log "  $name $kind: rising from $MIN_RATE/s → $(tail -n 1 "$runs" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(", ".join("%d/s %.2f%% lost" % (s["rate"], s["lost"]) for s in r["steps"][-3:]))')"
}

# CPU of PID: its threads' run time in ns (schedstat: exact) and its user and system ticks
# (stat: sampled at CLK_TCK, used only to split the exact total between user and system).
cpu_sample() {
  local pid=$1 ns=0 t
  for t in /proc/"$pid"/task/*/schedstat; do
    read -r run _ <"$t" 2>/dev/null || continue
    ns=$((ns + run))
  done
  echo "$ns $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12, $13 }')"
}

# Server CPU per answered request at a steady CPU_RATE: MODE-ARGS...; appends a "cpu" line.
cpu_run() {
  local name=$1 kind=$2 round=$3
  shift 3
  local n0 u0 s0 n1 u1 s1 t0 t1
  # ntpperf's warm-up: two requests per client (rate / 10 clients) before it counts; the window
  # opens after it and closes before the end.
  run_ntpperf "$name" "$kind" "$round" "$@" -r "$CPU_RATE" -t "$((CPU_SECONDS + 2))" &
  local bg=$!
  sleep 1
  read -r n0 u0 s0 < <(cpu_sample "$server_pid")
  t0=$(date +%s.%N)
  if [[ -n $PROFILE && $name == "$PROFILE_SERVER" && $kind == "$PROFILE_RUN" ]]; then
    # shellcheck disable=SC2086
    timeout -s INT "$CPU_SECONDS" $PROFILE -p "$server_pid" >"$work/profile.log" 2>&1 || true
    log "  profiled $name $kind with: $PROFILE"
  else
    sleep "$CPU_SECONDS"
  fi
  read -r n1 u1 s1 < <(cpu_sample "$server_pid")
  t1=$(date +%s.%N)
  wait "$bg"
  tail -n 1 "$runs" | python3 -c '
import json, sys
r = json.load(sys.stdin)
n0, u0, s0, n1, u1, s1, t0, t1, rate = (float(x) for x in sys.argv[1:10])
lost = r["steps"][0]["lost"] if r["steps"] else 100.0
answered = rate * (t1 - t0) * (1 - lost / 100)
ticks = (u1 - u0) + (s1 - s0)
user_share = (u1 - u0) / ticks if ticks > 0 else 0.5
total_us = (n1 - n0) / 1e3 / answered if answered > 0 else None
r["cpu"] = {"window_seconds": t1 - t0, "answered": answered, "lost_percent": lost,
            "cpu_seconds": (n1 - n0) / 1e9, "user_ticks": u1 - u0, "system_ticks": s1 - s0,
            "user_us": None if total_us is None else total_us * user_share,
            "system_us": None if total_us is None else total_us * (1 - user_share)}
print(json.dumps(r))' "$n0" "$u0" "$s0" "$n1" "$u1" "$s1" "$t0" "$t1" "$CPU_RATE" >"$work/cpu.json"
  # Replace the run's line with the one that has the CPU figures.
  sed -i '$d' "$runs"
  cat "$work/cpu.json" >>"$runs"
  log "  $name $kind at $CPU_RATE/s: $(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["cpu"]
print("user %s µs + system %s µs per request, %.2f %% lost, %.2f CPU-s in %.1f s" % (
    "n/a" if c["user_us"] is None else "%.2f" % c["user_us"],
    "n/a" if c["system_us"] is None else "%.2f" % c["system_us"], c["lost_percent"],
    c["cpu_seconds"], c["window_seconds"]))' "$work/cpu.json")"
}

# kairosd's RX→TX latency summary from its metrics: p50 p99 max in seconds.
kairosd_latency() {
  in_srv curl -sf "http://127.0.0.1:$metrics_port/metrics" |
    awk '/^kairos_server_ntp_response_latency_seconds\{quantile="0.5"\}/ { p50 = $2 }
         /^kairos_server_ntp_response_latency_seconds\{quantile="0.99"\}/ { p99 = $2 }
         /^kairos_server_ntp_response_latency_seconds\{quantile="1"\}/ { max = $2 }
         /^kairos_server_ntp_late_dropped_total/ { late = $2 }
         END { print p50, p99, max, late }'
}

# Requests kairosd received and dropped late since it started: appends a "late" line for NAME ROUND.
note_late() {
  local name=$1 round=$2
  in_srv curl -sf "http://127.0.0.1:$metrics_port/metrics" |
    awk -v name="$name" -v round="$round" '
      /^kairos_server_ntp_requests_total / { received = $2 }
      /^kairos_server_ntp_late_dropped_total / { late = $2 }
      END { printf "{\"server\": \"%s\", \"kind\": \"late\", \"round\": %d, \"steps\": [], \"received\": %d, \"late_dropped\": %d}\n", name, round, received, late }' >>"$runs" || true
}

nts_key() {
  in_srv "$loadgen" cookie --server "127.0.0.1:$ke_port" --ca "$work/pki/ca.crt" --aead 15
}

t_start=$SECONDS
log "ntpperf: $ntpperf; servers on CPU $SERVER_CPU, ntpperf on CPU $CLIENT_CPU; $ROUNDS rounds"
read -ra server_list <<<"$SERVERS"
for ((round = 1; round <= ROUNDS; round++)); do
  # Alternate the order too, so neither server always runs first in a round.
  order=("${server_list[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#server_list[@]} - 1; i >= 0; i--)); do order+=("${server_list[i]}"); done
  fi
  for name in "${order[@]}"; do
    log "round $round: $name"
    start_server "$name" || { log "ntpperf: $name did not start"; exit 1; }
    ((SWEEPS)) && sweep "$name" basic "$round" -B
    basic_max=$(python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if r["server"] == sys.argv[2] and r["round"] == int(sys.argv[3]) and r["kind"].startswith("basic")]
print(max([s["rate"] for r in rs for s in r["steps"] if s["lost"] < 1 and s["invalid"] < 1], default=0))' \
      "$runs" "$name" "$round")
    ((SWEEPS)) && sweep "$name" interleaved "$round" -I
    if key=$(nts_key 2>"$work/key.err"); then
      ((SWEEPS)) && sweep "$name" nts "$round" -B -S "$key"
      cpu_run "$name" cpu.nts "$round" -B -S "$key"
    else
      log "  $name: NTS-KE for ntpperf's cookie failed: $(cat "$work/key.err")"
    fi
    cpu_run "$name" cpu.basic "$round" -B
    if [[ $name == kairosd* ]]; then note_late "$name" "$round"; fi
    # No rate without loss at all (a busy machine): the latency run at the lowest rate instead.
    latency_rate=$((basic_max * 8 / 10))
    ((latency_rate >= MIN_RATE)) || latency_rate=$MIN_RATE
    # A fresh server: kairosd's latency quantiles then hold this run only.
    stop_server
    start_server "$name" || { log "ntpperf: $name did not restart"; exit 1; }
    run_ntpperf "$name" latency "$round" -B -r "$latency_rate" -t "$LATENCY_SECONDS"
    if [[ $name == kairosd* ]]; then
      read -r p50 p99 max late_dropped < <(kairosd_latency)
      python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
r["kairosd_metrics"] = {"p50_s": float(sys.argv[2]), "p99_s": float(sys.argv[3]), "max_s": float(sys.argv[4]),
                      "late_dropped": float(sys.argv[5])}
print(json.dumps(r))' "$runs" "${p50:-nan}" "${p99:-nan}" "${max:-nan}" "${late_dropped:-nan}" >"$work/lat.json"
      sed -i '$d' "$runs"
      cat "$work/lat.json" >>"$runs"
      log "  $name RX→TX at $latency_rate/s: p50 ${p50:-?} s, p99 ${p99:-?} s, max ${max:-?} s, ${late_dropped:-?} dropped late"
    fi
    stop_server
  done
done

# ---- report ------------------------------------------------------------------------------------

python3 - "$runs" "$build/ntpperf.json" "$ROUNDS" "$((SECONDS - t_start))" "$CPU_RATE" \
  "$("$chronyd_bin" -v 2>/dev/null | head -n 1)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
  "$(uname -r)" "${MAX_WAIT:-default}" "$ALLOW_LATE" "$SWEEPS" <<'PY'
import json, statistics, sys

runs_path, json_path, rounds, elapsed, cpu_rate, chrony, cpu_model, kernel, max_wait, allow_late, sweeps = sys.argv[1:12]
runs = [json.loads(l) for l in open(runs_path)]
servers = ["chronyd", "kairosd"] + (["kairosd-before"] if any(r["server"] == "kairosd-before" for r in runs) else [])

def good(s):
    return s["lost"] < 1 and s["invalid"] < 1

def per_round(name, fn):
    out = []
    for r in sorted({r["round"] for r in runs if r["server"] == name}):
        v = fn([x for x in runs if x["server"] == name and x["round"] == r])
        if v is not None:
            out.append(v)
    return out

def max_rate(kind):
    def fn(rs):
        steps = [s for r in rs if r["kind"] in (kind, kind + ".fine") for s in r["steps"]]
        if not steps:
            return None
        return max([s["rate"] for s in steps if good(s)], default=0)
    return fn

def cpu(kind, part):
    def fn(rs):
        for r in rs:
            if r["kind"] == kind and "cpu" in r and r["cpu"][part] is not None:
                return r["cpu"][part]
        return None
    return fn

def xleave_in_basic(rs):
    # Interleaved answers to basic requests, in % of requests, the worst step of any basic run.
    steps = [s for r in rs if r["kind"].startswith(("basic", "nts", "cpu", "latency")) for s in r["steps"]]
    return max([s["xleave"] for s in steps], default=None)

def latency(field):
    def fn(rs):
        for r in rs:
            if r["kind"] == "latency" and r["steps"]:
                return r["steps"][0].get(field)
        return None
    return fn

def kairosd_metric(field):
    def fn(rs):
        for r in rs:
            if r["kind"] == "latency" and "kairosd_metrics" in r:
                return r["kairosd_metrics"][field] * 1e6
        return None
    return fn

rows = []
def row(label, unit, better, fn, servers_=servers, fmt="%.0f"):
    values = {name: per_round(name, fn) for name in servers_}
    med = {name: (statistics.median(v) if v else None) for name, v in values.items()}
    c, k, b = med.get("chronyd"), med.get("kairosd"), med.get("kairosd-before")
    ratio = k / c if c and k is not None else None
    rows.append({"name": label, "unit": unit, "better": better, "rounds": values,
                 "chronyd": c, "kairosd": k, "ratio": ratio, "format": fmt,
                 **({"kairosd-before": b, "ratio_to_before": k / b if b and k is not None else None}
                    if "kairosd-before" in servers else {})})

row("plain NTP (basic, -B): highest rate with < 1 % loss", "req/s", "higher", max_rate("basic"))
row("plain NTP (interleaved, -I): highest rate with < 1 % loss", "req/s", "higher", max_rate("interleaved"))
row("NTS (basic, AEAD 15): highest rate with < 1 % loss", "req/s", "higher", max_rate("nts"))
for kind, label in (("cpu.basic", "plain"), ("cpu.nts", "NTS")):
    row(f"CPU per request at {int(cpu_rate) // 1000}k/s, {label}: user", "µs", "lower", cpu(kind, "user_us"), fmt="%.2f")
    row(f"CPU per request at {int(cpu_rate) // 1000}k/s, {label}: system", "µs", "lower", cpu(kind, "system_us"), fmt="%.2f")
    row(f"CPU per request at {int(cpu_rate) // 1000}k/s, {label}: total", "µs", "lower",
        lambda rs, kind=kind: (None if cpu(kind, "user_us")(rs) is None else cpu(kind, "user_us")(rs) + cpu(kind, "system_us")(rs)),
        fmt="%.2f")
row("interleaved answers to basic requests (worst step)", "%", "lower", xleave_in_basic, fmt="%.2f")

def late_share(rs):
    for r in rs:
        if r["kind"] == "late" and r["received"] > 0:
            return 100.0 * r["late_dropped"] / r["received"]
    return None
row("kairosd: requests dropped late (max-wait), sweeps and CPU runs", "% of received", "lower", late_share,
    servers_=[n for n in servers if n.startswith("kairosd")], fmt="%.2f")
row("at 80 % of own highest basic rate (>= MIN_RATE): response time (ntpperf) mean", "µs", "lower",
    lambda rs: None if latency("response_mean_ns")(rs) is None else latency("response_mean_ns")(rs) / 1000, fmt="%.1f")
row("at 80 % of own highest basic rate (>= MIN_RATE): response time (ntpperf) max", "µs", "lower",
    lambda rs: None if latency("response_max_ns")(rs) is None else latency("response_max_ns")(rs) / 1000, fmt="%.1f")
for q, field in (("p50", "p50_s"), ("p99", "p99_s"), ("max", "max_s")):
    row(f"at 80 % of own highest basic rate (>= MIN_RATE): kairosd RX→TX {q} (metrics)", "µs", "lower", kairosd_metric(field),
        servers_=[n for n in servers if n.startswith("kairosd")], fmt="%.1f")

json.dump({"setup": {"tool": "ntpperf", "chronyd": chrony, "rounds": int(rounds), "cpu_rate": int(cpu_rate),
                     "host": {"cpu": cpu_model, "kernel": kernel}, "elapsed_seconds": int(elapsed),
                     "kairosd_max_wait": max_wait, "ntpperf_late_sends": allow_late == "1", "sweeps": sweeps == "1",
                     "note": "medians over alternated rounds on a possibly shared machine"},
           "rows": [{k: v for k, v in r.items() if k != "format"} for r in rows], "runs": runs},
          open(json_path, "w"), indent=1)

def show(v, fmt):
    return "n/a" if v is None else fmt % v

print()
print(f"ntpperf benchmark: kairosd vs {chrony or 'chronyd'} — one server core, medians of {rounds} alternated rounds, "
      f"kairosd max-wait {max_wait}")
before = "kairosd-before" in servers
ratio = lambda v: "n/a" if v is None else "%.2f" % v
print("%-68s %10s %10s %6s%s   %s" % ("", "chronyd", "kairosd", "k/c", " %10s %6s" % ("before", "k/b") if before else "",
                                     "per round (" + " | ".join(servers) + ")"))
for r in rows:
    per = " | ".join(",".join(r["format"] % v for v in r["rounds"].get(n, [])) or "-" for n in servers)
    extra = " %10s %6s" % (show(r["kairosd-before"], r["format"]), ratio(r["ratio_to_before"])) if before else ""
    print("%-68s %10s %10s %6s%s   %s" % (f'{r["name"]} ({r["unit"]})', show(r["chronyd"], r["format"]),
                                          show(r["kairosd"], r["format"]), ratio(r["ratio"]), extra, per))
print("k/c = kairosd / chronyd" + ("; k/b = kairosd / kairosd-before (KAIROSD_BEFORE)" if before else "") +
      ". The machine may be shared: single runs are noisy, read the medians.")
print(f"JSON: {json_path} ({elapsed} s)")
PY
