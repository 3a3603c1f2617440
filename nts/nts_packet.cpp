#include "nts/nts_packet.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>

namespace kairos {
namespace {

constexpr std::size_t kMaxLengthField = 0xffff;

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(v));
  return buf;
}

std::unexpected<Error> fail_with(const std::string& prefix, const Error& error) {
  return fail(prefix + error.message);
}

bool all_zero(ByteView bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// A field body holding `value` followed only by zero padding.
bool body_holds(ByteView body, ByteView value) {
  return body.size() >= value.size() && std::equal(value.begin(), value.end(), body.begin()) &&
         all_zero(body.subspan(value.size()));
}

constexpr std::size_t round_up_to_word(std::size_t n) { return n + padding_to_word(n); }

// The length write_extension_field gives a value of `value_length` octets.
constexpr std::size_t field_length(std::size_t value_length, std::size_t min_length = kMinExtensionFieldLength) {
  return std::max(round_up_to_word(kExtensionFieldHeaderLength + value_length), round_up_to_word(min_length));
}

// RFC 8915 §5.6: a nonce shorter than N_REQ is followed by at least N_REQ - N_LEN octets of
// additional padding, so that the server always has room for a nonce of its own choosing
// without growing the response past the request.
constexpr std::size_t required_additional_padding(std::size_t nonce_length) {
  return nonce_length >= kNtsRequiredNonceRoom ? 0 : kNtsRequiredNonceRoom - nonce_length;
}

constexpr std::size_t authenticator_length(std::size_t nonce_length, std::size_t plaintext_length) {
  const std::size_t body = 4 + round_up_to_word(nonce_length) + round_up_to_word(kAeadTagLength + plaintext_length) +
                           round_up_to_word(required_additional_padding(nonce_length));
  return field_length(body, kMinLastExtensionFieldLength);
}

struct Authenticator {
  ByteView nonce;
  ByteView ciphertext;
};

// RFC 8915 §5.6: nonce length, ciphertext length, nonce and ciphertext each zero-padded to a
// word, then additional zero padding. The padding is covered by neither the associated data
// nor the AEAD, so it must be checked here or a flipped bit in it would go unnoticed.
Result<Authenticator> parse_authenticator(ByteView body) {
  ByteReader reader(body);
  auto nonce_length = reader.u16();
  auto ciphertext_length = reader.u16();
  if (!nonce_length || !ciphertext_length) return fail("authenticator too short for its length fields");
  if (*nonce_length == 0) return fail("authenticator has an empty nonce");
  if (*ciphertext_length < kAeadTagLength) {
    return fail("authenticator ciphertext of " + std::to_string(*ciphertext_length) + " bytes is shorter than the " +
                std::to_string(kAeadTagLength) + "-byte tag");
  }
  Authenticator auth;
  auto nonce = reader.bytes(*nonce_length);
  auto nonce_padding = reader.bytes(padding_to_word(*nonce_length));
  if (!nonce || !nonce_padding) return fail("authenticator nonce runs past the field");
  auto ciphertext = reader.bytes(*ciphertext_length);
  auto ciphertext_padding = reader.bytes(padding_to_word(*ciphertext_length));
  if (!ciphertext || !ciphertext_padding) return fail("authenticator ciphertext runs past the field");
  if (!all_zero(*nonce_padding) || !all_zero(*ciphertext_padding) || !all_zero(reader.rest())) {
    return fail("authenticator padding is not zero");
  }
  if (reader.remaining() < required_additional_padding(*nonce_length)) {
    return fail("authenticator nonce of " + std::to_string(*nonce_length) +
                " bytes lacks the additional padding RFC 8915 5.6 requires");
  }
  auth.nonce = *nonce;
  auth.ciphertext = *ciphertext;
  return auth;
}

// Appends the authenticator field, sealing `plaintext` over everything written so far.
Result<void> write_authenticator(ByteWriter& out, Aead& aead, ByteView nonce, ByteView plaintext) {
  if (nonce.empty()) return fail("an NTS nonce must not be empty");
  const std::size_t ciphertext_length = kAeadTagLength + plaintext.size();
  if (authenticator_length(nonce.size(), plaintext.size()) > kMaxLengthField) {
    return fail("nonce and plaintext too long for one extension field");
  }
  const std::size_t start = begin_extension_field(out, kNtsAuthenticator);
  out.u16(static_cast<std::uint16_t>(nonce.size()));
  out.u16(static_cast<std::uint16_t>(ciphertext_length));
  out.bytes(nonce);
  out.zeros(padding_to_word(nonce.size()));
  const std::size_t ciphertext_at = out.size();
  out.zeros(round_up_to_word(ciphertext_length));
  out.zeros(round_up_to_word(required_additional_padding(nonce.size())));
  end_extension_field(out, start, kMinLastExtensionFieldLength);
  if (!out.ok()) return fail("output buffer too small for the NTS packet");
  // RFC 8915 §5.6: the associated data is the packet from its start up to this field.
  const ByteView associated_data[] = {out.written().first(start)};
  auto sealed = aead.seal(associated_data, nonce, plaintext, out.written().subspan(ciphertext_at, ciphertext_length));
  if (!sealed) return fail_with("sealing the NTS authenticator failed: ", sealed.error());
  return {};
}


Result<void> check_unique_id(ByteView unique_id) {
  if (unique_id.size() < kNtsMinUniqueIdLength) {
    return fail("unique identifier of " + std::to_string(unique_id.size()) + " bytes, at least " +
                std::to_string(kNtsMinUniqueIdLength) + " are required (RFC 8915 5.3)");
  }
  return {};
}

// The fields of a request a server acts on, found in one pass (RFC 8915 §5.7).
struct RequestFields {
  std::optional<ExtensionField> unique_id;
  std::optional<ExtensionField> cookie;
  std::optional<ExtensionField> authenticator;
  std::size_t placeholders = 0;
  std::size_t placeholder_length = 0;
  bool placeholders_differ = false;
};

Result<RequestFields> collect_request_fields(const ExtensionFieldList& fields) {
  RequestFields found;
  for (const ExtensionField& field : fields) {
    if (found.authenticator) return fail("extension field " + hex16(field.type) + " after the authenticator");
    switch (field.type) {
      case kNtsUniqueIdentifier:
        if (found.unique_id) return fail("more than one unique identifier");
        found.unique_id = field;
        break;
      case kNtsCookie:
        if (found.cookie) return fail("more than one cookie");
        found.cookie = field;
        break;
      case kNtsCookiePlaceholder:
        if (found.placeholders++ == 0) found.placeholder_length = field.length();
        found.placeholders_differ |= field.length() != found.placeholder_length;
        break;
      case kNtsAuthenticator:
        found.authenticator = field;
        break;
      default:
        break;  // other fields are covered by the associated data; the caller may look at them
    }
  }
  return found;
}

// The checks of parse_nts_packet on an already parsed packet.
Result<void> check_nts_packet(const NtpPacketView& parsed, NtpMode expected_mode) {
  if (parsed.mac) return fail("carries a legacy MAC, which NTS packets never do");
  if (parsed.header.version != 4) {
    return fail("NTP version " + std::to_string(parsed.header.version) + ", NTS needs version 4");
  }
  if (parsed.header.mode != expected_mode) {
    return fail("mode " + std::to_string(static_cast<int>(parsed.header.mode)) + " where " +
                std::to_string(static_cast<int>(expected_mode)) + " was expected");
  }
  return {};
}

Result<NtpPacketView> parse_nts_packet(ByteView packet, NtpMode expected_mode) {
  auto parsed = parse_ntp_packet(packet);
  if (!parsed) return std::unexpected(parsed.error());
  if (auto ok = check_nts_packet(*parsed, expected_mode); !ok) return std::unexpected(ok.error());
  return parsed;
}

Result<NtsRequestView> check_request(ByteView packet, const NtpPacketView& parsed) {
  if (auto ok = check_nts_packet(parsed, NtpMode::kClient); !ok) return std::unexpected(ok.error());
  auto found = collect_request_fields(parsed.fields);
  if (!found) return std::unexpected(found.error());
  if (!found->unique_id) return fail("no unique identifier");
  if (auto ok = check_unique_id(found->unique_id->body); !ok) return std::unexpected(ok.error());
  if (!found->cookie) return fail("no cookie");
  if (found->placeholders > 0 && (found->placeholders_differ || found->placeholder_length != found->cookie->length())) {
    return fail("cookie placeholder length differs from the cookie's " + std::to_string(found->cookie->length()) +
                " (RFC 8915 5.5)");
  }
  if (!found->authenticator) return fail("no authenticator");
  if (found->authenticator->offset > packet.size()) return fail("parsed fields do not belong to this packet");
  auto auth = parse_authenticator(found->authenticator->body);
  if (!auth) return std::unexpected(auth.error());

  NtsRequestView view;
  view.header = parsed.header;
  view.unique_id = found->unique_id->body;
  view.cookie = found->cookie->body;
  view.placeholders = found->placeholders;
  view.associated_data = packet.first(found->authenticator->offset);
  view.nonce = auth->nonce;
  view.ciphertext = auth->ciphertext;
  view.length = packet.size();
  return view;
}

// The fields of a response a client acts on (RFC 8915 §5.7).
struct ResponseFields {
  std::optional<ExtensionField> unique_id;
  std::optional<ExtensionField> authenticator;
};

Result<ResponseFields> collect_response_fields(const ExtensionFieldList& fields) {
  ResponseFields found;
  for (const ExtensionField& field : fields) {
    // Nothing after the authenticator is authenticated: refuse rather than risk using it.
    if (found.authenticator) {
      return fail("unauthenticated extension field " + hex16(field.type) + " after the authenticator");
    }
    if (field.type == kNtsUniqueIdentifier) {
      if (found.unique_id) return fail("more than one unique identifier");
      found.unique_id = field;
    } else if (field.type == kNtsAuthenticator) {
      found.authenticator = field;
    }
  }
  return found;
}

Result<std::vector<std::vector<std::uint8_t>>> open_response_cookies(ByteView packet, const ExtensionField& field,
                                                                      Aead& s2c) {
  auto auth = parse_authenticator(field.body);
  if (!auth) return std::unexpected(auth.error());
  std::array<std::uint8_t, kNtsMaxPlaintextLength> plaintext;
  if (auth->ciphertext.size() - kAeadTagLength > plaintext.size()) return fail("encrypted part too large");
  const ByteView associated_data[] = {packet.first(field.offset)};
  auto opened = s2c.open(associated_data, auth->nonce, auth->ciphertext, plaintext);
  if (!opened) return fail_with("authentication failed: ", opened.error());
  auto inner = parse_extension_fields(ByteView(plaintext).first(*opened), kMinInnerExtensionFieldLength);
  if (!inner) return fail_with("encrypted fields: ", inner.error());
  std::vector<std::vector<std::uint8_t>> cookies;
  for (const ExtensionField& f : *inner) {
    if (f.type == kNtsCookie) cookies.emplace_back(f.body.begin(), f.body.end());
  }
  return cookies;
}

Result<NtsVerifiedResponse> check_response(ByteView packet, ByteView expected_unique_id, Aead& s2c) {
  // A short expected identifier is a caller's mistake; it must not let a zero-filled field match.
  if (auto ok = check_unique_id(expected_unique_id); !ok) return fail_with("expected ", ok.error());
  auto parsed = parse_nts_packet(packet, NtpMode::kServer);
  if (!parsed) return std::unexpected(parsed.error());
  auto found = collect_response_fields(parsed->fields);
  if (!found) return std::unexpected(found.error());
  // The unique identifier ties the response to our request; only then may even a NAK count.
  if (!found->unique_id) return fail("no unique identifier");
  if (!body_holds(found->unique_id->body, expected_unique_id)) return fail("unique identifier does not match the request");

  NtsVerifiedResponse response;
  response.header = parsed->header;
  response.nak = kiss_code(parsed->header) == kKissNtsn;
  if (!found->authenticator) {
    if (response.nak) return response;  // RFC 8915 §5.7: an NTS NAK carries no authenticator
    return fail("no authenticator");
  }
  auto cookies = open_response_cookies(packet, *found->authenticator, s2c);
  if (!cookies) return std::unexpected(cookies.error());
  response.cookies = std::move(*cookies);
  return response;
}

}  // namespace

Result<std::size_t> build_nts_request(const NtsRequestParts& parts, Aead& c2s, std::span<std::uint8_t> out) {
  if (auto ok = check_unique_id(parts.unique_id); !ok) return fail_with("NTS request: ", ok.error());
  if (parts.cookie.empty()) return fail("NTS request: the cookie is empty");
  if (parts.placeholders + 3 > kMaxExtensionFields) {
    return fail("NTS request: " + std::to_string(parts.placeholders) + " placeholders are too many");
  }
  if (auto inner = parse_extension_fields(parts.inner_fields, kMinInnerExtensionFieldLength); !inner) {
    return fail_with("NTS request: fields to encrypt: ", inner.error());
  }
  ByteWriter writer(out);
  write_ntp_header(writer, parts.header);
  write_extension_field(writer, kNtsUniqueIdentifier, parts.unique_id);
  write_extension_field(writer, kNtsCookie, parts.cookie);
  for (std::size_t i = 0; i < parts.placeholders; ++i) {
    // Same length as the cookie field (RFC 8915 §5.5), so the response can match the request.
    const std::size_t start = begin_extension_field(writer, kNtsCookiePlaceholder);
    writer.zeros(parts.cookie.size());
    end_extension_field(writer, start);
  }
  if (auto ok = write_authenticator(writer, c2s, parts.nonce, parts.inner_fields); !ok) {
    return fail_with("NTS request: ", ok.error());
  }
  return writer.size();
}

Result<NtsRequestView> parse_nts_request(ByteView packet) {
  auto parsed = parse_ntp_packet(packet);
  if (!parsed) return fail_with("NTS request: ", parsed.error());
  return parse_nts_request(packet, *parsed);
}

Result<NtsRequestView> parse_nts_request(ByteView packet, const NtpPacketView& parsed) {
  auto view = check_request(packet, parsed);
  if (!view) return fail_with("NTS request: ", view.error());
  return view;
}

Result<ExtensionFieldList> verify_nts_request(const NtsRequestView& request, Aead& c2s,
                                              std::span<std::uint8_t> plaintext_out) {
  if (request.ciphertext.size() < kAeadTagLength) return fail("NTS request: ciphertext shorter than its tag");
  if (request.ciphertext.size() - kAeadTagLength > plaintext_out.size()) {
    return fail("NTS request: plaintext buffer too small");
  }
  const ByteView associated_data[] = {request.associated_data};
  auto opened = c2s.open(associated_data, request.nonce, request.ciphertext, plaintext_out);
  if (!opened) return fail_with("NTS request: authentication failed: ", opened.error());
  auto inner = parse_extension_fields(ByteView(plaintext_out).first(*opened), kMinInnerExtensionFieldLength);
  if (!inner) return fail_with("NTS request: encrypted fields: ", inner.error());
  return inner;
}

Result<NtsBuiltResponse> build_nts_response(const NtsResponseParts& parts, Aead& s2c, std::size_t max_length,
                                            std::span<std::uint8_t> out) {
  if (auto ok = check_unique_id(parts.unique_id); !ok) return fail_with("NTS response: ", ok.error());
  if (parts.nonce.empty()) return fail("NTS response: the nonce is empty");
  const std::size_t fixed = kNtpHeaderLength + field_length(parts.unique_id.size());
  auto length_with = [&](std::size_t plaintext_length) {
    return fixed + authenticator_length(parts.nonce.size(), plaintext_length);
  };
  if (length_with(0) > max_length) {
    return fail("NTS response: needs " + std::to_string(length_with(0)) + " bytes, more than the request's " +
                std::to_string(max_length));
  }

  // Fresh cookies go in the encrypted part, as many as fit in the request's size.
  std::array<std::uint8_t, kNtsMaxPlaintextLength> plaintext;
  ByteWriter inner(plaintext);
  NtsBuiltResponse built;
  for (ByteView cookie : parts.cookies) {
    const std::size_t grown = inner.size() + field_length(cookie.size());
    if (grown > plaintext.size() || length_with(grown) > max_length) break;
    write_extension_field(inner, kNtsCookie, cookie);
    ++built.cookies_sent;
  }

  ByteWriter writer(out);
  write_ntp_header(writer, parts.header);
  write_extension_field(writer, kNtsUniqueIdentifier, parts.unique_id);
  if (auto ok = write_authenticator(writer, s2c, parts.nonce, inner.written()); !ok) {
    return fail_with("NTS response: ", ok.error());
  }
  built.length = writer.size();
  return built;
}

Result<std::size_t> build_nts_nak(NtpHeader header, ByteView unique_id, std::span<std::uint8_t> out) {
  if (auto ok = check_unique_id(unique_id); !ok) return fail_with("NTS NAK: ", ok.error());
  header.stratum = 0;  // kiss-o'-death (RFC 5905 §7.4)
  header.reference_id = kKissNtsn;
  ByteWriter writer(out);
  write_ntp_header(writer, header);
  write_extension_field(writer, kNtsUniqueIdentifier, unique_id, kMinLastExtensionFieldLength);
  if (!writer.ok()) return fail("NTS NAK: output buffer too small");
  return writer.size();
}

Result<NtsVerifiedResponse> verify_nts_response(ByteView packet, ByteView expected_unique_id, Aead& s2c) {
  auto response = check_response(packet, expected_unique_id, s2c);
  if (!response) return fail_with("NTS response: ", response.error());
  return response;
}

}  // namespace kairos
