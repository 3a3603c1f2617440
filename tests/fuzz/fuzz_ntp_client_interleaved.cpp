// Feeds responses to NtpClientExchange::handle_response for requests in the interleaved mode
// (RFC 9769 §2) and in the basic mode, plain and NTS. Whatever comes in, an accepted sample must
// be one the client can stand behind:
//  - its origin timestamp echoes the request's transmit field (basic) or, only for an interleaved
//    request, its receive field (interleaved), and `interleaved` says which;
//  - an interleaved sample combines the kept exchange's t1, t2 and t4 with a transmit timestamp
//    that fits between the kept t2 and the new t2 (within the ~1 ms slack);
//  - an NTS sample is authenticated, and a response sealed with any key but the server-to-client
//    one is never accepted; the cookie jar never holds more than kNtsCookieTarget.
//
// Input (through FuzzedDataProvider): flags, the kept server receive timestamp and t1/t4 bits, then
// either the raw response or a 48-byte header that the harness makes plausible and points at the
// request as the flags say, seals (NTS, with cookies from the input) and may damage.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "nts/ntp_client.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/nts_keys.hpp"
#include "nts/nts_packet.hpp"

namespace {

using kairos::ByteView;
using kairos::Duration;
using kairos::NtpTimestamp;

constexpr Duration kSlack = Duration::from_raw(std::int64_t{1} << 22);  // the client's ~1 ms

enum Flag : std::uint8_t {
  kNts = 1 << 0,
  kSeal = 1 << 1,           // build a well-formed response from the fuzzer's header
  kEchoReceive = 1 << 2,    // origin = the request's receive field (an interleaved answer)
  kWrongKey = 1 << 3,       // seal with the client-to-server key
  kBasicRequest = 1 << 4,   // no kept exchange: a basic request
  kRandomOrigin = 1 << 5,   // keep the fuzzer's origin as it is
  kPlausible = 1 << 6,      // a synchronized server; transmit and receive near the kept t2
  kFlipBytes = 1 << 7,      // damage the sealed response
};

kairos::NtsKeys fixed_keys() {
  const std::vector<std::uint8_t> c2s(32, 0x11);
  const std::vector<std::uint8_t> s2c(32, 0x22);
  return *kairos::NtsKeys::create(15, c2s, s2c);
}

// Deterministic "randomness", so every input replays the same request.
kairos::RandomFill counter_fill() {
  auto counter = std::make_shared<std::uint8_t>(0x40);
  return [counter](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*counter)++;
  };
}

timespec spec_from(std::uint64_t bits) {
  timespec t{};
  t.tv_sec = 1700000000 + static_cast<time_t>(bits >> 40);
  t.tv_nsec = static_cast<long>((bits & 0xffffffffu) % 1000000000u);
  return t;
}

ByteView unique_id_of(ByteView request) {
  auto parsed = kairos::parse_ntp_packet(request);
  if (!parsed) std::abort();
  for (const auto& field : parsed->fields) {
    if (field.type == kairos::kNtsUniqueIdentifier) return field.body;
  }
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto flags = in.ConsumeIntegral<std::uint8_t>();
  const bool nts = flags & kNts;
  const auto kept_receive = NtpTimestamp::from_raw(in.ConsumeIntegral<std::uint64_t>());
  const auto times = in.ConsumeIntegral<std::uint64_t>();

  static const kairos::NtsKeys keys = fixed_keys();
  kairos::KeClientResult ke{keys, {}, "localhost", kairos::kNtpDefaultPort, false, false};
  for (int i = 0; i < 8; ++i) ke.cookies.push_back(std::vector<std::uint8_t>(100, static_cast<std::uint8_t>(i)));
  auto session = kairos::NtsClientSession::create(ke);
  if (!session) std::abort();

  const kairos::InterleavedState kept{kept_receive, spec_from(times), spec_from(times + (times >> 20))};
  const kairos::InterleavedState* previous = (flags & kBasicRequest) ? nullptr : &kept;
  const auto random = counter_fill();
  auto exchange = nts ? kairos::NtpClientExchange::nts(*session, random, previous)
                      : kairos::Result<kairos::NtpClientExchange>(kairos::NtpClientExchange::plain(random, previous));
  if (!exchange) std::abort();
  const auto request = kairos::parse_ntp_header(exchange->request());
  if (!request) std::abort();
  if (exchange->asks_interleaved() != (previous != nullptr && !kept_receive.is_zero())) std::abort();

  std::vector<std::uint8_t> response;
  if (flags & kSeal) {
    auto header_bytes = in.ConsumeBytes<std::uint8_t>(kairos::kNtpHeaderLength);
    header_bytes.resize(kairos::kNtpHeaderLength);
    auto header = kairos::parse_ntp_header(header_bytes);
    if (!header) return 0;
    if (flags & kPlausible) {
      header->leap = kairos::NtpLeap::kNone;
      header->version = 4;
      header->mode = kairos::NtpMode::kServer;
      header->stratum = static_cast<std::uint8_t>(1 + header->stratum % 15);
      // Around the slack's edges: a few ms either way of the kept receive timestamp.
      const auto step = [&in] { return Duration::from_raw(in.ConsumeIntegralInRange<std::int64_t>(-(1 << 24), 1 << 24)); };
      header->transmit_time = kept_receive + step();
      header->receive_time = header->transmit_time + step();
    }
    if (!(flags & kRandomOrigin)) {
      header->origin_time = (flags & kEchoReceive) ? request->receive_time : request->transmit_time;
    }
    response.resize(1024);
    if (nts) {
      std::vector<std::vector<std::uint8_t>> cookie_bytes;
      std::vector<ByteView> cookies;
      const auto count = in.ConsumeIntegralInRange<std::size_t>(0, 9);
      for (std::size_t i = 0; i < count; ++i) {
        cookie_bytes.push_back(in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 120)));
      }
      for (const auto& c : cookie_bytes) cookies.emplace_back(c.data(), c.size());
      const std::array<std::uint8_t, 16> nonce{};
      kairos::NtsResponseParts parts;
      parts.header = *header;
      parts.unique_id = unique_id_of(exchange->request());
      parts.cookies = cookies;
      parts.nonce = nonce;
      auto aead = kairos::Aead::create(15, (flags & kWrongKey) ? keys.c2s() : keys.s2c());
      if (!aead) std::abort();
      auto built = kairos::build_nts_response(parts, *aead, response.size(), response);
      if (!built) return 0;
      response.resize(built->length);
    } else {
      kairos::ByteWriter writer(response);
      kairos::write_ntp_header(writer, *header);
      response.resize(kairos::kNtpHeaderLength);
    }
    // A few bytes flipped after sealing: authentication must catch every one.
    while ((flags & kFlipBytes) && in.remaining_bytes() >= 3 && !response.empty()) {
      const auto at = in.ConsumeIntegralInRange<std::size_t>(0, response.size() - 1);
      response[at] ^= in.ConsumeIntegral<std::uint8_t>();
    }
  } else {
    response = in.ConsumeRemainingBytes<std::uint8_t>();
  }

  const timespec t1 = spec_from(times ^ 0x5555);
  const timespec t4 = spec_from((times ^ 0x5555) + 1000);
  auto sample = exchange->handle_response(response, t1, t4, nts ? &*session : nullptr);
  if (session->cookies() > kairos::kNtsCookieTarget) std::abort();
  if (!sample) return 0;

  const auto header = kairos::parse_ntp_header(response);
  if (!header) std::abort();  // accepted bytes must at least be an NTP header
  if (sample->header.origin_time != header->origin_time) std::abort();
  if (sample->interleaved) {
    if (!exchange->asks_interleaved() || header->origin_time != request->receive_time) std::abort();
    if ((header->transmit_time - kept.server_receive) < -kSlack) std::abort();
    if ((header->receive_time - header->transmit_time) < -kSlack) std::abort();
    const auto expected = kairos::offset_and_delay(NtpTimestamp::from_timespec(kept.t1), kept.server_receive,
                                                   header->transmit_time, NtpTimestamp::from_timespec(kept.t4));
    if (sample->offset.raw() != expected.offset.raw() || sample->delay.raw() != expected.delay.raw()) std::abort();
  } else if (header->origin_time != request->transmit_time) {
    std::abort();
  }
  if (sample->next.server_receive != header->receive_time) std::abort();
  if (header->stratum == 0 || header->stratum >= 16 || header->leap == kairos::NtpLeap::kUnsynchronized) std::abort();
  if (header->transmit_time.is_zero() || header->receive_time.is_zero()) std::abort();
  if (nts) {
    if (!sample->authenticated) std::abort();
    if (flags & kWrongKey) std::abort();  // sealed with the wrong key and still accepted
  } else if (sample->authenticated) {
    std::abort();
  }
  return 0;
}
