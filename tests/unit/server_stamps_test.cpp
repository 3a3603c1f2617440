#include "daemon/server_stamps.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "nts/interleaved_table.hpp"
#include "nts/ntp_client.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kBase = 1'700'000'000;  // system time (unix s) at model time 0
constexpr int kNic = 3;

timespec at_ns(std::int64_t ns) { return timespec{static_cast<time_t>(ns / kSecond), static_cast<long>(ns % kSecond)}; }
std::int64_t ns_of(const timespec& t) { return std::int64_t{t.tv_sec} * kSecond + t.tv_nsec; }

// A NIC whose PHC is 10 s ahead of the system clock and 5 ppm fast, its line fitted to eight
// one-second cross-timestamps as the direct path does; the last one at model time 7 (system
// time kBase + 7 s).
double difference(double t) { return 10.0 + 5e-6 * t; }
timespec system_at(double t) { return at_ns(kBase * kSecond + static_cast<std::int64_t>(t * 1e9)); }
timespec phc_at(double t) { return at_ns(kBase * kSecond + static_cast<std::int64_t>((t + difference(t)) * 1e9)); }

ServerHardwareClocks nic_clocks(StampCorrection correction = {}) {
  TimescaleMap map;
  for (int i = 0; i < 8; ++i) map.add(i, difference(i), 1e-9);
  return {ServerHardwareNic{kNic, *phc_line(map, 7.0, phc_at(7.0)), correction}};
}

ControlStamps request_stamps(double t) {
  ControlStamps stamps;
  stamps.software = system_at(t + 20e-6);  // the kernel's stamp, 20 µs after the NIC's
  stamps.hardware = phc_at(t);
  stamps.stamp_ifindex = kNic;
  return stamps;
}

TEST(ServerStamps, HardwareReceiveStampBecomesSystemTimeThroughItsNicsLine) {
  const auto stamp = server_receive_stamp(request_stamps(8.0), nic_clocks(), 48, false);
  ASSERT_TRUE(stamp);
  EXPECT_EQ(stamp->source, StampSource::kHardware);
  EXPECT_LE(std::abs(ns_of(stamp->time) - ns_of(system_at(8.0))), 1);
  // The interface's compensation and the frame's length on its link, as for the client's stamps.
  const StampCorrection correction{.speed_mbps = 1000, .rx_compensation = 100e-9};
  const auto corrected = server_receive_stamp(request_stamps(8.0), nic_clocks(correction), 48, false);
  ASSERT_TRUE(corrected);
  const double moved = correction.rx(48, false);
  EXPECT_GT(moved, 100e-9);
  EXPECT_LE(std::abs(ns_of(corrected->time) - ns_of(system_at(8.0 + moved))), 1);
}

TEST(ServerStamps, SoftwareStampServesWithoutAValidLine) {
  const ControlStamps stamps = request_stamps(8.0);
  // No line for that NIC yet, another NIC's stamp, a line gone stale: the kernel's stamp.
  for (const auto& [nics, ifindex] : {std::pair{ServerHardwareClocks{}, kNic}, std::pair{nic_clocks(), kNic + 1}}) {
    ControlStamps s = stamps;
    s.stamp_ifindex = ifindex;
    const auto stamp = server_receive_stamp(s, nics, 48, false);
    ASSERT_TRUE(stamp);
    EXPECT_EQ(stamp->source, StampSource::kKernel);
    EXPECT_EQ(ns_of(stamp->time), ns_of(*stamps.software));
  }
  const auto stale = server_receive_stamp(request_stamps(15.0), nic_clocks(), 48, false);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->source, StampSource::kKernel);
  // Never the raw PHC time, which is not system time: nothing, and the caller reads its clock.
  ControlStamps hardware_only = stamps;
  hardware_only.software.reset();
  EXPECT_FALSE(server_receive_stamp(hardware_only, {}, 48, false));
}

TEST(ServerStamps, HardwareTransmitStampBecomesSystemTimeThroughTheRequestsNic) {
  TxStamp tx;
  tx.software = system_at(8.0 + 30e-6);
  tx.hardware = phc_at(8.0);
  const StampCorrection correction{.tx_compensation = 50e-9};
  const auto stamp = server_transmit_stamp(tx, kNic, nic_clocks(correction));
  ASSERT_TRUE(stamp);
  EXPECT_EQ(stamp->source, StampSource::kHardware);
  EXPECT_LE(std::abs(ns_of(stamp->time) - ns_of(system_at(8.0 + 50e-9))), 1);
  // A request without a hardware stamp (ifindex 0), or no line: the software stamp.
  for (const auto& [nics, ifindex] : {std::pair{nic_clocks(), 0}, std::pair{ServerHardwareClocks{}, kNic}}) {
    const auto software = server_transmit_stamp(tx, ifindex, nics);
    ASSERT_TRUE(software);
    EXPECT_EQ(software->source, StampSource::kKernel);
    EXPECT_EQ(ns_of(software->time), ns_of(*tx.software));
  }
}

// The server's part, as its worker does it: T2 from the converted hardware stamp, and in the
// interleaved mode the next answer's T3 from the converted hardware TX stamp of this one.
TEST(ServerStamps, AnswersCarryTheConvertedReceiveAndInterleavedTransmitTimes) {
  const ServerHardwareClocks nics = nic_clocks();
  NtpResponder responder([] { return NtpTimestamp::from_timespec(system_at(8.5)); }, system_random());
  ServerClockState clock;
  clock.leap = NtpLeap::kNone;
  clock.stratum = 2;
  responder.set_clock_state(clock);
  responder.enable_interleaved(16);
  const ClientAddress client = ClientAddress::ipv4(std::array<std::uint8_t, 4>{192, 0, 2, 1});
  std::vector<std::uint8_t> out(1024);

  auto basic = NtpClientExchange::plain(system_random());
  const auto t2 = server_receive_stamp(request_stamps(8.0), nics, basic.request().size(), false);
  ASSERT_TRUE(t2);
  const Response first =
      responder.respond(basic.request(), NtpTimestamp::from_timespec(t2->time), client, RateDecision::kAllow, nullptr, out);
  ASSERT_EQ(first.kind, ResponseKind::kPlain);
  const NtpHeader h1 = parse_ntp_header(std::span(out.data(), first.length)).value();
  // Saved odd for the interleaved mode (InterleavedTable): the converted time to 2^-32 s.
  const NtpTimestamp converted = NtpTimestamp::from_timespec(system_at(8.0));
  EXPECT_LE(std::abs(static_cast<std::int64_t>(h1.receive_time.raw() - converted.raw())), 8);

  // The answer's NIC stamp on the error queue, converted through the request's NIC.
  TxStamp tx;
  tx.software = system_at(8.5 + 40e-6);
  tx.hardware = phc_at(8.5 + 10e-6);
  const auto t3 = server_transmit_stamp(tx, kNic, nics);
  ASSERT_TRUE(t3);
  ASSERT_TRUE(responder.note_transmit(first.transmit_handle, NtpTimestamp::from_timespec(t3->time)));

  auto sample = basic.handle_response(std::span(out.data(), first.length), system_at(7.9), system_at(8.6), nullptr);
  ASSERT_TRUE(sample) << sample.error().message;
  auto xleave = NtpClientExchange::plain(system_random(), &sample->next);
  ASSERT_TRUE(xleave.asks_interleaved());
  const auto t2b = server_receive_stamp(request_stamps(9.0), nics, xleave.request().size(), false);
  const Response second = responder.respond(xleave.request(), NtpTimestamp::from_timespec(t2b->time), client,
                                            RateDecision::kAllow, nullptr, out);
  ASSERT_EQ(second.kind, ResponseKind::kPlain);
  EXPECT_TRUE(second.interleaved);
  const NtpHeader h2 = parse_ntp_header(std::span(out.data(), second.length)).value();
  EXPECT_EQ(h2.transmit_time, InterleavedTable::transmit_timestamp(NtpTimestamp::from_timespec(system_at(8.5 + 10e-6))));
}

}  // namespace
}  // namespace kairos
