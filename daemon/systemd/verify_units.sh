#!/usr/bin/env bash
# systemd-analyze verify on kairos' units, with ExecStart pointing at the built binaries (the
# installed paths do not exist in a build tree). Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
work=$(mktemp -d /tmp/kairos-units.XXXXXX)
trap 'rm -rf "$work"' EXIT
# kairosctl may not be built in every configuration; any executable stands in for the check.
kairosctl=$build/tools/kairosctl/kairosctl
[[ -x $kairosctl ]] || kairosctl=/bin/true
for unit in kairosd.service kairos-wait-sync.service; do
  sed -e "s|/usr/sbin/kairosd|$build/daemon/kairosd|" -e "s|/usr/bin/kairosctl|$kairosctl|" \
    "$here/$unit" >"$work/$unit"
done
# verify prints problems on stderr and may exit 0 with warnings: any output is a failure.
out=$(cd "$work" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./kairosd.service ./kairos-wait-sync.service 2>&1) || {
  echo "FAIL: $out"
  exit 1
}
# Units named in Conflicts=/Requisite= are not installed here; that is not the units' fault.
problems=$(grep -v -E "Unit .*(chrony|timesyncd|ntp|ntpsec|openntpd).* not found|^$" <<<"$out" || true)
if [[ -n $problems ]]; then
  echo "FAIL: systemd-analyze verify:"
  echo "$out"
  exit 1
fi
[[ -n $out ]] && echo "$out"
echo "PASS: units verify"
