#include "nts/ptp_port.hpp"

#include <algorithm>
#include <cmath>

namespace kairos {

namespace {

constexpr std::size_t kMaxSlaveMessage = 128;  // Delay_Req 44, Signaling with 3 TLVs 44 + 3 × 12

// The streams a unicast slave negotiates, in UnicastMaster::grants order.
constexpr std::array<PtpMessageType, 3> kUnicastStreams = {PtpMessageType::kAnnounce, PtpMessageType::kSync,
                                                           PtpMessageType::kDelayResp};

std::optional<std::size_t> stream_index(PtpMessageType type) {
  for (std::size_t i = 0; i < kUnicastStreams.size(); ++i) {
    if (kUnicastStreams[i] == type) return i;
  }
  return std::nullopt;
}

PtpMasterInfo master_info(const ForeignMaster& master) {
  PtpMasterInfo info;
  const PtpHeader& h = master.header;
  const PtpAnnounce& a = master.announce;
  info.port = master.sender;
  info.address = master.address;
  info.domain = h.domain;
  info.grandmaster = a.grandmaster;
  info.priority1 = a.priority1;
  info.priority2 = a.priority2;
  info.quality = a.quality;
  info.steps_removed = a.steps_removed;
  info.time_source = a.time_source;
  info.current_utc_offset = a.current_utc_offset;
  info.current_utc_offset_valid = h.flag(ptp_flag::kCurrentUtcOffsetValid);
  info.ptp_timescale = h.flag(ptp_flag::kPtpTimescale);
  info.leap61 = h.flag(ptp_flag::kLeap61);
  info.leap59 = h.flag(ptp_flag::kLeap59);
  info.time_traceable = h.flag(ptp_flag::kTimeTraceable);
  info.frequency_traceable = h.flag(ptp_flag::kFrequencyTraceable);
  return info;
}

}  // namespace

const char* to_string(PtpPortState state) {
  switch (state) {
    case PtpPortState::kListening: return "LISTENING";
    case PtpPortState::kUncalibrated: return "UNCALIBRATED";
    case PtpPortState::kSlave: return "SLAVE";
    case PtpPortState::kFaulty: return "FAULTY";
  }
  return "?";
}

const char* to_string(PtpTimer timer) {
  switch (timer) {
    case PtpTimer::kAnnounceReceipt: return "announce-receipt";
    case PtpTimer::kDelayRequest: return "delay-request";
    case PtpTimer::kUnicast: return "unicast";
    case PtpTimer::kFaultReset: return "fault-reset";
  }
  return "?";
}

PtpPort::PtpPort(PtpPortConfig config)
    : config_(std::move(config)),
      foreign_(ForeignMasterConfig{config_.identity, config_.foreign_master_threshold, config_.foreign_master_window, 16}),
      log_min_delay_req_interval_(config_.unicast_masters.empty() ? config_.log_min_delay_req_interval
                                                                  : config_.unicast_log_delay_resp),
      random_(config_.random_seed) {
  for (const auto& address : config_.unicast_masters) {
    UnicastMaster master;
    master.address = address;
    for (std::size_t i = 0; i < kUnicastStreams.size(); ++i) master.grants[i].message = kUnicastStreams[i];
    unicast_.push_back(master);
  }
}

PtpActions PtpPort::start(double now) {
  PtpActions out;
  for (auto& master : unicast_) {
    UnicastGrant& announce = master.grants[0];
    announce.wanted = true;
    announce.due = now;
    announce.backoff = config_.unicast_retry_min;
  }
  if (unicast()) send_requests(now, out);
  return out;
}

std::optional<PtpMasterInfo> PtpPort::master() const { return master_info_; }

// ---- events ----

PtpActions PtpPort::on_message(ByteView bytes, std::optional<PtpTimestamp> rx, const std::string& from, double now) {
  PtpActions out;
  ++counters_.received;
  if (state_ == PtpPortState::kFaulty) return out;
  auto message = parse_ptp_message(bytes);
  if (!message) {
    ++counters_.malformed;
    return out;
  }
  const PtpHeader& header = message->header;
  if (header.domain != config_.domain || header.major_sdo_id != config_.major_sdo_id) {
    ++counters_.wrong_domain;  // §7.1: a port takes part in one domain only
    return out;
  }
  if (header.source.clock == config_.identity.clock) return out;  // our own message looped back
  switch (header.type) {
    case PtpMessageType::kAnnounce: on_announce(*message, from, now, out); break;
    case PtpMessageType::kSync:
      if (rx) on_sync(*message, *rx, now, out);
      break;
    case PtpMessageType::kFollowUp: on_follow_up(*message, now, out); break;
    case PtpMessageType::kDelayResp: on_delay_resp(*message, now); break;
    case PtpMessageType::kSignaling: on_signaling(*message, from, now, out); break;
    default: break;  // Delay_Req of other slaves, Pdelay, Management: not for a slave-only E2E port
  }
  return out;
}

PtpActions PtpPort::on_tx_timestamp(std::uint16_t sequence_id, PtpTimestamp tx, double now) {
  PtpActions out;
  if (!pending_delay_ || pending_delay_->sequence_id != sequence_id) return out;
  pending_delay_->t3 = tx;
  if (pending_delay_->t4) complete_delay(now);
  return out;
}

PtpActions PtpPort::on_timer(PtpTimer timer, double now) {
  PtpActions out;
  auto& deadline = deadlines_[static_cast<std::size_t>(timer)];
  if (!deadline || now < *deadline) return out;  // replaced or disarmed since it was set
  deadline.reset();
  switch (timer) {
    case PtpTimer::kAnnounceReceipt: {
      if (!master_) break;
      const ForeignMaster* record = foreign_.find(*master_);
      if (record != nullptr && now < record->last_receipt + config_.announce_receipt_timeout * record->interval()) {
        arm_announce_receipt(out);  // an Announce came since the timer was set
        break;
      }
      ++counters_.announce_timeouts;
      foreign_.erase(*master_);
      lose_master("announce receipt timeout", now, out);
      decide(now, out);  // another qualified master may be there already
      break;
    }
    case PtpTimer::kDelayRequest:
      if (!master_) break;
      if (last_sync_) send_delay_req(now, out);
      arm(PtpTimer::kDelayRequest, now + delay_req_interval(), out);
      break;
    case PtpTimer::kUnicast:
      if (state_ != PtpPortState::kFaulty) send_requests(now, out);
      break;
    case PtpTimer::kFaultReset:
      set_state(PtpPortState::kListening, "fault cleared", out);
      for (auto& master : unicast_) {
        master.grants[0].due = now;
        master.grants[0].backoff = config_.unicast_retry_min;
      }
      if (unicast()) send_requests(now, out);
      break;
  }
  return out;
}

PtpActions PtpPort::on_fault(const std::string& reason, double now) {
  PtpActions out;
  if (master_) lose_master(reason, now, out);
  for (std::size_t i = 0; i < kPtpTimerCount; ++i) arm(static_cast<PtpTimer>(i), std::nullopt, out);
  for (auto& master : unicast_) {
    for (auto& grant : master.grants) grant.granted_until = 0;
  }
  set_state(PtpPortState::kFaulty, reason, out);
  arm(PtpTimer::kFaultReset, now + config_.fault_reset, out);
  return out;
}

// ---- messages ----

void PtpPort::on_announce(const PtpMessage& message, const std::string& from, double now, PtpActions& out) {
  PtpHeader header = message.header;
  if (unicast()) {
    const UnicastMaster* master = unicast_master(from);
    if (master == nullptr) {
      ++counters_.not_from_master;  // a unicast slave listens to its configured masters only
      return;
    }
    // A unicast master sends Announce at the period it granted (§16.1), while the header's
    // logMessageInterval is its portDS.logAnnounceInterval (Table 42), its multicast rate: ptp4l
    // says 0.25 s and sends every 2 s. The qualification window and the receipt timeout are
    // counted in the granted period, or such a master is never qualified.
    const UnicastGrant& grant = master->grants[*stream_index(PtpMessageType::kAnnounce)];
    if (grant.granted_until > now) header.log_interval = grant.log_interval;
  }
  if (!foreign_.on_announce(header, *message.announce, from, now)) return;
  if (master_ && message.header.source == *master_) {
    master_info_ = master_info(*foreign_.find(*master_));
    arm_announce_receipt(out);
  }
  decide(now, out);
}

void PtpPort::on_sync(const PtpMessage& message, PtpTimestamp rx, double now, PtpActions& out) {
  if (!from_master(message.header)) {
    ++counters_.not_from_master;
    return;
  }
  const PtpHeader& header = message.header;
  if (last_sync_ && last_sync_->sequence_id == header.sequence_id) {
    ++counters_.unmatched;  // a duplicate of the Sync just used: one measurement per Sync
    return;
  }
  if (!header.flag(ptp_flag::kTwoStep)) {
    // One-step: the master wrote t1 into the Sync itself (§9.5.9.2).
    complete_sync(SyncHalf{header.sequence_id, message.timestamp, rx, header.correction, true, true, now}, now, out);
    return;
  }
  if (pending_sync_ && pending_sync_->sequence_id == header.sequence_id && pending_sync_->have_t1 &&
      !pending_sync_->have_t2) {
    // Its Follow_Up came first (event and general messages travel through different sockets).
    SyncHalf sync = *pending_sync_;
    pending_sync_.reset();
    sync.t2 = rx;
    sync.have_t2 = true;
    sync.correction += header.correction;
    complete_sync(sync, now, out);
    return;
  }
  if (pending_sync_ && pending_sync_->have_t2) ++counters_.lost_follow_ups;
  pending_sync_ = SyncHalf{header.sequence_id, {}, rx, header.correction, false, true, now};
}

void PtpPort::on_follow_up(const PtpMessage& message, double now, PtpActions& out) {
  if (!from_master(message.header)) {
    ++counters_.not_from_master;
    return;
  }
  const PtpHeader& header = message.header;
  if (pending_sync_ && pending_sync_->sequence_id == header.sequence_id && pending_sync_->have_t2 &&
      !pending_sync_->have_t1) {
    // §11.3.2: t1 is the Follow_Up's preciseOriginTimestamp; both correction fields count.
    SyncHalf sync = *pending_sync_;
    pending_sync_.reset();
    sync.t1 = message.timestamp;
    sync.have_t1 = true;
    sync.correction += header.correction;
    complete_sync(sync, now, out);
    return;
  }
  if (pending_sync_ && pending_sync_->have_t2) ++counters_.lost_follow_ups;
  if (pending_sync_ && pending_sync_->have_t1) ++counters_.unmatched;
  pending_sync_ = SyncHalf{header.sequence_id, message.timestamp, {}, header.correction, true, false, now};
}

void PtpPort::on_delay_resp(const PtpMessage& message, double now) {
  if (!from_master(message.header)) {
    ++counters_.not_from_master;
    return;
  }
  const PtpDelayResp& body = *message.delay_resp;
  if (body.requesting != config_.identity || !pending_delay_ || pending_delay_->sequence_id != message.header.sequence_id ||
      pending_delay_->t4) {
    ++counters_.unmatched;  // another slave's answer (multicast), or a stale one
    return;
  }
  // §9.5.11.2: the master's logMinDelayReqInterval rides in the Delay_Resp.
  const std::int8_t log_interval = message.header.log_interval;
  if (log_interval >= -7 && log_interval <= 7) log_min_delay_req_interval_ = log_interval;
  pending_delay_->t4 = body.receive;
  pending_delay_->correction = message.header.correction;
  if (pending_delay_->t3) complete_delay(now);
}

void PtpPort::on_signaling(const PtpMessage& message, const std::string& from, double now, PtpActions& out) {
  UnicastMaster* master = unicast_master(from);
  const PortIdentity& target = message.signaling->target;
  if (master == nullptr || (target != config_.identity && target.clock != kAllPorts.clock)) {
    ++counters_.unmatched;
    return;
  }
  std::vector<UnicastTlv> acks;
  for (const UnicastTlv& tlv : message.signaling->tlvs) {
    auto index = stream_index(tlv.message);
    if (!index) continue;
    UnicastGrant& grant = master->grants[*index];
    if (tlv.tlv == PtpTlvType::kGrantUnicastTransmission) {
      if (!grant.wanted) continue;
      if (tlv.duration > 0) {
        ++counters_.grants;
        grant.granted_until = now + tlv.duration;
        grant.log_interval = tlv.log_interval;
        // Renew at half the duration: a lost request or two still leaves time before it ends.
        grant.due = now + tlv.duration / 2.0;
        grant.backoff = config_.unicast_retry_min;
      } else {
        // Denied (§16.1.4.2: duration 0): the retry stays at the backoff set when the request
        // went out, which doubles on each try.
        ++counters_.denials;
        grant.granted_until = 0;
      }
    } else if (tlv.tlv == PtpTlvType::kCancelUnicastTransmission) {
      ++counters_.cancels;
      grant.granted_until = 0;
      if (grant.wanted) grant.due = now + grant.backoff;
      acks.push_back(UnicastTlv{PtpTlvType::kAcknowledgeCancelUnicastTransmission, tlv.message, 0, 0, false});
    }
  }
  if (!acks.empty()) send_signaling(master->address, acks, out);
  arm_unicast(out);
}

// ---- measurements ----

void PtpPort::complete_sync(const SyncHalf& sync, double now, PtpActions& out) {
  last_sync_ = sync;
  // A clock stepped between two Syncs (ours at start, or the master's) is no rate: the span
  // starts again after it. No clock is steered faster than kMaxRate.
  if (!recent_syncs_.empty()) {
    const std::optional<double> drift = drift_between(recent_syncs_.back(), sync);
    if (!drift || std::abs(*drift) > kMaxRate) recent_syncs_.clear();
  }
  recent_syncs_.push_back(sync);
  if (recent_syncs_.size() > kRateSyncs) recent_syncs_.pop_front();
  if (!path_delay_) return;
  auto t2_minus_t1 = difference_ns(sync.t2, sync.t1);
  if (!t2_minus_t1) return;  // centuries apart: nothing to measure
  PtpMeasurement m;
  m.time = now;
  m.t1 = sync.t1;
  m.t2 = sync.t2;
  m.t3 = path_delay_->t3;
  m.t4 = path_delay_->t4;
  m.sync_correction = sync.correction;
  m.delay_correction = path_delay_->correction;
  m.mean_path_delay = path_delay_->mean;
  // offsetFromMaster = t2 − t1 − c1 − meanPathDelay (§11.3.2); the model wants its negation.
  m.offset = -static_cast<double>(*t2_minus_t1) * 1e-9 + scaled_ns_to_seconds(sync.correction) + path_delay_->mean;
  m.delay = 2 * path_delay_->mean;
  m.delay_age = now - path_delay_->time;
  m.delay_spread = path_delay_->spread;
  m.master = *master_info_;
  ++counters_.measurements;
  out.push_back(std::move(m));
  set_state(PtpPortState::kSlave, "measuring", out);
}

std::optional<double> PtpPort::drift_between(const SyncHalf& a, const SyncHalf& b) {
  const auto master_span = difference_ns(b.t1, a.t1);
  const auto our_span = difference_ns(b.t2, a.t2);
  if (!master_span || !our_span || *master_span <= 0) return std::nullopt;
  // (t2 − t1 − c) is the path delay plus our offset: its change over the span is our drift.
  const double moved = static_cast<double>(*our_span - *master_span) -
                       (scaled_ns_to_seconds(b.correction) - scaled_ns_to_seconds(a.correction)) * 1e9;
  return moved / static_cast<double>(*master_span);
}

double PtpPort::rate() const {
  if (recent_syncs_.size() < 2) return 0;
  return drift_between(recent_syncs_.front(), recent_syncs_.back()).value_or(0);
}

void PtpPort::complete_delay(double now) {
  const DelayExchange exchange = *pending_delay_;
  pending_delay_.reset();
  auto t2_minus_t1 = difference_ns(exchange.sync.t2, exchange.sync.t1);
  auto t4_minus_t3 = difference_ns(*exchange.t4, *exchange.t3);
  if (!t2_minus_t1 || !t4_minus_t3) return;
  // meanPathDelay = ((t2 − t1 − c1) + (t4 − t3 − c2)) / 2 (§11.3.2), from the Sync that went just
  // before the Delay_Req, so our clock's offset cancels between the two halves.
  // Our clock need not run at the master's rate (a PHC on the direct path is never steered): our
  // offset then moves by rate × (the master's time from the Sync's departure to the Delay_Req's)
  // between the two halves, which would go into the path delay by half (10 ppm and half a
  // second: 2.5 µs). That span is t3 − t2 plus the path delay in our time, over 1 + rate.
  const auto t3_minus_t2 = difference_ns(*exchange.t3, exchange.sync.t2);
  const double uncorrected_ns = static_cast<double>(*t2_minus_t1) + static_cast<double>(*t4_minus_t3);
  const double r = rate();
  const double drift_ns = t3_minus_t2 ? r * (static_cast<double>(*t3_minus_t2) + uncorrected_ns / 2) / (1 + r) : 0.0;
  const double sum_ns = uncorrected_ns + drift_ns;
  const double mean = sum_ns * 1e-9 / 2 - (scaled_ns_to_seconds(exchange.sync.correction) +
                                           scaled_ns_to_seconds(exchange.correction)) / 2;
  // The path's delay changes slowly; one exchange's stamps carry its queueing and stamping noise.
  // The median of the last few (as linuxptp's moving-median delay filter) keeps that noise, and
  // an outlier, out of every offset until the next exchange.
  recent_delays_.push_back(mean);
  if (recent_delays_.size() > kDelayWindow) recent_delays_.pop_front();
  std::vector<double> sorted(recent_delays_.begin(), recent_delays_.end());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  double spread = 0;
  if (n >= 2) {
    double sum = 0, sum2 = 0;
    for (double d : sorted) {
      sum += d;
      sum2 += d * d;
    }
    const double variance = std::max(0.0, (sum2 - sum * sum / static_cast<double>(n)) / static_cast<double>(n - 1));
    spread = std::sqrt(2 * variance);
  }
  path_delay_ = PathDelay{median, spread, *exchange.t3, *exchange.t4, exchange.correction, now};
}

void PtpPort::send_delay_req(double now, PtpActions& out) {
  if (pending_delay_) ++counters_.lost_delay_resps;
  const std::uint16_t sequence_id = next_delay_req_sequence_++;
  std::vector<std::uint8_t> bytes(kMaxSlaveMessage);
  auto size = build_delay_req(bytes, header_fields(sequence_id));
  if (!size) return;
  bytes.resize(*size);
  pending_delay_ = DelayExchange{sequence_id, *last_sync_, std::nullopt, std::nullopt, 0, now};
  out.push_back(PtpSend{std::move(bytes), PtpMessageType::kDelayReq, true,
                        unicast() ? master_info_->address : std::string{}, sequence_id});
}

// ---- the master ----

void PtpPort::decide(double now, PtpActions& out) {
  if (state_ == PtpPortState::kFaulty) return;
  const ForeignMaster* best = foreign_.best(now);
  if (best == nullptr) return;
  const ForeignMaster* current = master_ ? foreign_.find(*master_) : nullptr;
  if (current == nullptr || (best->sender != current->sender &&
                             a_is_better(compare_datasets(foreign_.dataset(*best), foreign_.dataset(*current))))) {
    follow(*best, now, out);
  }
}

void PtpPort::follow(const ForeignMaster& master, double now, PtpActions& out) {
  if (master_) {
    ++counters_.master_changes;
    if (unicast() && master_info_) want_streams(master_info_->address, false, now, out);
  }
  master_ = master.sender;
  master_info_ = master_info(master);
  reset_exchanges();
  set_state(PtpPortState::kUncalibrated, "best master clock chosen", out);
  arm_announce_receipt(out);
  arm(PtpTimer::kDelayRequest, now + delay_req_interval(), out);
  if (unicast()) {
    want_streams(master.address, true, now, out);
    send_requests(now, out);
  }
}

void PtpPort::lose_master(const std::string& reason, double now, PtpActions& out) {
  if (unicast() && master_info_) want_streams(master_info_->address, false, now, out);
  master_.reset();
  master_info_.reset();
  reset_exchanges();
  arm(PtpTimer::kAnnounceReceipt, std::nullopt, out);
  arm(PtpTimer::kDelayRequest, std::nullopt, out);
  set_state(PtpPortState::kListening, reason, out);
}

void PtpPort::reset_exchanges() {
  // A new master's sequence ids and timestamps have nothing to do with the old one's.
  pending_sync_.reset();
  last_sync_.reset();
  pending_delay_.reset();
  path_delay_.reset();
  recent_delays_.clear();
  recent_syncs_.clear();
  log_min_delay_req_interval_ = unicast() ? config_.unicast_log_delay_resp : config_.log_min_delay_req_interval;
}

bool PtpPort::from_master(const PtpHeader& header) const { return master_ && header.source == *master_; }

// ---- helpers ----

void PtpPort::set_state(PtpPortState to, const std::string& reason, PtpActions& out) {
  if (state_ == to) return;
  out.push_back(PtpStateChange{state_, to, reason});
  state_ = to;
}

void PtpPort::arm(PtpTimer timer, std::optional<double> at, PtpActions& out) {
  auto& deadline = deadlines_[static_cast<std::size_t>(timer)];
  if (deadline == at) return;
  deadline = at;
  out.push_back(PtpArmTimer{timer, at});
}

void PtpPort::arm_announce_receipt(PtpActions& out) {
  const ForeignMaster* record = master_ ? foreign_.find(*master_) : nullptr;
  if (record == nullptr) return;
  arm(PtpTimer::kAnnounceReceipt, record->last_receipt + config_.announce_receipt_timeout * record->interval(), out);
}

double PtpPort::delay_req_interval() {
  // §9.5.11.2 asks for Delay_Req spread at random around the master's minimum interval, so the
  // slaves of one master do not all ask at once; ±50 % keeps the mean and never floods.
  const double base = std::ldexp(1.0, std::clamp<int>(log_min_delay_req_interval_, -7, 7));
  std::uniform_real_distribution<double> spread(0.5, 1.5);
  return base * spread(random_);
}

PtpHeaderFields PtpPort::header_fields(std::uint16_t sequence_id) const {
  PtpHeaderFields fields;
  fields.domain = config_.domain;
  fields.source = config_.identity;
  fields.sequence_id = sequence_id;
  fields.unicast = unicast();
  fields.major_sdo_id = config_.major_sdo_id;
  return fields;
}

// ---- unicast negotiation ----

UnicastMaster* PtpPort::unicast_master(const std::string& address) {
  for (auto& master : unicast_) {
    if (master.address == address) return &master;
  }
  return nullptr;
}

void PtpPort::want_streams(const std::string& address, bool wanted, double now, PtpActions& out) {
  UnicastMaster* master = unicast_master(address);
  if (master == nullptr) return;
  std::vector<UnicastTlv> cancels;
  for (std::size_t i = 1; i < master->grants.size(); ++i) {  // Sync and Delay_Resp; Announce stays
    UnicastGrant& grant = master->grants[i];
    if (wanted) {
      if (!grant.wanted) {
        grant.wanted = true;
        grant.due = now;
        grant.backoff = config_.unicast_retry_min;
      }
      continue;
    }
    if (grant.granted_until > now) {
      cancels.push_back(UnicastTlv{PtpTlvType::kCancelUnicastTransmission, grant.message, 0, 0, false});
    }
    grant.wanted = false;
    grant.granted_until = 0;
  }
  if (!cancels.empty()) send_signaling(master->address, cancels, out);
  arm_unicast(out);
}

void PtpPort::send_requests(double now, PtpActions& out) {
  for (auto& master : unicast_) {
    std::vector<UnicastTlv> requests;
    for (auto& grant : master.grants) {
      if (!grant.wanted || grant.due > now) continue;
      const std::int8_t log_interval = grant.message == PtpMessageType::kAnnounce ? config_.unicast_log_announce
                                       : grant.message == PtpMessageType::kSync   ? config_.unicast_log_sync
                                                                                  : config_.unicast_log_delay_resp;
      requests.push_back(UnicastTlv{PtpTlvType::kRequestUnicastTransmission, grant.message, log_interval,
                                    config_.unicast_duration, false});
      // Unanswered, it is asked again after the backoff, which doubles each time; a grant
      // resets it and sets the renewal instead.
      grant.due = now + grant.backoff;
      grant.backoff = std::min(grant.backoff * 2, config_.unicast_retry_max);
    }
    if (!requests.empty()) send_signaling(master.address, requests, out);
  }
  arm_unicast(out);
}

void PtpPort::send_signaling(const std::string& address, std::span<const UnicastTlv> tlvs, PtpActions& out) {
  std::vector<std::uint8_t> bytes(kMaxSlaveMessage);
  const std::uint16_t sequence_id = next_signaling_sequence_++;
  // The master's port identity is not known before its Announce: all ones (§16.1.4.1).
  auto size = build_signaling(bytes, header_fields(sequence_id), kAllPorts, tlvs);
  if (!size) return;
  bytes.resize(*size);
  out.push_back(PtpSend{std::move(bytes), PtpMessageType::kSignaling, false, address, sequence_id});
}

void PtpPort::arm_unicast(PtpActions& out) {
  std::optional<double> earliest;
  for (const auto& master : unicast_) {
    for (const auto& grant : master.grants) {
      if (grant.wanted && (!earliest || grant.due < *earliest)) earliest = grant.due;
    }
  }
  arm(PtpTimer::kUnicast, earliest, out);
}

}  // namespace kairos
