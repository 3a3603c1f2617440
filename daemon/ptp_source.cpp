#include "daemon/ptp_source.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "daemon/clock_graph.hpp"
#include "hwts/ioctl_socket.hpp"
#include "nts/ptp_sample.hpp"

namespace kairos {
namespace {

// A NIC's corrections (link speed, the operator's compensations); none once it is not used.
StampCorrection correction_of(const HardwareInterfaces& hardware, int ifindex) {
  return hardware ? hardware(ifindex).value_or(StampCorrection{}) : StampCorrection{};
}

PtpTimestamp to_ptp(const timespec& t) {
  return PtpTimestamp{static_cast<std::uint64_t>(std::max<time_t>(t.tv_sec, 0)), static_cast<std::uint32_t>(t.tv_nsec)};
}

}  // namespace

Result<PtpTimescale> parse_ptp_timescale(const std::string& text) {
  if (text == "auto") return PtpTimescale::kAuto;
  if (text == "tai") return PtpTimescale::kTai;
  if (text == "utc") return PtpTimescale::kUtc;
  return fail("timescale must be \"auto\", \"tai\" or \"utc\", not \"" + text + "\"");
}

const char* to_string(PtpTimescale timescale) {
  switch (timescale) {
    case PtpTimescale::kAuto: return "auto";
    case PtpTimescale::kTai: return "tai";
    case PtpTimescale::kUtc: return "utc";
  }
  return "?";
}

double ptp_stamp_correction(const StampCorrection& correction, bool receive) {
  return receive ? correction.rx_compensation : correction.tx_compensation;
}

PortIdentity ptp_identity_for(const std::string& interface) {
  PortIdentity identity;
  identity.port = 1;
  std::array<std::uint8_t, 6> mac{};
  if (!interface.empty()) {
    const int fd = open_ioctl_socket();
    if (fd >= 0) {
      ifreq request{};
      std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
      if (ioctl(fd, SIOCGIFHWADDR, &request) == 0) std::memcpy(mac.data(), request.ifr_hwaddr.sa_data, mac.size());
      close(fd);
    }
  }
  if (std::all_of(mac.begin(), mac.end(), [](std::uint8_t b) { return b == 0; })) {
    std::random_device random;
    for (auto& b : identity.clock) b = static_cast<std::uint8_t>(random());
    return identity;
  }
  identity.clock = {mac[0], mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]};
  return identity;
}

Result<std::unique_ptr<PtpSource>> PtpSource::open(EventLoop& loop, PtpSourceOptions options, std::function<double()> now,
                                                   MeasurementCallback on_measurement, TaiOffset tai_offset) {
  if (options.name.empty()) options.name = "ptp:" + (options.interface.empty() ? std::string("any") : options.interface);
  // The port matches masters to senders by their text: the configured one spelled as the
  // kernel's sender addresses are.
  for (auto& master : options.unicast_masters) {
    auto canonical = canonical_ptp_address(options.transport, master);
    if (!canonical) {
      return fail(options.name + ": unicast master \"" + master + "\" is not " + address_kind(options.transport));
    }
    master = *canonical;
  }
  PtpSocketOptions socket_options;
  socket_options.transport = options.transport;
  socket_options.interface = options.interface;
  socket_options.event_port = options.event_port;
  socket_options.general_port = options.general_port;
  socket_options.multicast = options.unicast_masters.empty();
  socket_options.loop = options.loop;
  socket_options.portable = loop.portable();
  // Hardware stamps where kairosd uses the NIC's (an [[interface]] disciplining its PHC or on the
  // direct path), as NTP sources get them.
  const int ifindex = options.interface.empty() ? 0 : interface_index(options.interface);
  socket_options.hardware = ifindex != 0 && options.hardware && options.hardware(ifindex).has_value();
  auto socket = PtpSocket::open(socket_options);
  if (!socket) return fail(options.name + ": " + socket.error().message);
  int phc_ifindex = 0;
  if (socket_options.hardware) {
    if (socket->hardware_stamps()) {
      phc_ifindex = ifindex;
      spdlog::info("{}: hardware timestamps: its measurements are of {}'s PHC", options.name, options.interface);
    } else {
      spdlog::warn("{}: {} refuses hardware timestamps on PTP's event messages: kernel stamps (the system clock)",
                   options.name, options.interface);
    }
  }
  const PortIdentity identity = ptp_identity_for(options.interface);
  return std::unique_ptr<PtpSource>(new PtpSource(loop, std::move(options), std::move(*socket), identity, std::move(now),
                                                  std::move(on_measurement), std::move(tai_offset), phc_ifindex));
}

PtpSource::PtpSource(EventLoop& loop, PtpSourceOptions options, PtpSocket socket, PortIdentity identity,
                     std::function<double()> now, MeasurementCallback on_measurement, TaiOffset tai_offset,
                     int phc_ifindex)
    : loop_(loop),
      options_(std::move(options)),
      socket_(std::move(socket)),
      port_([&] {
        PtpPortConfig config;
        config.identity = identity;
        config.domain = options_.domain;
        config.unicast_masters = options_.unicast_masters;
        config.random_seed = std::random_device{}();
        return config;
      }()),
      now_(std::move(now)),
      on_measurement_(std::move(on_measurement)),
      tai_offset_(std::move(tai_offset)),
      phc_ifindex_(phc_ifindex) {}

PtpSource::~PtpSource() {
  loop_.unwatch(socket_.fd(PtpChannel::kEvent));
  if (!socket_.one_socket()) loop_.unwatch(socket_.fd(PtpChannel::kGeneral));
  for (auto& timer : timers_) {
    if (timer) loop_.cancel_timer(*timer);
  }
}

void PtpSource::start() {
  loop_.watch(socket_.fd(PtpChannel::kEvent), POLLIN, [this](short) { readable(PtpChannel::kEvent); });
  // Over Ethernet one socket carries both: what it reads is taken as the event channel's, and the
  // general messages' receive stamps are ignored by the port.
  if (!socket_.one_socket()) {
    loop_.watch(socket_.fd(PtpChannel::kGeneral), POLLIN, [this](short) { readable(PtpChannel::kGeneral); });
  }
  execute(port_.start(now_()));
}

void PtpSource::readable(PtpChannel channel) {
  std::array<std::uint8_t, 1500> buffer{};
  // Bounded: one flooding master cannot hold the loop. An interposing simulator answers a read
  // with the node's next datagram whichever socket it is for: one read per readiness there.
  const int reads = loop_.portable() ? 1 : 64;
  for (int i = 0; i < reads; ++i) {
    auto datagram = socket_.receive(channel, buffer);
    if (!datagram) {
      ++counters_.io_errors;
      spdlog::debug("{}: {}", options_.name, datagram.error().message);
      return;
    }
    if (!*datagram) return;
    const PtpDatagram& d = **datagram;
    std::optional<PtpTimestamp> rx;
    if (channel == PtpChannel::kEvent) {
      const bool sync = d.length > 0 && (buffer[0] & 0x0f) == static_cast<std::uint8_t>(PtpMessageType::kSync);
      const auto stamp = event_stamp(d.stamps.software, d.stamps.hardware, /*receive=*/true, std::nullopt);
      if (stamp) {
        rx = to_ptp(stamp->time);
        if (sync) rx_source_ = stamp->source;
      } else if (sync) {
        ++counters_.missing_hardware;
      }
    }
    execute(port_.on_message(ByteView(buffer.data(), d.length), rx, d.from.host(), now_()));
  }
}

void PtpSource::execute(PtpActions actions) {
  for (auto& action : actions) {
    if (auto* s = std::get_if<PtpSend>(&action)) {
      send(*s);
    } else if (auto* t = std::get_if<PtpArmTimer>(&action)) {
      arm(*t);
    } else if (auto* m = std::get_if<PtpMeasurement>(&action)) {
      measured(*m);
    } else if (auto* c = std::get_if<PtpStateChange>(&action)) {
      spdlog::info("{}: {} -> {} ({})", options_.name, to_string(c->from), to_string(c->to), c->reason);
    }
  }
}

void PtpSource::send(const PtpSend& message) {
  const PtpChannel channel = message.event ? PtpChannel::kEvent : PtpChannel::kGeneral;
  SocketAddress to = socket_.multicast_destination(channel);
  if (!message.address.empty()) {
    // A master listens on the standard ports (ours, unless a test moved them).
    auto address = socket_.unicast_destination(message.address, channel);
    if (!address) {
      ++counters_.io_errors;
      return;
    }
    to = *address;
  }
  const timespec before = realtime_now();
  auto id = socket_.send(channel, message.bytes, to);
  if (!id) {
    ++counters_.io_errors;
    spdlog::debug("{}: {}", options_.name, id.error().message);
    return;
  }
  if (!message.event) return;
  // The kernel queues a software TX stamp during the send itself: take it now (an interposing
  // simulator stamps the error queue when it is read, so later would be wrong there).
  TxStamps tx = socket_.take_tx_stamps(*id);
  if (phc_ifindex_ && !tx.hardware && !loop_.portable()) {
    wait_for_hardware_tx_stamp(socket_.fd(PtpChannel::kEvent), tx, [&] { return socket_.take_tx_stamps(*id); });
  }
  const auto stamp = event_stamp(tx.software, tx.hardware, /*receive=*/false, before);
  if (!stamp) {
    // No t3 in the PHC's time: this delay exchange is lost, the next one will do.
    ++counters_.missing_hardware;
    return;
  }
  tx_source_ = stamp->source;
  execute(port_.on_tx_timestamp(message.sequence_id, to_ptp(stamp->time), now_()));
}

std::optional<PacketStamp> PtpSource::event_stamp(const std::optional<timespec>& software,
                                                  const std::optional<timespec>& hardware, bool receive,
                                                  std::optional<timespec> fallback) {
  if (phc_ifindex_) {
    if (!hardware) return std::nullopt;
    const double correction = ptp_stamp_correction(correction_of(options_.hardware, phc_ifindex_), receive);
    return PacketStamp{add_seconds(*hardware, correction), StampSource::kHardware};
  }
  if (software) return PacketStamp{*software, StampSource::kKernel};
  ++counters_.daemon_stamps;
  return PacketStamp{fallback.value_or(realtime_now()), StampSource::kDaemon};
}

void PtpSource::arm(const PtpArmTimer& timer) {
  auto& slot = timers_[static_cast<std::size_t>(timer.timer)];
  if (slot) loop_.cancel_timer(*slot);
  slot.reset();
  if (!timer.at) return;
  const double after = std::max(0.0, *timer.at - now_());
  const PtpTimer kind = timer.timer;
  const double at = *timer.at;
  slot = loop_.add_timer(std::chrono::ceil<EventLoop::Clock::duration>(std::chrono::duration<double>(after)),
                         [this, kind, at] {
                           timers_[static_cast<std::size_t>(kind)].reset();
                           // Fired for its deadline: the port must see it reached.
                           execute(port_.on_timer(kind, std::max(now_(), at)));
                         });
}

std::optional<int> PtpSource::utc_offset(const PtpMasterInfo& master) {
  if (options_.timescale == PtpTimescale::kUtc) return 0;
  if (options_.timescale == PtpTimescale::kAuto && !master.ptp_timescale) return 0;
  const std::optional<int> list = tai_offset_ ? tai_offset_() : std::nullopt;
  if (master.current_utc_offset_valid) {
    if (list && *list != master.current_utc_offset) {
      // The list is IERS's, checked by its hash; a grandmaster's setting is an operator's.
      ++counters_.utc_offset_mismatch;
      if (!warned_mismatch_) {
        spdlog::warn("{}: the master announces TAI - UTC = {} s, the leap-seconds list says {} s: using the list",
                     options_.name, master.current_utc_offset, *list);
        warned_mismatch_ = true;
      }
      return list;
    }
    return master.current_utc_offset;
  }
  if (list) return list;
  ++counters_.no_utc_offset;
  if (!warned_no_offset_) {
    spdlog::warn("{}: the master keeps TAI and neither it nor a leap-seconds list gives TAI - UTC: not used",
                 options_.name);
    warned_no_offset_ = true;
  }
  return std::nullopt;
}

void PtpSource::measured(const PtpMeasurement& measurement) {
  const std::optional<int> offset = utc_offset(measurement.master);
  if (!offset) return;
  Measurement m = to_measurement(measurement, stamp_precision(tx_source_, rx_source_));
  m.offset -= *offset;
  if (measurement.master.ptp_timescale && measurement.master.current_utc_offset_valid) {
    m.tai_utc = measurement.master.current_utc_offset;
  }
  utc_offset_used_ = *offset;
  last_ = m;
  ++counters_.measurements;
  if (on_measurement_) on_measurement_(*this, m, phc_ifindex_);
}

}  // namespace kairos
