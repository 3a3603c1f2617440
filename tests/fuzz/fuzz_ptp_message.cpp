// Fuzzes the PTP message codec: any input either fails with an error or parses to fields that
// stay inside the message (messageLength within the input, at most 16 TLVs, nanoseconds below
// 1e9), and what parses writes back to bytes that parse to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "nts/ptp_message.hpp"

namespace {

void check_fields(const kairos::PtpMessage& m, std::size_t size) {
  if (m.header.length > size || m.header.length < kairos::kPtpHeaderLength) std::abort();
  if (m.header.version != 2 || m.header.minor_version > 1) std::abort();
  if (m.timestamp.nanoseconds >= 1'000'000'000u || m.timestamp.seconds > kairos::kPtpMaxSeconds) std::abort();
  if (m.delay_resp && m.delay_resp->receive.nanoseconds >= 1'000'000'000u) std::abort();
  if (m.signaling && m.signaling->tlvs.size() + m.signaling->skipped_tlvs > kairos::kMaxPtpTlvs) std::abort();
}

bool same_fields(const kairos::PtpMessage& a, const kairos::PtpMessage& b) {
  kairos::PtpHeader ha = a.header;
  kairos::PtpHeader hb = b.header;
  ha.length = hb.length = 0;  // the rewrite drops trailing TLVs and padding
  if (!(ha == hb) || a.timestamp != b.timestamp || a.announce != b.announce || a.delay_resp != b.delay_resp) return false;
  if (a.signaling.has_value() != b.signaling.has_value()) return false;
  return !a.signaling || (a.signaling->target == b.signaling->target && a.signaling->tlvs == b.signaling->tlvs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kairos::ByteView input(data, size);
  auto message = kairos::parse_ptp_message(input);
  if (!message) return 0;
  check_fields(*message, size);
  std::vector<std::uint8_t> out(size + 256);
  auto written = kairos::write_ptp_message(out, *message);
  if (!written) std::abort();  // a parsed message always fits a buffer larger than itself
  auto again = kairos::parse_ptp_message(kairos::ByteView(out.data(), *written));
  if (!again || !same_fields(*message, *again)) std::abort();
  return 0;
}
