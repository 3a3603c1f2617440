// The NTS-KE server after TLS: arbitrary bytes as a client's decrypted request stream, arriving in
// chunks, answered by answer_ke_request as the session does after each TLS read.
//
// Input: byte 0 picks the server's options (request limit, AEADs, Server/Port Negotiation),
// byte 1 the chunk size; the rest is the stream. Checked for every input:
//  - no answer while the bytes are the start of an acceptable request; chunking never changes
//    what is answered (the same reply, code and negotiation as for the whole stream at once);
//  - an Error record answer is exactly the encoded Error response with a code of 0..2;
//  - otherwise the request decodes, the answer is what negotiate() chose, the client's decoder
//    accepts it exactly when something was agreed, and then its 8 cookies open with the ring to
//    the exported keys and the Server/Port records are the configured ones.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "nts/cookie.hpp"
#include "nts/ke_message.hpp"
#include "nts/ke_server.hpp"

namespace {

using kairos::KeReply;

void require(bool condition) {
  if (!condition) std::abort();
}

kairos::KeyRing make_ring() {
  auto ring = kairos::KeyRing::from_random(kairos::KeyRingConfig{86400, 2}, 19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

kairos::KeServerOptions options_for(std::uint8_t pick) {
  static const std::size_t limits[] = {16, 64, 1024, 16 * 1024};
  static const std::vector<std::uint16_t> aead_sets[] = {{15, 16, 17}, {15}, {17, 16}, {16}};
  kairos::KeServerOptions options;
  options.max_request = limits[pick & 3];
  options.aeads = aead_sets[(pick >> 2) & 3];
  if (pick & 0x10) options.ntp_server = "ntp.example.net";
  if (pick & 0x20) options.ntp_port = 11123;
  return options;
}

// Deterministic stand-in for the TLS exporter.
kairos::Result<kairos::NtsKeys> export_keys(std::uint16_t protocol, std::uint16_t aead) {
  const std::size_t length = kairos::aead_key_length(aead).value_or(0);
  const std::vector<std::uint8_t> c2s(length, static_cast<std::uint8_t>(0x11 ^ protocol));
  const std::vector<std::uint8_t> s2c(length, 0x22);
  return kairos::NtsKeys::create(aead, c2s, s2c);
}

void check_answer(const kairos::KeAnswer& answer, kairos::ByteView received, const kairos::KeServerOptions& options,
                  kairos::KeyRing& ring) {
  if (answer.reply == KeReply::kError) {
    require(answer.error_code.has_value() && *answer.error_code <= kairos::kKeErrorInternal);
    require(answer.message == kairos::encode_response(kairos::make_error_response(*answer.error_code)).value());
    return;
  }
  auto scan = kairos::scan_message(received, options.max_request);
  require(scan && scan->complete);
  auto request = kairos::decode_request(received.first(scan->message_length), options.max_request);
  require(request.has_value());
  require(answer.negotiation == kairos::negotiate(*request, options.aeads));
  require((answer.reply == KeReply::kCookies) == answer.negotiation.agreed());
  auto response = kairos::decode_response(answer.message, *request);
  require(response.has_value() == answer.negotiation.agreed());
  if (!response) return;
  require(response->cookies.size() == kairos::kKeServerCookies);
  require(response->server == options.ntp_server && response->port == options.ntp_port);
  const auto expected = export_keys(*answer.negotiation.next_protocol, *answer.negotiation.aead).value();
  for (const auto& cookie : response->cookies) {
    auto keys = kairos::open_cookie(cookie, ring);
    require(keys.has_value() && *keys == expected);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kairos::KeyRing ring = make_ring();
  if (size < 2) return 0;
  const kairos::KeServerOptions options = options_for(data[0]);
  const std::size_t chunk = std::size_t{data[1]} + 1;
  const kairos::ByteView stream(data + 2, size - 2);

  std::optional<kairos::KeAnswer> chunked;
  std::size_t fed = 0;
  while (!chunked && fed < stream.size()) {
    fed = std::min(stream.size(), fed + chunk);
    chunked = kairos::answer_ke_request(stream.first(fed), options, export_keys, ring);
  }
  const auto whole = kairos::answer_ke_request(stream, options, export_keys, ring);
  require(chunked.has_value() == whole.has_value());
  if (!whole) return 0;
  require(chunked->reply == whole->reply && chunked->error_code == whole->error_code &&
          chunked->negotiation == whole->negotiation);
  check_answer(*chunked, stream.first(fed), options, ring);
  check_answer(*whole, stream, options, ring);
  return 0;
}
