#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD for SECONDS each, starting from its committed seed corpus
# (tests/fuzz/corpus/NAME for fuzz_NAME). New inputs go to a scratch copy, never into the tree.
# A crash, leak or timeout fails the run; its reproducer is kept under tests/fuzz/artifacts/.
# FUZZ_TARGETS="ke_client ntp_packet" limits the run to those targets; FUZZ_MERGE=1 folds the new
# inputs that add coverage back into the committed corpus (for `make fuzz-long`, then commit).
set -uo pipefail
build=${1:-build-san}
seconds=${2:-20}
top=$(cd "$(dirname "$0")/.." && pwd)
artifacts="$top/tests/fuzz/artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d /tmp/kairos-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
for target in "$build"/tests/fuzz_*; do
  [[ -x "$target" ]] || continue
  name=$(basename "$target")
  if [[ -n ${FUZZ_TARGETS:-} && " $FUZZ_TARGETS " != *" ${name#fuzz_} "* ]]; then continue; fi
  seeds="$top/tests/fuzz/corpus/${name#fuzz_}"
  work="$scratch/$name"
  mkdir -p "$work"
  [[ -d "$seeds" ]] && cp -r "$seeds/." "$work/"
  if "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts/$name-" "$work" >"$scratch/$name.log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$scratch/$name.log" | awk '{print $2}')
    echo "fuzz: $name ok (${execs:-?} runs in ${seconds}s)"
    if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
      mkdir -p "$seeds"
      "$target" -merge=1 "$seeds" "$work" >>"$scratch/$name.log" 2>&1 &&
        echo "fuzz: $name corpus now $(ls "$seeds" | wc -l) inputs"
    fi
    passed=$((passed + 1))
  else
    echo "fuzz: $name FAILED; log tail:"
    tail -n 40 "$scratch/$name.log"
    failed=$((failed + 1))
  fi
done
if ((passed + failed == 0)); then
  echo "fuzz: no fuzz targets found in $build/tests" >&2
  exit 1
fi
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
