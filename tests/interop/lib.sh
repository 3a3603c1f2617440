# Shared by the interop tests and the demo: a reference chronyd that can never touch the clock,
# and a throwaway PKI. Source it; every function takes explicit directories.

# Unpacks Debian's chrony into DIR/root without installing it (installing would register a time
# service on the user's machine). Reuses an earlier unpack. Tests run in parallel: one unpacks
# under a lock into a scratch directory and renames it into place, so no test ever runs a chronyd
# that is still being written.
fetch_chrony() { fetch_debian_package chrony "$1" usr/sbin/chronyd; }
# Debian's linuxptp (ptp4l, pmc, phc2sys), unpacked like chrony: a PTP grandmaster for the tests.
fetch_linuxptp() { fetch_debian_package linuxptp "$1" usr/sbin/ptp4l; }

# Downloads Debian's package NAME and unpacks it into DIR/root (never installed), unless
# DIR/root/PROGRAM is there already; one download at a time per DIR.
fetch_debian_package() {
  local name=$1 dir=$2 program=$3
  if [[ -x "$dir/root/$program" ]]; then return 0; fi
  mkdir -p "$dir"
  (
    flock 9
    [[ -x "$dir/root/$program" ]] || fetch_debian_package_unlocked "$name" "$dir"
  ) 9>"$dir/.lock"
}

fetch_debian_package_unlocked() {
  local name=$1 dir=$2
  # apt's sandbox user cannot write into most directories; download where it can.
  local dl
  dl=$(mktemp -d /tmp/kairos-$name-dl.XXXXXX)
  chmod 0777 "$dl"
  if ! (cd "$dl" && apt-get download -q "$name" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$dl" && apt-get download -q "$name" >/dev/null 2>&1) || { echo "cannot download Debian's $name" >&2; rm -rf "$dl"; return 1; }
  fi
  rm -rf "$dir/root.new"
  dpkg -x "$dl"/"${name}"_*.deb "$dir/root.new" && rm -rf "$dir/root" && mv "$dir/root.new" "$dir/root"
  local ok=$?
  rm -rf "$dl"
  return $ok
}

# A CA and a server certificate for localhost/127.0.0.1 in DIR: ca.crt, server.key, fullchain.crt.
make_test_pki() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=kairos test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  cat "$dir/server.crt" "$dir/ca.crt" >"$dir/fullchain.crt"
  chmod 0644 "$dir"/*.crt "$dir/server.key"
}

# Sets RUN_USER and LAUNCHER: as root, setpriv to nobody with no capabilities at all (the peer
# can never touch the clock or anything else); otherwise ourselves, as we are.
set_launcher() {
  if [[ $(id -u) -eq 0 ]]; then
    RUN_USER=nobody
    LAUNCHER=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all --)
  else
    RUN_USER=$(id -un)
    LAUNCHER=()
  fi
}

# Starts chronyd as an NTS server on 127.0.0.1 (NTP port NTP_PORT, NTS-KE port KE_PORT) with -x
# (never touches the clock), as nobody with no capabilities. NTS_PROCESSES (default 0: NTS-KE in
# the main process) and CPU (pin with taskset, for benchmarks) are optional. chrony 4.3 limits
# rates only when told to (ratelimit, ntsratelimit): neither is set. Sets CHRONYD_PID.
start_chronyd_nts_server() {
  local chrony=$1 dir=$2 ntp_port=$3 ke_port=$4 nts_processes=${5:-0} cpu=${6:-}
  set_launcher
  local -a pin=()
  [[ -n $cpu ]] && pin=(taskset -c "$cpu")
  mkdir -p "$dir"
  [[ $RUN_USER == nobody ]] && chown nobody:nogroup "$dir"
  cat >"$dir/chronyd.conf" <<CONF
pidfile $dir/chronyd.pid
user $RUN_USER
port $ntp_port
bindaddress 127.0.0.1
cmdport 0
local stratum 1
allow 127.0.0.1
ntsport $ke_port
ntsserverkey $dir/server.key
ntsservercert $dir/fullchain.crt
ntsprocesses $nts_processes
ntsdumpdir $dir
CONF
  [[ $RUN_USER == nobody ]] && chown nobody:nogroup "$dir"/server.key "$dir"/fullchain.crt
  "${pin[@]}" "${LAUNCHER[@]}" "$chrony/root/usr/sbin/chronyd" -U -x -d -f "$dir/chronyd.conf" >"$dir/chronyd.log" 2>&1 &
  CHRONYD_PID=$!
  wait_tcp_listener "$CHRONYD_PID" "$ke_port" "$dir/chronyd.log" chronyd
}

stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  local i
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# Starts chronyd as an NTS client of SERVER (NTS-KE on KE_PORT) trusting CA_FILE, polling every
# 0.25 s, with -x and as nobody. Its command socket is DIR/chronyd.sock. Sets CHRONYD_CLIENT_PID.
start_chronyd_nts_client() {
  local chrony=$1 dir=$2 server=$3 ke_port=$4 ca_file=$5
  set_launcher
  mkdir -p "$dir"
  chmod 0770 "$dir"
  cp "$ca_file" "$dir/ca.crt"
  chmod 0644 "$dir/ca.crt"
  cat >"$dir/chronyd.conf" <<CONF
pidfile $dir/chronyd.pid
user $RUN_USER
port 0
cmdport 0
bindcmdaddress $dir/chronyd.sock
server $server nts ntsport $ke_port iburst minpoll -2 maxpoll -2
nosystemcert
ntstrustedcerts $dir/ca.crt
ntsdumpdir $dir
CONF
  [[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$dir"
  "${LAUNCHER[@]}" "$chrony/root/usr/sbin/chronyd" -U -x -d -f "$dir/chronyd.conf" >"$dir/chronyd.log" 2>&1 &
  CHRONYD_CLIENT_PID=$!
}

# chronyc against the client started above: chronyc_client CHRONY DIR ARGS...
chronyc_client() {
  local chrony=$1 dir=$2
  shift 2
  set_launcher
  "${LAUNCHER[@]}" "$chrony/root/usr/bin/chronyc" -n -h "$dir/chronyd.sock" "$@"
}

# Starts BUILD's kairosd with CONF (observe-only, foreground) as nobody when root. Logs to LOG.
# Waits until TCP port WAIT_PORT accepts connections. Sets KAIROSD_PID.
start_kairosd() {
  local build=$1 conf=$2 log=$3 wait_port=$4
  set_launcher
  "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$conf" --no-steer --foreground 2>"$log" &
  KAIROSD_PID=$!
  wait_tcp_listener "$KAIROSD_PID" "$wait_port" "$log" kairosd
}

# As make_test_pki, but the CA and the server key are RSA-2048 (for NTS-KE handshake costs with
# RSA signatures): ca.crt, server.key, fullchain.crt in DIR.
make_test_pki_rsa() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj "/CN=kairos test RSA CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  cat "$dir/server.crt" "$dir/ca.crt" >"$dir/fullchain.crt"
  chmod 0644 "$dir"/*.crt "$dir/server.key"
}

# Waits until PID listens on 127.0.0.1:PORT (TCP); on failure prints LOG and returns 1.
wait_tcp_listener() {
  local pid=$1 port=$2 log=$3 name=$4
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$name did not open port $port" >&2
  return 1
}

# Prints the configuration of a kairosd NTS server on loopback (local stratum 1, one worker, no
# rate limit: tests poll every 0.25 s from one address) with its control socket and no time page.
# Usage: loopback_server_config STATE_DIR NTP_PORT KE_PORT PKI_DIR CONTROL_SOCKET
loopback_server_config() {
  cat <<CONF
[daemon]
state-dir = "$1"
[server]
listen = ["127.0.0.1:$2"]
workers = 1
local-stratum = 1
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$3"]
certificate = "$4/fullchain.crt"
private-key = "$4/server.key"
[control]
socket = "$5"
[shm]
enabled = false
CONF
}

# Prints the head of an observe-only kairosd client's configuration: its state-dir and one NTS
# source, the kairosd NTS-KE server on 127.0.0.1 (as localhost), polled every 0.25 s. The caller
# appends the sections its test needs.
# Usage: loopback_client_config STATE_DIR KE_PORT PKI_DIR
loopback_client_config() {
  cat <<CONF
[daemon]
state-dir = "$1"
[[source]]
address = "localhost:$2"
ca = "$3/ca.crt"
minpoll = -2
maxpoll = -2
iburst = true
CONF
}

# get JSON PATH: the value at a jq-style path (.a.b[0].c) in JSON, printed as JSON text.
get() {
  python3 -c '
import json, re, sys
value = json.load(sys.stdin)
for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", sys.argv[1]):
    value = value[name] if name else value[int(index)]
print(json.dumps(value))' "$2" <<<"$1"
}

# The PTP interop tests (ptp_vs_ptp4l.sh, ptp_transports.sh) ask the kairosd under test, through
# "${kairosctl[@]}" on $work/client.sock, about its PTP port; $client_pid is that kairosd.
# ptp_field EXPR: a Python expression over `p` (the PTP source's JSON) and `s` (the status JSON).
ptp_field() {
  local sources status
  sources=$("${kairosctl[@]}" sources --json --socket "$work/client.sock" 2>/dev/null) || return 1
  status=$("${kairosctl[@]}" status --json --socket "$work/client.sock" 2>/dev/null) || return 1
  python3 -c '
import json, sys
sources = json.loads(sys.argv[2]); s = json.loads(sys.argv[3])
p = [x for x in sources["sources"] if x.get("mode") == "ptp"][0]
print(eval(sys.argv[1]))' "$1" "$sources" "$status" 2>/dev/null
}
# wait_for SECONDS EXPR: until the Python expression is True.
wait_for() {
  local seconds=$1 expr=$2 i
  for i in $(seq 1 $((seconds * 4))); do
    kill -0 "$client_pid" 2>/dev/null || fail "kairosd exited"
    [[ $(ptp_field "$expr" || true) == True ]] && return 0
    sleep 0.25
  done
  return 1
}

# bench_server_toml DIR NTP_PORT KE_PORT KE_WORKERS: DIR/kairosd.toml for the server benchmarks
# (scripts/bench_server.sh, scripts/ke_cost.sh): one NTP worker, NTS-KE with DIR's certificate,
# no rate limits, state in DIR/state.
bench_server_toml() {
  local dir=$1 ntp_port=$2 ke_port=$3 ke_workers=$4
  cat >"$dir/kairosd.toml" <<CONF
[daemon]
state-dir = "$dir/state"
[server]
listen = ["127.0.0.1:$ntp_port"]
workers = 1
local-stratum = 1
rate-limit = false
[nts-ke-server]
listen = ["127.0.0.1:$ke_port"]
certificate = "$dir/fullchain.crt"
private-key = "$dir/server.key"
rate-limit = false
workers = $ke_workers
CONF
}
