#!/usr/bin/env bash
# The layering of the tree, checked over `#include` lines (issue 22 item 4). The rule:
#   clock/  the model, selection, steering: pure C++ (Eigen, OpenSSL's digests). It includes
#           nothing of nts/ hwts/ daemon/ tools/ and no header that touches devices or the network
#           (linux/*, sys/ioctl.h, sys/timex.h, sys/socket.h, netinet/*, net/*, poll.h, ...).
#   nts/    the protocol: clock/ and nts/ only, the same system headers barred (<arpa/inet.h> is
#           allowed: text to address conversion for the certificate's IP check, no socket).
#   hwts/   Linux devices, timestamping, netlink: clock/ nts/ hwts/, never daemon/ or tools/.
#   daemon/ anything but tools/ (the shared-memory page layout is daemon/kairos_shm_layout.h,
#           which the kairos_now client library includes).
#   daemon/client/  the client library (sockets, the NTS-KE and NTP exchanges, the control-socket
#           client): clock/ nts/ hwts/ and itself, nothing else of daemon/, never tools/.
#   tools/  may use the libraries. kairosctl, a client, includes of daemon/ only the client
#           library and what it shares with the daemon on purpose (the evidence record and
#           report, the tiers, the config's defaults).
# Usage: check_includes.sh [ROOT]. Prints each violation as FILE:LINE: include; exit 1 if any.
set -u
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$root" || exit 2
violations=0
say() { echo "$1"; violations=$((violations + 1)); }

device_headers='<(linux/[^>]*|sys/ioctl\.h|sys/timex\.h|sys/socket\.h|netinet/[^>]*|net/[^>]*|poll\.h|sys/epoll\.h|sys/mman\.h|ifaddrs\.h|netdb\.h)>'
check() {  # check DIR FORBIDDEN-REGEX WHAT
  local dir=$1 forbidden=$2 what=$3
  while IFS=: read -r file line text; do
    say "$file:$line: $text ($what)"
  done < <(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*($forbidden)" "$dir" --include='*.cpp' --include='*.hpp' --include='*.h' --include='*.c')
}

check clock '"(nts|hwts|daemon|tools)/[^"]*"' "clock/ is the pure model"
check clock "$device_headers" "clock/ touches no device"
check nts '"(hwts|daemon|tools)/[^"]*"' "nts/ is the protocol"
check nts "$device_headers" "nts/ has no sockets"
check hwts '"(daemon|tools)/[^"]*"' "hwts/ is below the daemon"
check daemon '"tools/[^"]*"' "the daemon never reaches into tools/"
check daemon/client '"tools/[^"]*"' "the client library never reaches into tools/"
while IFS=: read -r file line text; do
  [[ $text =~ \"daemon/client/ ]] && continue
  say "$file:$line: $text (the client library stands on clock/ nts/ hwts/ and itself only)"
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"daemon/' daemon/client --include='*.cpp' --include='*.hpp')

# kairosctl: the client library and what it shares with the daemon.
shared='daemon/(client/[a-z_]+|evidence_record|evidence_reader|evidence_report|tier_watch|config)\.hpp'
while IFS=: read -r file line text; do
  header=$(sed -E 's/.*"(daemon\/[^"]*)".*/\1/' <<<"$text")
  if [[ $header =~ ^$shared$ ]]; then continue; fi
  say "$file:$line: $text (kairosctl takes from the daemon only the client library and the shared pieces)"
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"daemon/' tools/kairosctl --include='*.cpp' --include='*.hpp')

if ((violations)); then
  echo "$violations layering violation(s)"
  exit 1
fi
echo "layering: ok"
