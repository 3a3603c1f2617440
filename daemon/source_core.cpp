#include "daemon/source_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace kairos {
namespace {

using Level = source_action::Log::Level;

// In place: GCC 12 warns falsely (-Wmaybe-uninitialized) on a variant moved into the vector.
template <class A>
void emit(SourceActions& out, A&& action) {
  out.emplace_back(std::in_place_type<std::decay_t<A>>, std::forward<A>(action));
}

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

SourceCore::SourceCore(SourceConfig config, RandomFill random, std::shared_ptr<AddressClaims> pool)
    : config_(std::move(config)),
      name_(source_name(config_)),
      random_(std::move(random)),
      choice_(std::move(pool), config_.pool_member != 0),
      poll_(config_.minpoll, config_.maxpoll) {}

void SourceCore::log(SourceActions& out, Level level, std::string text) const {
  emit(out, source_action::Log{.level = level, .text = name_ + ": " + std::move(text)});
}

SourceActions SourceCore::start(Time now) {
  SourceActions out;
  auto target = split_host_port(config_.address, config_.nts ? kNtsKeDefaultPort : kNtpDefaultPort);
  if (!target) {
    log(out, Level::kError, target.error().message);
    return out;
  }
  host_ = target->first;
  port_ = target->second;
  burst_left_ = config_.iburst ? kBurstCount : 1;
  if (config_.nts && saved_ke_) {
    const KeClientResult saved = std::move(*saved_ke_);
    saved_ke_.reset();
    std::string error;
    if (!use_keys(saved, Lookup::kSavedNtpServer, error, out)) {
      log(out, Level::kWarn, fmt::format("saved NTS state not usable ({}); NTS-KE instead", error));
      begin_ke(out);
    }
  } else if (config_.nts) {
    begin_ke(out);
  } else {
    lookup_ = Lookup::kNtpName;
    emit(out, source_action::Resolve{.host = host_, .port = port_, .tcp = false});
  }
  (void)now;
  return out;
}

SourceActions SourceCore::timer_fired(Time now) {
  SourceActions out;
  if (!next_step_) return out;
  const Step step = *next_step_;
  next_step_.reset();
  if (step == Step::kStart) return start(now);
  begin_exchange(now, out);
  return out;
}

SourceActions SourceCore::clock_stepped(Time now) {
  SourceActions out;
  if (next_step_ != Step::kExchange) return out;
  burst_left_ = config_.iburst ? kBurstCount : 1;
  schedule(now, std::chrono::steady_clock::duration::zero(), Step::kExchange, out);
  return out;
}

SourceActions SourceCore::resolved(Time now, Result<std::vector<SocketAddress>> addresses) {
  SourceActions out;
  const Lookup purpose = lookup_;
  lookup_ = Lookup::kNone;
  switch (purpose) {
    case Lookup::kNone: break;
    case Lookup::kNtpName:
      if (!addresses) {
        retry_later(now, "resolving", addresses.error().message, out);
        break;
      }
      ntp_address_ = choice_.choose(*addresses);
      if (!ntp_address_) {
        retry_later(now, "resolving", "every address of the name is in use by the pool's other members", out);
        break;
      }
      begin_exchange(now, out);
      break;
    case Lookup::kKeName: {
      if (!addresses) {
        ke_failed(now, addresses.error().message, out);
        break;
      }
      const std::optional<SocketAddress> chosen = choice_.choose(*addresses);
      if (!chosen) {
        ke_failed(now, "every address of the name is in use by the pool's other members", out);
        break;
      }
      emit(out, source_action::StartKe{.address = *chosen, .host = host_, .port = port_, .timeout = kKeTimeout});
      break;
    }
    case Lookup::kSavedNtpServer:
    case Lookup::kKeNtpServer: keys_resolved(now, purpose, std::move(addresses), out); break;
  }
  return out;
}

void SourceCore::switch_address(Time now, const std::string& why, SourceActions& out) {
  const std::string was = choice_.current() ? choice_.current()->to_string() : std::string("?");
  log(out, Level::kWarn, fmt::format("giving {} up ({}); looking the name up again for another address", was, why));
  choice_.give_up();
  forget_interleaved(out);
  // NTS: the keys belong to that NTS-KE server.
  session_.reset();
  session_origin_.reset();
  ntp_address_.reset();
  schedule(now, std::chrono::seconds(0), Step::kStart, out);
}

void SourceCore::schedule(Time now, std::chrono::steady_clock::duration after, Step step, SourceActions& out) {
  next_step_ = step;
  emit(out, source_action::ArmTimer{.at = now + after});
}

std::chrono::steady_clock::duration SourceCore::poll_interval() {
  return poll_.interval([this] { return uniform(); });
}

double SourceCore::uniform() {
  std::array<std::uint8_t, 2> draw{};
  random_(draw);
  return static_cast<double>(draw[0] << 8 | draw[1]) / 65536.0;
}

std::chrono::milliseconds SourceCore::exchange_timeout() const {
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(poll_.nominal_interval() / 2);
  return std::clamp(half, std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
}

void SourceCore::retry_later(Time now, const std::string& what, const std::string& why, SourceActions& out) {
  ++failures_;
  // With another address to try, the one that failed is given up after a few failures in a row;
  // start() looks the name up again and takes another.
  if (choice_.current() && choice_.unanswered()) {
    log(out, Level::kWarn,
        fmt::format("{} failed: {}; giving {} up after {} failures in a row, trying another address", what, why,
                    choice_.current()->to_string(), AddressChoice::kGiveUpAfter));
    choice_.give_up();
    // Another server: its first try comes at once, its own failures back off from the start.
    failures_ = 0;
    schedule(now, std::chrono::seconds(0), Step::kStart, out);
    return;
  }
  // Exponential backoff so a dead or hostile server is never hammered.
  const double cap = std::max(16.0, std::ldexp(1.0, config_.maxpoll));
  // Spread by ±20 % so that clients which failed together (a server restart) come back spread out.
  const double spread = 0.8 + 0.4 * uniform();
  const double wait = std::min(cap, std::ldexp(1.0, std::min(failures_, 20))) * spread;
  log(out, Level::kWarn, fmt::format("{} failed: {}; retrying in {:.1f} s", what, why, wait));
  schedule(now, seconds(wait), Step::kStart, out);
}

void SourceCore::forget_interleaved(SourceActions& out) {
  if (config_.xleave) emit(out, source_action::CloseSocket{});
  kept_socket_.reset();
  last_exchange_.reset();
  last_exchange_time_.reset();
  last_request_id_.reset();
  exchanges_since_valid_ = 0;
}

void SourceCore::begin_ke(SourceActions& out) {
  // Re-keying after NAKs keeps the session: its cookies are used again if the NTS-KE fails.
  if (!rekeying_) session_.reset();
  forget_interleaved(out);  // new keys, maybe a new server: nothing of the old exchanges applies
  lookup_ = Lookup::kKeName;
  emit(out, source_action::Resolve{.host = host_, .port = port_, .tcp = true});
}

void SourceCore::ke_failed(Time now, const std::string& why, SourceActions& out) {
  ++counters_.ke_failed;
  if (rekeying_ && session_ && !session_->exhausted()) {
    // RFC 8915 §5.7: until an NTS-KE succeeds, the cookies and keys held are used.
    rekeying_ = false;
    log(out, Level::kWarn, fmt::format("NTS-KE failed: {}; polling on with the {} cookies held", why, session_->cookies()));
    schedule(now, poll_interval(), Step::kExchange, out);
    return;
  }
  rekeying_ = false;
  retry_later(now, "NTS-KE", why, out);
}

SourceActions SourceCore::ke_finished(Time now, Result<KeClientResult> result) {
  SourceActions out;
  if (!result) {
    ke_failed(now, result.error().message, out);
    return out;
  }
  std::string error;
  if (!use_keys(*result, Lookup::kKeNtpServer, error, out)) ke_failed(now, error, out);
  return out;
}

// The keys are held while the NTP server's name is looked up; a failed lookup drops them.
bool SourceCore::use_keys(const KeClientResult& ke, Lookup purpose, std::string& error, SourceActions& out) {
  auto session = NtsClientSession::create(ke);
  if (!session) {
    error = session.error().message;
    return false;
  }
  session_.emplace(std::move(*session));
  session_origin_.emplace(KeClientResult{.keys = ke.keys,
                                         .cookies = {},
                                         .ntp_server = ke.ntp_server,
                                         .ntp_port = ke.ntp_port,
                                         .server_negotiated = ke.server_negotiated,
                                         .port_negotiated = ke.port_negotiated,
                                         .certificate_sha256 = ke.certificate_sha256});
  new_cookies_ = ke.cookies.size();
  lookup_ = purpose;
  emit(out, source_action::Resolve{.host = ke.ntp_server, .port = ke.ntp_port, .tcp = false});
  return true;
}

void SourceCore::keys_resolved(Time now, Lookup purpose, Result<std::vector<SocketAddress>> addresses,
                               SourceActions& out) {
  if (addresses && addresses->empty()) addresses = fail("no address");
  if (!addresses) {
    session_.reset();
    session_origin_.reset();
    if (purpose == Lookup::kSavedNtpServer) {
      log(out, Level::kWarn,
          fmt::format("saved NTS state not usable ({}); NTS-KE instead", addresses.error().message));
      begin_ke(out);
    } else {
      ke_failed(now, addresses.error().message, out);
    }
    return;
  }
  ntp_address_ = addresses->front();
  if (purpose == Lookup::kSavedNtpServer) {
    restored_unconfirmed_ = true;
    log(out, Level::kInfo,
        fmt::format("NTS keys and {} cookies from the last run, NTP server {}; no NTS-KE", new_cookies_,
                    ntp_address_->to_string()));
  } else {
    rekeying_ = false;
    naks_in_a_row_ = 0;
    ++counters_.ke_ok;
    log(out, Level::kInfo,
        fmt::format("NTS-KE done: AEAD {}, {} cookies, NTP server {}", session_origin_->keys.aead_id(), new_cookies_,
                    ntp_address_->to_string()));
  }
  begin_exchange(now, out);
}

std::optional<KeClientResult> SourceCore::nts_state() const {
  if (!session_ || !session_origin_) return std::nullopt;
  KeClientResult state = *session_origin_;
  state.cookies.assign(session_->jar().begin(), session_->jar().end());
  return state;
}

void SourceCore::begin_exchange(Time now, SourceActions& out) {
  (void)now;
  if (denied_) return;
  if (config_.nts && (!session_ || session_->exhausted())) return begin_ke(out);
  source_action::SendRequest send{
      .address = *ntp_address_, .keep_socket = config_.xleave, .late_tx = std::nullopt, .timeout = exchange_timeout()};
  if (config_.xleave) {
    // The kept socket and what was learnt over it belong to its server.
    if (kept_socket_ && kept_socket_->to_string() != ntp_address_->to_string()) forget_interleaved(out);
    // The last request's transmit stamp, if it came after its answer: the interleaved sample is
    // only as good as this t1.
    if (last_exchange_ && last_request_id_) {
      send.late_tx = source_action::LateTx{.request_id = *last_request_id_, .phc_ifindex = last_exchange_->phc_ifindex};
    }
    kept_socket_.reset();  // it goes with the request; the exchange's end says if it stays
  }
  sending_to_ = *ntp_address_;
  emit(out, std::move(send));
}

Result<NtpClientExchange> SourceCore::make_request(const TxStamps& late, std::optional<double> hardware_tx_correction) {
  const InterleavedState* previous = nullptr;
  if (config_.xleave) {
    if (last_exchange_ && last_request_id_) {
      // Only a stamp of the clock the exchange's t4 was read on (a NIC's hardware TX stamp is
      // corrected as choose_stamps does it).
      const int phc = last_exchange_->phc_ifindex;
      if (phc == 0 && late.software) last_exchange_->t1 = *late.software;
      if (phc != 0 && late.hardware && hardware_tx_correction) {
        last_exchange_->t1 = add_seconds(*late.hardware, *hardware_tx_correction);
      }
      last_request_id_.reset();
    }
    if (last_exchange_ && exchanges_since_valid_ >= kMaxInterleavedGap) last_exchange_.reset();
    if (last_exchange_) previous = &*last_exchange_;
  }
  if (config_.nts) {
    if (!session_) return fail("no NTS keys");
    return NtpClientExchange::nts(*session_, random_, previous);
  }
  return NtpClientExchange::plain(random_, previous);
}

void SourceCore::request_sent(Time now) {
  (void)now;
  ++exchanges_since_valid_;
  reach_ = static_cast<std::uint8_t>(reach_ << 1);
}

SourceActions SourceCore::request_failed(Time now, const std::string& why) {
  SourceActions out;
  sending_to_.reset();
  retry_later(now, "request", why, out);
  return out;
}

SourceActions SourceCore::exchange_finished(Time now, NtpExchangeOutcome outcome, const ExchangeEnd& end) {
  SourceActions out;
  if (config_.xleave) {
    if (outcome && !end.have_tx_stamp) last_request_id_ = end.request_id;
    // After an answer the socket stays (and with it the server worker); after a timeout too;
    // after an error it is closed.
    if (outcome || end.timed_out) {
      kept_socket_ = sending_to_;
    } else {
      emit(out, source_action::CloseSocket{});
    }
  }
  sending_to_.reset();

  next_.reset();
  in_burst_ = burst_left_ > 1;
  if (in_burst_) --burst_left_;
  // Saved keys that get no valid answer may be stale (server restarted, moved): no more of their
  // cookies are spent, the next exchange begins with an NTS-KE.
  if (restored_unconfirmed_ && !outcome && session_) {
    log(out, Level::kWarn, "no valid answer with the saved NTS state; NTS-KE instead");
    session_->drop_cookies();
    next_ = std::chrono::seconds(0);
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
      // An interleaved sample is the previous exchange's: dated by the time since it on the
      // monotonic axis, not by the difference of its stamps, which a step of our clock (ours at
      // start, or anybody's) in between would put into it.
      if (outcome->sample.interleaved && last_exchange_time_) {
        outcome->sample.age = std::chrono::duration<double>(now - *last_exchange_time_).count();
      }
      last_exchange_ = outcome->sample.next;
      last_exchange_time_ = now;
      exchanges_since_valid_ = 0;
      if (outcome->sample.interleaved) ++counters_.interleaved;
      if (outcome->sample.interleaved != answered_interleaved_) {
        answered_interleaved_ = outcome->sample.interleaved;
        log(out, Level::kInfo,
            fmt::format("server answers in the {} mode", answered_interleaved_ ? "interleaved" : "basic"));
      }
    }
    last_sample_ = LastSample{.offset = outcome->sample.offset.seconds(),
                              .delay = outcome->sample.delay.seconds(),
                              .when = now,
                              .stratum = outcome->sample.header.stratum,
                              .reference = reference_id_text(outcome->sample.header)};
    // The rest waits for what the model makes of it (sample_feedback).
    emit(out, source_action::Deliver{.result = std::move(*outcome)});
    return out;
  }
  const NtpExchangeError& e = outcome.error();
  counters_.rejected += e.rejected;
  if (!e.problem) {
    ++counters_.timeouts;
    log(out, Level::kWarn, e.message);
    // The NTS-KE server's address (NTS) or the NTP server's: another one may answer.
    if (choice_.unanswered()) {
      switch_address(now, "no answer to " + std::to_string(AddressChoice::kGiveUpAfter) + " polls in a row", out);
      return out;
    }
  } else if (*e.problem == ResponseProblem::kNtsNak) {
    // RFC 8915 §5.7: a NAK is not authenticated (an attacker who saw the request can send one),
    // so the cookies stay and the next poll is awaited; only when that brings no valid answer
    // either, NTS-KE runs — at most once a minute for NAKs — and the cookies held are used until
    // it succeeds.
    ++counters_.naks;
    forget_interleaved(out);
    const bool may_rekey = !last_nak_ke_ || now - *last_nak_ke_ >= kNakKeInterval;
    if (++naks_in_a_row_ >= 2 && may_rekey) {
      log(out, Level::kWarn,
          fmt::format("{}; a second NAK with no valid answer between: NTS-KE, the cookies held until it succeeds",
                      e.message));
      last_nak_ke_ = now;
      rekeying_ = true;
      begin_ke(out);
      return out;
    }
    log(out, Level::kWarn,
        fmt::format("{}; polling on with the {} cookies held", e.message, session_ ? session_->cookies() : 0));
    // None left (or dropped as a stale restored state): begin_exchange re-keys at once.
    if (!session_ || session_->exhausted()) next_ = std::chrono::steady_clock::duration::zero();
  } else if (*e.problem == ResponseProblem::kDenied) {
    ++counters_.kisses;
    denied_ = true;
    log(out, Level::kError, "server denied access (kiss DENY/RSTR); no more requests to it");
    return out;
  } else if (*e.problem == ResponseProblem::kRateLimited) {
    ++counters_.kisses;
    poll_.on_rate_kiss();
    log(out, Level::kWarn, fmt::format("server asks to slow down (kiss RATE); poll now 2^{} s", poll_.exponent()));
  } else {
    // An answer that ended the exchange without being a sample (unsynchronized server): it
    // failed a check like any other.
    ++counters_.rejected;
    log(out, Level::kWarn, e.message);
  }
  schedule_next_poll(now, out);
  return out;
}

SourceActions SourceCore::sample_feedback(Time now, const std::optional<PollFeedback>& feedback) {
  SourceActions out;
  if (feedback) {
    poll_.on_sample(*feedback);
    if (choice_.selected(feedback->selected)) {
      switch_address(now, "the selection left it out, a falseticker", out);
      return out;
    }
  }
  schedule_next_poll(now, out);
  return out;
}

void SourceCore::schedule_next_poll(Time now, SourceActions& out) {
  std::chrono::steady_clock::duration next = next_ ? *next_ : poll_interval();
  if (in_burst_) next = std::min(next, std::chrono::steady_clock::duration(kBurstSpacing));
  next_.reset();
  schedule(now, next, Step::kExchange, out);
}

}  // namespace kairos
