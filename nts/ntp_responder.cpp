#include "nts/ntp_responder.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "nts/cookie.hpp"
#include "nts/nts_packet.hpp"
#include "nts/openssl_error.hpp"

namespace kairos {

std::uint32_t reference_id_of_address(std::span<const std::uint8_t> address) {
  auto be32 = [](const std::uint8_t* b) {
    return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | std::uint32_t{b[3]};
  };
  if (address.size() == 4) return be32(address.data());
  if (address.size() != 16) return 0;
  // MD5 only as RFC 5905 says, to fold 128 bits into 32: nothing here relies on it being secure.
  std::array<std::uint8_t, 16> digest{};
  unsigned int length = 0;
  if (EVP_Digest(address.data(), address.size(), digest.data(), &length, EVP_md5(), nullptr) != 1) return 0;
  return be32(digest.data());
}

namespace {

constexpr std::size_t kTransmitTimeOffset = 40;  // RFC 5905 §7.3, Figure 8
constexpr std::size_t kNonceLength = 16;         // AES-SIV nonces: one block (RFC 8915 §5.6)

// The counter arrays have one slot per enumerator: adding a reason means growing the count.
static_assert(static_cast<std::size_t>(DropReason::kResponseFailed) + 1 == kDropReasonCount);
static_assert(static_cast<std::size_t>(NakReason::kNotAuthenticated) + 1 == kNakReasonCount);

std::size_t index_of(DropReason reason) { return static_cast<std::size_t>(reason); }
std::size_t index_of(NakReason reason) { return static_cast<std::size_t>(reason); }

// RFC 8915 §5.7: a request is NTS as soon as it carries any NTS field; it is then either a valid
// NTS request or dropped, never answered in plain.
bool has_nts_field(const NtpPacketView& packet) {
  return std::any_of(packet.fields.begin(), packet.fields.end(), [](const ExtensionField& field) {
    return field.type == kNtsUniqueIdentifier || field.type == kNtsCookie || field.type == kNtsCookiePlaceholder ||
           field.type == kNtsAuthenticator;
  });
}

// Kiss-o'-death (RFC 5905 §7.4): stratum 0, the code in the reference id, and the alarm leap
// indicator so that no client mistakes it for time.
void make_kiss(NtpHeader& header, std::uint32_t code) {
  header.leap = NtpLeap::kUnsynchronized;
  header.stratum = 0;
  header.reference_id = code;
}

void write_timestamp(std::span<std::uint8_t> out, NtpTimestamp t) {
  ByteWriter writer(out);
  writer.u64(t.raw());
}

}  // namespace

const char* to_string(DropReason reason) {
  switch (reason) {
    case DropReason::kNone: return "none";
    case DropReason::kTooShort: return "too-short";
    case DropReason::kBadVersion: return "bad-version";
    case DropReason::kNotClientMode: return "not-client-mode";
    case DropReason::kMalformed: return "malformed";
    case DropReason::kLegacyMac: return "legacy-mac";
    case DropReason::kMalformedNts: return "malformed-nts";
    case DropReason::kRateLimited: return "rate-limited";
    case DropReason::kResponseFailed: return "response-failed";
  }
  return "unknown";
}

const char* to_string(NakReason reason) {
  switch (reason) {
    case NakReason::kNone: return "none";
    case NakReason::kNoKeyRing: return "no-key-ring";
    case NakReason::kCookieRejected: return "cookie-rejected";
    case NakReason::kNotAuthenticated: return "not-authenticated";
  }
  return "unknown";
}

std::uint64_t ResponderCounters::naks_total() const { return std::accumulate(naks.begin(), naks.end(), std::uint64_t{0}); }

std::uint64_t ResponderCounters::dropped_total() const {
  return std::accumulate(dropped.begin(), dropped.end(), std::uint64_t{0});
}

std::uint64_t ResponderCounters::requests() const {
  return plain + nts + rate_kisses_plain + rate_kisses_nts + naks_total() + dropped_total();
}

void ResponderCounters::add(const ResponderCounters& other) {
  plain += other.plain;
  nts += other.nts;
  rate_kisses_plain += other.rate_kisses_plain;
  rate_kisses_nts += other.rate_kisses_nts;
  cookies_sent += other.cookies_sent;
  interleaved += other.interleaved;
  for (std::size_t i = 0; i < naks.size(); ++i) naks[i] += other.naks[i];
  for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += other.dropped[i];
}

NtpResponder::NtpResponder(std::function<NtpTimestamp()> now, RandomFill random)
    : now_(std::move(now)), random_(std::move(random)) {}

void NtpResponder::enable_interleaved(std::size_t capacity) { table_.emplace(capacity); }

NtpTimestamp NtpResponder::served(NtpTimestamp reading) const {
  if (!clock_.smear) return reading;
  const bool repeated = in_ambiguous_second(*clock_.smear, reading) && inserted_second_ && inserted_second_();
  return smeared(*clock_.smear, reading, repeated);
}

bool NtpResponder::note_transmit(TransmitHandle handle, NtpTimestamp tx) {
  return table_ && table_->note_transmit(handle, served(tx));
}

NtpTimestamp NtpResponder::as_transmitted(NtpTimestamp tx) const {
  return table_ ? InterleavedTable::transmit_timestamp(tx) : tx;
}

std::optional<NtpTimestamp> NtpResponder::interleaved_transmit(const ClientAddress& client, const NtpHeader& request,
                                                               bool nts) {
  // RFC 9769 §2: a client asks for the interleaved mode by putting the receive timestamp of the
  // server's previous response to it in the origin timestamp of its next request (a basic client
  // puts the previous transmit timestamp there, RFC 5905 §8, or zero). The server answers in the
  // interleaved mode when that origin matches a receive timestamp it saved, and in the basic mode
  // otherwise; it may keep its timestamps per client address, not per port.
  // Here a request is interleaved when all of these hold:
  //  - its origin is the receive timestamp of a response saved for the same client address (so one
  //    client can never spend another's entry) and the same kind of exchange (plain or NTS), and
  //    that entry was not spent yet (a receive timestamp detects one interleaved request only);
  //  - its receive and transmit timestamps differ (else the client could not tell which of them
  //    our answer echoes as origin);
  //  - its origin is odd: saved receive timestamps are odd and every transmit timestamp we write is
  //    even (InterleavedTable), so a basic client echoing our transmit timestamp never matches.
  if (!table_ || request.receive_time == request.transmit_time) return std::nullopt;
  return table_->take(client, request.origin_time, nts);
}

Response NtpResponder::respond(ByteView request, NtpTimestamp rx_time, const ClientAddress& client, RateCheck rate,
                               KeyRing* ring, std::span<std::uint8_t> out) {
  if (request.size() < kNtpHeaderLength) return drop(DropReason::kTooShort);
  rx_time = served(rx_time);
  // Version and mode from the first octet before any parsing: most junk stops here.
  const std::uint8_t version = (request[0] >> 3) & 7;
  const auto mode = static_cast<NtpMode>(request[0] & 7);
  if (version < 1 || version > 4) return drop(DropReason::kBadVersion);
  // RFC 5905 §9.2: a server answers client mode only. Symmetric modes would need associations,
  // broadcast is not ours, and control (6) and private (7) are amplification vectors.
  if (mode != NtpMode::kClient) return drop(DropReason::kNotClientMode);

  // The limiter is asked after parsing (see RateCheck); parsing is cheap next to answering.
  NtpHeader header;
  if (request.size() == kNtpHeaderLength) {
    auto parsed = parse_ntp_header(request);
    if (!parsed) return drop(DropReason::kMalformed);
    header = *parsed;
  } else {
    auto parsed = parse_ntp_packet(request);
    if (!parsed) return drop(DropReason::kMalformed);
    if (parsed->mac) return drop(DropReason::kLegacyMac);
    if (has_nts_field(*parsed)) return respond_nts(request, *parsed, rx_time, client, rate, ring, out);
    // Unknown extension fields are ignored (RFC 7822 §3): the answer is a plain header.
    header = parsed->header;
  }
  const RateDecision decision = rate.decide();
  if (decision == RateDecision::kDrop) return drop(DropReason::kRateLimited);
  return respond_plain(header, rx_time, client, decision, out);
}

Response NtpResponder::drop(DropReason reason) {
  ++counters_.dropped[index_of(reason)];
  Response response;
  response.kind = ResponseKind::kDropped;
  response.drop = reason;
  return response;
}

NtpHeader NtpResponder::answer_header(const NtpHeader& request, NtpTimestamp rx_time) const {
  NtpHeader h;
  h.leap = clock_.leap;
  h.version = request.version;  // RFC 5905 §9.2: answer in the client's version
  h.mode = NtpMode::kServer;
  h.stratum = clock_.stratum;
  h.poll = request.poll;
  h.precision = clock_.precision;
  h.root_delay = clock_.root_delay;
  h.root_dispersion = clock_.root_dispersion;
  h.reference_id = clock_.reference_id;
  h.reference_time = served(clock_.reference_time);
  h.origin_time = request.transmit_time;  // the client matches it against what it sent
  h.receive_time = rx_time;
  return h;
}

Response NtpResponder::respond_plain(const NtpHeader& request, NtpTimestamp rx_time, const ClientAddress& client,
                                     RateDecision rate, std::span<std::uint8_t> out) {
  if (out.size() < kNtpHeaderLength) return drop(DropReason::kResponseFailed);
  const bool kiss = rate == RateDecision::kKiss;
  const bool save = table_ && !kiss;  // kisses carry no time: nothing to interleave with later
  if (save) rx_time = table_->unique_receive(client, rx_time);
  const std::optional<NtpTimestamp> previous_tx = save ? interleaved_transmit(client, request, false) : std::nullopt;
  NtpHeader header = answer_header(request, rx_time);
  // RFC 9769 §2: an interleaved answer echoes the request's receive timestamp as its origin, which
  // is how the client tells it from a basic one.
  if (previous_tx) header.origin_time = request.receive_time;
  if (kiss) make_kiss(header, kKissRate);
  ByteWriter writer(out);
  write_ntp_header(writer, header);
  // The transmit timestamp is read after everything else is written, so T3 is as late as it can
  // be before the bytes leave.
  // Kisses too: a client may echo a kiss's transmit timestamp as its next origin.
  const NtpTimestamp tx = as_transmitted(served_now());
  write_timestamp(out.subspan(kTransmitTimeOffset, 8), previous_tx ? *previous_tx : tx);

  Response response;
  response.kind = kiss ? ResponseKind::kRateKiss : ResponseKind::kPlain;
  response.length = kNtpHeaderLength;
  response.interleaved = previous_tx.has_value();
  if (save) response.transmit_handle = table_->record(client, rx_time, tx, false);
  ++(kiss ? counters_.rate_kisses_plain : counters_.plain);
  if (previous_tx) ++counters_.interleaved;
  return response;
}

Response NtpResponder::nak(NakReason reason, NtpHeader header, ByteView unique_id, std::span<std::uint8_t> out) {
  make_kiss(header, kKissNtsn);
  header.transmit_time = served_now();
  auto length = build_nts_nak(header, unique_id, out);
  if (!length) return drop(DropReason::kResponseFailed);
  ++counters_.naks[index_of(reason)];
  Response response;
  response.kind = ResponseKind::kNak;
  response.nak = reason;
  response.length = *length;
  return response;
}

NtpResponder::AeadPair* NtpResponder::aeads_for(std::uint16_t aead_id, ByteView c2s, ByteView s2c) {
  if (aead_id < 15 || aead_id > 17) return nullptr;
  std::optional<AeadPair>& slot = aeads_[aead_id - 15u];
  if (slot) {
    if (!slot->c2s.rekey(c2s) || !slot->s2c.rekey(s2c)) return nullptr;
    return &*slot;
  }
  auto c2s_aead = Aead::create(aead_id, c2s);
  auto s2c_aead = Aead::create(aead_id, s2c);
  if (!c2s_aead || !s2c_aead) return nullptr;
  slot.emplace(AeadPair{std::move(*c2s_aead), std::move(*s2c_aead)});
  return &*slot;
}

Response NtpResponder::respond_nts(ByteView packet, const NtpPacketView& parsed, NtpTimestamp rx_time,
                                   const ClientAddress& client, RateCheck rate, KeyRing* ring,
                                   std::span<std::uint8_t> out) {
  auto request = parse_nts_request(packet, parsed);
  if (!request) return drop(DropReason::kMalformedNts);
  // Over the limit, not even a NAK: opening a cookie is the work a flood wants from us.
  const RateDecision decision = rate.decide();
  if (decision == RateDecision::kDrop) return drop(DropReason::kRateLimited);
  const bool kiss = decision == RateDecision::kKiss;
  const bool save = table_ && !kiss;
  if (save) rx_time = table_->unique_receive(client, rx_time);
  NtpHeader header = answer_header(request->header, rx_time);

  // RFC 8915 §5.7: a cookie that does not open, or a request that does not authenticate, gets an
  // NTS NAK so that the client starts a new NTS-KE instead of retrying the same cookie.
  if (ring == nullptr) return nak(NakReason::kNoKeyRing, header, request->unique_id, out);
  auto cookie = cookie_from_field(request->cookie);
  if (!cookie) return nak(NakReason::kCookieRejected, header, request->unique_id, out);
  auto keys = open_cookie(*cookie, *ring);
  if (!keys) return nak(NakReason::kCookieRejected, header, request->unique_id, out);
  AeadPair* aeads = aeads_for(keys->aead_id(), keys->c2s(), keys->s2c());
  if (aeads == nullptr) return drop(DropReason::kResponseFailed);
  std::array<std::uint8_t, kNtsMaxPlaintextLength> plaintext;
  // Encrypted fields of the request (none are defined for requests) are authenticated and ignored.
  if (!verify_nts_request(*request, aeads->c2s, plaintext)) {
    return nak(NakReason::kNotAuthenticated, header, request->unique_id, out);
  }

  // One fresh cookie for the one spent and one per placeholder (RFC 8915 §5.7), with the keys
  // the client already has, sealed under the ring's current master key.
  const std::size_t wanted = std::min(1 + request->placeholders, kMaxFreshCookies);
  std::array<std::array<std::uint8_t, kCookieMaxLength>, kMaxFreshCookies> cookie_bytes;
  std::array<ByteView, kMaxFreshCookies> cookies;
  MasterKey& master = ring->current();
  for (std::size_t i = 0; i < wanted; ++i) {
    std::array<std::uint8_t, kCookieNonceLength> nonce;
    random_(nonce);
    auto sealed = seal_cookie(*keys, master, nonce, cookie_bytes[i]);
    if (!sealed) return drop(DropReason::kResponseFailed);
    cookies[i] = ByteView(cookie_bytes[i].data(), *sealed);
  }

  // Only an authenticated request may spend a saved entry (a forged one gets a NAK above), and
  // only an entry saved for an NTS exchange.
  const std::optional<NtpTimestamp> previous_tx =
      save ? interleaved_transmit(client, request->header, true) : std::nullopt;
  if (previous_tx) header.origin_time = request->header.receive_time;
  // RFC 8915 §5.7: clients ignore unauthenticated kisses other than NTSN, so over the limit an
  // NTS client gets its RATE kiss through the authenticated path, fresh cookies included.
  if (kiss) make_kiss(header, kKissRate);
  std::array<std::uint8_t, kNonceLength> nonce;
  random_(nonce);
  NtsResponseParts parts;
  parts.unique_id = request->unique_id;
  parts.cookies = std::span<const ByteView>(cookies.data(), wanted);
  parts.nonce = nonce;
  // The header is authenticated, so T3 cannot be later than this: after the cookies, just
  // before the authenticator is sealed.
  const NtpTimestamp tx = as_transmitted(served_now());
  header.transmit_time = previous_tx ? *previous_tx : tx;
  parts.header = header;
  auto built = build_nts_response(parts, aeads->s2c, std::min(request->length, out.size()), out);
  if (!built) return drop(DropReason::kResponseFailed);

  ++(kiss ? counters_.rate_kisses_nts : counters_.nts);
  counters_.cookies_sent += built->cookies_sent;
  Response response;
  response.kind = kiss ? ResponseKind::kRateKiss : ResponseKind::kNts;
  response.authenticated = true;
  response.cookies = built->cookies_sent;
  response.length = built->length;
  response.interleaved = previous_tx.has_value();
  if (save) response.transmit_handle = table_->record(client, rx_time, tx, true);
  if (previous_tx) ++counters_.interleaved;
  return response;
}

// ---- Nonce source ----------------------------------------------------------------------------

namespace {

class CounterModeStream {
 public:
  static constexpr std::size_t kBlock = 16;

  explicit CounterModeStream(const RandomFill& seed) : ctx_(EVP_CIPHER_CTX_new()) {
    std::array<std::uint8_t, 32> key_and_counter{};
    seed(key_and_counter);
    std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> cipher(EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr),
                                                                   &EVP_CIPHER_free);
    // Key and initial counter both random: the stream's start says nothing about the worker.
    const bool ok = ctx_ && cipher &&
                    EVP_EncryptInit_ex2(ctx_.get(), cipher.get(), key_and_counter.data(), key_and_counter.data() + 16,
                                        nullptr) == 1;
    OPENSSL_cleanse(key_and_counter.data(), key_and_counter.size());
    if (!ok) throw std::runtime_error(openssl_error("AES-CTR setup for the nonce generator failed"));
  }
  CounterModeStream(const CounterModeStream&) = delete;
  CounterModeStream& operator=(const CounterModeStream&) = delete;
  ~CounterModeStream() { OPENSSL_cleanse(stream_.data(), stream_.size()); }

  // Whole blocks per call, so no two calls ever share a keystream block.
  void fill(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
      if (next_ == stream_.size()) refill();
      const std::size_t n = std::min(out.size() - done, kBlock);
      std::copy_n(stream_.begin() + static_cast<std::ptrdiff_t>(next_), n, out.begin() + static_cast<std::ptrdiff_t>(done));
      OPENSSL_cleanse(stream_.data() + next_, kBlock);  // handed out: never again in memory here
      next_ += kBlock;
      done += n;
    }
  }

 private:
  struct CipherDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };

  // AES-CTR over zeros is the keystream; OpenSSL carries the counter across calls.
  void refill() {
    std::fill(stream_.begin(), stream_.end(), std::uint8_t{0});
    int length = 0;
    if (EVP_EncryptUpdate(ctx_.get(), stream_.data(), &length, stream_.data(), static_cast<int>(stream_.size())) != 1 ||
        static_cast<std::size_t>(length) != stream_.size()) {
      throw std::runtime_error(openssl_error("AES-CTR nonce generator failed"));
    }
    next_ = 0;
  }

  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx_;
  std::array<std::uint8_t, 64 * kBlock> stream_{};
  std::size_t next_ = stream_.size();
};

}  // namespace

Result<RandomFill> counter_mode_random(const RandomFill& seed) {
  std::shared_ptr<CounterModeStream> stream;
  try {
    stream = std::make_shared<CounterModeStream>(seed);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return RandomFill([stream](std::span<std::uint8_t> out) { stream->fill(out); });
}

}  // namespace kairos
