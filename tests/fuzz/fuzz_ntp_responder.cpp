// Feeds arbitrary datagrams to NtpResponder::respond with a fixed seeded key ring, as allowed, as
// a rate kiss, with no ring and through a rate limiter. Whatever comes in: no crash, never an
// answer longer than the request (no amplification), an answer only in server mode and the
// request's version, only an authenticated answer when the request carried a cookie this ring
// opens, and a request dropped as junk leaves the rate limiter as it was.
//
// Seeds in tests/fuzz/corpus/ntp_responder/ are requests from the kairos client whose cookies
// were sealed by this ring (seed bytes 0x20 + i, daily rotation, epoch 19000, AEAD 15 and 17
// keys), so mutations reach cookie opening, request authentication and response sealing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "nts/ntp_packet.hpp"
#include "nts/ntp_responder.hpp"

namespace {

using kairos::ByteView;
using kairos::NtpTimestamp;
using kairos::RateDecision;
using kairos::Response;
using kairos::ResponseKind;

kairos::KeyRing make_ring() {
  std::uint8_t bytes[32];
  for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(0x20 + i);
  auto seed = kairos::Seed::create(bytes);
  if (!seed) std::abort();
  auto ring = kairos::KeyRing::from_seed(*seed, kairos::KeyRingConfig{86400, 2}, 19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

kairos::NtpResponder make_responder() {
  auto counter = std::make_shared<std::uint8_t>(0);
  kairos::NtpResponder responder([] { return NtpTimestamp::from_parts(0xe9000001, 0x80000000); },
                                 [counter](std::span<std::uint8_t> out) {
                                   for (auto& b : out) b = (*counter)++;
                                 });
  kairos::ServerClockState state;
  state.leap = kairos::NtpLeap::kNone;
  state.stratum = 2;
  responder.set_clock_state(state);
  return responder;
}

const kairos::ClientAddress kClient{};

void check(ByteView request, const Response& response, std::span<const std::uint8_t> out) {
  if (response.length > request.size() || response.length > out.size()) std::abort();  // amplification
  if ((response.kind == ResponseKind::kDropped) != (response.length == 0)) std::abort();
  if (response.kind == ResponseKind::kDropped) return;
  auto header = kairos::parse_ntp_header(out.first(response.length));
  if (!header || header->mode != kairos::NtpMode::kServer) std::abort();
  if (request.size() < kairos::kNtpHeaderLength || header->version != ((request[0] >> 3) & 7)) std::abort();
  if ((request[0] & 7) != 3) std::abort();  // only client requests are answered
  if (response.kind == ResponseKind::kNts && !response.authenticated) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kairos::KeyRing ring = make_ring();
  static kairos::NtpResponder responder = make_responder();
  const ByteView request(data, size);
  std::vector<std::uint8_t> out(size);
  for (RateDecision rate : {RateDecision::kAllow, RateDecision::kKiss}) {
    check(request, responder.respond(request, {}, kClient, rate, &ring, out), out);
  }
  const Response no_ring = responder.respond(request, {}, kClient, RateDecision::kAllow, nullptr, out);
  check(request, no_ring, out);
  if (no_ring.authenticated) std::abort();  // nothing authenticates without keys
  const Response dropped = responder.respond(request, {}, kClient, RateDecision::kDrop, &ring, out);
  if (dropped.kind != ResponseKind::kDropped) std::abort();

  // A client with one request of burst: junk must not spend it, anything answerable must.
  kairos::RateLimiter limiter(kairos::RateLimitConfig{60.0, 1, 16}, 1);
  const kairos::RateKey client{};
  const Response limited = responder.respond(request, {}, kClient, kairos::RateCheck(limiter, client, 1), &ring, out);
  check(request, limited, out);
  const bool junk = limited.kind == ResponseKind::kDropped && limited.drop != kairos::DropReason::kResponseFailed;
  if (limited.kind == ResponseKind::kDropped && limited.drop == kairos::DropReason::kRateLimited) std::abort();
  if ((limiter.check(client, 1) == RateDecision::kAllow) != junk) std::abort();
  return 0;
}
