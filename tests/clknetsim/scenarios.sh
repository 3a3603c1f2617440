# The clknetsim scenarios of run.sh. Source it after lib.sh, with KAIROSD and CHRONYD set.
#
# scenario_NAME DIR SEED DURATION writes DIR/conf and the daemons' configurations, starts the
# nodes and runs the simulation (return value: cns_run's). Before running it declares:
#   CNS_COLUMNS   log.offset columns per node (clocks per node; 2 with a separate PHC)
#   CNS_COMPARE   "name|title|A label|A node|A tracking log or -|B label|B node" per comparison
# Node 1 is the reference (a chronyd server, perfect clock). kairosd and chronyd clients get
# identical clocks, links and polling intervals.

LAN_DELAY='(+ 1e-4 (* 1e-5 (exponential)))'
# 10 ms base, 1 ms exponential jitter, and on 1 % of packets a spike of up to 50 ms more.
WAN_DELAY='(+ 1e-2 (* 1e-3 (exponential)) (* 5.0 (max 0.0 (+ -0.99 (uniform)))))'
# 10 ppm off, random walk of 1 ppb/s per second (0.12 ppm sd over 4 h).
CLIENT_FREQ='(+ 1e-5 (sum (* 1e-9 (normal))))'
# 50 ms off at start: kairosd steps it (step = start-only), chronyd slews it (no makestep).
CLIENT_OFFSET=0.05
# Hardware-stamped network as chrony's test 133-hwtimestamp: little jitter, PHC 10 s away.
HW_DELAY='(+ 1e-4 (* 1e-8 (exponential)))'
HW_REFCLOCK='(+ 10.0 (* 1e-8 (normal)))'

client_clock() {
  local n
  for n in "$@"; do
    echo "node${n}_freq = $CLIENT_FREQ"
    echo "node${n}_offset = $CLIENT_OFFSET"
  done >>"$CNS_DIR/conf"
}

# chrony_conf N LINE... : DIR/chrony.N.conf
chrony_conf() {
  local n=$1
  shift
  {
    echo "pidfile $CNS_DIR/chronyd.$n.pid"
    echo "cmdport 0"
    printf '%s\n' "$@"
  } >"$CNS_DIR/chrony.$n.conf"
}

sim_chronyd() {
  local n=$1
  shift
  cns_node "$n" "chronyd.$n.log" "$@" "$CHRONYD" -U -d -f "$CNS_DIR/chrony.$n.conf"
}

# kairos_conf N TOML... : DIR/kairos.N.toml, a steering client with its tracking log; the extra
# TOML (sources, [server], [[interface]]) follows the common part.
kairos_conf() {
  local n=$1
  shift
  mkdir -p "$CNS_DIR/state.$n"
  chmod 0777 "$CNS_DIR/state.$n"
  {
    cat <<TOML
[daemon]
steer = true
state-dir = "$CNS_DIR/state.$n"
seccomp = false
[control]
enabled = false
[shm]
enabled = false
[logging]
tracking = "$CNS_DIR/tracking.$n.log"
TOML
    printf '%s\n' "$@"
  } >"$CNS_DIR/kairos.$n.toml"
}

sim_kairosd() {
  local n=$1
  shift
  cns_node "$n" "kairosd.$n.log" "$@" "$KAIROSD" --config "$CNS_DIR/kairos.$n.toml"
}

# source_toml ADDRESS POLL[:MAXPOLL] [KEY = VALUE...]
source_toml() {
  local address=$1 poll=$2
  shift 2
  printf '[[source]]\naddress = "%s"\nminpoll = %s\nmaxpoll = %s\niburst = true\n' "$address" "${poll%:*}" "${poll#*:}"
  printf '%s\n' "$@"
}

# The two-client scenarios: node 2 kairosd and node 3 chronyd, both clients of node 1; POLL is
# one exponent (fixed) or MIN:MAX (each daemon adapts its poll in between).
two_clients() {
  local dir=$1 delay=$2 poll=$3
  CNS_COLUMNS=1
  CNS_COMPARE=("client|node 2 kairosd and node 3 chronyd, clients of node 1|kairosd|2|$dir/tracking.2.log|chronyd|3")
  client_clock 2 3
  cns_link "$delay" 1 2 3
  chrony_conf 1 "local stratum 1" "allow"
  kairos_conf 2 "$(source_toml 192.168.123.1 "$poll" "nts = false")"
  chrony_conf 3 "server 192.168.123.1 minpoll ${poll%:*} maxpoll ${poll#*:} iburst"
  sim_chronyd 1
  sim_kairosd 2
  sim_chronyd 3
}

scenario_lan() {
  local dir=$1 seed=$2 duration=$3
  two_clients "$dir" "$LAN_DELAY" 4
  cns_run 3 "$duration"
}

scenario_wan() {
  local dir=$1 seed=$2 duration=$3
  two_clients "$dir" "$WAN_DELAY" 6
  cns_run 3 "$duration"
}

# The wan with each daemon's own poll between chrony's defaults (64-1024 s): kairosd's follows its
# model (daemon/poll_control.hpp), chronyd's its regression.
scenario_wan_adaptive() {
  local dir=$1 seed=$2 duration=$3
  two_clients "$dir" "$WAN_DELAY" 6:10
  cns_run 3 "$duration"
}

# NTS on the lan: chronyd is the NTS server of node 1 (certificate for node1.net1.clk, which
# clknetsim's resolver knows); the simulation starts inside the certificate's validity.
scenario_nts() {
  local dir=$1 seed=$2 duration=$3
  make_sim_pki "$dir" || return 1
  CNS_COLUMNS=1
  CNS_COMPARE=("client|node 2 kairosd and node 3 chronyd, NTS clients of node 1|kairosd|2|$dir/tracking.2.log|chronyd|3")
  client_clock 2 3
  cns_link "$LAN_DELAY" 1 2 3
  chrony_conf 1 "local stratum 1" "allow" "ntsserverkey $dir/server.key" \
    "ntsservercert $dir/fullchain.crt" "ntsprocesses 0"
  kairos_conf 2 "$(source_toml node1.net1.clk 4 "nts = true" "ca = \"$dir/ca.crt\"")"
  chrony_conf 3 "server node1.net1.clk nts minpoll 4 maxpoll 4 iburst" "nosystemcert" \
    "ntstrustedcerts $dir/ca.crt"
  sim_chronyd 1
  sim_kairosd 2
  sim_chronyd 3
  cns_run 3 "$duration"
}

# kairosd as a server: 1 chronyd reference; 2 kairosd (client of 1, serving); 3 chronyd client
# of 2; 4 chronyd client of 1, serving; 5 chronyd client of 4. Judged: 3 against 5 (and 2 vs 4).
scenario_server() {
  local dir=$1 seed=$2 duration=$3
  CNS_COLUMNS=1
  CNS_COMPARE=(
    "downstream|node 3 chronyd via kairosd (node 2) and node 5 chronyd via chronyd (node 4)|via kairosd|3|-|via chronyd|5"
    "server|node 2 kairosd and node 4 chronyd, each a client of node 1 and a server|kairosd|2|$dir/tracking.2.log|chronyd|4")
  client_clock 2 3 4 5
  cns_link "$LAN_DELAY" 1 2 4
  cns_link "$LAN_DELAY" 2 3
  cns_link "$LAN_DELAY" 4 5
  chrony_conf 1 "local stratum 1" "allow"
  kairos_conf 2 "$(source_toml 192.168.123.1 4 "nts = false")" \
    '[server]' 'listen = ["0.0.0.0:123"]' 'workers = 0'
  chrony_conf 3 "server 192.168.123.2 minpoll 4 maxpoll 4 iburst"
  chrony_conf 4 "server 192.168.123.1 minpoll 4 maxpoll 4 iburst" "allow"
  chrony_conf 5 "server 192.168.123.4 minpoll 4 maxpoll 4 iburst"
  sim_chronyd 1
  sim_kairosd 2
  sim_chronyd 3
  sim_chronyd 4
  sim_chronyd 5
  cns_run 5 "$duration"
}

# Hardware timestamping, as chrony's test 133-hwtimestamp (CLKNETSIM_TIMESTAMPING=2, PHC delay
# and jitter), interleaved mode on both clients.
hw_env=(CLKNETSIM_TIMESTAMPING=2 CLKNETSIM_PHC_DELAY=1e-6 CLKNETSIM_PHC_JITTER=1e-7
        CLKNETSIM_PHC_JITTER_ASYM=0.4)

# hw-follow: each node's eth0 PHC is a clock of its own (CLKNETSIM_CLOCKS, -c 2). kairosd
# disciplines its PHC by NTP and the system clock follows it; chronyd steers the system clock
# from hardware stamps converted through the PHC, as it always does.
scenario_hw_follow() {
  local dir=$1 seed=$2 duration=$3 poll=0
  CNS_COLUMNS=2
  CNS_COMPARE=("client|node 2 kairosd (PHC disciplined, system clock follows) and node 3 chronyd, hardware stamps, poll 1 s|kairosd|2|$dir/tracking.2.log|chronyd|3")
  client_clock 2 3
  local n
  for n in 1 2 3; do
    echo "node${n}_offset2 = 10.0"
  done >>"$CNS_DIR/conf"
  echo "node2_freq2 = $CLIENT_FREQ" >>"$CNS_DIR/conf"
  echo "node3_freq2 = $CLIENT_FREQ" >>"$CNS_DIR/conf"
  cns_link "$HW_DELAY" 1 2 3
  local -a env=("${hw_env[@]}" CLKNETSIM_CLOCKS=REALTIME,eth0)
  chrony_conf 1 "local stratum 1" "allow" "clockprecision 1e-9" "hwtimestamp eth0"
  kairos_conf 2 "$(source_toml 192.168.123.1 $poll "nts = false" "xleave = true")" \
    '[[interface]]' 'name = "eth0"' 'hw-timestamping = "on"' 'discipline-phc = true' \
    '[clock.system]' 'follow = "eth0"'
  chrony_conf 3 "server 192.168.123.1 minpoll $poll maxpoll $poll iburst xleave" \
    "clockprecision 1e-9" "hwtimestamp eth0"
  sim_chronyd 1 "${env[@]}"
  sim_kairosd 2 "${env[@]}"
  sim_chronyd 3 "${env[@]}"
  cns_run 3 "$duration" -c 2
}

# hw-direct: the PHC is the node's read-only reference clock (10 s off); kairosd and chronyd both
# steer the system clock from hardware stamps, poll 0.25 s.
scenario_hw_direct() {
  local dir=$1 seed=$2 duration=$3 poll=-2
  CNS_COLUMNS=1
  CNS_COMPARE=("client|node 2 kairosd and node 3 chronyd, hardware stamps, poll 0.25 s|kairosd|2|$dir/tracking.2.log|chronyd|3")
  client_clock 2 3
  local n
  for n in 1 2 3; do
    echo "node${n}_refclock = $HW_REFCLOCK"
  done >>"$CNS_DIR/conf"
  cns_link "$HW_DELAY" 1 2 3
  chrony_conf 1 "local stratum 1" "allow" "clockprecision 1e-9" "hwtimestamp eth0"
  kairos_conf 2 "$(source_toml 192.168.123.1 $poll "nts = false" "xleave = true")" \
    '[[interface]]' 'name = "eth0"' 'hw-timestamping = "on"'
  chrony_conf 3 "server 192.168.123.1 minpoll $poll maxpoll $poll iburst xleave" \
    "clockprecision 1e-9" "hwtimestamp eth0"
  sim_chronyd 1 "${hw_env[@]}"
  sim_kairosd 2 "${hw_env[@]}"
  sim_chronyd 3 "${hw_env[@]}"
  cns_run 3 "$duration"
}

# server-hw: the server scenario on a hardware-stamped network (hw-direct's: each node's PHC a
# read-only reference clock 10 s off), linked as in server. 1 chronyd reference; 2 kairosd (client of 1,
# serving with hardware stamps: [[interface]] eth0, as chrony's hwtimestamp); 3 chronyd client of
# 2; 4 chronyd (hwtimestamp eth0) client of 1, serving; 5 chronyd client of 4. Every client
# interleaved with hardware stamps, poll 0.25 s upstream and 1 s downstream. Judged: 3 against 5.
scenario_server_hw() {
  local dir=$1 seed=$2 duration=$3 poll=-2 down=0
  CNS_COLUMNS=1
  CNS_COMPARE=(
    "downstream|node 3 chronyd via kairosd (node 2) and node 5 chronyd via chronyd (node 4), hardware stamps|via kairosd|3|-|via chronyd|5"
    "server|node 2 kairosd and node 4 chronyd, each a client of node 1 and a server, hardware stamps|kairosd|2|$dir/tracking.2.log|chronyd|4")
  client_clock 2 3 4 5
  local n
  for n in 1 2 3 4 5; do
    echo "node${n}_refclock = $HW_REFCLOCK"
  done >>"$CNS_DIR/conf"
  cns_link "$HW_DELAY" 1 2 4
  cns_link "$HW_DELAY" 2 3
  cns_link "$HW_DELAY" 4 5
  chrony_conf 1 "local stratum 1" "allow" "clockprecision 1e-9" "hwtimestamp eth0"
  kairos_conf 2 "$(source_toml 192.168.123.1 $poll "nts = false" "xleave = true")" \
    '[server]' 'listen = ["0.0.0.0:123"]' 'workers = 0' 'rate-limit = false' \
    '[[interface]]' 'name = "eth0"' 'hw-timestamping = "on"'
  chrony_conf 3 "server 192.168.123.2 minpoll $down maxpoll $down iburst xleave" \
    "clockprecision 1e-9" "hwtimestamp eth0"
  chrony_conf 4 "server 192.168.123.1 minpoll $poll maxpoll $poll iburst xleave" "allow" \
    "clockprecision 1e-9" "hwtimestamp eth0"
  chrony_conf 5 "server 192.168.123.4 minpoll $down maxpoll $down iburst xleave" \
    "clockprecision 1e-9" "hwtimestamp eth0"
  sim_chronyd 1 "${hw_env[@]}"
  sim_kairosd 2 "${hw_env[@]}"
  for n in 3 4 5; do
    sim_chronyd "$n" "${hw_env[@]}"
  done
  cns_run 5 "$duration"
}

# A CA and a certificate for node1.net1.clk in DIR (ca.crt, server.key, fullchain.crt), valid
# for 30 days from now.
make_sim_pki() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=kairos clknetsim CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=node1.net1.clk" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null &&
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:node1.net1.clk\n' >"$dir/server.ext" &&
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null &&
  cat "$dir/server.crt" "$dir/ca.crt" >"$dir/fullchain.crt" &&
  chmod 0644 "$dir"/*.crt "$dir/server.key" || { echo "make_sim_pki: openssl failed" >&2; return 1; }
}

# Start date of a scenario's simulation (CLKNETSIM_START_DATE): the default 2010-01-01, but for
# NTS the next midnight UTC, inside the certificate's validity and the same all day.
scenario_start_date() {
  case $1 in
    nts) echo $(( ($(date +%s) / 86400 + 1) * 86400 )) ;;
    *) echo 1262304000 ;;
  esac
}

# Scenarios expected not to run yet (their failure is reported, not counted): none today.
scenario_expected_to_fail() {
  return 1
}

# PTP (issue 23): node 1 Debian's ptp4l as the grandmaster (software stamps, its clock perfect);
# node 2 kairosd's [[ptp]] port and node 3 ptp4l -s (slave only, software stamps, steering the
# system clock with its PI servo), both on eth0 with the lan's delays; Sync every 2^LOG_SYNC s,
# Delay_Req every second.
ptp4l_conf() {
  local n=$1 log_sync=$2
  shift 2
  {
    echo "[global]"
    echo "logSyncInterval $log_sync"
    echo "logMinDelayReqInterval 0"
    echo "uds_address $CNS_DIR/ptp4l.$n.sock"
    printf '%s\n' "$@"
  } >"$CNS_DIR/ptp4l.$n.conf"
}

# sim_ptp4l N [VAR=VALUE...]: software stamps; PTP4L_STAMPS="" for the NIC's (hardware).
sim_ptp4l() {
  local n=$1
  shift
  cns_node "$n" "ptp4l.$n.log" "$@" "$PTP4L" ${PTP4L_STAMPS--S} -4 -i eth0 -m -f "$CNS_DIR/ptp4l.$n.conf"
}

use_linuxptp() {
  local cache=${KAIROS_CACHE:-/var/cache/kairos}/linuxptp
  fetch_linuxptp "$cache" || return 1
  PTP4L=$cache/root/usr/sbin/ptp4l
  PHC2SYS=$cache/root/usr/sbin/phc2sys
}

ptp_scenario() {
  local dir=$1 log_sync=$2 title=$3
  use_linuxptp || return 1
  CNS_COLUMNS=1
  CNS_COMPARE=("client|node 2 kairosd and node 3 ptp4l, PTP slaves of node 1's ptp4l, software stamps, $title|kairosd|2|$dir/tracking.2.log|ptp4l|3")
  client_clock 2 3
  cns_link "$LAN_DELAY" 1 2 3
  ptp4l_conf 1 "$log_sync" "priority1 1"
  kairos_conf 2 '[[ptp]]' 'interface = "eth0"'
  ptp4l_conf 3 "$log_sync" "slaveOnly 1"
  sim_ptp4l 1
  sim_kairosd 2
  sim_ptp4l 3
}

scenario_ptp() {
  local dir=$1 seed=$2 duration=$3
  ptp_scenario "$dir" 0 "Sync every 1 s" || return 1
  cns_run 3 "$duration"
}

scenario_ptp_fast() {
  local dir=$1 seed=$2 duration=$3
  ptp_scenario "$dir" -3 "Sync every 1/8 s" || return 1
  cns_run 3 "$duration"
}

# PTP with hardware stamps against ptp4l + phc2sys (issue 23 item 2), on hw_env's NICs. clknetsim
# runs one process per node, so ptp4l + phc2sys take two nodes, as clknetsim's own
# ptp4l-phc2sys example does: node 2's ptp4l disciplines its NIC's PHC, which is node 2's only
# clock; node 3's phc2sys reads that clock as its PHC (refclock_base, CLKNETSIM_PHC_SWAP: the
# PHC's reading has hw_env's delay and jitter, as kairosd's cross-timestamps do) and steers node
# 3's system clock. Node 4 kairosd has a PHC of its own (CLKNETSIM_CLOCKS=REALTIME,eth0): its
# [[ptp]] port disciplines it and the system clock follows it. Node 1 ptp4l is the grandmaster
# on its perfect clock. Its time is UTC, which it announces as the PTP timescale with
# currentUtcOffset 37: kairosd takes it as UTC (timescale = "utc") and phc2sys with -O 0.
# Judged: the system clocks (node 4 against node 3) and the PHCs (node 4's clock 2 against node 2).
ptp_hw_scenario() {
  local dir=$1 log_sync=$2 title=$3 direct=${4:-0}
  use_linuxptp || return 1
  CNS_COLUMNS=2
  CNS_COMPARE=(
    "client|system clocks: node 4 kairosd (PTP disciplines its PHC, the system clock follows) and node 3 phc2sys (following node 2 ptp4l's PHC), hardware stamps, $title|kairosd|4|$dir/tracking.4.log|ptp4l+phc2sys|3"
    "phc|PHCs: node 4 kairosd's and node 2 ptp4l's, hardware stamps, $title|kairosd|4/2|-|ptp4l|2/1")
  local -a phc=('discipline-phc = true' '[clock.system]' 'follow = "eth0"')
  if ((direct)); then
    # The direct path: the PHC only read, PTP's samples made system time through its line.
    CNS_COMPARE=("client|system clocks: node 4 kairosd (direct path: PTP's hardware stamps made system time through the PHC's line, the PHC only read) and node 3 phc2sys (following node 2 ptp4l's PHC), $title|kairosd|4|$dir/tracking.4.log|ptp4l+phc2sys|3")
    phc=()
  fi
  client_clock 2 3 4
  {
    echo "node4_offset2 = 0.01"
    echo "node4_freq2 = $CLIENT_FREQ"
    echo "node3_refclock = (* 1e-9 (normal))"
    echo "node3_refclock_base = node2"
  } >>"$CNS_DIR/conf"
  cns_link "$HW_DELAY" 1 2 4
  ptp4l_conf 1 "$log_sync" "priority1 1"
  ptp4l_conf 2 "$log_sync" "slaveOnly 1"
  kairos_conf 4 '[[ptp]]' 'interface = "eth0"' 'timescale = "utc"' \
    '[[interface]]' 'name = "eth0"' 'hw-timestamping = "on"' "${phc[@]}"
  # Every node has two clocks (-c 2); on nodes 1-3 the second is an idle /dev/ptp5. On the ptp4l
  # nodes eth0's PHC is the node's main clock and stamps are read on it (CLKNETSIM_TIMESTAMPING=1);
  # kairosd's are read on its own PHC (hw_env's 2), as exactly.
  local -a idle=(CLKNETSIM_CLOCKS=REALTIME,ptp5)
  PTP4L_STAMPS= sim_ptp4l 1 "${hw_env[@]}" "${idle[@]}" CLKNETSIM_TIMESTAMPING=1
  PTP4L_STAMPS= sim_ptp4l 2 "${hw_env[@]}" "${idle[@]}" CLKNETSIM_TIMESTAMPING=1
  cns_node 3 "phc2sys.3.log" "${hw_env[@]}" "${idle[@]}" CLKNETSIM_PHC_SWAP=1 \
    "$PHC2SYS" -s /dev/ptp1 -c CLOCK_REALTIME -O 0 -m
  sim_kairosd 4 "${hw_env[@]}" CLKNETSIM_CLOCKS=REALTIME,eth0
}

scenario_ptp_hw() {
  local dir=$1 seed=$2 duration=$3
  ptp_hw_scenario "$dir" 0 "Sync every 1 s" || return 1
  cns_run 4 "$duration" -c 2
}

scenario_ptp_hw_fast() {
  local dir=$1 seed=$2 duration=$3
  ptp_hw_scenario "$dir" -3 "Sync every 1/8 s" || return 1
  cns_run 4 "$duration" -c 2
}

scenario_ptp_hw_direct() {
  local dir=$1 seed=$2 duration=$3
  ptp_hw_scenario "$dir" -3 "Sync every 1/8 s" 1 || return 1
  cns_run 4 "$duration" -c 2
}

ALL_SCENARIOS=(lan wan wan-adaptive nts server hw-follow hw-direct server-hw ptp ptp-fast ptp-hw ptp-hw-fast ptp-hw-direct)
