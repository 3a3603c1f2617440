#pragma once
// Whole NTS-KE messages (RFC 8915 §4): the client's request, the server's response, their
// encoders and validating decoders, and the server's choice of protocol and AEAD algorithm.
// Every size is bounded, so no input can make a decoder allocate more than a few kilobytes.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"
#include "nts/bytes.hpp"
#include "nts/ke_record.hpp"

namespace kairos {

// Bounds applied by both encoders and decoders, so whatever decodes also re-encodes.
inline constexpr std::size_t kKeMaxListEntries = 64;    // Next Protocol / AEAD ids in a request
inline constexpr std::size_t kKeMaxCookies = 16;        // servers usually send 8 (RFC 8915 §4.1.6)
inline constexpr std::size_t kKeMaxCookieLength = 1024; // real cookies are ~100 bytes
inline constexpr std::size_t kKeMaxWarnings = 16;
inline constexpr std::size_t kKeMaxServerNameLength = 255;  // a DNS name is at most 253 chars

struct KeRequest {
  // In the client's order of preference (RFC 8915 §4.1.2, §4.1.5).
  std::vector<std::uint16_t> next_protocols{kNextProtocolNtpv4};
  std::vector<std::uint16_t> aead_algorithms;
  std::optional<std::string> server;  // NTPv4 Server Negotiation, a wish (§4.1.7)
  std::optional<std::uint16_t> port;  // NTPv4 Port Negotiation, a wish (§4.1.8)

  bool operator==(const KeRequest&) const = default;
};

// Why a request was refused: the code for the Error record to send back (§4.1.3) and a message
// for the log.
struct KeRequestError {
  std::uint16_t code = kKeErrorBadRequest;
  std::string message;
};

struct KeResponse {
  // Empty optionals encode as empty records: the server supports none of what was offered
  // (RFC 8915 §4.1.2, §4.1.5). Ignored when `error` is set.
  std::optional<std::uint16_t> next_protocol;
  std::optional<std::uint16_t> aead;
  std::vector<std::vector<std::uint8_t>> cookies;
  std::optional<std::string> server;
  std::optional<std::uint16_t> port;
  // An Error record (§4.1.3). An error response carries only Error, Warnings and End of Message.
  std::optional<std::uint16_t> error;
  std::vector<std::uint16_t> warnings;

  bool operator==(const KeResponse&) const = default;
};

// What the server agreed to. Both set: go ahead and mint cookies; otherwise answer with the
// empty records and no cookies.
struct KeNegotiation {
  std::optional<std::uint16_t> next_protocol;
  std::optional<std::uint16_t> aead;

  bool agreed() const { return next_protocol.has_value() && aead.has_value(); }
  bool operator==(const KeNegotiation&) const = default;
};

// Client side: encodes a request. Fails on what a server would refuse (no protocol, no AEAD
// while offering NTPv4, an invalid server name, lists longer than kKeMaxListEntries).
Result<std::size_t> encode_request(const KeRequest& request, std::span<std::uint8_t> out);
Result<std::vector<std::uint8_t>> encode_request(const KeRequest& request);

// Server side: decodes and validates one whole request message (End of Message last, nothing
// after it). Unknown non-critical records are ignored.
std::expected<KeRequest, KeRequestError> decode_request(
    ByteView message, std::size_t max_message_length = kKeDefaultMaxMessageLength);

// Server side: chooses NTPv4 if offered and the client's most preferred AEAD algorithm among
// `server_aeads`.
KeNegotiation negotiate(const KeRequest& request, std::span<const std::uint16_t> server_aeads);

// Server side: the response for a negotiation outcome, with the cookies minted for it.
KeResponse make_response(const KeNegotiation& negotiation, std::vector<std::vector<std::uint8_t>> cookies);
// Server side: the response that refuses a request.
KeResponse make_error_response(std::uint16_t error_code);

// Server side: encodes a response. Fails on what the client decoder would refuse as malformed
// (too many or oversize cookies, an invalid server name, too many warnings).
Result<std::size_t> encode_response(const KeResponse& response, std::span<std::uint8_t> out);
Result<std::vector<std::uint8_t>> encode_response(const KeResponse& response);

// Client side: decodes and validates the server's answer to `sent`. An Error record or Warning
// records do not fail the decode: they come back in the response for the caller to report;
// check_usable() says whether to proceed. Everything else that is wrong fails with a message.
Result<KeResponse> decode_response(ByteView message, const KeRequest& sent,
                                   std::size_t max_message_length = kKeDefaultMaxMessageLength);

// Client side: fails when a decoded response must not be used: it carries an Error record
// (§4.1.3: discard the keys) or any Warning (§4.1.4: no warning codes are defined, and
// unrecognized ones MUST be treated as errors).
Result<void> check_usable(const KeResponse& response);

// Printable ASCII without spaces, 1..255 bytes: the shape of a host name or an address literal
// (RFC 8915 §4.1.7).
bool is_valid_server_name(std::string_view name);

}  // namespace kairos
