#!/usr/bin/env bash
# The control socket end to end: kairosd as an NTS server on loopback (local stratum 1) and a
# second kairosd, observe-only, as its NTS client, each with its own control socket. kairosctl
# waitsync must see the client synchronized within 10 ms; status, sources, clocks and server must
# answer, in text and in JSON with the expected fields. No clock is steered: both daemons run
# with --no-steer and no `steer` in their configuration.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/interop/lib.sh"
work=$(mktemp -d /tmp/kairos-control-e2e.XXXXXX)
chmod 0755 "$work"
KAIROSD_PID= client_pid=
trap 'stop_pid "$client_pid"; stop_pid "$KAIROSD_PID"; rm -rf "$work"' EXIT

ntp_port=${NTP_PORT:-13323}
ke_port=${KE_PORT:-13660}
ctl="$build/tools/kairosctl/kairosctl"
set_launcher
make_test_pki "$work/pki"
mkdir -p "$work/state" "$work/run"
# The daemons may run as nobody: they create their socket directories under run/ themselves.
[[ $RUN_USER == nobody ]] && chown nobody:nogroup "$work/state" "$work/run"
server_sock="$work/run/server/control.sock"
client_sock="$work/run/client/control.sock"

loopback_server_config "$work/state" "$ntp_port" "$ke_port" "$work/pki" "$server_sock" >"$work/server.toml"
{
  loopback_client_config "$work/state" "$ke_port" "$work/pki"
  cat <<CONF
[control]
socket = "$client_sock"
mode = "0600"
CONF
} >"$work/client.toml"
if grep -q "steer" "$work/server.toml" "$work/client.toml"; then echo "FAIL: a config mentions steer"; exit 1; fi
"$build/daemon/kairosd" --config "$work/client.toml" --check-config

# Before any daemon: kairosctl says so and exits 2.
set +e
msg=$("$ctl" status --socket "$client_sock" 2>&1); rc=$?
set -e
[[ $rc == 2 && $msg == *"kairosd not running? no control socket at $client_sock"* ]] ||
  { echo "FAIL: without a daemon: rc $rc, '$msg'"; exit 1; }

start_kairosd "$build" "$work/server.toml" "$work/server.log" "$ke_port"
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/client.log" &
client_pid=$!
for i in $(seq 1 50); do [[ -S $client_sock ]] && break; sleep 0.1; done
[[ -S $client_sock ]] || { echo "FAIL: no client control socket"; cat "$work/client.log"; exit 1; }
[[ $(stat -c %a "$client_sock") == 600 && $(stat -c %a "$server_sock") == 660 ]] ||
  { echo "FAIL: socket modes $(stat -c %a "$client_sock") / $(stat -c %a "$server_sock")"; exit 1; }
[[ $(stat -c %a "$work/run/client") == 755 ]] || { echo "FAIL: socket directory mode"; exit 1; }

# A second daemon on the same socket is refused and leaves the first one's socket alone.
set +e
"${LAUNCHER[@]}" "$build/daemon/kairosd" --config "$work/client.toml" --no-steer --foreground 2>"$work/second.log"
rc=$?
set -e
[[ $rc != 0 ]] && grep -q "another daemon answers" "$work/second.log" && [[ -S $client_sock ]] ||
  { echo "FAIL: second daemon on the same socket: rc $rc"; cat "$work/second.log"; exit 1; }
echo "PASS: a second kairosd on the same control socket is refused"

"$ctl" waitsync --socket "$client_sock" --max-error 0.01 --timeout 20 --interval 0.5 ||
  { echo "FAIL: waitsync"; tail -n 20 "$work/client.log"; exit 1; }
echo "PASS: waitsync"

for command in status sources clocks; do
  "$ctl" "$command" --socket "$client_sock"
done
"$ctl" server --socket "$server_sock"

status=$("$ctl" status --json --socket "$client_sock")
sources=$("$ctl" sources --json --socket "$client_sock")
clocks=$("$ctl" clocks --json --socket "$client_sock")
# The NTP workers publish their counters a few times a second: allow them a moment.
for i in $(seq 1 20); do
  server=$("$ctl" server --json --socket "$server_sock")
  [[ $(get "$server" '.server.ntp.served') != 0 ]] && break
  sleep 0.2
done
for j in "$status" "$sources" "$clocks" "$server"; do python3 -m json.tool <<<"$j" >/dev/null; done
[[ $(get "$status" '.system.state') == '"synchronized"' ]] || { echo "FAIL: status state"; echo "$status"; exit 1; }
[[ $(get "$status" '.system.steered') == false ]] || { echo "FAIL: a steered clock"; exit 1; }
[[ $(get "$status" '.system.sources_selected') == 1 ]] || { echo "FAIL: selected sources"; echo "$status"; exit 1; }
[[ $(get "$sources" '.sources[0].selected') == true ]] || { echo "FAIL: source not selected"; echo "$sources"; exit 1; }
[[ $(get "$sources" '.sources[0].mode') == '"nts"' ]] || { echo "FAIL: source mode"; exit 1; }
[[ $(get "$sources" '.sources[0].has_keys') == true ]] || { echo "FAIL: source has no keys"; exit 1; }
[[ $(get "$clocks" '.clocks[0].name') == '"system"' ]] || { echo "FAIL: clocks"; echo "$clocks"; exit 1; }
served=$(get "$server" '.server.ntp.served')
ke_ok=$(get "$server" '.server.nts_ke.ok')
((served > 0 && ke_ok >= 1)) || { echo "FAIL: server served $served, NTS-KE ok $ke_ok"; echo "$server"; exit 1; }
[[ $(get "$("$ctl" server --json --socket "$client_sock")" '.server') == null ]] ||
  { echo "FAIL: the client claims to serve"; exit 1; }
echo "PASS: status, sources, clocks, server (served $served, NTS-KE ok $ke_ok)"

# phcstat shows kairosd's view of its clocks from the same socket (no PHC here: the system clock).
phcstat_text=$("$build/tools/phcstat/phcstat" --socket "$client_sock") || true
grep -Eq '^  system +synchronized, observed only, offset [-+][0-9.]+ s ± .*, updated .* ago$' <<<"$phcstat_text" ||
  { echo "FAIL: phcstat's kairosd view"; echo "$phcstat_text"; exit 1; }
grep -q '^  OK    kairosd system: synchronized' <<<"$phcstat_text" || { echo "FAIL: phcstat check"; echo "$phcstat_text"; exit 1; }
echo "PASS: phcstat shows kairosd's view"

# Garbage on the socket gets an error line; the daemon answers the next request.
reply=$(python3 - "$client_sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"not json\n")
print(s.recv(4096).decode().strip())
PY
)
[[ $reply == '{"error":'* ]] || { echo "FAIL: garbage answered with '$reply'"; exit 1; }
"$ctl" status --socket "$client_sock" >/dev/null || { echo "FAIL: no answer after garbage"; exit 1; }
echo "PASS: garbage gets an error, the socket still answers"

# At exit the sockets are removed.
stop_pid "$client_pid"
client_pid=
[[ ! -e $client_sock ]] || { echo "FAIL: the client's socket outlived it"; exit 1; }
grep -q "steering the system clock" "$work/client.log" "$work/server.log" && { echo "FAIL: a daemon steered"; exit 1; }
echo "PASS: control socket end to end"
