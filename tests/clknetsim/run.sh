#!/usr/bin/env bash
# kairosd and chronyd side by side in clknetsim (github.com/mlichvar/clknetsim), the simulator
# chrony's own tests use: same simulated world, same links, same clocks, same polling; the truth is
# the simulator's log of every clock's true offset.
#
#   CLKNETSIM=/path/to/clknetsim tests/clknetsim/run.sh [--seeds N] [--duration S] [--build DIR]
#       [--keep] [--check] [SCENARIO...]
#
# Scenarios: lan wan wan-adaptive nts server hw-follow hw-direct server-hw ptp ptp-fast ptp-hw
# ptp-hw-fast ptp-hw-direct (default: all); seeds 1..N (default 5); S
# simulated seconds (default 14400); statistics after 1800 s. Prints one Markdown table per
# scenario and comparison. Exit status: 0 when every simulation ran (whatever its numbers), 1 when
# one could not run, 77 when
# CLKNETSIM is not set. --check (the ctest): also fails when kairosd is not synchronized or its rms
# offset on lan/nts is 20 µs or more, or when chronyd, client of kairosd in `server`, is not
# synchronized. --keep keeps the work directories (printed).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

seeds=5
duration=14400
build=$root/build
keep=0
check=0
scenarios=()
while (($#)); do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done

if [[ -z ${CLKNETSIM:-} ]]; then
  echo "SKIP: CLKNETSIM not set (build github.com/mlichvar/clknetsim and set CLKNETSIM=/path)"
  exit 77
fi
CLKNETSIM=$(cd "$CLKNETSIM" && pwd) || exit 1
export CLKNETSIM
if [[ $(id -u) -ne 0 ]]; then
  # setpriv --reuid=nobody needs root; every simulated daemon runs as nobody.
  echo "SKIP: run as root (the simulated daemons are started as nobody through setpriv)"
  exit 77
fi

source "$root/tests/interop/lib.sh"  # fetch_chrony
source "$here/lib.sh"
source "$here/scenarios.sh"

cns_daemons "$build" || exit 1

((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
for s in "${scenarios[@]}"; do
  [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || { echo "unknown scenario $s (${ALL_SCENARIOS[*]})" >&2; exit 2; }
done

results=$(mktemp /tmp/kairos-clknetsim-results.XXXXXX)
work_dirs=()
cleanup() {
  cns_stop_all
  rm -f "$results"
  ((keep)) || rm -rf "${work_dirs[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0
check_failed=0
for scenario in "${scenarios[@]}"; do
  for seed in $(seq 1 "$seeds"); do
    dir=$(mktemp -d /tmp/kairos-clknetsim.XXXXXX)
    work_dirs+=("$dir")
    cns_init "$dir" || exit 1
    : >"$dir/conf"
    export CLKNETSIM_RANDOM_SEED=$seed
    export CLKNETSIM_START_DATE=$(scenario_start_date "$scenario")
    CNS_COMPARE=()
    CNS_COLUMNS=1
    start=$(date +%s.%N)
    "scenario_${scenario//-/_}" "$dir" "$seed" "$duration"
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    error=
    if ((rc != 0)); then
      error="simulation did not run to the end"
      if scenario_expected_to_fail "$scenario"; then
        error="$error (expected for now)"
        echo "XFAIL: $scenario seed $seed: $error; $dir" >&2
      else
        echo "FAIL: $scenario seed $seed: $error; $dir" >&2
        failed=1
        keep=1
      fi
      for f in "$dir"/server.log "$dir"/kairosd.*.log "$dir"/chronyd.*.log; do
        [[ -e $f ]] || continue
        echo "--- $f (last lines)" >&2
        tail -n 8 "$f" >&2
      done
    else
      echo "ran $scenario seed $seed in $secs s ($dir)" >&2
    fi
    for cmp in "${CNS_COMPARE[@]}"; do
      IFS='|' read -r name title a_name a_node a_track b_name b_node <<<"$cmp"
      a= b=
      if [[ -z $error ]]; then
        # A node is N (its system clock) or N/C (its Cth clock: 2 is a separate PHC).
        col_a=$(( (${a_node%/*} - 1) * CNS_COLUMNS + ${a_node#*/} ))
        col_b=$(( (${b_node%/*} - 1) * CNS_COLUMNS + ${b_node#*/} ))
        [[ $a_node == */* ]] || col_a=$(( (a_node - 1) * CNS_COLUMNS + 1 ))
        [[ $b_node == */* ]] || col_b=$(( (b_node - 1) * CNS_COLUMNS + 1 ))
        track=()
        [[ $a_track != - ]] && track=(--tracking "$a_track" --start-date "$CLKNETSIM_START_DATE")
        if ! a=$(python3 "$here/analyze.py" node --offsets "$dir/log.offset" --column "$col_a" \
                   --duration "$duration" "${track[@]}") ||
           ! b=$(python3 "$here/analyze.py" node --offsets "$dir/log.offset" --column "$col_b" \
                   --duration "$duration"); then
          error="no numbers (see $dir)"
          failed=1
          keep=1
        fi
      fi
      # Which timestamps kairosd's samples had ("stamps TX/RX" in its log), most frequent first.
      stamps=
      if [[ -e $dir/kairosd.${a_node%/*}.log ]]; then
        stamps=$(grep -o 'stamps [a-z]*/[a-z]*' "$dir/kairosd.${a_node%/*}.log" | sort | uniq -c |
                 sort -rn | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $3, $1 }')
      fi
      # How often each daemon sent a packet (clknetsim's statistics): the cost of its accuracy.
      intervals=
      if [[ -e $dir/stats ]]; then
        intervals=$(awk -v a="${a_node%/*}" -v b="${b_node%/*}" '/^-+ Node / { n = $3 }
          /^Mean outgoing packet interval:/ { v[n] = $NF } END { if ((a in v) && (b in v)) print v[a], v[b] }' "$dir/stats")
      fi
      python3 - "$scenario" "$seed" "$name" "$title" "$a_name" "$b_name" "$error" "${a:-null}" "${b:-null}" "$stamps" "$intervals" >>"$results" <<'PY'
import json, sys
scenario, seed, name, title, a_name, b_name, error, a, b, stamps, intervals = sys.argv[1:]
print(json.dumps({"scenario": scenario, "seed": int(seed), "compare": name, "title": title,
                  "a_name": a_name, "b_name": b_name, "error": error or None,
                  "a": json.loads(a) if a else None, "b": json.loads(b) if b else None,
                  "stamps": stamps or None,
                  "intervals": [float(x) for x in intervals.split()] if intervals else None}))
PY
      if ((check)) && [[ -z $error ]]; then
        verdict=$(python3 - "$scenario" "$name" "$a" "$b" <<'PY'
import json, sys
scenario, name, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
problems = []
if name in ("client", "server"):
    if a["sync"] is None:
        problems.append("kairosd never synchronized")
    if scenario in ("lan", "nts") and (a["rms"] is None or a["rms"] >= 20e-6):
        problems.append(f"kairosd rms {a['rms']} s, limit 20 us")
if name == "downstream" and a["sync"] is None:
    problems.append("chronyd as a client of kairosd never synchronized")
print("; ".join(problems))
PY
        )
        if [[ -n $verdict ]] && scenario_expected_to_fail "$scenario"; then
          echo "CHECK XFAIL: $scenario seed $seed $name: $verdict (expected for now)" >&2
        elif [[ -n $verdict ]]; then
          echo "CHECK FAILED: $scenario seed $seed $name: $verdict" >&2
          check_failed=1
          keep=1
        fi
      fi
    done
  done
done

echo
echo "clknetsim $(date -u +%Y-%m-%d), $seeds seed(s), $duration s each, statistics after 1800 s;" \
     "times are the true offsets of the system clock, ratio = first / second"
echo
python3 "$here/analyze.py" table "$results" || failed=1
((keep)) && echo "work directories kept: ${work_dirs[*]}" >&2
((failed || check_failed)) && exit 1
exit 0
