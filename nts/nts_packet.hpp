#pragma once
// NTS extension fields for NTPv4 (RFC 8915 §5): building and checking client requests, server
// responses and NTS NAKs. Requests and responses are written into caller buffers and parsed as
// views; only the client's list of fresh cookies is returned on the heap.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"
#include "nts/ntp_packet.hpp"

namespace kairos {

// Extension field types (RFC 8915 §5.3–§5.6, IANA "NTP Extension Field Types").
inline constexpr std::uint16_t kNtsUniqueIdentifier = 0x0104;
inline constexpr std::uint16_t kNtsCookie = 0x0204;
inline constexpr std::uint16_t kNtsCookiePlaceholder = 0x0304;
inline constexpr std::uint16_t kNtsAuthenticator = 0x0404;

// RFC 8915 §5.3: the unique identifier is at least 32 random octets.
inline constexpr std::size_t kNtsMinUniqueIdLength = 32;
// RFC 8915 §5.6: N_REQ, the nonce room every authenticator must leave (nonce plus additional
// padding) — min(16, N_MAX) rounded up to a word, 16 for the AES-SIV family.
inline constexpr std::size_t kNtsRequiredNonceRoom = 16;
// The largest plaintext (encrypted extension fields) handled, so it fits a stack buffer.
inline constexpr std::size_t kNtsMaxPlaintextLength = 4096;

// ---- Client: request -------------------------------------------------------------------------

struct NtsRequestParts {
  NtpHeader header;          // mode client, transmit timestamp set by the caller
  ByteView unique_id;        // fresh random bytes, at least 32
  ByteView cookie;           // one cookie from the NTS-KE or a previous response
  std::size_t placeholders = 0;  // each asks for one more cookie (RFC 8915 §5.5)
  ByteView nonce;            // fresh random bytes, 16 typical
  ByteView inner_fields;     // encoded extension fields to encrypt; usually none
};

// Writes header, unique identifier, cookie, placeholders and the authenticator sealed with the
// client-to-server key; returns the packet length.
Result<std::size_t> build_nts_request(const NtsRequestParts& parts, Aead& c2s, std::span<std::uint8_t> out);

// ---- Server: request -------------------------------------------------------------------------

// What a server learns from a request before it has any key.
struct NtsRequestView {
  NtpHeader header;
  ByteView unique_id;
  ByteView cookie;             // the cookie field's body, to open with the server's master key
  std::size_t placeholders = 0;
  ByteView associated_data;    // the packet from its first byte up to the authenticator
  ByteView nonce;
  ByteView ciphertext;
  std::size_t length = 0;      // the request's size: the most a response may be
};

// Checks the request's structure: exactly one unique identifier of 32 octets or more, exactly
// one cookie, placeholders as long as the cookie, one authenticator, last, well padded.
Result<NtsRequestView> parse_nts_request(ByteView packet);
// The same for a packet the caller has already parsed with parse_ntp_packet (a server looks at
// every packet's fields first to tell NTS from plain requests, and need not parse twice).
Result<NtsRequestView> parse_nts_request(ByteView packet, const NtpPacketView& parsed);

// Authenticates the request with the client-to-server key from its cookie and returns the
// decrypted extension fields, which live in `plaintext_out`.
Result<ExtensionFieldList> verify_nts_request(const NtsRequestView& request, Aead& c2s,
                                              std::span<std::uint8_t> plaintext_out);

// ---- Server: response and NAK ----------------------------------------------------------------

struct NtsResponseParts {
  NtpHeader header;                  // mode server, timestamps set by the caller
  ByteView unique_id;                // echoed from the request
  std::span<const ByteView> cookies; // fresh cookies, sent encrypted
  ByteView nonce;                    // fresh random bytes, 16 typical
};

struct NtsBuiltResponse {
  std::size_t length = 0;
  std::size_t cookies_sent = 0;
};

// Writes header, the echoed unique identifier and an authenticator sealed with the
// server-to-client key whose plaintext holds the cookies as Cookie fields. Cookies that would
// make the response longer than `max_length` (the request's length: RFC 8915 §5.7 forbids
// amplification) are left out; fails if not even a response without cookies fits.
Result<NtsBuiltResponse> build_nts_response(const NtsResponseParts& parts, Aead& s2c, std::size_t max_length,
                                            std::span<std::uint8_t> out);

// NTS NAK (RFC 8915 §5.7): a kiss-o'-death with code NTSN echoing the unique identifier, no
// authenticator. The header's stratum and reference id are overwritten.
Result<std::size_t> build_nts_nak(NtpHeader header, ByteView unique_id, std::span<std::uint8_t> out);

// ---- Client: response ------------------------------------------------------------------------

struct NtsVerifiedResponse {
  NtpHeader header;
  bool nak = false;  // an NTS NAK: drop the cookie used and re-key if none are left
  std::vector<std::vector<std::uint8_t>> cookies;
};

// Checks that the response echoes `expected_unique_id` and is authenticated by the
// server-to-client key; returns its header and the cookies from its encrypted part. An
// unauthenticated NTS NAK with the right unique identifier is returned with nak set.
Result<NtsVerifiedResponse> verify_nts_response(ByteView packet, ByteView expected_unique_id, Aead& s2c);

}  // namespace kairos
