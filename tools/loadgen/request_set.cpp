#include "request_set.hpp"

#include <array>

#include "nts/ntp_packet.hpp"
#include "nts/nts_packet.hpp"

namespace kairos {
namespace {

std::uint32_t random_u32(const RandomFill& random) {
  std::array<std::uint8_t, 4> bytes{};
  random(bytes);
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         bytes[3];
}

NtpHeader client_header(std::uint32_t salt, std::size_t index) {
  NtpHeader h;
  h.leap = NtpLeap::kUnsynchronized;  // a client states nothing about its own clock
  h.version = 4;
  h.mode = NtpMode::kClient;
  h.transmit_time = NtpTimestamp::from_parts(salt, static_cast<std::uint32_t>(index));
  return h;
}

}  // namespace

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kServed: return "served";
    case Verdict::kNak: return "nak";
    case Verdict::kKiss: return "kiss";
    case Verdict::kAuthFailed: return "auth-failed";
    case Verdict::kUnmatched: return "unmatched";
    case Verdict::kMalformed: return "malformed";
  }
  return "unknown";
}

RequestSet RequestSet::plain(std::size_t count, const RandomFill& random) {
  RequestSet set;
  // A zero salt would make request 0's transmit timestamp zero, which servers read as "unknown".
  set.salt_ = random_u32(random) | 0x80000000u;
  set.requests_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Request& r = set.requests_[i];
    r.bytes.resize(kNtpHeaderLength);
    ByteWriter out(r.bytes);
    write_ntp_header(out, client_header(set.salt_, i));
  }
  return set;
}

Result<RequestSet> RequestSet::nts(std::span<const KeClientResult> sessions, std::size_t per_cookie,
                                   std::size_t verify_every, const RandomFill& random) {
  if (sessions.empty()) return fail("no NTS-KE result to build requests from");
  RequestSet set;
  set.salt_ = random_u32(random) | 0x80000000u;
  set.verify_every_ = verify_every == 0 ? 1 : verify_every;
  for (std::size_t s = 0; s < sessions.size(); ++s) {
    const KeClientResult& ke = sessions[s];
    auto c2s = Aead::create(ke.keys.aead_id(), ke.keys.c2s());
    if (!c2s) return std::unexpected(c2s.error());
    auto s2c = Aead::create(ke.keys.aead_id(), ke.keys.s2c());
    if (!s2c) return std::unexpected(s2c.error());
    set.sessions_.push_back(std::move(*s2c));
    for (const auto& cookie : ke.cookies) {
      for (std::size_t k = 0; k < per_cookie; ++k) {
        Request r;
        r.session = static_cast<std::uint32_t>(s);
        random(r.unique_id);
        std::array<std::uint8_t, kNtsNonceSize> nonce{};
        random(nonce);
        NtsRequestParts parts;
        parts.header = client_header(set.salt_, set.requests_.size());
        parts.unique_id = r.unique_id;
        parts.cookie = cookie;
        parts.nonce = nonce;
        // Header, unique identifier, cookie and authenticator, with room to spare.
        r.bytes.resize(kNtpHeaderLength + 64 + cookie.size() + 8 + 64);
        auto length = build_nts_request(parts, *c2s, r.bytes);
        if (!length) return std::unexpected(length.error());
        r.bytes.resize(*length);
        set.requests_.push_back(std::move(r));
      }
    }
  }
  if (set.requests_.empty()) return fail("the NTS-KE results carried no cookies");
  return set;
}

RequestSet::Request* RequestSet::find(std::uint64_t origin) {
  if ((origin >> 32) != salt_) return nullptr;
  const std::uint64_t index = origin & 0xffffffffu;
  if (index >= requests_.size()) return nullptr;
  return &requests_[index];
}

Verdict RequestSet::classify(ByteView response) {
  auto header = parse_ntp_header(response);
  if (!header || header->mode != NtpMode::kServer) return Verdict::kMalformed;
  // Kisses first: a NAK carries no authenticator, so it is never served whatever it echoes.
  if (auto code = kiss_code(*header)) return *code == kKissNtsn ? Verdict::kNak : Verdict::kKiss;
  Request* request = find(header->origin_time.raw());
  if (request == nullptr || request->answered >= request->sent) return Verdict::kUnmatched;
  if (is_nts()) {
    // An NTS response always carries at least the unique identifier and the authenticator.
    if (response.size() <= kNtpHeaderLength) return Verdict::kAuthFailed;
    if (++matched_ % verify_every_ == 0) {
      ++verified_;
      auto verified = verify_nts_response(response, request->unique_id, sessions_[request->session]);
      if (!verified) return Verdict::kAuthFailed;
      if (verified->nak) return Verdict::kNak;
    }
  }
  ++request->answered;
  return Verdict::kServed;
}

}  // namespace kairos
