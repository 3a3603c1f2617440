// Server side of NTS-KE: arbitrary bytes as a client's request, then negotiation and the
// response. A request that decodes must re-encode to an equal request; the response built for it
// must encode, and the client decoder must accept it exactly when the negotiation agreed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "nts/ke_message.hpp"
#include "nts/ke_record.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_response(const kairos::KeRequest& request) {
  const std::uint16_t server_aeads[] = {15, 17};
  const kairos::KeNegotiation negotiation = kairos::negotiate(request, server_aeads);
  std::vector<std::vector<std::uint8_t>> cookies(8, std::vector<std::uint8_t>(100, 0x5a));
  const kairos::KeResponse response = kairos::make_response(negotiation, std::move(cookies));
  auto wire = kairos::encode_response(response);
  require(wire.has_value());
  auto decoded = kairos::decode_response(*wire, request);
  require(decoded.has_value() == negotiation.agreed());
  if (decoded) require(*decoded == response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kairos::ByteView input(data, size);
  auto request = kairos::decode_request(input);
  if (!request) {
    // Every refusal carries a code the server can send back (RFC 8915 §4.1.3).
    require(request.error().code <= kairos::kKeErrorInternal && !request.error().message.empty());
    auto wire = kairos::encode_response(kairos::make_error_response(request.error().code));
    require(wire.has_value());
    return 0;
  }
  auto wire = kairos::encode_request(*request);
  require(wire.has_value());
  auto again = kairos::decode_request(*wire);
  require(again.has_value() && *again == *request);
  check_response(*request);
  return 0;
}
