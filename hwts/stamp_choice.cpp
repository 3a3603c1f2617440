#include "hwts/stamp_choice.hpp"

#include <cmath>

namespace kairos {

timespec add_seconds(const timespec& t, double seconds) {
  const auto nanos = static_cast<long long>(std::llround(seconds * 1e9));
  long long sec = static_cast<long long>(t.tv_sec) + nanos / 1'000'000'000;
  long long nsec = static_cast<long long>(t.tv_nsec) + nanos % 1'000'000'000;
  if (nsec >= 1'000'000'000) {
    nsec -= 1'000'000'000;
    ++sec;
  } else if (nsec < 0) {
    nsec += 1'000'000'000;
    --sec;
  }
  return timespec{static_cast<time_t>(sec), static_cast<long>(nsec)};
}

ExchangeStamps choose_stamps(const timespec& t1_daemon, const TxStamps& tx, const ControlStamps& rx,
                             const timespec& t4_daemon, std::size_t payload, bool ipv6,
                             const HardwareInterfaces& hardware) {
  ExchangeStamps out;
  // The TX stamp carries no interface; the request left by the route the answer came back on
  // (one NIC per source), so the RX stamp's interface names both.
  if (hardware && tx.hardware && rx.hardware && rx.stamp_ifindex && *rx.stamp_ifindex > 0) {
    if (const auto correction = hardware(*rx.stamp_ifindex)) {
      out.t1 = add_seconds(*tx.hardware, correction->tx());
      out.t1_source = StampSource::kHardware;
      out.t4 = add_seconds(*rx.hardware, correction->rx(payload, ipv6));
      out.t4_source = StampSource::kHardware;
      out.phc_ifindex = *rx.stamp_ifindex;
      return out;
    }
  }
  out.t1 = tx.software.value_or(t1_daemon);
  out.t1_source = tx.software ? StampSource::kKernel : StampSource::kDaemon;
  out.t4 = rx.software.value_or(t4_daemon);
  out.t4_source = rx.software ? StampSource::kKernel : StampSource::kDaemon;
  return out;
}

}  // namespace kairos
