#!/usr/bin/env bash
# Micro-benchmarks: nanoseconds per packet parse, AEAD seal/open, cookie seal/open, NTS-KE decode.
set -euo pipefail
build=${1:-build}
exec "$build/tests/kairos_bench" --benchmark_min_time=0.2 "${@:2}"
