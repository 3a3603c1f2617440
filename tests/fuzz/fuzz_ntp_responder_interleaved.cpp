// Drives an NtpResponder with the interleaved mode on (a small table, so entries are overwritten)
// through a sequence of operations read from the input: raw requests (optionally patched so their
// origin names a receive timestamp the server handed out, to this client or another), requests
// built by kairos' own client (plain and NTS, basic and interleaved) whose answers the client must
// accept, late transmit stamps (note_transmit) and clock movements, each request from one of a few
// client addresses. A model of what the server saved checks that:
//  - an interleaved answer names a saved, unspent exchange of the same client and kind
//    (plain/NTS), echoes the request's receive field as origin, and carries that exchange's best
//    transmit stamp; each saved exchange is spent at most once (a replay gets a basic answer);
//  - while nothing was overwritten, an interleaved request naming a saved exchange of its own
//    client is answered interleaved;
//  - basic answers echo the request's transmit field; saved receive timestamps are unique per
//    client and odd, every transmit timestamp written is even, so a basic answer's transmit
//    timestamp is neither its receive timestamp nor any receive timestamp ever saved;
//  - no answer is longer than its request; the client accepts every time answer it asked for and
//    agrees on the mode.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "nts/cookie.hpp"
#include "nts/key_ring.hpp"
#include "nts/ntp_client.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/ntp_responder.hpp"

namespace {

using kairos::ByteView;
using kairos::ClientAddress;
using kairos::Duration;
using kairos::NtpTimestamp;
using kairos::RateDecision;
using kairos::Response;
using kairos::ResponseKind;

constexpr std::size_t kCapacity = 16;
constexpr std::size_t kClients = 3;

ClientAddress client_address(std::size_t i) {
  const std::uint8_t v4[4] = {192, 0, 2, static_cast<std::uint8_t>(1 + i)};
  return ClientAddress::ipv4(std::span<const std::uint8_t, 4>(v4));
}
constexpr Duration kSlack = Duration::from_raw(std::int64_t{1} << 22);

kairos::KeyRing make_ring() {
  std::uint8_t bytes[32];
  for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(0x20 + i);
  auto seed = kairos::Seed::create(bytes);
  if (!seed) std::abort();
  auto ring = kairos::KeyRing::from_seed(*seed, kairos::KeyRingConfig{86400, 2}, 19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

// Keys and eight cookies the ring opens, as NTS-KE would have handed them to a client.
kairos::KeClientResult make_ke(kairos::KeyRing& ring) {
  const std::vector<std::uint8_t> c2s(32, 0x11);
  const std::vector<std::uint8_t> s2c(32, 0x22);
  kairos::KeClientResult ke{*kairos::NtsKeys::create(15, c2s, s2c), {}, "localhost", kairos::kNtpDefaultPort, false,
                            false};
  for (std::uint8_t i = 0; i < 8; ++i) {
    std::array<std::uint8_t, kairos::kCookieNonceLength> nonce{};
    nonce[0] = i;
    std::vector<std::uint8_t> cookie(kairos::kCookieMaxLength);
    cookie.resize(*kairos::seal_cookie(ke.keys, ring.current(), nonce, cookie));
    ke.cookies.push_back(std::move(cookie));
  }
  return ke;
}

kairos::RandomFill counter_fill(std::uint8_t start) {
  auto counter = std::make_shared<std::uint8_t>(start);
  return [counter](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*counter)++;
  };
}

timespec spec_of(NtpTimestamp t) { return t.to_timespec(timespec{1700000000, 0}); }

struct Saved {
  std::uint64_t sequence = 0;  // order of saving, for "still in the table"
  std::optional<NtpTimestamp> tx;  // known for basic answers; for interleaved ones, only a floor
  NtpTimestamp tx_floor;
  bool nts = false;
  bool spent = false;
};

class Harness {
 public:
  Harness(kairos::KeyRing& ring, const kairos::KeClientResult& ke)
      : ring_(ring), responder_([this] { return now_; }, counter_fill(0x80)), session_(*kairos::NtsClientSession::create(ke)) {
    kairos::ServerClockState state;
    state.leap = kairos::NtpLeap::kNone;
    state.stratum = 2;
    responder_.set_clock_state(state);
    responder_.enable_interleaved(kCapacity);
  }

  void run(FuzzedDataProvider& in) {
    while (in.remaining_bytes() > 0) {
      switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: raw_request(in); break;
        case 1: client_request(in, false); break;
        case 2: client_request(in, true); break;
        case 3: late_stamp(in); break;
        case 4:
          rx_ = rx_ + Duration::from_raw(in.ConsumeIntegralInRange<std::int64_t>(-(1 << 24), std::int64_t{1} << 32));
          break;
      }
    }
  }

 private:
  // Entry k is overwritten by entry k + kCapacity (a ring in serving order).
  bool in_table(const Saved& s) const { return !s.spent && s.sequence + kCapacity >= saves_; }

  // A receive timestamp the server handed out to any client, chosen by the input (or a made-up one).
  NtpTimestamp pick_origin(FuzzedDataProvider& in) const {
    if (saved_.empty() || in.ConsumeBool()) return NtpTimestamp::from_raw(in.ConsumeIntegral<std::uint64_t>());
    auto it = saved_.begin();
    std::advance(it, in.ConsumeIntegralInRange<std::size_t>(0, saved_.size() - 1));
    return NtpTimestamp::from_raw(it->first.second);
  }

  static std::size_t pick_client(FuzzedDataProvider& in) { return in.ConsumeIntegralInRange<std::size_t>(0, kClients - 1); }

  // Any saved receive timestamp, of any client, equal to `t`.
  bool ever_saved(NtpTimestamp t) const {
    for (std::size_t c = 0; c < kClients; ++c) {
      if (saved_.count({c, t.raw()}) != 0) return true;
    }
    return false;
  }

  RateDecision pick_rate(FuzzedDataProvider& in) {
    return in.ConsumeIntegralInRange<int>(0, 15) == 0 ? RateDecision::kKiss : RateDecision::kAllow;
  }

  // Responds and checks the answer against the model; returns the answer's header if it has one.
  std::optional<kairos::NtpHeader> respond(ByteView request, std::size_t client, RateDecision rate,
                                           std::vector<std::uint8_t>& out, Response& response, Duration processing) {
    now_ = rx_ + processing;
    out.assign(request.size(), 0);
    response = responder_.respond(request, rx_, client_address(client), rate, &ring_, out);
    if (response.length > request.size()) std::abort();  // amplification
    if ((response.kind == ResponseKind::kDropped) != (response.length == 0)) std::abort();
    if (response.kind == ResponseKind::kDropped || response.kind == ResponseKind::kNak) {
      if (response.interleaved || response.transmit_handle) std::abort();
      return std::nullopt;
    }
    auto answer = kairos::parse_ntp_header(ByteView(out.data(), response.length));
    auto asked = kairos::parse_ntp_header(request);
    if (!answer || !asked) std::abort();
    const bool nts = response.authenticated;
    if ((answer->transmit_time.raw() & 1) != 0) std::abort();  // transmit timestamps are even
    if (response.kind == ResponseKind::kRateKiss) {
      if (response.interleaved || response.transmit_handle) std::abort();  // kisses save nothing
      return *answer;
    }
    if (!response.transmit_handle) std::abort();  // every time answer is saved
    if (response.interleaved) {
      auto it = saved_.find({client, asked->origin_time.raw()});  // this client's, no other's
      if (it == saved_.end() || !in_table(it->second) || it->second.nts != nts) std::abort();
      if (asked->receive_time == asked->transmit_time || answer->origin_time != asked->receive_time) std::abort();
      Saved& s = it->second;
      if (s.tx ? answer->transmit_time != *s.tx : (answer->transmit_time - s.tx_floor) < Duration::from_raw(0)) {
        std::abort();  // not the saved exchange's transmit stamp
      }
      s.spent = true;  // never again
    } else {
      if (answer->origin_time != asked->transmit_time) std::abort();
      auto it = saved_.find({client, asked->origin_time.raw()});
      // Nothing overwritten yet: a well-formed interleaved request for a saved exchange of its
      // client and kind must not be answered basic.
      if (it != saved_.end() && in_table(it->second) && it->second.nts == nts && saves_ <= kCapacity &&
          asked->receive_time != asked->transmit_time) {
        std::abort();
      }
    }
    // The new entry: an odd receive timestamp no saved exchange of this client uses.
    const std::uint64_t rx = answer->receive_time.raw();
    if ((rx & 1) == 0) std::abort();
    if (auto it = saved_.find({client, rx}); it != saved_.end() && in_table(it->second)) std::abort();
    Saved entry;
    entry.sequence = saves_++;
    entry.nts = nts;
    if (response.interleaved) {
      entry.tx_floor = kairos::InterleavedTable::transmit_timestamp(now_);  // as the table saved it
    } else {
      entry.tx = answer->transmit_time;
      if (answer->transmit_time == answer->receive_time || ever_saved(answer->transmit_time)) std::abort();
    }
    saved_[{client, rx}] = entry;
    handles_.push_back({response.transmit_handle, {client, rx}});
    return *answer;
  }

  void raw_request(FuzzedDataProvider& in) {
    auto request = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 300));
    if (request.size() >= kairos::kNtpHeaderLength && in.ConsumeBool()) {
      request[0] = 0x23;  // NTPv4 client
      kairos::ByteWriter writer(std::span<std::uint8_t>(request).subspan(24, 8));
      writer.u64(pick_origin(in).raw());
    }
    const std::size_t client = pick_client(in);
    std::vector<std::uint8_t> out;
    Response response;
    respond(request, client, pick_rate(in), out, response, Duration::from_raw(in.ConsumeIntegral<std::uint16_t>()));
  }

  void client_request(FuzzedDataProvider& in, bool nts) {
    if (nts && session_.exhausted()) return;
    std::optional<kairos::InterleavedState> previous;
    const int how = in.ConsumeIntegralInRange<int>(0, 2);
    if (how == 1 && last_[nts]) previous = last_[nts];
    if (how == 2) previous = kairos::InterleavedState{pick_origin(in), spec_of(rx_), spec_of(rx_)};
    const auto random = counter_fill(in.ConsumeIntegral<std::uint8_t>());
    auto exchange = nts ? kairos::NtpClientExchange::nts(session_, random, previous ? &*previous : nullptr)
                        : kairos::Result<kairos::NtpClientExchange>(
                              kairos::NtpClientExchange::plain(random, previous ? &*previous : nullptr));
    if (!exchange) std::abort();
    const std::size_t client = pick_client(in);  // not always the one `previous` came from
    const RateDecision rate = pick_rate(in);
    const Duration processing = Duration::from_raw(in.ConsumeIntegral<std::uint16_t>());
    const timespec t1 = spec_of(rx_ + Duration::from_raw(-1000));
    std::vector<std::uint8_t> out;
    Response response;
    auto answer = respond(exchange->request(), client, rate, out, response, processing);
    if (!answer) std::abort();  // a request from our own client always gets an answer
    const timespec t4 = spec_of(now_ + Duration::from_raw(1000));
    auto sample = exchange->handle_response(ByteView(out.data(), response.length), t1, t4, nts ? &session_ : nullptr);
    if (response.kind == ResponseKind::kRateKiss) {
      if (sample || sample.error().problem != kairos::ResponseProblem::kRateLimited) std::abort();
      return;
    }
    if (!sample) {
      // The only refusal allowed: an interleaved answer whose stamps the input made disorderly
      // (the clock stepped back past the ~1 ms slack), which the client must not turn into time.
      const bool disorderly = response.interleaved && previous &&
                              ((answer->transmit_time - previous->server_receive) < -kSlack ||
                               (answer->receive_time - answer->transmit_time) < -kSlack);
      if (!disorderly) std::abort();
      return;
    }
    if (sample->interleaved != response.interleaved || sample->authenticated != nts) std::abort();
    last_[nts] = sample->next;
  }

  void late_stamp(FuzzedDataProvider& in) {
    if (handles_.empty()) return;
    const auto& [handle, key] = handles_[in.ConsumeIntegralInRange<std::size_t>(0, handles_.size() - 1)];
    const NtpTimestamp rx = NtpTimestamp::from_raw(key.second);
    const NtpTimestamp tx = rx + Duration::from_raw(in.ConsumeIntegral<std::int32_t>());
    const bool accepted = responder_.note_transmit(handle, tx);
    auto it = saved_.find(key);
    if (!accepted) return;
    // Only a saved, unspent entry takes a stamp, and never one from before its request (beyond
    // the slack for stamps from different sources). It is written even, like every transmit one.
    if (it == saved_.end() || !in_table(it->second) || (tx - rx) < -kSlack) std::abort();
    it->second.tx = kairos::InterleavedTable::transmit_timestamp(tx);
  }

  kairos::KeyRing& ring_;
  NtpTimestamp now_;
  NtpTimestamp rx_ = NtpTimestamp::from_parts(0xe9000000, 0);
  kairos::NtpResponder responder_;
  kairos::NtsClientSession session_;
  using Key = std::pair<std::size_t, std::uint64_t>;  // client, receive timestamp
  std::map<Key, Saved> saved_;
  std::uint64_t saves_ = 0;
  std::vector<std::pair<kairos::TransmitHandle, Key>> handles_;
  std::optional<kairos::InterleavedState> last_[2];  // per kind: plain, NTS
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kairos::KeyRing ring = make_ring();
  static const kairos::KeClientResult ke = make_ke(ring);
  FuzzedDataProvider in(data, size);
  Harness harness(ring, ke);
  harness.run(in);
  return 0;
}
