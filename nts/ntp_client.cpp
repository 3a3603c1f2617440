#include "nts/ntp_client.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "nts/nts_packet.hpp"

namespace kairos {
namespace {

NtpHeader client_header(NtpTimestamp transmit) {
  NtpHeader h;
  h.leap = NtpLeap::kUnsynchronized;  // a client states nothing about its own clock
  h.version = 4;
  h.mode = NtpMode::kClient;
  h.transmit_time = transmit;
  return h;
}

NtpTimestamp random_timestamp(const RandomFill& random) {
  std::uint8_t bytes[8];
  random(bytes);
  std::uint64_t raw = 0;
  for (std::uint8_t b : bytes) raw = (raw << 8) | b;
  // Zero means "unknown" to servers; avoid it.
  return NtpTimestamp::from_raw(raw == 0 ? 1 : raw);
}

constexpr Duration kInterleavedSlack = Duration::from_raw(std::int64_t{1} << 22);  // ~1 ms

std::unexpected<ResponseError> problem(ResponseProblem kind, std::string message) {
  return std::unexpected(ResponseError{kind, std::move(message)});
}

}  // namespace

RandomFill system_random() {
  return [](std::span<std::uint8_t> out) {
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      throw std::runtime_error("OpenSSL's random generator failed");
    }
  };
}

const char* to_string(ResponseProblem p) {
  switch (p) {
    case ResponseProblem::kMalformed: return "malformed";
    case ResponseProblem::kNotOurs: return "not-ours";
    case ResponseProblem::kAuthFailed: return "auth-failed";
    case ResponseProblem::kNtsNak: return "nts-nak";
    case ResponseProblem::kDenied: return "denied";
    case ResponseProblem::kRateLimited: return "rate-limited";
    case ResponseProblem::kUnsynchronized: return "unsynchronized";
  }
  return "unknown";
}

Result<NtsClientSession> NtsClientSession::create(const KeClientResult& ke) {
  auto c2s = Aead::create(ke.keys.aead_id(), ke.keys.c2s());
  if (!c2s) return std::unexpected(c2s.error());
  auto s2c = Aead::create(ke.keys.aead_id(), ke.keys.s2c());
  if (!s2c) return std::unexpected(s2c.error());
  NtsClientSession session(ke.keys.aead_id(), std::move(*c2s), std::move(*s2c));
  for (const auto& cookie : ke.cookies) {
    if (session.jar_.size() < kNtsCookieTarget) session.jar_.push_back(cookie);
  }
  return session;
}

void NtpClientExchange::choose_timestamps(const RandomFill& random, const InterleavedState* previous) {
  transmit_ = random_timestamp(random);
  if (previous == nullptr || previous->server_receive.is_zero()) return;
  previous_ = *previous;
  // RFC 9769 §2: receive and transmit must differ, or an answer's origin would fit both modes.
  do {
    receive_ = random_timestamp(random);
  } while (receive_ == transmit_);
}

NtpHeader NtpClientExchange::header() const {
  NtpHeader h = client_header(transmit_);
  if (previous_) {
    h.origin_time = previous_->server_receive;
    h.receive_time = receive_;
  }
  return h;
}

NtpClientExchange NtpClientExchange::plain(const RandomFill& random, const InterleavedState* previous) {
  NtpClientExchange exchange;
  exchange.choose_timestamps(random, previous);
  exchange.request_.resize(kNtpHeaderLength);
  ByteWriter out(exchange.request_);
  write_ntp_header(out, exchange.header());
  return exchange;
}

Result<NtpClientExchange> NtpClientExchange::nts(NtsClientSession& session, const RandomFill& random,
                                                 const InterleavedState* previous) {
  if (session.jar_.empty()) return fail("no NTS cookie left");
  NtpClientExchange exchange;
  exchange.nts_ = true;
  exchange.choose_timestamps(random, previous);
  random(exchange.unique_id_);
  std::uint8_t nonce[kNtsNonceSize];
  random(nonce);

  std::vector<std::uint8_t> cookie = std::move(session.jar_.front());
  session.jar_.pop_front();
  // Ask for one cookie back for the one used, plus one per missing cookie (RFC 8915 §5.7).
  const std::size_t missing = kNtsCookieTarget - std::min(kNtsCookieTarget, session.jar_.size() + 1);

  NtsRequestParts parts;
  parts.header = exchange.header();
  parts.unique_id = exchange.unique_id_;
  parts.cookie = cookie;
  parts.placeholders = missing;
  parts.nonce = nonce;
  exchange.request_.resize(kNtpHeaderLength + 64 + (missing + 1) * (cookie.size() + 8) + 64);
  auto length = build_nts_request(parts, session.c2s_, exchange.request_);
  if (!length) return std::unexpected(length.error());
  exchange.request_.resize(*length);
  return exchange;
}

std::expected<NtpSample, ResponseError> NtpClientExchange::handle_response(ByteView response, const timespec& t1,
                                                                          const timespec& t4,
                                                                          NtsClientSession* session) const {
  auto header = parse_ntp_header(response);
  if (!header) return problem(ResponseProblem::kMalformed, header.error().message);
  if (header->mode != NtpMode::kServer) return problem(ResponseProblem::kMalformed, "not a server-mode packet");
  if (header->version < 3 || header->version > 4) {
    return problem(ResponseProblem::kMalformed, "unsupported NTP version " + std::to_string(header->version));
  }
  // RFC 5905 §8: the origin timestamp must echo our transmit timestamp (bogus/replay check), or,
  // for an interleaved request, our receive timestamp (RFC 9769 §2). Both are fresh random values,
  // so an old answer, replayed or late, matches neither.
  const bool interleaved = previous_ && header->origin_time == receive_;
  if (header->origin_time != transmit_ && !interleaved) {
    return problem(ResponseProblem::kNotOurs, "origin timestamp does not match");
  }

  NtpSample sample;
  sample.header = *header;
  sample.interleaved = interleaved;
  if (nts_) {
    if (session == nullptr) return problem(ResponseProblem::kAuthFailed, "NTS response without session");
    auto verified = verify_nts_response(response, unique_id_, session->s2c_);
    if (!verified) {
      // A UID mismatch is someone else's packet; anything else failed authentication.
      return problem(ResponseProblem::kAuthFailed, verified.error().message);
    }
    if (verified->nak) {
      // Unauthenticated (RFC 8915 §5.7): anyone who saw the request can send one. The cookies
      // stay; the caller decides when to believe it (daemon/association.cpp).
      return problem(ResponseProblem::kNtsNak, "server sent an NTS NAK (unauthenticated)");
    }
    sample.authenticated = true;
    sample.cookies_received = verified->cookies.size();
    for (auto& cookie : verified->cookies) {
      if (session->jar_.size() < kNtsCookieTarget) session->jar_.push_back(std::move(cookie));
    }
  }

  // Kiss codes are acted on only when the packet is ours (and authenticated, with NTS).
  if (auto kiss = kiss_code(*header)) {
    if (*kiss == kKissDeny || *kiss == kKissRstr) return problem(ResponseProblem::kDenied, "server denied access");
    if (*kiss == kKissRate) return problem(ResponseProblem::kRateLimited, "server asks to slow down");
    return problem(ResponseProblem::kUnsynchronized, "kiss-o'-death from server");
  }
  if (header->leap == NtpLeap::kUnsynchronized || header->stratum == 0 || header->stratum >= 16) {
    return problem(ResponseProblem::kUnsynchronized, "server is not synchronized");
  }
  if (header->transmit_time.is_zero() || header->receive_time.is_zero()) {
    return problem(ResponseProblem::kMalformed, "server left a timestamp empty");
  }

  sample.next = InterleavedState{header->receive_time, t1, t4};
  if (interleaved) {
    // The transmit timestamp is that of the response to our previous request: it left after the
    // server received that request and before it received this one. Anything else is not the
    // exchange we kept, and combining it with our t1/t4 would make a wrong sample.
    // The slack allows for a server whose receive and transmit stamps come from different
    // sources (hardware RX, software TX), ordered only within their precision.
    if ((header->transmit_time - previous_->server_receive) < -kInterleavedSlack ||
        (header->receive_time - header->transmit_time) < -kInterleavedSlack) {
      return problem(ResponseProblem::kMalformed, "interleaved transmit timestamp does not fit the previous exchange");
    }
    const auto times =
        offset_and_delay(NtpTimestamp::from_timespec(previous_->t1), previous_->server_receive, header->transmit_time,
                         NtpTimestamp::from_timespec(previous_->t4));
    sample.offset = times.offset;
    sample.delay = times.delay;
    sample.age = (NtpTimestamp::from_timespec(t4) - NtpTimestamp::from_timespec(previous_->t4)).seconds();
    return sample;
  }
  const auto times = offset_and_delay(NtpTimestamp::from_timespec(t1), header->receive_time, header->transmit_time,
                                      NtpTimestamp::from_timespec(t4));
  sample.offset = times.offset;
  sample.delay = times.delay;
  return sample;
}

}  // namespace kairos
