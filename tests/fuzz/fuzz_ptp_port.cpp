// Drives a PTP port (multicast or unicast) with a sequence of events taken from the input:
// messages (raw; made plausible: version 2.1, messageLength = size, domain 0, from one of two
// masters; or built well-formed by the harness so exchanges can complete), TX timestamps, timers
// and faults, with time moving forward. Whatever comes in:
//  - a measurement comes only with a master, in SLAVE, and its numbers are finite;
//  - every message the port sends parses, from our port identity;
//  - SLAVE or UNCALIBRATED always has a master, LISTENING and FAULTY never do.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "nts/ptp_port.hpp"

namespace {

using kairos::PtpPortState;

const kairos::PortIdentity kUs{{0xaa, 0xbb, 0xcc, 0xff, 0xfe, 0xdd, 0xee, 0xff}, 1};
const kairos::ClockIdentity kMasters[2] = {{0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55},
                                           {0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x66}};
const char* kAddresses[2] = {"192.0.2.1", "192.0.2.2"};

void check(const kairos::PtpPort& port, const kairos::PtpActions& actions) {
  for (const auto& action : actions) {
    if (const auto* m = std::get_if<kairos::PtpMeasurement>(&action)) {
      if (!std::isfinite(m->offset) || !std::isfinite(m->delay) || !std::isfinite(m->delay_age)) std::abort();
      if (port.state() != PtpPortState::kSlave || !port.master()) std::abort();
    }
    if (const auto* send = std::get_if<kairos::PtpSend>(&action)) {
      auto parsed = kairos::parse_ptp_message(send->bytes);
      if (!parsed || parsed->header.source != kUs || parsed->header.type != send->type) std::abort();
    }
  }
  const bool has_master = port.master().has_value();
  const bool following = port.state() == PtpPortState::kSlave || port.state() == PtpPortState::kUncalibrated;
  if (has_master != following) std::abort();
}

// Times near one instant, so exchanges give sane numbers as often as absurd ones.
kairos::PtpTimestamp timestamp(FuzzedDataProvider& input) {
  if (input.ConsumeBool()) {
    return {input.ConsumeIntegralInRange<std::uint64_t>(0, kairos::kPtpMaxSeconds),
            input.ConsumeIntegralInRange<std::uint32_t>(0, 999'999'999)};
  }
  return {1'800'000'000 + input.ConsumeIntegralInRange<std::uint64_t>(0, 3),
          input.ConsumeIntegralInRange<std::uint32_t>(0, 999'999'999)};
}

// A well-formed message of a type a slave acts on, from one of the two masters, with the
// fields that decide matching (sequence id, two-step, requesting port, TLVs) from the input.
std::vector<std::uint8_t> structured_message(FuzzedDataProvider& input, int who) {
  static constexpr kairos::PtpMessageType kTypes[] = {kairos::PtpMessageType::kAnnounce, kairos::PtpMessageType::kSync,
                                                      kairos::PtpMessageType::kFollowUp, kairos::PtpMessageType::kDelayResp,
                                                      kairos::PtpMessageType::kSignaling};
  kairos::PtpMessage m;
  m.header.type = kTypes[input.ConsumeIntegralInRange<int>(0, 4)];
  m.header.source = kairos::PortIdentity{kMasters[who], 1};
  m.header.sequence_id = input.ConsumeIntegralInRange<std::uint16_t>(0, 3);
  m.header.flags = input.ConsumeIntegral<std::uint16_t>();
  m.header.correction = input.ConsumeIntegralInRange<std::int64_t>(-(1 << 30), 1 << 30);
  m.header.log_interval = input.ConsumeIntegralInRange<std::int8_t>(-8, 8);
  m.timestamp = timestamp(input);
  switch (m.header.type) {
    case kairos::PtpMessageType::kAnnounce: {
      kairos::PtpAnnounce a;
      a.origin = m.timestamp;
      a.priority1 = input.ConsumeIntegral<std::uint8_t>();
      a.quality.clock_class = input.ConsumeIntegral<std::uint8_t>();
      a.grandmaster = kMasters[who];
      a.steps_removed = input.ConsumeIntegralInRange<std::uint16_t>(0, 300);
      a.current_utc_offset = input.ConsumeIntegral<std::int16_t>();
      m.announce = a;
      break;
    }
    case kairos::PtpMessageType::kDelayResp:
      m.delay_resp = kairos::PtpDelayResp{m.timestamp, input.ConsumeBool() ? kUs : kairos::PortIdentity{kMasters[who], 9}};
      break;
    case kairos::PtpMessageType::kSignaling: {
      kairos::PtpSignaling s;
      s.target = input.ConsumeBool() ? kUs : kairos::kAllPorts;
      static constexpr kairos::PtpTlvType kTlvs[] = {kairos::PtpTlvType::kGrantUnicastTransmission,
                                                     kairos::PtpTlvType::kCancelUnicastTransmission,
                                                     kairos::PtpTlvType::kRequestUnicastTransmission};
      const int count = input.ConsumeIntegralInRange<int>(0, 3);
      for (int i = 0; i < count; ++i) {
        s.tlvs.push_back(kairos::UnicastTlv{kTlvs[input.ConsumeIntegralInRange<int>(0, 2)],
                                            kTypes[input.ConsumeIntegralInRange<int>(0, 4)],
                                            input.ConsumeIntegral<std::int8_t>(),
                                            input.ConsumeIntegralInRange<std::uint32_t>(0, 1000), input.ConsumeBool()});
      }
      m.signaling = s;
      break;
    }
    default:
      break;
  }
  std::vector<std::uint8_t> out(256);
  auto size = kairos::write_ptp_message(out, m);
  out.resize(size ? *size : 0);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  kairos::PtpPortConfig config;
  config.identity = kUs;
  if (input.ConsumeBool()) config.unicast_masters = {kAddresses[0], kAddresses[1]};
  kairos::PtpPort port(config);
  double now = 0;
  check(port, port.start(now));
  while (input.remaining_bytes() > 0) {
    now += input.ConsumeIntegralInRange<int>(0, 4000) / 1000.0;
    const int op = input.ConsumeIntegralInRange<int>(0, 5);
    kairos::PtpActions actions;
    if (op == 5) {
      const int who = input.ConsumeIntegralInRange<int>(0, 1);
      std::vector<std::uint8_t> bytes = structured_message(input, who);
      const auto rx = timestamp(input);
      actions = port.on_message(bytes, rx, kAddresses[who], now);
    } else if (op <= 1) {
      const bool plausible = op == 1;
      const int who = input.ConsumeIntegralInRange<int>(0, 1);
      const auto rx = timestamp(input);
      std::vector<std::uint8_t> bytes =
          input.ConsumeBytes<std::uint8_t>(input.ConsumeIntegralInRange<std::size_t>(0, 128));
      if (plausible && bytes.size() >= kairos::kPtpHeaderLength) {
        bytes[0] &= 0x0f;  // majorSdoId 0
        bytes[1] = 0x12;
        bytes[2] = static_cast<std::uint8_t>(bytes.size() >> 8);
        bytes[3] = static_cast<std::uint8_t>(bytes.size());
        bytes[4] = 0;
        std::copy(kMasters[who].begin(), kMasters[who].end(), bytes.begin() + 20);
      }
      actions = port.on_message(bytes, rx, kAddresses[who], now);
    } else if (op == 2) {
      // Small sequence ids: the port's Delay_Req ids start at 0.
      const auto sequence = input.ConsumeIntegralInRange<std::uint16_t>(0, 3);
      const auto tx = timestamp(input);
      actions = port.on_tx_timestamp(sequence, tx, now);
    } else if (op == 3) {
      const auto timer = static_cast<kairos::PtpTimer>(input.ConsumeIntegralInRange<int>(0, static_cast<int>(kairos::kPtpTimerCount) - 1));
      // Fire it at its deadline when it has one, as the daemon does.
      if (auto deadline = port.timer_deadline(timer); deadline && *deadline > now) now = *deadline;
      actions = port.on_timer(timer, now);
    } else {
      actions = port.on_fault("fuzz", now);
    }
    check(port, actions);
  }
  return 0;
}
