#!/usr/bin/env bash
# The command-line conventions operators of chronyd and ntpd expect, on the built binaries:
# kairosd --check-config [FILE], --version, kairosctl --version, and --socket before or after the
# subcommand (after wins). Usage: command_line.sh KAIROSD KAIROSCTL EXAMPLES_DIR
set -u
kairosd=$1 kairosctl=$2 examples=$3
failed=0 passed=0
check() {  # check NAME EXPECTED-STATUS EXPECTED-TEXT COMMAND...
  local name=$1 want=$2 text=$3
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want && $out == *"$text"* ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: status $rc (want $want), output: $out (want to contain: $text)"
  fi
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[[source]]\naddress = "x"\nminpoll = 40\n' >"$dir/bad.toml"
# The selection keys (chrony's prefer, noselect, maxdistance, maxdrift), good and bad.
printf '[[source]]\naddress = "x"\nprefer = true\nmax-distance = 1\n[[source]]\naddress = "y"\nnoselect = true\n[clock.system]\nmax-distance = 2\nmax-drift = 100\n' >"$dir/selection.toml"
printf '[[source]]\naddress = "x"\nnoselect = true\nprefer = true\n[clock.system]\nmax-drift = 200000\n' >"$dir/bad-selection.toml"

check "kairosd --check-config FILE" 0 "lan-server.toml: ok" "$kairosd" --check-config "$examples/lan-server.toml"
check "kairosd --config FILE --check-config" 0 "lan-server.toml: ok" "$kairosd" --config "$examples/lan-server.toml" --check-config
check "kairosd --check-config BAD" 1 "bad.toml:3" "$kairosd" --check-config "$dir/bad.toml"
check "kairosd --check-config MISSING" 1 "missing.toml" "$kairosd" --check-config "$dir/missing.toml"
# A configured leap-seconds.list must be there and intact (its #h hash); "" turns it off.
printf '#$ 3960835200\n#@ 3991593600\n3692217600 37\n#h 1 2 3 4 5\n' >"$dir/edited.list"
printf '[[source]]\naddress = "x"\n[clock.system]\nleap-seconds-list = "%s"\n' "$dir/none.list" >"$dir/leap-missing.toml"
printf '[[source]]\naddress = "x"\n[clock.system]\nleap-seconds-list = "%s"\n' "$dir/edited.list" >"$dir/leap-edited.toml"
printf '[[source]]\naddress = "x"\n[clock.system]\nleap-seconds-list = ""\n' >"$dir/leap-off.toml"
check "kairosd --check-config, leap list missing" 1 "cannot read $dir/none.list" "$kairosd" --check-config "$dir/leap-missing.toml"
check "kairosd --check-config, leap list edited" 1 "does not match" "$kairosd" --check-config "$dir/leap-edited.toml"
check "kairosd --check-config, leap list off" 0 "leap-off.toml: ok" "$kairosd" --check-config "$dir/leap-off.toml"
check "kairosd --check-config selection keys" 0 "selection.toml: ok" "$kairosd" --check-config "$dir/selection.toml"
check "kairosd --check-config noselect with prefer" 1 "bad-selection.toml:4: 'prefer' has no meaning for a 'noselect' source" "$kairosd" --check-config "$dir/bad-selection.toml"
check "kairosd --check-config max-drift out of range" 1 "bad-selection.toml:6: 'max-drift' must be a number between 1 and 100000" "$kairosd" --check-config "$dir/bad-selection.toml"
check "kairosd --version" 0 "kairosd " "$kairosd" --version
check "kairosctl --version" 0 "kairosctl " "$kairosctl" --version
check "kairosctl --socket PATH status" 2 "$dir/before.sock" "$kairosctl" --socket "$dir/before.sock" status
check "kairosctl status --socket PATH" 2 "$dir/after.sock" "$kairosctl" status --socket "$dir/after.sock"
check "the subcommand's --socket wins" 2 "$dir/after.sock" "$kairosctl" --socket "$dir/before.sock" waitsync --timeout 0 --socket "$dir/after.sock"
# phc-vclock (issue 21 item 6) on a NIC without one: refused at start, saying how to make one.
printf '[daemon]\nstate-dir = "%s/state"\n[control]\nenabled = false\n[shm]\nenabled = false\n[[source]]\naddress = "127.0.0.1:1"\nnts = false\n[[interface]]\nname = "lo"\nphc-vclock = 0\n' "$dir" >"$dir/vclock.toml"
check "kairosd phc-vclock without that vclock" 1 "phc-vclock 0: /dev/ptp0 is not a virtual clock of its PHC" "$kairosd" --config "$dir/vclock.toml" --foreground
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
