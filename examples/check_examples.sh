#!/usr/bin/env bash
# Every example configuration must pass `kairosd --check-config` (it reads only the text: the
# certificate and key paths need not exist here). Usage: check_examples.sh KAIROSD FILE...
set -euo pipefail
kairosd=$1
shift
(($# > 0)) || { echo "no example given"; exit 1; }
for example in "$@"; do
  "$kairosd" --config "$example" --check-config
done
