# clknetsim runs for the benchmark (tests/clknetsim/run.sh). Source it; it drives clknetsim the way
# chrony's test suite does, written here: one server process simulating the clocks and network,
# one real daemon per node with clknetsim.so preloaded. Every process runs as nobody with no
# capabilities: under LD_PRELOAD a daemon's clock calls reach only the simulator, and should the
# preload ever fail to load, a daemon with no CAP_SYS_TIME still cannot touch this machine's clock.
#
#   cns_init DIR            DIR must exist; made writable by nobody; CLKNETSIM names the build
#   cns_node N LOG [VAR=VALUE...] PROGRAM ARGS...
#                           starts node N (1-based) in the background, output to DIR/LOG
#   cns_run NODES SECONDS [clknetsim options...]
#                           runs the simulation (DIR/conf, DIR/log.offset, DIR/stats, DIR/server.log),
#                           then ends every node it started; non-zero when it did not run to the end
#   cns_stop_all            ends whatever is still running (for an EXIT trap)
#
# CLKNETSIM_RANDOM_SEED and CLKNETSIM_START_DATE, when set, reach the server and every node.
# CNS_WALL_LIMIT (seconds, default 1800) bounds one simulation in wall-clock time.

# cns_daemons BUILD: sets KAIROSD (BUILD's kairosd, which must exist) and CHRONYD (Debian's,
# unpacked into KAIROS_CACHE as the interop tests do; needs tests/interop/lib.sh sourced).
cns_daemons() {
  KAIROSD=$1/daemon/kairosd
  [[ -x $KAIROSD ]] || { echo "no $KAIROSD: build first (make build)" >&2; return 1; }
  local cache=${KAIROS_CACHE:-/var/cache/kairos}/chrony
  fetch_chrony "$cache" || return 1
  CHRONYD=$cache/root/usr/sbin/chronyd
}

CNS_PRIV=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all --)
CNS_PIDS=()
CNS_SERVER_PID=

cns_init() {
  CNS_DIR=$1
  CNS_PIDS=()
  CNS_SERVER_PID=
  if [[ -z ${CLKNETSIM:-} || ! -x $CLKNETSIM/clknetsim || ! -e $CLKNETSIM/clknetsim.so ]]; then
    echo "cns_init: no clknetsim and clknetsim.so in CLKNETSIM='${CLKNETSIM:-}'" >&2
    return 1
  fi
  chmod 0777 "$CNS_DIR"
}

# The environment every process of the run shares.
cns_common_env() {
  local -a e=()
  [[ -n ${CLKNETSIM_RANDOM_SEED:-} ]] && e+=("CLKNETSIM_RANDOM_SEED=$CLKNETSIM_RANDOM_SEED")
  [[ -n ${CLKNETSIM_START_DATE:-} ]] && e+=("CLKNETSIM_START_DATE=$CLKNETSIM_START_DATE")
  printf '%s\n' "${e[@]}"
}

cns_node() {
  local node=$1 log=$2
  shift 2
  local -a common
  mapfile -t common < <(cns_common_env)
  # setpriv and env exec: $! is the daemon itself. LD_PRELOAD is set after setpriv so that only
  # the daemon (not setpriv) is preloaded.
  "${CNS_PRIV[@]}" env LD_PRELOAD="$CLKNETSIM/clknetsim.so" CLKNETSIM_NODE="$node" \
    CLKNETSIM_SOCKET="$CNS_DIR/sock" "${common[@]}" "$@" >"$CNS_DIR/$log" 2>&1 </dev/null &
  CNS_PIDS+=($!)
}

cns_run() {
  local nodes=$1 seconds=$2 rc=0
  shift 2
  local -a common
  mapfile -t common < <(cns_common_env)
  "${CNS_PRIV[@]}" env "${common[@]}" "$CLKNETSIM/clknetsim" -s "$CNS_DIR/sock" \
    -o "$CNS_DIR/log.offset" -l "$seconds" "$@" "$CNS_DIR/conf" "$nodes" \
    >"$CNS_DIR/stats" 2>"$CNS_DIR/server.log" </dev/null &
  CNS_SERVER_PID=$!
  local waited=0 limit=${CNS_WALL_LIMIT:-1800}
  while kill -0 "$CNS_SERVER_PID" 2>/dev/null; do
    if (( waited >= limit * 10 )); then
      echo "clknetsim still running after ${limit} s: stopped" >>"$CNS_DIR/server.log"
      kill "$CNS_SERVER_PID" 2>/dev/null
      rc=1
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$CNS_SERVER_PID" 2>/dev/null || rc=1
  CNS_SERVER_PID=
  # The server says "client N failed." when a node went away early.
  grep -q 'failed' "$CNS_DIR/server.log" && rc=1
  cns_stop_all
  return $rc
}

# SIGTERM (daemons print their summaries), then SIGKILL after 3 s; only the PIDs started here.
cns_stop_all() {
  local pid i
  [[ -n ${CNS_SERVER_PID:-} ]] && kill "$CNS_SERVER_PID" 2>/dev/null
  for pid in "${CNS_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${CNS_PIDS[@]}" ${CNS_SERVER_PID:-}; do
    for i in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  CNS_PIDS=()
  CNS_SERVER_PID=
  return 0
}

# Writes the delay lines for both directions between node A and each of the nodes B... into
# DIR/conf (appending): cns_link EXPR A B...
cns_link() {
  local expr=$1 a=$2 b
  shift 2
  for b in "$@"; do
    echo "node${a}_delay${b} = $expr"
    echo "node${b}_delay${a} = $expr"
  done >>"$CNS_DIR/conf"
}
