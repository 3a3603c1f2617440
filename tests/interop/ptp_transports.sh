#!/usr/bin/env bash
# kairosd's PTP port over UDPv6 (IEEE 1588-2019 Annex D) and IEEE 802.3 Ethernet (Annex E)
# against Debian's ptp4l (issue 23): two network namespaces joined by a veth pair,
#   kt-m<N>: ptp4l -S -6, then ptp4l -S -2, as the grandmaster, as nobody (with CAP_NET_RAW only
#            for -2's packet socket);
#   kt-s<N>: kairosd --no-steer with one [[ptp]] port, transport = "udpv6", then "l2", then "l2"
#            with ptp4l's MAC as its unicast master (unicast negotiation, ptp4l unicast_listen).
# Both keep the one kernel clock, so the true offset is 0: kairosd must follow ptp4l as SLAVE over
# that transport only (ptp4l speaks no other), select it and report offsets of microseconds.
# Needs root (namespaces); nothing is steered.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root for network namespaces"
  exit 0
fi
work=$(mktemp -d /tmp/kairos-ptpt.XXXXXX)
[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $work"
chmod 0777 "$work"
tag=$$
master=kt-m$tag slave=kt-s$tag
ptp4l_pid= client_pid=
cleanup() {
  stop_pid "$client_pid"
  stop_pid "$ptp4l_pid"
  ip netns del "$master" 2>/dev/null || true
  ip netns del "$slave" 2>/dev/null || true
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done >&2
  exit 1
}

fetch_linuxptp "$build/linuxptp"
set_launcher
# ptp4l -2 and kairosd's Ethernet port open AF_PACKET sockets: CAP_NET_RAW and nothing else.
raw_launcher=("${LAUNCHER[@]}")
if [[ $RUN_USER == nobody ]]; then
  raw_launcher=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all,+net_raw
    --ambient-caps=+net_raw --bounding-set=-all,+net_raw --)
fi

# --- the network: one veth pair, eth0 in each namespace, IPv6 link-local addresses only --------
for ns in "$master" "$slave"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -q net.ipv4.ip_unprivileged_port_start=0
  # No duplicate address detection: a tentative link-local address cannot send for its ~2 s.
  ip netns exec "$ns" sysctl -q net.ipv6.conf.default.accept_dad=0
done
ip link add "ktv$tag" type veth peer name "ktp$tag"
ip link set "ktv$tag" netns "$master"
ip link set "ktp$tag" netns "$slave"
ip -n "$master" link set "ktv$tag" name eth0
ip -n "$slave" link set "ktp$tag" name eth0
for ns in "$master" "$slave"; do
  ip netns exec "$ns" sysctl -q net.ipv6.conf.eth0.accept_dad=0
  ip -n "$ns" link set eth0 up
done

kairosctl=("$build/tools/kairosctl/kairosctl")

# run_transport TRANSPORT PTP4L_FLAG ADDRESS_CHECK [UNICAST_MASTER]: ptp4l as grandmaster over the
# transport, kairosd's port over the same; ADDRESS_CHECK is a Python expression over the master's
# address. With UNICAST_MASTER, kairosd negotiates unicast with ptp4l at that address instead.
run_transport() {
  local transport=$1 flag=$2 address_check=$3 unicast=${4:-}
  # 16 of ptp4l's 8 Syncs a second; unicast Syncs are asked for once a second: 4 of those.
  local mode=multicast masters= samples=16
  if [[ -n $unicast ]]; then
    mode=unicast
    masters="unicast-masters = [\"$unicast\"]"
    samples=4
  fi
  local -a ptp4l_launcher=("${LAUNCHER[@]}") kairosd_launcher=("${LAUNCHER[@]}")
  if [[ $transport == l2 ]]; then
    ptp4l_launcher=("${raw_launcher[@]}")
    kairosd_launcher=("${raw_launcher[@]}")
  fi
  # Sync 8 times a second and Announce 4 times: the port qualifies the master in half a second.
  # udp6_scope 0x02: FF02::181, the link-local group kairosd uses (ptp4l's default is FF0E::181).
  cat >"$work/ptp4l-$transport.cfg" <<CONF
[global]
domainNumber 0
priority1 100
logSyncInterval -3
logAnnounceInterval -2
udp6_scope 0x02
unicast_listen 1
uds_address $work/ptp4l-$transport.sock
CONF
  ip netns exec "$master" "${ptp4l_launcher[@]}" "$build/linuxptp/root/usr/sbin/ptp4l" -S "$flag" -i eth0 -m \
    -f "$work/ptp4l-$transport.cfg" >"$work/ptp4l-$transport.log" 2>&1 &
  ptp4l_pid=$!

  cat >"$work/client-$transport.toml" <<CONF
[[ptp]]
interface = "eth0"
transport = "$transport"
$masters
[control]
socket = "$work/client.sock"
[shm]
enabled = false
CONF
  "$build/daemon/kairosd" --config "$work/client-$transport.toml" --check-config >/dev/null ||
    fail "--check-config refused transport = \"$transport\""
  ip netns exec "$slave" "${kairosd_launcher[@]}" "$build/daemon/kairosd" --config "$work/client-$transport.toml" \
    --no-steer --foreground 2>"$work/client-$transport.log" &
  client_pid=$!

  wait_for 20 "p['ptp']['port_state'] == 'SLAVE' and p['counters']['samples'] >= $samples" ||
    fail "$transport: kairosd did not follow ptp4l: $(ptp_field 'p' || true)"
  if [[ -n $unicast ]]; then
    # Announce, Sync and Delay_Resp granted by ptp4l: the port is on the unicast streams.
    wait_for 10 'p["ptp"]["unicast_grants"] >= 3' ||
      fail "$transport: no unicast grants from ptp4l: $(ptp_field 'p["ptp"]' || true)"
  fi
  [[ $(ptp_field "p['ptp']['transport'] == '$transport' and $address_check") == True ]] ||
    fail "$transport: the port's transport or master address: $(ptp_field 'p["ptp"]["transport"], p["address"]' || true)"
  wait_for 20 'p["selected"] and s["system"]["state"] == "synchronized" and abs(s["system"]["offset"]) < 1e-3' ||
    fail "$transport: not selected, or the system clock's estimate: $(ptp_field 'p["selected"], s["system"]' || true)"
  # Kernel stamps both ways (a Delay_Req's TX stamp found on the error queue by its id, over
  # Ethernet among the general messages' ones): the daemon's own clock reads are only the few the
  # kernel left unstamped while it turned RX stamping on.
  [[ $(ptp_field 'p["ptp"]["daemon_stamps"] <= 4') == True ]] ||
    fail "$transport: stamps read in user space, not the kernel's: $(ptp_field 'p["ptp"]["daemon_stamps"]' || true)"
  local offset
  offset=$(ptp_field 'p["last_sample"]["offset"]')
  python3 -c "import sys; sys.exit(0 if abs(float('$offset')) < 1e-3 else 1)" ||
    fail "$transport: offset $offset s from ptp4l on one clock"
  echo "$transport $mode: kairosd follows ptp4l $(ptp_field 'p["ptp"]["master"]') at $(ptp_field 'p["address"]')," \
    "selected, last offset $(python3 -c "print(f'{float(\"$offset\") * 1e6:.1f}')") µs," \
    "$(ptp_field 'p["counters"]["samples"]') samples, $(ptp_field 'p["ptp"]["daemon_stamps"]') stamps not the kernel's"
  stop_pid "$client_pid"
  client_pid=
  stop_pid "$ptp4l_pid"
  ptp4l_pid=
}

run_transport udpv6 -6 'p["address"].startswith("fe80:")'
run_transport l2 -2 'len(p["address"]) == 17 and p["address"].count(":") == 5'
# Unicast negotiation with ptp4l by its MAC, written in capitals with '-' as an operator might:
# the port must still know the answers as its master's.
mac=$(ip -n "$master" -br link show eth0 | awk '{print $3}')
run_transport l2 -2 "p['address'] == '$mac'" "$(tr 'a-f:' 'A-F-' <<<"$mac")"
echo "PASS: kairosd follows ptp4l over UDPv6 and over Ethernet, multicast and unicast"
