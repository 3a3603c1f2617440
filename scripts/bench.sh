#!/usr/bin/env bash
# Micro-benchmarks: nanoseconds per packet parse, AEAD seal/open, cookie seal/open, NTS-KE decode;
# then the server comparison with chronyd (scripts/bench_server.sh); last the simulator's table of
# every scenario (clock quality against targets and chronyd's numbers).
set -euo pipefail
build=${1:-build}
"$build/tests/kairos_bench" --benchmark_min_time=0.2 "${@:2}"
bash "$(dirname "$0")/bench_server.sh" "$build"
echo
echo "== simulator: every scenario, kalman vs pi servo =="
"$build/tools/sim/kairos-sim" --table
