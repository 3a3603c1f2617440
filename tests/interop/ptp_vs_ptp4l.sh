#!/usr/bin/env bash
# kairosd's PTP port against Debian's ptp4l (issue 23): network namespaces joined by a bridge,
#   kp-m<N>: ptp4l -S (software stamps) as the grandmaster, as nobody with no capabilities;
#   kp-s<N>: kairosd --no-steer, a [[ptp]] port on the bridge and an NTS source (a kairosd NTS
#            server on the same namespace's loopback, which serves this host's clock);
#   kp-l<N>: later, a lying grandmaster (tests/interop/ptp_liar.py: better dataset, 20 ms ahead).
# All three keep the one kernel clock, so the true offset between them is 0: kairosd must follow
# ptp4l as SLAVE with offsets of microseconds, the NTS source must confirm it, and when the liar
# wins the best master election the NTS guard must drop the PTP port while the system clock's
# estimate stays on true time. Needs root (namespaces); nothing is steered.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root for network namespaces"
  exit 0
fi
work=$(mktemp -d /tmp/kairos-ptp.XXXXXX)
[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $work"
chmod 0755 "$work"
tag=$$
master=kp-m$tag slave=kp-s$tag liar=kp-l$tag
ptp4l_pid= liar_pid= server_pid= client_pid=
cleanup() {
  stop_pid "$liar_pid"
  stop_pid "$client_pid"
  stop_pid "$server_pid"
  stop_pid "$ptp4l_pid"
  ip netns del "$master" 2>/dev/null || true
  ip netns del "$slave" 2>/dev/null || true
  ip netns del "$liar" 2>/dev/null || true
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

# --- the network: the slave's bridge, a veth to the master's namespace and one to the liar's ---
for ns in "$master" "$slave" "$liar"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # ports 319/320 for unprivileged daemons (per namespace)
  ip netns exec "$ns" sysctl -q net.ipv4.ip_unprivileged_port_start=0
done
ip -n "$slave" link add br0 type bridge mcast_snooping 0
ip -n "$slave" link set br0 up
ip -n "$slave" addr add 10.77.0.2/24 dev br0
n=1
for ns in "$master" "$liar"; do
  ip link add "kpv$tag$n" type veth peer name "kpp$tag$n"
  ip link set "kpv$tag$n" netns "$ns"
  ip link set "kpp$tag$n" netns "$slave"
  ip -n "$ns" link set "kpv$tag$n" name eth0
  ip -n "$ns" addr add "10.77.0.$((n + 2))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$slave" link set "kpp$tag$n" master br0
  ip -n "$slave" link set "kpp$tag$n" up
  n=$((n + 1))
done

# --- ptp4l, the grandmaster: software stamps, Sync 4 times a second, Announce every second -------
cat >"$work/ptp4l.cfg" <<CONF
[global]
domainNumber 0
priority1 100
logSyncInterval -2
logAnnounceInterval 0
uds_address $work/ptp4l.sock
CONF
chmod 0777 "$work"
ip netns exec "$master" "${LAUNCHER[@]}" "$build/linuxptp/root/usr/sbin/ptp4l" -S -4 -i eth0 -m \
  -f "$work/ptp4l.cfg" >"$work/ptp4l.log" 2>&1 &
ptp4l_pid=$!

# --- kairosd's NTS server and its client with the PTP port, in the slave's namespace ------------
make_test_pki "$work/pki"
mkdir -p "$work/server-state" "$work/client-state"
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/server-state" "$work/client-state"
loopback_server_config "$work/server-state" 15423 15760 "$work/pki" "$work/server.sock" >"$work/server.toml"
ip netns exec "$slave" "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/server.toml" --no-steer \
  --foreground 2>"$work/server.log" &
server_pid=$!
{
  loopback_client_config "$work/client-state" 15760 "$work/pki"
  cat <<CONF
[[ptp]]
interface = "br0"
[control]
socket = "$work/client.sock"
[shm]
enabled = false
CONF
} >"$work/client.toml"
"$build/daemon/kairosd" --config "$work/client.toml" --check-config >/dev/null
sleep 1
ip netns exec "$slave" "${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer \
  --foreground 2>"$work/client.log" &
client_pid=$!

kairosctl=("$build/tools/kairosctl/kairosctl")

# 1. ptp4l becomes master, kairosd its slave; NTS confirms it.
wait_for 60 'p["ptp"]["port_state"] == "SLAVE" and p["counters"]["samples"] >= 20' ||
  fail "kairosd did not follow ptp4l: $(ptp_field 'p' || true)"
wait_for 60 'p["guard"]["state"] == "agrees"' || fail "NTS did not confirm the PTP port: $(ptp_field 'p["guard"]' || true)"
offset=$(ptp_field 'p["last_sample"]["offset"]')
echo "kairosd follows ptp4l: $(ptp_field 'p["ptp"]["master"]'), last offset $offset s, guard $(ptp_field 'p["guard"]["state"]')"
python3 -c "import sys; sys.exit(0 if abs(float('$offset')) < 1e-3 else 1)" || fail "offset $offset s from ptp4l on one clock"
wait_for 60 's["system"]["state"] == "synchronized" and abs(s["system"]["offset"]) < 1e-3' ||
  fail "the system clock's estimate: $(ptp_field 's["system"]' || true)"

# 2. A liar wins the best master election, 20 ms ahead: the NTS guard drops it.
# The system's interpreter: nobody cannot run a per-user one (pyenv's shims live in root's home).
system_python=/usr/bin/python3
[[ -x $system_python ]] || system_python=$(command -v python3)
ip netns exec "$liar" "${LAUNCHER[@]}" "$system_python" "$top/tests/interop/ptp_liar.py" eth0 0.020 >"$work/liar.log" 2>&1 &
liar_pid=$!
wait_for 60 'p["ptp"]["grandmaster"] == "020000.fffe.000001"' || fail "the liar did not win the BMCA: $(ptp_field 'p["ptp"]' || true)"
took=$SECONDS
wait_for 30 'p["guard"]["state"] == "disagrees" and p["guard"]["alarm"]' ||
  fail "the liar was not dropped: $(ptp_field 'p["guard"]' || true)"
echo "the liar won the BMCA and the NTS guard dropped it within $((SECONDS - took + 1)) s:" \
  "disagrees by $(ptp_field 'p["guard"]["disagreement"]') s, selected $(ptp_field 'p["selected"]')"
[[ $(ptp_field 'p["selected"]') == False ]] || fail "the lying PTP port is still selected"
sleep 3
estimate=$(ptp_field 's["system"]["offset"]')
python3 -c "import sys; sys.exit(0 if abs(float('$estimate')) < 2e-3 else 1)" ||
  fail "the system clock's estimate followed the liar: $estimate s"
grep -q "disagrees with authenticated (NTS) time" "$work/client.log" || fail "no alarm in kairosd's log"
echo "PASS: the system clock's estimate stayed at $estimate s while the liar was 20 ms ahead"
