#include "ntpperf_key.hpp"

namespace kairos {
namespace {

void append_hex(std::string& out, ByteView bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
}

}  // namespace

std::string ntpperf_nts_argument(const KeClientResult& ke) {
  if (ke.cookies.empty()) return {};
  std::string out;
  append_hex(out, ke.keys.c2s());
  out.push_back(',');
  append_hex(out, ke.cookies.front());
  return out;
}

}  // namespace kairos
