# shellcheck shell=bash disable=SC2154
# Shared by the hardening tests: a kairosd server, observe-only kairosd clients and kairos-relay
# instances between them, all on loopback. Source it after tests/interop/lib.sh; set `work`,
# `build` and call set_launcher first. Every daemon runs with --no-steer; no configuration
# written here mentions steer.

ctl() { "$build/tools/kairosctl/kairosctl" "$@"; }

# write_server_config FILE NTP_PORT [KE_PORT ANNOUNCED_NTP_PORT]: a stratum-1 server for labs, no
# rate limit (every client is 127.0.0.1). With KE_PORT an NTS-KE server that sends its clients
# to ANNOUNCED_NTP_PORT (a relay) rather than to the server's own port.
write_server_config() {
  local file=$1 ntp_port=$2 ke_port=${3:-} announced=${4:-}
  cat >"$file" <<CONF
[daemon]
state-dir = "$work/state"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 1
local-stratum = 1
rate-limit = false
[control]
socket = "$work/run/server/control.sock"
[shm]
enabled = false
CONF
  if [[ -n $ke_port ]]; then
    cat >>"$file" <<CONF
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$work/pki/fullchain.crt"
private-key = "$work/pki/server.key"
ntp-server = "127.0.0.1"
ntp-port = $announced
rate-limit = false
CONF
  fi
}

# start_plain_server NTP_PORT: write_server_config's plain NTP server from $work/server.toml,
# logging to $work/server.log. Not start_kairosd: that waits for a TCP port, and a plain NTP server
# has none; its control socket says it is up. Sets KAIROSD_PID.
start_plain_server() {
  local i
  write_server_config "$work/server.toml" "$1"
  "$build/daemon/kairosd" --config "$work/server.toml" --check-config >/dev/null
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/server.toml" --no-steer --foreground 2>"$work/server.log" &
  KAIROSD_PID=$!
  for i in $(seq 1 50); do [[ -S $work/run/server/control.sock ]] && return 0; sleep 0.1; done
  echo "FAIL: server did not start"; cat "$work/server.log"
  return 1
}

# write_client_header FILE NAME [STATE_DIR]: the [daemon], [control] and [shm] tables of a client
# whose control socket is $work/run/NAME/control.sock and state-dir STATE_DIR ($work/state by
# default); append [[source]] tables after it.
write_client_header() {
  local file=$1 name=$2 state=${3:-$work/state}
  cat >"$file" <<CONF
[daemon]
state-dir = "$state"
[control]
socket = "$work/run/$name/control.sock"
[shm]
enabled = false
CONF
}

# add_source FILE ADDRESS nts|plain: a source polled every 0.25 s.
add_source() {
  local file=$1 address=$2 mode=$3
  {
    echo "[[source]]"
    echo "address = \"$address\""
    if [[ $mode == nts ]]; then echo "ca = \"$work/pki/ca.crt\""; else echo "nts = false"; fi
    echo "minpoll = -2"
    echo "maxpoll = -2"
    echo "iburst = true"
  } >>"$file"
}

# start_client CONF NAME: an observe-only kairosd; waits for its control socket. Sets CLIENT_PID.
start_client() {
  local conf=$1 name=$2 sock="$work/run/$2/control.sock" i
  if grep -q steer "$conf"; then echo "FAIL: $conf mentions steer"; return 1; fi
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$conf" --no-steer --foreground 2>"$work/$name.log" &
  CLIENT_PID=$!
  for i in $(seq 1 50); do [[ -S $sock ]] && return 0; sleep 0.1; done
  echo "FAIL: no control socket for $name"; cat "$work/$name.log"
  return 1
}

# start_relay NAME ARGS...: kairos-relay with its counters going to $work/NAME.out; waits until
# it is bound. Appends its pid to RELAY_PIDS and sets RELAY_PID.
RELAY_PIDS=()
start_relay() {
  local name=$1 i
  shift
  "${LAUNCHER[@]}" "$build/tests/relay/kairos-relay" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  RELAY_PID=$!
  RELAY_PIDS+=("$RELAY_PID")
  for i in $(seq 1 50); do
    grep -q "kairos-relay ready" "$work/$name.out" 2>/dev/null && return 0
    kill -0 "$RELAY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: relay $name did not start"; cat "$work/$name.err"
  return 1
}

# relay_snapshot PID NAME: asks the relay for its counters (SIGUSR1) and keeps its latest lines
# in RELAY_LINES; relay_field LINE KEY then prints KEY of LINE ("requests", "responses", "tcp").
relay_snapshot() {
  local pid=$1 name=$2 before i
  before=$(wc -l <"$work/$name.out")
  kill -USR1 "$pid"
  for i in $(seq 1 30); do (($(wc -l <"$work/$name.out") > before + 1)) && break; sleep 0.05; done
  RELAY_LINES=$(tail -n +$((before + 1)) "$work/$name.out")
}
relay_field() {
  grep -E "^(udp )?$1 " <<<"$RELAY_LINES" | tail -n 1 | grep -oE "(^| )$2=[0-9]+" | cut -d= -f2
}
# relay_count PID NAME LINE KEY: both at once.
relay_count() {
  relay_snapshot "$1" "$2"
  relay_field "$3" "$4"
}

stop_relays() {
  local pid
  for pid in "${RELAY_PIDS[@]}"; do stop_pid "$pid"; done
}
