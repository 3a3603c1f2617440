#include "nts/ke_message.hpp"

#include <algorithm>
#include <utility>

namespace kairos {
namespace {

using Cookie = std::vector<std::uint8_t>;

std::string type_name(std::uint16_t type) {
  switch (type) {
    case kKeEndOfMessage: return "End of Message";
    case kKeNextProtocol: return "Next Protocol Negotiation";
    case kKeError: return "Error";
    case kKeWarning: return "Warning";
    case kKeAeadAlgorithm: return "AEAD Algorithm Negotiation";
    case kKeNewCookie: return "New Cookie for NTPv4";
    case kKeServer: return "NTPv4 Server Negotiation";
    case kKePort: return "NTPv4 Port Negotiation";
    default: return "type " + std::to_string(type);
  }
}

bool contains(std::span<const std::uint16_t> list, std::uint16_t value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Body of Next Protocol / AEAD records: a sequence of big-endian u16; nullopt on an odd length.
std::optional<std::vector<std::uint16_t>> parse_u16_list(ByteView body) {
  if (body.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint16_t> values;
  values.reserve(body.size() / 2);
  ByteReader reader(body);
  while (auto v = reader.u16()) values.push_back(*v);
  return values;
}

// Body of Error / Warning / Port records: exactly one big-endian u16.
std::optional<std::uint16_t> parse_u16(ByteView body) {
  if (body.size() != 2) return std::nullopt;
  return ByteReader(body).u16();
}

std::string body_text(ByteView body) { return std::string(body.begin(), body.end()); }

// ---------------------------------------------------------------------------------------------
// Request decoding (server side)

std::unexpected<KeRequestError> refuse(std::uint16_t code, std::string message) {
  return std::unexpected(KeRequestError{code, std::move(message)});
}
std::unexpected<KeRequestError> bad_request(std::string message) {
  return refuse(kKeErrorBadRequest, std::move(message));
}

using RequestStep = std::expected<void, KeRequestError>;

// Accumulates a request record by record, refusing as soon as a record breaks RFC 8915 §4.
class RequestBuilder {
 public:
  // The protocol list starts empty here: only the client's record may fill it.
  RequestBuilder() { request_.next_protocols.clear(); }

  RequestStep add(const KeRecord& record) {
    switch (record.type) {
      case kKeNextProtocol: return add_id_list(record, seen_protocols_, request_.next_protocols);
      case kKeAeadAlgorithm: return add_id_list(record, seen_aeads_, request_.aead_algorithms);
      case kKeServer: return add_server(record);
      case kKePort: return add_port(record);
      case kKeError:
      case kKeWarning:
      case kKeNewCookie:
        // §4.1.3, §4.1.4, §4.1.6: clients MUST NOT send these.
        return bad_request("a client must not send a " + type_name(record.type) + " record");
      default:
        // §4: an unrecognized record is ignored unless its Critical Bit is set.
        if (record.critical) {
          return refuse(kKeErrorUnrecognizedCritical,
                        "unrecognized critical record type " + std::to_string(record.type));
        }
        return {};
    }
  }

  std::expected<KeRequest, KeRequestError> finish() && {
    // §4.1.2: exactly once in every request, listing at least one protocol.
    if (!seen_protocols_) return bad_request("request has no Next Protocol Negotiation record");
    // §4.1.5: MUST be included exactly once when NTPv4 is offered.
    if (contains(request_.next_protocols, kNextProtocolNtpv4) && !seen_aeads_) {
      return bad_request("request offers NTPv4 but has no AEAD Algorithm Negotiation record");
    }
    return std::move(request_);
  }

 private:
  static RequestStep add_id_list(const KeRecord& record, bool& seen, std::vector<std::uint16_t>& out) {
    const std::string name = type_name(record.type);
    if (seen) return bad_request("duplicate " + name + " record");
    seen = true;
    auto ids = parse_u16_list(record.body);
    if (!ids) return bad_request(name + " body has odd length " + std::to_string(record.body.size()));
    // §4.1.2 and §4.1.5: a request lists at least one protocol and at least one algorithm.
    if (ids->empty()) return bad_request(name + " record in a request must not be empty");
    if (ids->size() > kKeMaxListEntries) {
      return bad_request(name + " record lists " + std::to_string(ids->size()) + " ids, more than " +
                         std::to_string(kKeMaxListEntries));
    }
    out = std::move(*ids);
    return {};
  }

  RequestStep add_server(const KeRecord& record) {
    // §4.1.7: the client MUST NOT send more than one.
    if (request_.server) return bad_request("duplicate NTPv4 Server Negotiation record");
    std::string name = body_text(record.body);
    if (!is_valid_server_name(name)) {
      return bad_request("NTPv4 Server Negotiation body is not a printable ASCII host name of 1 to 255 bytes");
    }
    request_.server = std::move(name);
    return {};
  }

  RequestStep add_port(const KeRecord& record) {
    // §4.1.8: the client MUST NOT send more than one.
    if (request_.port) return bad_request("duplicate NTPv4 Port Negotiation record");
    auto port = parse_u16(record.body);
    if (!port) {
      return bad_request("NTPv4 Port Negotiation body is " + std::to_string(record.body.size()) +
                         " bytes, not 2");
    }
    request_.port = *port;
    return {};
  }

  KeRequest request_;
  bool seen_protocols_ = false;
  bool seen_aeads_ = false;
};

// ---------------------------------------------------------------------------------------------
// Response decoding (client side)

// Accumulates a response record by record and checks it against the request that was sent.
class ResponseBuilder {
 public:
  explicit ResponseBuilder(const KeRequest& sent) : sent_(sent) {}

  Result<void> add(const KeRecord& record) {
    switch (record.type) {
      case kKeNextProtocol: return add_protocols(record);
      case kKeAeadAlgorithm: return add_aead(record);
      case kKeError: return add_error(record);
      case kKeWarning: return add_warning(record);
      case kKeNewCookie: return add_cookie(record);
      case kKeServer: return add_server(record);
      case kKePort: return add_port(record);
      default:
        // §4: an unrecognized record is ignored unless its Critical Bit is set.
        if (record.critical) {
          return fail("server sent an unrecognized critical record type " + std::to_string(record.type));
        }
        return {};
    }
  }

  Result<KeResponse> finish() && {
    if (response_.error) {
      // §4.1.3: after an Error the client discards everything else, so keep only what explains it.
      KeResponse refused;
      refused.error = response_.error;
      refused.warnings = std::move(response_.warnings);
      return refused;
    }
    if (!seen_protocols_) return fail("response has no Next Protocol Negotiation record");
    if (!response_.next_protocol) {
      return fail(protocols_empty_ ? "server supports none of the offered next protocols (empty record)"
                                   : "server did not agree to NTPv4");
    }
    if (!seen_aead_) return fail("response has no AEAD Algorithm Negotiation record");
    if (!response_.aead) return fail("server supports none of the offered AEAD algorithms (empty record)");
    // §4.1.6: at least one New Cookie when NTPv4 and an algorithm were agreed.
    if (response_.cookies.empty()) return fail("response carries no New Cookie for NTPv4 record");
    return std::move(response_);
  }

 private:
  Result<void> add_protocols(const KeRecord& record) {
    if (seen_protocols_) return fail("duplicate Next Protocol Negotiation record");
    seen_protocols_ = true;
    if (record.body.size() % 2 != 0) {
      return fail("Next Protocol Negotiation body has odd length " + std::to_string(record.body.size()));
    }
    protocols_empty_ = record.body.empty();
    ByteReader reader(record.body);
    while (auto id = reader.u16()) {
      // §4.1.2: the response MUST be a subset of what the client listed.
      if (!contains(sent_.next_protocols, *id)) {
        return fail("server chose next protocol " + std::to_string(*id) + ", which was not offered");
      }
      if (*id == kNextProtocolNtpv4) response_.next_protocol = kNextProtocolNtpv4;
    }
    return {};
  }

  Result<void> add_aead(const KeRecord& record) {
    if (seen_aead_) return fail("duplicate AEAD Algorithm Negotiation record");
    seen_aead_ = true;
    if (record.body.empty()) return {};
    // §4.1.5: in a response the list holds at most one algorithm.
    auto id = parse_u16(record.body);
    if (!id) {
      return fail("AEAD Algorithm Negotiation body in a response is " + std::to_string(record.body.size()) +
                  " bytes; it must hold at most one 2-byte id");
    }
    if (!contains(sent_.aead_algorithms, *id)) {
      return fail("server chose AEAD algorithm " + std::to_string(*id) + ", which was not offered");
    }
    response_.aead = *id;
    return {};
  }

  Result<void> add_error(const KeRecord& record) {
    if (response_.error) return fail("duplicate Error record");
    auto code = parse_u16(record.body);
    if (!code) return fail("Error record body is " + std::to_string(record.body.size()) + " bytes, not 2");
    response_.error = *code;
    return {};
  }

  Result<void> add_warning(const KeRecord& record) {
    auto code = parse_u16(record.body);
    if (!code) return fail("Warning record body is " + std::to_string(record.body.size()) + " bytes, not 2");
    if (response_.warnings.size() >= kKeMaxWarnings) {
      return fail("response carries more than " + std::to_string(kKeMaxWarnings) + " Warning records");
    }
    response_.warnings.push_back(*code);
    return {};
  }

  Result<void> add_cookie(const KeRecord& record) {
    if (response_.cookies.size() >= kKeMaxCookies) {
      return fail("response carries more than " + std::to_string(kKeMaxCookies) + " cookies");
    }
    if (record.body.empty() || record.body.size() > kKeMaxCookieLength) {
      return fail("cookie of " + std::to_string(record.body.size()) + " bytes; expected 1 to " +
                  std::to_string(kKeMaxCookieLength));
    }
    response_.cookies.emplace_back(record.body.begin(), record.body.end());
    return {};
  }

  Result<void> add_server(const KeRecord& record) {
    // §4.1.7: servers MUST NOT send more than one.
    if (response_.server) return fail("duplicate NTPv4 Server Negotiation record");
    std::string name = body_text(record.body);
    if (!is_valid_server_name(name)) {
      return fail("NTPv4 Server Negotiation body is not a printable ASCII host name of 1 to 255 bytes");
    }
    response_.server = std::move(name);
    return {};
  }

  Result<void> add_port(const KeRecord& record) {
    // §4.1.8: servers MUST NOT send more than one.
    if (response_.port) return fail("duplicate NTPv4 Port Negotiation record");
    auto port = parse_u16(record.body);
    if (!port) {
      return fail("NTPv4 Port Negotiation body is " + std::to_string(record.body.size()) + " bytes, not 2");
    }
    response_.port = *port;
    return {};
  }

  const KeRequest& sent_;
  KeResponse response_;
  bool seen_protocols_ = false;
  bool protocols_empty_ = false;
  bool seen_aead_ = false;
};

// Walks a whole message: feeds each record before End of Message to `add`, then requires End of
// Message to be last (§4.1.1: exactly once, as the final record). Returns the message that
// describes the first problem, or nullopt.
template <class Add>
std::optional<std::string> walk_message(ByteView message, std::size_t max_message_length, Add&& add) {
  if (message.size() > max_message_length) {
    return "message of " + std::to_string(message.size()) + " bytes exceeds the limit of " +
           std::to_string(max_message_length);
  }
  KeRecordReader reader(message);
  while (!reader.done()) {
    auto record = reader.next();
    if (!record) return record.error().message;
    if (record->type == kKeEndOfMessage) {
      if (!record->body.empty()) return "End of Message record has a body; it must be empty";
      if (!reader.done()) {
        return std::to_string(message.size() - reader.offset()) + " bytes follow End of Message";
      }
      return std::nullopt;
    }
    if (auto problem = add(*record)) return problem;
  }
  return "message ends without an End of Message record";
}

// ---------------------------------------------------------------------------------------------
// Encoding

Result<std::size_t> finish_encoding(const ByteWriter& writer, const char* what) {
  if (!writer.ok()) return fail(std::string(what) + " does not fit in the output buffer");
  return writer.size();
}

Result<void> check_request(const KeRequest& request) {
  if (request.next_protocols.empty()) return fail("request must offer at least one next protocol");
  if (contains(request.next_protocols, kNextProtocolNtpv4) && request.aead_algorithms.empty()) {
    return fail("request offering NTPv4 must offer at least one AEAD algorithm");
  }
  if (request.next_protocols.size() > kKeMaxListEntries || request.aead_algorithms.size() > kKeMaxListEntries) {
    return fail("request lists more than " + std::to_string(kKeMaxListEntries) + " ids");
  }
  if (request.server && !is_valid_server_name(*request.server)) {
    return fail("server name is not a printable ASCII host name of 1 to 255 bytes");
  }
  return {};
}

Result<void> check_response(const KeResponse& response) {
  if (response.warnings.size() > kKeMaxWarnings) return fail("too many warnings");
  if (response.error) return {};
  if (response.cookies.size() > kKeMaxCookies) {
    return fail("response carries more than " + std::to_string(kKeMaxCookies) + " cookies");
  }
  for (const Cookie& cookie : response.cookies) {
    if (cookie.empty() || cookie.size() > kKeMaxCookieLength) {
      return fail("cookie of " + std::to_string(cookie.size()) + " bytes; expected 1 to " +
                  std::to_string(kKeMaxCookieLength));
    }
  }
  if (response.server && !is_valid_server_name(*response.server)) {
    return fail("server name is not a printable ASCII host name of 1 to 255 bytes");
  }
  return {};
}

std::span<const std::uint16_t> optional_as_list(const std::optional<std::uint16_t>& value) {
  if (!value) return {};
  return std::span<const std::uint16_t>(&*value, 1);
}

ByteView text_bytes(const std::string& text) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

template <class Encode, class Message>
Result<std::vector<std::uint8_t>> encode_to_vector(Encode encode, const Message& message) {
  std::vector<std::uint8_t> out(kKeDefaultMaxMessageLength);
  auto length = encode(message, std::span<std::uint8_t>(out));
  if (!length) return std::unexpected(length.error());
  out.resize(*length);
  return out;
}

}  // namespace

bool is_valid_server_name(std::string_view name) {
  if (name.empty() || name.size() > kKeMaxServerNameLength) return false;
  // §4.1.7: an ASCII host name, dotted-quad IPv4 or RFC 5952 IPv6 address (no zone id). None of
  // these contains a space or a control character, and IDNs travel as A-labels.
  return std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<std::size_t> encode_request(const KeRequest& request, std::span<std::uint8_t> out) {
  if (auto valid = check_request(request); !valid) return std::unexpected(valid.error());
  ByteWriter writer(out);
  // §4.1.2: the Critical Bit MUST be set. §4.1.5: MAY be set; we set it because without an
  // agreed algorithm nothing else in the exchange can work.
  write_u16_list_record(writer, true, kKeNextProtocol, request.next_protocols);
  if (!request.aead_algorithms.empty()) {
    write_u16_list_record(writer, true, kKeAeadAlgorithm, request.aead_algorithms);
  }
  // §4.1.7, §4.1.8: a client's server and port are wishes a server MAY ignore; not critical.
  if (request.server) write_record(writer, false, kKeServer, text_bytes(*request.server));
  if (request.port) write_u16_record(writer, false, kKePort, *request.port);
  write_end_of_message(writer);
  return finish_encoding(writer, "NTS-KE request");
}

Result<std::vector<std::uint8_t>> encode_request(const KeRequest& request) {
  return encode_to_vector([](const KeRequest& r, std::span<std::uint8_t> out) { return encode_request(r, out); },
                          request);
}

std::expected<KeRequest, KeRequestError> decode_request(ByteView message, std::size_t max_message_length) {
  RequestBuilder builder;
  std::optional<KeRequestError> refusal;
  auto problem = walk_message(message, max_message_length, [&](const KeRecord& record) -> std::optional<std::string> {
    auto step = builder.add(record);
    if (step) return std::nullopt;
    refusal = std::move(step.error());
    return refusal->message;
  });
  if (refusal) return std::unexpected(std::move(*refusal));
  // Anything the walk itself rejects (truncation, size, End of Message misplaced) is a request
  // that "could not be parsed": Bad Request (§4.1.3).
  if (problem) return bad_request(std::move(*problem));
  return std::move(builder).finish();
}

KeNegotiation negotiate(const KeRequest& request, std::span<const std::uint16_t> server_aeads) {
  KeNegotiation negotiation;
  // kairos serves NTPv4 only; without it the response's protocol list is empty (§4.1.2).
  if (!contains(request.next_protocols, kNextProtocolNtpv4)) return negotiation;
  negotiation.next_protocol = kNextProtocolNtpv4;
  // §4.1.5: the client lists algorithms in decreasing preference; honouring that order is
  // optional but we do. No common algorithm leaves the AEAD record empty.
  for (std::uint16_t id : request.aead_algorithms) {
    if (contains(server_aeads, id)) {
      negotiation.aead = id;
      break;
    }
  }
  return negotiation;
}

KeResponse make_response(const KeNegotiation& negotiation, std::vector<std::vector<std::uint8_t>> cookies) {
  KeResponse response;
  response.next_protocol = negotiation.next_protocol;
  response.aead = negotiation.aead;
  // §4.1.6: cookies only go with an agreed NTPv4 and algorithm; otherwise there is nothing to use
  // them with.
  if (negotiation.agreed()) response.cookies = std::move(cookies);
  return response;
}

KeResponse make_error_response(std::uint16_t error_code) {
  KeResponse response;
  response.error = error_code;
  return response;
}

Result<std::size_t> encode_response(const KeResponse& response, std::span<std::uint8_t> out) {
  if (auto valid = check_response(response); !valid) return std::unexpected(valid.error());
  ByteWriter writer(out);
  if (response.error) {
    // §4.1.3: the Critical Bit MUST be set.
    write_u16_record(writer, true, kKeError, *response.error);
  } else {
    write_u16_list_record(writer, true, kKeNextProtocol, optional_as_list(response.next_protocol));
    write_u16_list_record(writer, true, kKeAeadAlgorithm, optional_as_list(response.aead));
    // §4.1.6: the Critical Bit SHOULD NOT be set.
    for (const Cookie& cookie : response.cookies) write_record(writer, false, kKeNewCookie, cookie);
    // §4.1.7, §4.1.8 leave the bit to us: a client that cannot honour a redirect would talk to
    // the wrong server with these cookies, so make it refuse instead.
    if (response.server) write_record(writer, true, kKeServer, text_bytes(*response.server));
    if (response.port) write_u16_record(writer, true, kKePort, *response.port);
  }
  // §4.1.4: the Critical Bit MUST be set.
  for (std::uint16_t warning : response.warnings) write_u16_record(writer, true, kKeWarning, warning);
  write_end_of_message(writer);
  return finish_encoding(writer, "NTS-KE response");
}

Result<std::vector<std::uint8_t>> encode_response(const KeResponse& response) {
  return encode_to_vector(
      [](const KeResponse& r, std::span<std::uint8_t> out) { return encode_response(r, out); }, response);
}

Result<KeResponse> decode_response(ByteView message, const KeRequest& sent, std::size_t max_message_length) {
  ResponseBuilder builder(sent);
  auto problem = walk_message(message, max_message_length, [&](const KeRecord& record) -> std::optional<std::string> {
    auto step = builder.add(record);
    if (step) return std::nullopt;
    return std::move(step.error().message);
  });
  if (problem) return fail("invalid NTS-KE response: " + *problem);
  auto response = std::move(builder).finish();
  if (!response) return fail("invalid NTS-KE response: " + response.error().message);
  return response;
}

Result<void> check_usable(const KeResponse& response) {
  if (response.error) {
    static constexpr const char* kNames[] = {"Unrecognized Critical Record", "Bad Request", "Internal Server Error"};
    const std::string name = *response.error < 3 ? kNames[*response.error] : "unassigned code";
    return fail("NTS-KE server refused the request: Error " + std::to_string(*response.error) + " (" + name + ")");
  }
  if (!response.warnings.empty()) {
    return fail("NTS-KE server sent Warning " + std::to_string(response.warnings.front()) +
                "; no warning codes are defined, so it is treated as an error (RFC 8915 §4.1.4)");
  }
  return {};
}

}  // namespace kairos
