#include "nts/ptp_port.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

const PortIdentity kUs{{0xaa, 0xbb, 0xcc, 0xff, 0xfe, 0xdd, 0xee, 0xff}, 1};
const PortIdentity kOtherSlave{{0xaa, 0xbb, 0xcc, 0xff, 0xfe, 0xdd, 0xee, 0x00}, 1};

// Times in nanoseconds on the master's timescale around a TAI instant.
constexpr std::int64_t kEpochNs = 1'800'000'000LL * 1'000'000'000LL;

PtpTimestamp ts(std::int64_t ns) {
  return PtpTimestamp{static_cast<std::uint64_t>(ns / 1'000'000'000), static_cast<std::uint32_t>(ns % 1'000'000'000)};
}
std::int64_t scaled(std::int64_t ns) { return ns * 65536; }

// A master on the wire: builds the messages a real one sends.
struct FakeMaster {
  PortIdentity id;
  std::string address;
  std::uint8_t priority1 = 128;
  std::uint8_t domain = 0;
  std::uint16_t announce_sequence = 0;
  std::int16_t utc_offset = 37;
  std::int8_t announce_log_interval = 1;  // every 2 s

  Buffer write(const PtpMessage& message) const {
    Buffer out(256);
    auto size = write_ptp_message(out, message);
    EXPECT_TRUE(size);
    out.resize(*size);
    return out;
  }
  PtpHeader header(PtpMessageType type, std::uint16_t sequence, std::uint16_t flags = 0) const {
    PtpHeader h;
    h.type = type;
    h.domain = domain;
    h.flags = flags;
    h.source = id;
    h.sequence_id = sequence;
    h.log_interval = 0;
    return h;
  }
  Buffer announce() {
    PtpMessage m;
    m.header = header(PtpMessageType::kAnnounce, announce_sequence++,
                      ptp_flag::kCurrentUtcOffsetValid | ptp_flag::kPtpTimescale | ptp_flag::kLeap61);
    m.header.log_interval = announce_log_interval;
    PtpAnnounce a;
    a.current_utc_offset = utc_offset;
    a.priority1 = priority1;
    a.quality = ClockQuality{6, 0x21, 0x4e5d};
    a.grandmaster = id.clock;
    a.time_source = 0x20;
    m.announce = a;
    return write(m);
  }
  Buffer sync(std::uint16_t sequence, bool two_step, std::int64_t t1_ns, std::int64_t correction_ns = 0) const {
    PtpMessage m;
    m.header = header(PtpMessageType::kSync, sequence, two_step ? ptp_flag::kTwoStep : 0);
    m.header.correction = scaled(correction_ns);
    if (!two_step) m.timestamp = ts(t1_ns);
    return write(m);
  }
  Buffer follow_up(std::uint16_t sequence, std::int64_t t1_ns, std::int64_t correction_ns = 0) const {
    PtpMessage m;
    m.header = header(PtpMessageType::kFollowUp, sequence);
    m.header.correction = scaled(correction_ns);
    m.timestamp = ts(t1_ns);
    return write(m);
  }
  Buffer delay_resp(std::uint16_t sequence, std::int64_t t4_ns, PortIdentity requesting, std::int64_t correction_ns = 0,
                    std::int8_t log_interval = 0) const {
    PtpMessage m;
    m.header = header(PtpMessageType::kDelayResp, sequence);
    m.header.correction = scaled(correction_ns);
    m.header.log_interval = log_interval;
    m.delay_resp = PtpDelayResp{ts(t4_ns), requesting};
    return write(m);
  }
  Buffer signaling(std::vector<UnicastTlv> tlvs, PortIdentity target = kUs) const {
    PtpMessage m;
    m.header = header(PtpMessageType::kSignaling, 0, ptp_flag::kUnicast);
    m.signaling = PtpSignaling{target, std::move(tlvs), 0};
    return write(m);
  }
};

FakeMaster master_a() { return FakeMaster{{{0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, 1}, "192.0.2.1"}; }
FakeMaster master_b() { return FakeMaster{{{0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x66}, 1}, "192.0.2.2"}; }

template <class T>
std::vector<T> all(const PtpActions& actions) {
  std::vector<T> found;
  for (const auto& action : actions) {
    if (const T* a = std::get_if<T>(&action)) found.push_back(*a);
  }
  return found;
}

PtpPortConfig config() {
  PtpPortConfig c;
  c.identity = kUs;
  return c;
}

// The path: the master is ahead of us by `offset`, each way takes `delay`; transparent clocks
// add `residence` to Sync and Delay_Req and say so in the correction fields.
struct Path {
  std::int64_t offset_ns = 3'000;
  double drift = 0;  // our clock's rate minus the master's: the offset falls by it over time
  std::int64_t delay_ns = 50'000;
  std::int64_t sync_residence_ns = 0;
  std::int64_t req_residence_ns = 0;
};

// Drives a port against a master along a path; `now` is monotonic seconds.
struct Bench {
  PtpPort port;
  FakeMaster master;
  Path path;
  double now = 0;
  std::int64_t master_ns = kEpochNs;  // the master's clock, advanced with `now`
  PtpActions last;

  explicit Bench(PtpPortConfig c = config(), FakeMaster m = master_a()) : port(std::move(c)), master(std::move(m)) {}

  void advance(double seconds) {
    now += seconds;
    master_ns += static_cast<std::int64_t>(std::llround(seconds * 1e9));
  }
  PtpActions deliver(const Buffer& bytes, std::optional<PtpTimestamp> rx = std::nullopt, const std::string& from = "") {
    last = port.on_message(bytes, rx, from.empty() ? master.address : from, now);
    return last;
  }
  PtpActions announce(FakeMaster& m) { return deliver(m.announce(), std::nullopt, m.address); }
  // Two Announces 2 s apart: the master qualifies.
  void qualify() {
    announce(master);
    advance(2);
    announce(master);
  }
  // The master ahead of us by this much now (our clock drifts by path.drift).
  std::int64_t offset_now() const {
    return path.offset_ns - static_cast<std::int64_t>(std::llround(path.drift * static_cast<double>(master_ns - kEpochNs)));
  }
  // Our receive time of a Sync the master sends now.
  PtpTimestamp rx_of_sync() const { return ts(master_ns + path.delay_ns + path.sync_residence_ns - offset_now()); }
  PtpActions two_step(std::uint16_t sequence) {
    deliver(master.sync(sequence, true, 0, path.sync_residence_ns / 2), rx_of_sync());
    PtpActions out = deliver(master.follow_up(sequence, master_ns, path.sync_residence_ns - path.sync_residence_ns / 2));
    return out;
  }
  PtpActions one_step(std::uint16_t sequence) {
    return deliver(master.sync(sequence, false, master_ns, path.sync_residence_ns), rx_of_sync());
  }
  // Fires the delay-request timer and answers the Delay_Req it sends: TX stamp, then Delay_Resp.
  std::optional<PtpSend> delay_exchange(PortIdentity requesting = kUs, bool resp_before_tx = false) {
    auto deadline = port.timer_deadline(PtpTimer::kDelayRequest);
    if (!deadline) return std::nullopt;
    advance(*deadline - now);
    auto sends = all<PtpSend>(port.on_timer(PtpTimer::kDelayRequest, now));
    if (sends.empty()) return std::nullopt;
    const PtpSend req = sends[0];
    const PtpTimestamp t3 = ts(master_ns - offset_now());
    const std::int64_t t4 = master_ns + path.delay_ns + path.req_residence_ns;
    const Buffer resp = master.delay_resp(req.sequence_id, t4, requesting, path.req_residence_ns);
    if (resp_before_tx) {
      deliver(resp);
      port.on_tx_timestamp(req.sequence_id, t3, now);
    } else {
      port.on_tx_timestamp(req.sequence_id, t3, now);
      deliver(resp);
    }
    return req;
  }
  // Qualify, a Sync, a delay exchange, a second Sync: the first measurement.
  std::optional<PtpMeasurement> first_measurement(bool two_step_sync = true) {
    qualify();
    advance(0.1);
    two_step_sync ? two_step(0) : one_step(0);
    delay_exchange();
    advance(0.1);
    auto measurements = all<PtpMeasurement>(two_step_sync ? two_step(1) : one_step(1));
    if (measurements.empty()) return std::nullopt;
    return measurements[0];
  }
};

TEST(PtpPort, StartsListeningAndOneAnnounceDoesNotChooseAMaster) {
  Bench bench;
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  bench.announce(bench.master);
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  EXPECT_FALSE(bench.port.master());
}

TEST(PtpPort, QualifiedMasterMakesThePortUncalibrated) {
  Bench bench;
  bench.qualify();
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  auto changes = all<PtpStateChange>(bench.last);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].from, PtpPortState::kListening);
  EXPECT_EQ(changes[0].to, PtpPortState::kUncalibrated);
  ASSERT_TRUE(bench.port.master());
  EXPECT_EQ(bench.port.master()->port, bench.master.id);
  // Timers: announce receipt at 3 × 2 s after the last Announce, a Delay_Req within 0.5–1.5 s.
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kAnnounceReceipt), bench.now + 6);
  auto delay = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  ASSERT_TRUE(delay);
  EXPECT_GE(*delay, bench.now + 0.5);
  EXPECT_LT(*delay, bench.now + 1.5);
}

TEST(PtpPort, TwoStepMasterGivesOffsetAndDelayAndSlave) {
  Bench bench;
  bench.path.sync_residence_ns = 1'200;
  bench.path.req_residence_ns = 700;
  auto m = bench.first_measurement(true);
  ASSERT_TRUE(m);
  EXPECT_NEAR(m->offset, 3e-6, 1e-12);
  EXPECT_NEAR(m->delay, 100e-6, 1e-12);
  EXPECT_NEAR(m->mean_path_delay, 50e-6, 1e-12);
  EXPECT_EQ(m->sync_correction, scaled(1'200));
  EXPECT_EQ(m->delay_correction, scaled(700));
  EXPECT_EQ(m->t1, ts(bench.master_ns));
  EXPECT_EQ(m->t2, bench.rx_of_sync());
  EXPECT_EQ(bench.port.state(), PtpPortState::kSlave);
  EXPECT_EQ(bench.port.counters().measurements, 1u);
  // The master's Announce reaches the daemon with the measurement: TAI − UTC, timescale, leap.
  EXPECT_EQ(m->master.port, bench.master.id);
  EXPECT_EQ(m->master.grandmaster, bench.master.id.clock);
  EXPECT_EQ(m->master.current_utc_offset, 37);
  EXPECT_TRUE(m->master.current_utc_offset_valid);
  EXPECT_TRUE(m->master.ptp_timescale);
  EXPECT_TRUE(m->master.leap61);
  EXPECT_FALSE(m->master.leap59);
  EXPECT_EQ(m->master.quality.clock_class, 6);
}

// One delay exchange whose Delay_Req was queued 200 µs does not move the offsets after it: the
// path delay is the median of the recent exchanges'.
TEST(PtpPort, AQueuedDelayRequestDoesNotMoveTheOffset) {
  Bench bench;
  ASSERT_TRUE(bench.first_measurement(true));
  std::uint16_t sequence = 2;
  for (int i = 0; i < 4; ++i) {  // more exchanges on the steady path
    bench.delay_exchange();
    bench.advance(0.1);
    bench.two_step(sequence++);
  }
  const std::int64_t steady = bench.path.delay_ns;
  bench.path.delay_ns = steady + 200'000;  // only for the next Delay_Req (t4 comes 200 µs late)
  bench.delay_exchange();
  bench.path.delay_ns = steady;
  bench.advance(0.1);
  auto measurements = all<PtpMeasurement>(bench.two_step(sequence++));
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_NEAR(measurements[0].mean_path_delay, 50e-6, 1e-12);
  EXPECT_NEAR(measurements[0].offset, 3e-6, 1e-12);
}

// Our clock 100 ppm fast against the master (a PHC on the direct path is never steered), a
// Delay_Req about half a second after each Sync: our offset moves some 50 µs between the exchange's halves,
// which would put some 25 µs into the path delay (the Delay_Reqs go 0.5-1.5 s apart). The rate over the recent Syncs takes it out; a step
// of our clock between two Syncs restarts that span instead of faking a rate.
TEST(PtpPort, OurClocksRateIsTakenOutOfThePathDelay) {
  Bench bench;
  bench.path.drift = 100e-6;
  bench.qualify();
  std::uint16_t sequence = 0;
  std::optional<PtpMeasurement> last;
  // A Sync every second; the Delay_Reqs when the port's timer says, between them.
  auto second = [&] {
    const double next = bench.now + 1;
    for (auto& m : all<PtpMeasurement>(bench.two_step(sequence++))) last = m;
    const auto deadline = bench.port.timer_deadline(PtpTimer::kDelayRequest);
    if (deadline && *deadline < next) bench.delay_exchange();
    bench.advance(next - bench.now);
  };
  for (int i = 0; i < 20; ++i) second();
  ASSERT_TRUE(last);
  EXPECT_NEAR(last->mean_path_delay, 50e-6, 1.5e-9);  // the stamps are whole nanoseconds
  bench.path.offset_ns += 20'000'000;  // we are stepped 20 ms back
  for (int i = 0; i < 20; ++i) second();
  EXPECT_NEAR(last->mean_path_delay, 50e-6, 1.5e-9);  // the stamps are whole nanoseconds
}

// A Delay_Req that takes 54 µs instead of 50: that exchange's mean path delay is 52 µs (its Sync
// half took 50), the two exchanges' sd is √2 µs, and one direction's √2 times that: 2 µs.
TEST(PtpPort, TheDelayExchangesSpreadIsTheSyncsUnseenNoise) {
  Bench bench;
  auto first = bench.first_measurement(true);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->delay_spread, 0);  // one exchange: nothing to measure a spread by
  bench.path.delay_ns = 54'000;
  bench.delay_exchange();
  bench.path.delay_ns = 50'000;
  bench.advance(0.1);
  auto measurements = all<PtpMeasurement>(bench.two_step(2));
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_NEAR(measurements[0].delay_spread, 2e-6, 1e-12);
}

TEST(PtpPort, OneStepMasterGivesTheSameMeasurement) {
  Bench bench;
  bench.path.offset_ns = -250'000;
  bench.path.sync_residence_ns = 400;
  auto m = bench.first_measurement(false);
  ASSERT_TRUE(m);
  EXPECT_NEAR(m->offset, -250e-6, 1e-12);
  EXPECT_NEAR(m->delay, 100e-6, 1e-12);
  EXPECT_EQ(m->sync_correction, scaled(400));
}

TEST(PtpPort, WithoutADelayExchangeThereIsNoMeasurement) {
  Bench bench;
  bench.qualify();
  EXPECT_TRUE(all<PtpMeasurement>(bench.two_step(0)).empty());
  EXPECT_TRUE(all<PtpMeasurement>(bench.two_step(1)).empty());
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
}

TEST(PtpPort, DuplicatedSyncGivesOneMeasurement) {
  Bench bench;
  ASSERT_TRUE(bench.first_measurement(false));
  const Buffer again = bench.master.sync(1, false, bench.master_ns);
  EXPECT_TRUE(all<PtpMeasurement>(bench.deliver(again, bench.rx_of_sync())).empty());
  EXPECT_EQ(bench.port.counters().measurements, 1u);
  bench.advance(1);
  EXPECT_EQ(all<PtpMeasurement>(bench.one_step(2)).size(), 1u);
}

TEST(PtpPort, FollowUpBeforeSyncStillMatches) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  bench.delay_exchange();
  bench.advance(0.1);
  // The Follow_Up arrives first, then its Sync.
  bench.deliver(bench.master.follow_up(1, bench.master_ns));
  auto measurements = all<PtpMeasurement>(bench.deliver(bench.master.sync(1, true, 0), bench.rx_of_sync()));
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_NEAR(measurements[0].offset, 3e-6, 1e-12);
}

TEST(PtpPort, LostFollowUpGivesNoMeasurementAndTheNextSyncDoes) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  bench.delay_exchange();
  bench.advance(0.1);
  bench.deliver(bench.master.sync(1, true, 0), bench.rx_of_sync());  // its Follow_Up is lost
  bench.advance(1);
  bench.deliver(bench.master.sync(2, true, 0), bench.rx_of_sync());
  EXPECT_EQ(bench.port.counters().lost_follow_ups, 1u);
  // A late Follow_Up of Sync 1 does not pair with Sync 2.
  EXPECT_TRUE(all<PtpMeasurement>(bench.deliver(bench.master.follow_up(1, bench.master_ns - 1'000'000'000))).empty());
  bench.advance(1);
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(3)).size(), 1u);
}

TEST(PtpPort, DelayRespForAnotherPortIsIgnored) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  bench.delay_exchange(kOtherSlave);  // the master's multicast answer to someone else
  EXPECT_EQ(bench.port.counters().unmatched, 1u);
  EXPECT_TRUE(all<PtpMeasurement>(bench.two_step(1)).empty());
  // Our own answer to the next request completes it.
  bench.delay_exchange(kUs);
  EXPECT_EQ(bench.port.counters().lost_delay_resps, 1u);  // the first request was never answered
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(2)).size(), 1u);
}

TEST(PtpPort, DelayRespBeforeItsTxTimestampStillCompletes) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  bench.delay_exchange(kUs, /*resp_before_tx=*/true);
  auto measurements = all<PtpMeasurement>(bench.two_step(1));
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_NEAR(measurements[0].delay, 100e-6, 1e-12);
}

TEST(PtpPort, DelayRespWithAnotherSequenceIdIsIgnored) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  auto deadline = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  ASSERT_TRUE(deadline);
  bench.advance(*deadline - bench.now);
  auto req = all<PtpSend>(bench.port.on_timer(PtpTimer::kDelayRequest, bench.now));
  ASSERT_EQ(req.size(), 1u);
  bench.port.on_tx_timestamp(req[0].sequence_id, ts(bench.master_ns), bench.now);
  bench.deliver(bench.master.delay_resp(static_cast<std::uint16_t>(req[0].sequence_id + 1), bench.master_ns, kUs));
  EXPECT_EQ(bench.port.counters().unmatched, 1u);
  EXPECT_TRUE(all<PtpMeasurement>(bench.two_step(1)).empty());
}

TEST(PtpPort, DelayReqIsAMulticastEventMessageFromOurPort) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  auto req = bench.delay_exchange();
  ASSERT_TRUE(req);
  EXPECT_TRUE(req->event);
  EXPECT_EQ(req->address, "");
  auto parsed = parse_ptp_message(req->bytes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header.type, PtpMessageType::kDelayReq);
  EXPECT_EQ(parsed->header.source, kUs);
  EXPECT_EQ(parsed->header.sequence_id, req->sequence_id);
  EXPECT_FALSE(parsed->header.flag(ptp_flag::kUnicast));
}

TEST(PtpPort, NoDelayReqBeforeTheFirstSync) {
  Bench bench;
  bench.qualify();
  auto deadline = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  ASSERT_TRUE(deadline);
  bench.advance(*deadline - bench.now);
  auto actions = bench.port.on_timer(PtpTimer::kDelayRequest, bench.now);
  EXPECT_TRUE(all<PtpSend>(actions).empty());
  EXPECT_EQ(all<PtpArmTimer>(actions).size(), 1u);  // tries again later
}

TEST(PtpPort, DelayRespIntervalSetsTheDelayReqSpacing) {
  Bench bench;
  bench.qualify();
  bench.two_step(0);
  auto deadline = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  bench.advance(*deadline - bench.now);
  auto req = all<PtpSend>(bench.port.on_timer(PtpTimer::kDelayRequest, bench.now));
  ASSERT_EQ(req.size(), 1u);
  bench.port.on_tx_timestamp(req[0].sequence_id, ts(bench.master_ns), bench.now);
  bench.deliver(bench.master.delay_resp(req[0].sequence_id, bench.master_ns, kUs, 0, 4));  // 16 s
  // The timer armed before the answer keeps the old spacing; the one after is 8–24 s.
  auto after = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  ASSERT_TRUE(after);
  bench.advance(*after - bench.now);
  bench.port.on_timer(PtpTimer::kDelayRequest, bench.now);
  auto spaced = bench.port.timer_deadline(PtpTimer::kDelayRequest);
  ASSERT_TRUE(spaced);
  EXPECT_GE(*spaced - bench.now, 8.0);
  EXPECT_LT(*spaced - bench.now, 24.0);
}

TEST(PtpPort, SequenceIdsWrapAround) {
  Bench bench;
  bench.qualify();
  bench.two_step(65534);
  bench.delay_exchange();
  bench.advance(1);
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(65535)).size(), 1u);
  bench.advance(1);
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(0)).size(), 1u);
  // Delay_Req sequence ids wrap too: the first was 0, 65535 more bring the next back to 0.
  for (int i = 0; i < 65535; ++i) {
    bench.advance(*bench.port.timer_deadline(PtpTimer::kDelayRequest) - bench.now);
    bench.port.on_timer(PtpTimer::kDelayRequest, bench.now);
  }
  auto req = bench.delay_exchange();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->sequence_id, 0);
  bench.advance(0.1);
  auto measurements = all<PtpMeasurement>(bench.two_step(1));
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_LT(measurements[0].delay_age, 0.2);  // the new exchange, not the one before the wrap
}

TEST(PtpPort, SyncFromAnotherMasterIsIgnored) {
  Bench bench;
  bench.qualify();
  FakeMaster other = master_b();
  bench.two_step(0);
  bench.delay_exchange();
  bench.deliver(other.sync(1, false, bench.master_ns + 1'000'000), bench.rx_of_sync(), other.address);
  EXPECT_EQ(bench.port.counters().not_from_master, 1u);
  EXPECT_EQ(bench.port.counters().measurements, 0u);
}

TEST(PtpPort, BmcaSwitchesToABetterMasterAndResetsMatching) {
  Bench bench;
  auto m = bench.first_measurement();
  ASSERT_TRUE(m);
  // A pending two-step Sync from A, then B (priority1 100) qualifies.
  bench.deliver(bench.master.sync(2, true, 0), bench.rx_of_sync());
  FakeMaster better = master_b();
  better.priority1 = 100;
  bench.announce(better);
  EXPECT_EQ(bench.port.master()->port, bench.master.id);  // B is not qualified yet
  bench.advance(2);
  bench.announce(better);
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  ASSERT_TRUE(bench.port.master());
  EXPECT_EQ(bench.port.master()->port, better.id);
  EXPECT_EQ(bench.port.counters().master_changes, 1u);
  // A's Follow_Up for the pending Sync, and A's Syncs, no longer count.
  bench.deliver(bench.master.follow_up(2, bench.master_ns));
  bench.two_step(3);
  EXPECT_EQ(bench.port.counters().measurements, 1u);
  // B's Sync alone gives nothing: the old path delay is gone with the old master.
  bench.master = better;
  EXPECT_TRUE(all<PtpMeasurement>(bench.two_step(0)).empty());
  bench.delay_exchange();
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(1)).size(), 1u);
}

TEST(PtpPort, AWorseMasterDoesNotTakeOver) {
  Bench bench;
  bench.qualify();
  FakeMaster worse = master_b();
  worse.priority1 = 200;
  bench.announce(worse);
  bench.advance(2);
  bench.announce(worse);
  EXPECT_EQ(bench.port.master()->port, bench.master.id);
  EXPECT_EQ(bench.port.counters().master_changes, 0u);
}

TEST(PtpPort, AnnounceReceiptTimeoutReturnsToListening) {
  Bench bench;
  ASSERT_TRUE(bench.first_measurement());
  auto deadline = bench.port.timer_deadline(PtpTimer::kAnnounceReceipt);
  ASSERT_TRUE(deadline);
  // Early: nothing happens.
  EXPECT_TRUE(bench.port.on_timer(PtpTimer::kAnnounceReceipt, *deadline - 0.5).empty());
  bench.advance(*deadline - bench.now);
  auto actions = bench.port.on_timer(PtpTimer::kAnnounceReceipt, bench.now);
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  EXPECT_FALSE(bench.port.master());
  EXPECT_EQ(bench.port.counters().announce_timeouts, 1u);
  auto changes = all<PtpStateChange>(actions);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].from, PtpPortState::kSlave);
  EXPECT_EQ(changes[0].reason, "announce receipt timeout");
  EXPECT_FALSE(bench.port.timer_deadline(PtpTimer::kDelayRequest));
  // Syncs from the old master are ignored until it qualifies again.
  bench.two_step(7);
  EXPECT_EQ(bench.port.counters().measurements, 1u);
}

TEST(PtpPort, AnnouncesKeepTheMasterPastTheFirstDeadline) {
  Bench bench;
  bench.qualify();
  const double first = *bench.port.timer_deadline(PtpTimer::kAnnounceReceipt);
  bench.advance(2);
  bench.announce(bench.master);
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kAnnounceReceipt), bench.now + 6);
  EXPECT_TRUE(bench.port.on_timer(PtpTimer::kAnnounceReceipt, first).empty());
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
}

TEST(PtpPort, TimeoutFallsBackToAnotherQualifiedMaster) {
  Bench bench;
  FakeMaster backup = master_b();
  backup.priority1 = 200;
  bench.announce(bench.master);
  bench.announce(backup);
  bench.advance(2);
  bench.announce(bench.master);
  bench.announce(backup);
  EXPECT_EQ(bench.port.master()->port, bench.master.id);
  bench.advance(2);
  bench.announce(backup);  // A has gone quiet
  bench.advance(*bench.port.timer_deadline(PtpTimer::kAnnounceReceipt) - bench.now);
  bench.announce(backup);
  auto actions = bench.port.on_timer(PtpTimer::kAnnounceReceipt, bench.now);
  ASSERT_TRUE(bench.port.master());
  EXPECT_EQ(bench.port.master()->port, backup.id);
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  EXPECT_EQ(all<PtpStateChange>(actions).size(), 2u);  // LISTENING, then UNCALIBRATED
}

TEST(PtpPort, OtherDomainIsIgnored) {
  PtpPortConfig c = config();
  c.domain = 24;
  Bench bench(c);
  bench.qualify();  // the master is in domain 0
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  EXPECT_EQ(bench.port.counters().wrong_domain, 2u);
  bench.master.domain = 24;
  bench.qualify();
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  EXPECT_EQ(bench.port.master()->domain, 24);
}

TEST(PtpPort, OwnMessagesAndGarbageAreIgnored) {
  Bench bench;
  FakeMaster echo{kUs, "198.51.100.1"};
  bench.announce(echo);
  bench.advance(2);
  bench.announce(echo);
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  bench.deliver(Buffer{0x0b, 0x12, 0x00});
  EXPECT_EQ(bench.port.counters().malformed, 1u);
}

TEST(PtpPort, FaultyUntilTheResetThenListening) {
  Bench bench;
  ASSERT_TRUE(bench.first_measurement());
  auto actions = bench.port.on_fault("interface down", bench.now);
  EXPECT_EQ(bench.port.state(), PtpPortState::kFaulty);
  EXPECT_FALSE(bench.port.master());
  EXPECT_FALSE(bench.port.timer_deadline(PtpTimer::kDelayRequest));
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kFaultReset), bench.now + 16);
  bench.qualify();  // ignored while faulty
  EXPECT_EQ(bench.port.state(), PtpPortState::kFaulty);
  bench.advance(14);
  bench.port.on_timer(PtpTimer::kFaultReset, bench.now);
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
  bench.qualify();
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
}

// ---- unicast negotiation ----

PtpPortConfig unicast_config() {
  PtpPortConfig c = config();
  c.unicast_masters = {"192.0.2.1"};
  c.unicast_log_sync = -3;
  c.unicast_duration = 60;
  return c;
}

std::vector<UnicastTlv> requests_in(const PtpActions& actions, const std::string& address) {
  std::vector<UnicastTlv> tlvs;
  for (const auto& send : all<PtpSend>(actions)) {
    if (send.type != PtpMessageType::kSignaling || send.address != address) continue;
    auto parsed = parse_ptp_message(send.bytes);
    EXPECT_TRUE(parsed);
    EXPECT_TRUE(parsed->header.flag(ptp_flag::kUnicast));
    EXPECT_EQ(parsed->signaling->target, kAllPorts);
    for (const auto& tlv : parsed->signaling->tlvs) tlvs.push_back(tlv);
  }
  return tlvs;
}

UnicastTlv grant(PtpMessageType type, std::uint32_t duration, std::int8_t log_interval = 0) {
  return UnicastTlv{PtpTlvType::kGrantUnicastTransmission, type, log_interval, duration, true};
}

TEST(PtpPortUnicast, StartRequestsAnnounceFromEachMaster) {
  PtpPortConfig c = unicast_config();
  c.unicast_masters.push_back("192.0.2.2");
  PtpPort port(c);
  auto actions = port.start(0);
  for (const char* address : {"192.0.2.1", "192.0.2.2"}) {
    auto tlvs = requests_in(actions, address);
    ASSERT_EQ(tlvs.size(), 1u) << address;
    EXPECT_EQ(tlvs[0].tlv, PtpTlvType::kRequestUnicastTransmission);
    EXPECT_EQ(tlvs[0].message, PtpMessageType::kAnnounce);
    EXPECT_EQ(tlvs[0].log_interval, 1);
    EXPECT_EQ(tlvs[0].duration, 60u);
  }
  EXPECT_EQ(port.timer_deadline(PtpTimer::kUnicast), 1.0);  // asked again after 1 s unless granted
}

TEST(PtpPortUnicast, GrantThenRenewalBeforeItEnds) {
  Bench bench(unicast_config());
  bench.port.start(bench.now);
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60, 1)}));
  EXPECT_EQ(bench.port.counters().grants, 1u);
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kUnicast), 30.0);
  bench.advance(30);
  auto renewal = requests_in(bench.port.on_timer(PtpTimer::kUnicast, bench.now), bench.master.address);
  ASSERT_EQ(renewal.size(), 1u);
  EXPECT_EQ(renewal[0].message, PtpMessageType::kAnnounce);
}

TEST(PtpPortUnicast, ChosenMasterIsAskedForSyncAndDelayResp) {
  Bench bench(unicast_config());
  bench.port.start(bench.now);
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60, 1)}));
  bench.announce(bench.master);
  bench.advance(2);
  auto actions = bench.announce(bench.master);
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  auto tlvs = requests_in(actions, bench.master.address);
  ASSERT_EQ(tlvs.size(), 2u);
  EXPECT_EQ(tlvs[0].message, PtpMessageType::kSync);
  EXPECT_EQ(tlvs[0].log_interval, -3);
  EXPECT_EQ(tlvs[1].message, PtpMessageType::kDelayResp);
  // Granted, it measures; the Delay_Req goes unicast to the master.
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kSync, 60, -3), grant(PtpMessageType::kDelayResp, 60)}));
  EXPECT_EQ(bench.port.counters().grants, 3u);
  bench.two_step(0);
  auto req = bench.delay_exchange();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->address, bench.master.address);
  EXPECT_TRUE(parse_ptp_message(req->bytes)->header.flag(ptp_flag::kUnicast));
  EXPECT_EQ(all<PtpMeasurement>(bench.two_step(1)).size(), 1u);
}

// ptp4l grants Announce every 2 s and writes its multicast logAnnounceInterval (0.25 s) in them:
// counted in the header's interval, two Announces never fall in one window of 4 × 0.25 s.
TEST(PtpPortUnicast, AnnouncesAreCountedInTheGrantedPeriod) {
  FakeMaster m = master_a();
  m.announce_log_interval = -2;
  Bench bench(unicast_config(), m);
  bench.port.start(bench.now);
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60, 1)}));
  bench.qualify();  // two Announces 2 s apart
  EXPECT_EQ(bench.port.state(), PtpPortState::kUncalibrated);
  // And the master is lost after 3 granted periods without one, not 3 × 0.25 s.
  ASSERT_TRUE(bench.port.timer_deadline(PtpTimer::kAnnounceReceipt));
  EXPECT_DOUBLE_EQ(*bench.port.timer_deadline(PtpTimer::kAnnounceReceipt), bench.now + 6);
}

TEST(PtpPortUnicast, DenialIsRetriedWithDoublingBackoff) {
  Bench bench(unicast_config());
  bench.port.start(bench.now);  // request at 0
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 0)}));
  EXPECT_EQ(bench.port.counters().denials, 1u);
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kUnicast), 1.0);
  std::vector<double> retries;
  for (int i = 0; i < 8; ++i) {
    const double at = *bench.port.timer_deadline(PtpTimer::kUnicast);
    bench.advance(at - bench.now);
    auto tlvs = requests_in(bench.port.on_timer(PtpTimer::kUnicast, bench.now), bench.master.address);
    ASSERT_EQ(tlvs.size(), 1u);
    retries.push_back(bench.now);
    bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 0)}));
  }
  // 1, 2, 4, ... s apart, capped at 64 s.
  EXPECT_EQ(retries, (std::vector<double>{1, 3, 7, 15, 31, 63, 127, 191}));
  // A grant at last resets the backoff: the renewal is at half its duration.
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60)}));
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kUnicast), bench.now + 30);
}

TEST(PtpPortUnicast, CancelIsAcknowledgedAndAskedAgain) {
  Bench bench(unicast_config());
  bench.port.start(bench.now);
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60)}));
  bench.advance(5);
  auto actions = bench.deliver(
      bench.master.signaling({UnicastTlv{PtpTlvType::kCancelUnicastTransmission, PtpMessageType::kAnnounce, 0, 0, false}}));
  auto sends = all<PtpSend>(actions);
  ASSERT_EQ(sends.size(), 1u);
  auto parsed = parse_ptp_message(sends[0].bytes);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->signaling->tlvs.size(), 1u);
  EXPECT_EQ(parsed->signaling->tlvs[0].tlv, PtpTlvType::kAcknowledgeCancelUnicastTransmission);
  EXPECT_EQ(bench.port.counters().cancels, 1u);
  EXPECT_EQ(bench.port.timer_deadline(PtpTimer::kUnicast), bench.now + 1);
}

TEST(PtpPortUnicast, StrangersAreIgnored) {
  Bench bench(unicast_config());
  bench.port.start(bench.now);
  FakeMaster stranger = master_b();  // not configured
  bench.deliver(stranger.signaling({grant(PtpMessageType::kAnnounce, 60)}), std::nullopt, stranger.address);
  EXPECT_EQ(bench.port.counters().grants, 0u);
  bench.announce(stranger);
  bench.advance(2);
  bench.announce(stranger);
  EXPECT_EQ(bench.port.state(), PtpPortState::kListening);
}

TEST(PtpPortUnicast, SwitchingMastersCancelsTheOldStreams) {
  PtpPortConfig c = unicast_config();
  c.unicast_masters.push_back("192.0.2.2");
  Bench bench(c);
  bench.port.start(bench.now);
  FakeMaster better = master_b();
  better.priority1 = 100;
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kAnnounce, 60, 1)}));
  bench.deliver(better.signaling({grant(PtpMessageType::kAnnounce, 60, 1)}), std::nullopt, better.address);
  bench.qualify();
  bench.deliver(bench.master.signaling({grant(PtpMessageType::kSync, 60, -3), grant(PtpMessageType::kDelayResp, 60)}));
  bench.announce(better);
  bench.advance(2);
  auto actions = bench.announce(better);
  ASSERT_EQ(bench.port.master()->port, better.id);
  std::vector<UnicastTlv> to_old;
  for (const auto& send : all<PtpSend>(actions)) {
    if (send.address != bench.master.address) continue;
    auto parsed = parse_ptp_message(send.bytes);
    ASSERT_TRUE(parsed);
    for (const auto& tlv : parsed->signaling->tlvs) to_old.push_back(tlv);
  }
  ASSERT_EQ(to_old.size(), 2u);
  EXPECT_EQ(to_old[0].tlv, PtpTlvType::kCancelUnicastTransmission);
  EXPECT_EQ(to_old[0].message, PtpMessageType::kSync);
  EXPECT_EQ(to_old[1].message, PtpMessageType::kDelayResp);
  auto to_new = requests_in(actions, better.address);
  ASSERT_EQ(to_new.size(), 2u);
  EXPECT_EQ(to_new[0].message, PtpMessageType::kSync);
}

}  // namespace
}  // namespace kairos
