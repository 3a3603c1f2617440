#!/usr/bin/env bash
# Root distance served honestly (RFC 5905 §7.3), judged by chronyd in clknetsim. A chain:
#   node 1 chronyd, stratum 1 → node 2 kairosd (server) → node 3 kairosd (server)
# with chronyd clients behind each kairosd logging every measurement as chrony's measurements log
# has it (root delay, root dispersion and refid as the server announced them): node 5 behind
# node 2, node 4 behind node 3. Links: 100 µs + exp(10 µs) each way.
#
# Checked after the first 600 s: node 5 hears stratum 2, refid 192.168.123.1 and a root delay of
# one round trip (kairosd 2 ↔ chronyd 1); node 4 hears stratum 3, refid 192.168.123.2 and a root
# delay of two round trips; the root dispersion grows along the chain; every chronyd client is
# synchronized to kairosd. Prints the medians. Exit 77 without CLKNETSIM or root.
#
#   CLKNETSIM=/path tests/clknetsim/root_distance.sh [--build DIR] [--keep]
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
keep=0
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z ${CLKNETSIM:-} ]]; then
  echo "SKIP: CLKNETSIM not set (build github.com/mlichvar/clknetsim and set CLKNETSIM=/path)"
  exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: run as root (the simulated daemons are started as nobody through setpriv)"
  exit 77
fi
CLKNETSIM=$(cd "$CLKNETSIM" && pwd) || exit 1
export CLKNETSIM
source "$root/tests/interop/lib.sh"  # fetch_chrony
source "$here/lib.sh"
source "$here/scenarios.sh"
cns_daemons "$build" || exit 1

dir=$(mktemp -d /tmp/kairos-rootdist.XXXXXX)
trap 'cns_stop_all; [[ $keep = 1 ]] && echo "kept $dir" || rm -rf "$dir"' EXIT
cns_init "$dir" || exit 1
export CLKNETSIM_RANDOM_SEED=1
client_clock 2 3 4 5
cns_link "$LAN_DELAY" 1 2
cns_link "$LAN_DELAY" 2 3 5
cns_link "$LAN_DELAY" 3 4
serving=('[server]' 'listen = ["0.0.0.0:123"]' 'workers = 0')
chrony_conf 1 "local stratum 1" "allow"
kairos_conf 2 "$(source_toml 192.168.123.1 4 "nts = false")" "${serving[@]}"
kairos_conf 3 "$(source_toml 192.168.123.2 4 "nts = false")" "${serving[@]}"
for n in 4 5; do
  mkdir -p "$dir/chrony.$n.logs" && chmod 0777 "$dir/chrony.$n.logs"
done
chrony_conf 4 "server 192.168.123.3 minpoll 4 maxpoll 4 iburst" "logdir $dir/chrony.4.logs" "log measurements"
chrony_conf 5 "server 192.168.123.2 minpoll 4 maxpoll 4 iburst" "logdir $dir/chrony.5.logs" "log measurements"
sim_chronyd 1
sim_kairosd 2
sim_kairosd 3
sim_chronyd 4
sim_chronyd 5
if ! cns_run 5 3600; then
  echo "FAIL: the simulation did not run to the end ($dir)"; keep=1; exit 1
fi

python3 - "$dir" <<'PY'
import statistics, sys
d = sys.argv[1]
start = None
def measurements(node):
    """chrony's measurements log: date time ip leap stratum tests(3) LP RP score offset
    peer-delay peer-dispersion root-delay root-dispersion refid ..."""
    rows = []
    for line in open(f"{d}/chrony.{node}.logs/measurements.log"):
        f = line.split()
        if len(f) < 17 or not f[0][:4].isdigit():
            continue
        rows.append({"time": f[1], "ip": f[2], "stratum": int(f[4]), "root_delay": float(f[14]),
                     "root_dispersion": float(f[15]), "refid": f[16]})
    return rows[len(rows) * 600 // 3600:]  # after the first 600 s (polls are evenly spaced)

failures = []
checks = 0
def check(what, ok):
    global checks
    checks += 1
    if not ok:
        failures.append(what)

for node, server in ((4, "192.168.123.3"), (5, "192.168.123.2")):
    check(f"chronyd {node} selected kairosd {server}",
          f"Selected source {server}" in open(f"{d}/chronyd.{node}.log").read())

five, four = measurements(5), measurements(4)
check("node 5 has measurements", len(five) > 100)
check("node 4 has measurements", len(four) > 100)
med = lambda rows, key: statistics.median(r[key] for r in rows)
for name, rows, stratum, refid, delay_low, delay_high in (
        ("node 5 (behind kairosd 2)", five, 2, "C0A87B01", 180e-6, 300e-6),
        ("node 4 (behind kairosd 3)", four, 3, "C0A87B02", 380e-6, 560e-6)):
    if not rows:
        continue
    strata = {r["stratum"] for r in rows}
    refids = {r["refid"] for r in rows}
    print(f"{name}: stratum {sorted(strata)}, refid {sorted(refids)}, root delay median "
          f"{med(rows, 'root_delay') * 1e6:.1f} µs, root dispersion median {med(rows, 'root_dispersion') * 1e6:.1f} µs")
    check(f"{name}: stratum {stratum}", strata == {stratum})
    check(f"{name}: refid {refid}", refids == {refid})
    check(f"{name}: root delay within [{delay_low * 1e6:.0f}, {delay_high * 1e6:.0f}] µs",
          delay_low <= med(rows, "root_delay") <= delay_high)
if five and four:
    check("the root delay accumulates along the chain",
          med(four, "root_delay") > med(five, "root_delay") + 150e-6)
    check("the root dispersion accumulates along the chain",
          med(four, "root_dispersion") > med(five, "root_dispersion"))
    check("the root dispersion stays under 1 ms on a LAN", med(four, "root_dispersion") < 1e-3)
for f in failures:
    print("FAIL:", f)
print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
