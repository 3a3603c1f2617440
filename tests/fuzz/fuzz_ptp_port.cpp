// Drives a PTP port (multicast or unicast) with a sequence of events taken from the input:
// messages (raw, or made plausible: version 2.1, messageLength = size, domain 0, from one of two
// masters), TX timestamps, timers and faults, with time moving forward. Whatever comes in:
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
    const int op = input.ConsumeIntegralInRange<int>(0, 4);
    kairos::PtpActions actions;
    if (op <= 1) {
      const bool plausible = op == 1;
      const int who = input.ConsumeIntegralInRange<int>(0, 1);
      const auto rx = kairos::PtpTimestamp{input.ConsumeIntegralInRange<std::uint64_t>(0, kairos::kPtpMaxSeconds),
                                           input.ConsumeIntegralInRange<std::uint32_t>(0, 999'999'999)};
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
      const auto sequence = input.ConsumeIntegral<std::uint16_t>();
      const auto tx = kairos::PtpTimestamp{input.ConsumeIntegralInRange<std::uint64_t>(0, kairos::kPtpMaxSeconds),
                                           input.ConsumeIntegralInRange<std::uint32_t>(0, 999'999'999)};
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
