#include "daemon/association.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace kairos {
namespace {

constexpr int kBurstCount = 4;
constexpr auto kBurstSpacing = std::chrono::seconds(2);
constexpr auto kKeTimeout = std::chrono::seconds(10);
// NTS-KE on NAKs at most this often: NAKs are unauthenticated, and a stream of them must not
// turn into a stream of TLS handshakes (an exhausted cookie jar re-keys regardless).
constexpr auto kNakKeInterval = std::chrono::seconds(60);

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

Association::Association(EventLoop& loop, Resolver& resolver, SourceConfig config, SampleCallback on_sample,
                         HardwareInterfaces hardware, std::shared_ptr<AddressClaims> pool)
    : loop_(loop),
      resolver_(resolver),
      config_(std::move(config)),
      name_(source_name(config_)),
      choice_(std::move(pool), config_.pool_member != 0),
      on_sample_(std::move(on_sample)),
      hardware_(std::move(hardware)),
      poll_(config_.minpoll, config_.maxpoll) {}

Association::~Association() {
  if (next_step_) loop_.cancel_timer(*next_step_);
  if (deadline_) loop_.cancel_timer(*deadline_);
  if (ke_) loop_.unwatch(ke_->fd());
  if (exchange_) loop_.unwatch(exchange_->fd());
  if (lookup_) resolver_.cancel(*lookup_);
}

void Association::start() {
  auto target = split_host_port(config_.address, config_.nts ? kNtsKeDefaultPort : kNtpDefaultPort);
  if (!target) {
    spdlog::error("{}: {}", name(), target.error().message);
    return;
  }
  host_ = target->first;
  port_ = target->second;
  burst_left_ = config_.iburst ? kBurstCount : 1;
  if (config_.nts && saved_ke_) {
    const KeClientResult saved = std::move(*saved_ke_);
    saved_ke_.reset();
    use_keys(saved, [this, cookies = saved.cookies.size()](Result<void> used) {
      if (!used) {
        spdlog::warn("{}: saved NTS state not usable ({}); NTS-KE instead", name(), used.error().message);
        return begin_ke();
      }
      restored_unconfirmed_ = true;
      spdlog::info("{}: NTS keys and {} cookies from the last run, NTP server {}; no NTS-KE", name(), cookies,
                   ntp_address_->to_string());
      begin_exchange();
    });
  } else if (config_.nts) {
    begin_ke();
  } else {
    lookup_ = resolver_.lookup(host_, port_, SOCK_DGRAM, [this](Result<Resolver::Addresses> addresses) {
      lookup_.reset();
      if (!addresses) return retry_later("resolving", addresses.error().message);
      ntp_address_ = choice_.choose(*addresses);
      if (!ntp_address_) return retry_later("resolving", "every address of the name is in use by the pool's other members");
      begin_exchange();
    });
  }
}

void Association::switch_address(const std::string& why) {
  const std::string was = choice_.current() ? choice_.current()->to_string() : std::string("?");
  spdlog::warn("{}: giving {} up ({}); looking the name up again for another address", name(), was, why);
  choice_.give_up();
  forget_interleaved();
  // NTS: the keys belong to that NTS-KE server.
  session_.reset();
  session_origin_.reset();
  ntp_address_.reset();
  schedule(std::chrono::seconds(0), &Association::start);
}

void Association::resolve_ntp(const std::string& host, std::uint16_t port, std::function<void(Result<void>)> then) {
  lookup_ = resolver_.lookup(host, port, SOCK_DGRAM,
                             [this, then = std::move(then)](Result<Resolver::Addresses> addresses) {
                               lookup_.reset();
                               if (!addresses) return then(std::unexpected(addresses.error()));
                               ntp_address_ = addresses->front();
                               then({});
                             });
}

void Association::schedule(std::chrono::steady_clock::duration after, void (Association::*step)()) {
  if (next_step_) loop_.cancel_timer(*next_step_);
  next_step_ = loop_.add_timer(after, [this, step] {
    next_step_.reset();
    (this->*step)();
  });
}

std::chrono::steady_clock::duration Association::poll_interval() {
  return poll_.interval([this] { return uniform(); });
}

double Association::uniform() {
  std::array<std::uint8_t, 2> draw{};
  random_(draw);
  return static_cast<double>(draw[0] << 8 | draw[1]) / 65536.0;
}

std::chrono::milliseconds Association::exchange_timeout() const {
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(poll_.nominal_interval() / 2);
  return std::clamp(half, std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
}

void Association::retry_later(const std::string& what, const std::string& why) {
  ++failures_;
  // With another address to try, the one that failed is given up after a few failures in a row;
  // start() looks the name up again and takes another.
  if (choice_.current() && choice_.unanswered()) {
    spdlog::warn("{}: {} failed: {}; giving {} up after {} failures in a row, trying another address", name(), what,
                 why, choice_.current()->to_string(), AddressChoice::kGiveUpAfter);
    choice_.give_up();
    // Another server: its first try comes at once, its own failures back off from the start.
    failures_ = 0;
    schedule(std::chrono::seconds(0), &Association::start);
    return;
  }
  // Exponential backoff so a dead or hostile server is never hammered.
  const double cap = std::max(16.0, std::ldexp(1.0, config_.maxpoll));
  // Spread by ±20 % so that clients which failed together (a server restart) come back spread out.
  const double spread = 0.8 + 0.4 * uniform();
  const double wait = std::min(cap, std::ldexp(1.0, std::min(failures_, 20))) * spread;
  spdlog::warn("{}: {} failed: {}; retrying in {:.1f} s", name(), what, why, wait);
  schedule(seconds(wait), &Association::start);
}

void Association::forget_interleaved() {
  socket_.reset();
  last_exchange_.reset();
  last_request_id_.reset();
  exchanges_since_valid_ = 0;
}

void Association::begin_ke() {
  // Re-keying after NAKs keeps the session: its cookies are used again if the NTS-KE fails.
  if (!rekeying_) session_.reset();
  forget_interleaved();  // new keys, maybe a new server: nothing of the old exchanges applies
  lookup_ = resolver_.lookup(host_, port_, SOCK_STREAM, [this](Result<Resolver::Addresses> addresses) {
    lookup_.reset();
    if (!addresses) return ke_failed(addresses.error().message);
    const std::optional<SocketAddress> chosen = choice_.choose(*addresses);
    if (!chosen) return ke_failed("every address of the name is in use by the pool's other members");
    connect_ke(*chosen);
  });
}

void Association::ke_failed(const std::string& why) {
  ++counters_.ke_failed;
  if (rekeying_ && session_ && !session_->exhausted()) {
    // RFC 8915 §5.7: until an NTS-KE succeeds, the cookies and keys held are used.
    rekeying_ = false;
    spdlog::warn("{}: NTS-KE failed: {}; polling on with the {} cookies held", name(), why, session_->cookies());
    schedule(poll_interval(), &Association::begin_exchange);
    return;
  }
  rekeying_ = false;
  retry_later("NTS-KE", why);
}

void Association::connect_ke(const SocketAddress& address) {
  KeFetchOptions options{
      .host = host_, .port = port_, .ca_file = config_.ca, .system_trust = true, .aeads = config_.aeads};
  auto pending = PendingKe::connect(options, address);
  if (!pending) return ke_failed(pending.error().message);
  ke_.emplace(std::move(*pending));
  loop_.watch(ke_->fd(), ke_->events(), [this](short revents) { ke_ready(revents); });
  deadline_ = loop_.add_timer(kKeTimeout, [this] {
    deadline_.reset();
    ke_done(fail("timed out after " + std::to_string(kKeTimeout.count()) + " s"));
  });
}

void Association::ke_ready(short revents) {
  auto outcome = ke_->on_ready(revents);
  if (!outcome) {
    loop_.watch(ke_->fd(), ke_->events(), [this](short r) { ke_ready(r); });
    return;
  }
  ke_done(std::move(*outcome));
}

void Association::ke_done(Result<KeClientResult> result) {
  if (deadline_) loop_.cancel_timer(*deadline_);
  deadline_.reset();
  if (ke_) loop_.unwatch(ke_->fd());
  ke_.reset();
  if (!result) return ke_failed(result.error().message);
  use_keys(*result, [this, aead = result->keys.aead_id(), cookies = result->cookies.size()](Result<void> used) {
    if (!used) return ke_failed(used.error().message);
    rekeying_ = false;
    naks_in_a_row_ = 0;
    ++counters_.ke_ok;
    spdlog::info("{}: NTS-KE done: AEAD {}, {} cookies, NTP server {}", name(), aead, cookies,
                 ntp_address_->to_string());
    begin_exchange();
  });
}

// The keys are held while the NTP server's name is looked up; a failed lookup drops them.
void Association::use_keys(const KeClientResult& ke, std::function<void(Result<void>)> done) {
  auto session = NtsClientSession::create(ke);
  if (!session) return done(std::unexpected(session.error()));
  session_.emplace(std::move(*session));
  session_origin_.emplace(KeClientResult{.keys = ke.keys,
                                         .cookies = {},
                                         .ntp_server = ke.ntp_server,
                                         .ntp_port = ke.ntp_port,
                                         .server_negotiated = ke.server_negotiated,
                                         .port_negotiated = ke.port_negotiated,
                                         .certificate_sha256 = ke.certificate_sha256});
  resolve_ntp(ke.ntp_server, ke.ntp_port, [this, done = std::move(done)](Result<void> ok) {
    if (!ok) {
      session_.reset();
      session_origin_.reset();
    }
    done(std::move(ok));
  });
}

std::optional<KeClientResult> Association::nts_state() const {
  if (!session_ || !session_origin_) return std::nullopt;
  KeClientResult state = *session_origin_;
  state.cookies.assign(session_->jar().begin(), session_->jar().end());
  return state;
}

void Association::begin_exchange() {
  if (denied_) return;
  if (config_.nts && (!session_ || session_->exhausted())) return begin_ke();
  const InterleavedState* previous = nullptr;
  if (config_.xleave) {
    if (socket_ && socket_->server().to_string() != ntp_address_->to_string()) forget_interleaved();
    if (!socket_) {
      auto socket = NtpClientSocket::open(*ntp_address_, static_cast<bool>(hardware_), loop_.portable(), bind_);
      if (!socket) return retry_later("request", socket.error().message);
      socket_.emplace(std::move(*socket));
    }
    // The last request's transmit stamp, if it came after its answer: the interleaved sample is
    // only as good as this t1.
    if (last_exchange_ && last_request_id_) {
      // Only a stamp of the clock the exchange's t4 was read on (a NIC's hardware TX stamp is
      // corrected as choose_stamps does it).
      const TxStamps stamps = socket_->take_tx_stamps(*last_request_id_);
      const int phc = last_exchange_->phc_ifindex;
      if (phc == 0 && stamps.software) last_exchange_->t1 = *stamps.software;
      if (phc != 0 && stamps.hardware && hardware_) {
        if (const auto correction = hardware_(phc)) last_exchange_->t1 = add_seconds(*stamps.hardware, correction->tx());
      }
      last_request_id_.reset();
    }
    if (last_exchange_ && exchanges_since_valid_ >= kMaxInterleavedGap) last_exchange_.reset();
    if (last_exchange_) previous = &*last_exchange_;
  }
  auto exchange = config_.nts ? NtpClientExchange::nts(*session_, random_, previous)
                              : Result<NtpClientExchange>(NtpClientExchange::plain(random_, previous));
  if (!exchange) return retry_later("request", exchange.error().message);
  // Basic mode: a fresh socket (and source port) for each request.
  if (!socket_) {
    auto socket = NtpClientSocket::open(*ntp_address_, static_cast<bool>(hardware_), loop_.portable(), bind_);
    if (!socket) return retry_later("request", socket.error().message);
    socket_.emplace(std::move(*socket));
  }
  auto pending = PendingNtpExchange::start(std::move(*socket_), std::move(*exchange), hardware_);
  socket_.reset();
  if (!pending) return retry_later("request", pending.error().message);
  ++exchanges_since_valid_;
  exchange_.emplace(std::move(*pending));
  reach_ = static_cast<std::uint8_t>(reach_ << 1);
  loop_.watch(exchange_->fd(), exchange_->events(), [this](short revents) { exchange_ready(revents); });
  const auto timeout = exchange_timeout();
  deadline_ = loop_.add_timer(timeout, [this, timeout] {
    deadline_.reset();
    NtpExchangeError error = exchange_->timed_out(timeout);
    loop_.unwatch(exchange_->fd());
    if (config_.xleave) socket_.emplace(std::move(*exchange_).release_socket());
    exchange_.reset();
    exchange_done(std::unexpected(std::move(error)));
  });
}

void Association::exchange_ready(short revents) {
  auto outcome = exchange_->on_ready(revents, session_ ? &*session_ : nullptr);
  if (outcome) exchange_done(std::move(*outcome));
}

void Association::exchange_done(NtpExchangeOutcome outcome) {
  if (deadline_) loop_.cancel_timer(*deadline_);
  deadline_.reset();
  if (exchange_) {
    loop_.unwatch(exchange_->fd());
    if (config_.xleave) {
      if (outcome && !exchange_->have_tx_stamp()) last_request_id_ = exchange_->request_id();
      // After an answer the socket stays (and with it the server worker); after an error it is
      // closed (a timeout keeps it: see begin_exchange's timer).
      if (outcome) socket_.emplace(std::move(*exchange_).release_socket());
    }
  }
  exchange_.reset();

  // Unset: the poll interval, drawn at the end since this outcome may change the poll.
  std::optional<std::chrono::steady_clock::duration> next;
  const bool in_burst = burst_left_ > 1;
  if (in_burst) --burst_left_;
  // Saved keys that get no valid answer may be stale (server restarted, moved): no more of their
  // cookies are spent, the next exchange begins with an NTS-KE.
  if (restored_unconfirmed_ && !outcome && session_) {
    spdlog::warn("{}: no valid answer with the saved NTS state; NTS-KE instead", name());
    session_->drop_cookies();
    next = std::chrono::seconds(0);
  }
  restored_unconfirmed_ = false;
  if (outcome) {
    choice_.answered();
    failures_ = 0;
    naks_in_a_row_ = 0;
    reach_ |= 1;
    ++counters_.samples;
    counters_.rejected += outcome->rejected;
    if (config_.xleave) {
      last_exchange_ = outcome->sample.next;
      exchanges_since_valid_ = 0;
      if (outcome->sample.interleaved) ++counters_.interleaved;
      if (outcome->sample.interleaved != answered_interleaved_) {
        answered_interleaved_ = outcome->sample.interleaved;
        spdlog::info("{}: server answers in the {} mode", name(), answered_interleaved_ ? "interleaved" : "basic");
      }
    }
    last_sample_ = LastSample{.offset = outcome->sample.offset.seconds(),
                              .delay = outcome->sample.delay.seconds(),
                              .when = std::chrono::steady_clock::now(),
                              .stratum = outcome->sample.header.stratum,
                              .reference = reference_id_text(outcome->sample.header)};
    if (const std::optional<PollFeedback> feedback = on_sample_(*this, *outcome)) {
      poll_.on_sample(*feedback);
      if (choice_.selected(feedback->selected)) return switch_address("the selection left it out, a falseticker");
    }
  } else {
    const NtpExchangeError& e = outcome.error();
    counters_.rejected += e.rejected;
    if (!e.problem) {
      ++counters_.timeouts;
      spdlog::warn("{}: {}", name(), e.message);
      // The NTS-KE server's address (NTS) or the NTP server's: another one may answer.
      if (choice_.unanswered()) return switch_address("no answer to " + std::to_string(AddressChoice::kGiveUpAfter) + " polls in a row");
    } else if (*e.problem == ResponseProblem::kNtsNak) {
      // RFC 8915 §5.7: a NAK is not authenticated (an attacker who saw the request can send one),
      // so the cookies stay and the next poll is awaited; only when that brings no valid answer
      // either, NTS-KE runs — at most once a minute for NAKs — and the cookies held are used until
      // it succeeds.
      ++counters_.naks;
      forget_interleaved();
      const auto now = std::chrono::steady_clock::now();
      const bool may_rekey = !last_nak_ke_ || now - *last_nak_ke_ >= kNakKeInterval;
      if (++naks_in_a_row_ >= 2 && may_rekey) {
        spdlog::warn("{}: {}; a second NAK with no valid answer between: NTS-KE, the cookies held until it succeeds",
                     name(), e.message);
        last_nak_ke_ = now;
        rekeying_ = true;
        return begin_ke();
      }
      spdlog::warn("{}: {}; polling on with the {} cookies held", name(), e.message,
                   session_ ? session_->cookies() : 0);
      // None left (or dropped as a stale restored state): begin_exchange re-keys at once.
      if (!session_ || session_->exhausted()) next = std::chrono::steady_clock::duration::zero();
    } else if (*e.problem == ResponseProblem::kDenied) {
      ++counters_.kisses;
      denied_ = true;
      spdlog::error("{}: server denied access (kiss DENY/RSTR); no more requests to it", name());
      return;
    } else if (*e.problem == ResponseProblem::kRateLimited) {
      ++counters_.kisses;
      poll_.on_rate_kiss();
      spdlog::warn("{}: server asks to slow down (kiss RATE); poll now 2^{} s", name(), poll_.exponent());
    } else {
      // An answer that ended the exchange without being a sample (unsynchronized server): it
      // failed a check like any other.
      ++counters_.rejected;
      spdlog::warn("{}: {}", name(), e.message);
    }
  }
  if (!next) next = poll_interval();
  if (in_burst) next = std::min(*next, std::chrono::steady_clock::duration(kBurstSpacing));
  schedule(*next, &Association::begin_exchange);
}

}  // namespace kairos
