#!/usr/bin/env bash
# Installs every Debian package kairos needs to build, test, fuzz and demo.
# Idempotent: installs only what is missing, and nothing else in the project installs anything.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev openssl
  libnl-3-dev libnl-genl-3-dev libnl-route-3-dev
  libeigen3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libsystemd-dev libcap-dev libseccomp-dev
  # The Prometheus endpoint's HTTP server (daemon/metrics_server.cpp).
  libcpp-httplib-dev
  # libFuzzer: clang-16 is the oldest Debian 12 clang whose concepts support lets it use
  # libstdc++ 12's <expected> (see CMakeLists.txt).
  clang-16 libclang-rt-16-dev
  # Tests: namespaces and veth pairs, unprivileged reference peers (setpriv).
  iproute2 util-linux
  # GET /metrics in the end-to-end tests.
  curl
  # chronyd's runtime libraries; chrony itself is unpacked, not installed (tests/interop).
  libgnutls30 libnettle8 libseccomp2 libcap2 libedit2
  # kairos-sim --plot draws with gnuplot (PNG without X).
  gnuplot-nox
  # ntpperf (scripts/ntpperf.sh builds it from its public source, outside the tree): raw frames
  # through libpcap, NTS through gnutls; its answers are dropped with iptables.
  libpcap-dev libgnutls28-dev iptables
)

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run 'make deps' as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/kairos-deps.XXXXXX.log)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "deps: apt-get failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
