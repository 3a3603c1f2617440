#!/usr/bin/env bash
# Renders each man page given with groff's man macros and every warning on; any warning or error
# fails. Skipped (77) where groff is not installed: the pages are checked, not built.
set -uo pipefail
command -v groff >/dev/null || { echo "groff not installed: skipped"; exit 77; }
failed=0
for page in "$@"; do
  messages=$(groff -man -ww -z "$page" 2>&1)
  if [[ $? != 0 || -n $messages ]]; then
    echo "FAIL: $page"
    printf '%s\n' "$messages"
    failed=1
  else
    echo "ok: $page"
  fi
done
exit $failed
