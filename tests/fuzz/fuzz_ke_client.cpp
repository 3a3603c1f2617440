// Client side of NTS-KE: arbitrary bytes as a server's response. Whatever decodes must encode
// and decode back to the same value; nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nts/ke_message.hpp"
#include "nts/ke_record.hpp"

namespace {

kairos::KeRequest sent_request() {
  kairos::KeRequest request;
  request.aead_algorithms = {15, 16, 17};
  return request;
}

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kairos::ByteView input(data, size);
  // The stream scanner must agree with the decoder about where a message ends.
  auto scan = kairos::scan_message(input);
  const kairos::KeRequest sent = sent_request();
  auto response = kairos::decode_response(input, sent);
  if (!response) return 0;
  require(scan && scan->complete && scan->message_length == size);
  (void)kairos::check_usable(*response);
  auto wire = kairos::encode_response(*response);
  require(wire.has_value());
  auto again = kairos::decode_response(*wire, sent);
  require(again.has_value() && *again == *response);
  return 0;
}
