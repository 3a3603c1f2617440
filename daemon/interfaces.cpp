#include "daemon/interfaces.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/privileges.hpp"

namespace kairos {
namespace {

constexpr auto kForeignCheckInterval = std::chrono::seconds(60);

}  // namespace

Result<std::unique_ptr<Interfaces>> Interfaces::start(const DaemonConfig& config, EventLoop& loop, NicIoctl ioctl,
                                                      std::string sysfs) {
  std::unique_ptr<Interfaces> self(new Interfaces(loop, std::move(ioctl), std::move(sysfs)));
  if (config.interfaces.empty()) return self;
  for (const InterfaceConfig& c : config.interfaces) {
    InterfaceState state;
    state.config = c;
    state.correction.rx_compensation = c.rx_compensation;
    state.correction.tx_compensation = c.tx_compensation;
    self->states_.push_back(std::move(state));
  }
  for (InterfaceState& state : self->states_) {
    if (auto ok = self->set_up(state); !ok) {
      self->restore();  // the NICs set up before this one get their old configuration back
      return std::unexpected(ok.error());
    }
  }
  if (auto links = LinkMonitor::open()) {
    self->links_.emplace(std::move(*links));
    loop.watch(self->links_->fd(), POLLIN, [s = self.get()](short) {
      for (const LinkEvent& e : s->links_->read_events()) s->on_link_event(e);
    });
  } else {
    spdlog::warn("interfaces: link events unavailable ({}); a NIC that resets or returns is not set up again",
                 links.error().message);
  }
  self->check_timer_ = loop.add_repeating(kForeignCheckInterval, [s = self.get()] { s->check_foreign_changes(); });
  return self;
}

Interfaces::~Interfaces() {
  if (check_timer_) loop_.cancel_timer(*check_timer_);
  if (links_) loop_.unwatch(links_->fd());
  restore();
}

Result<void> Interfaces::set_up(InterfaceState& state) {
  const InterfaceConfig& c = state.config;
  const std::string& name = c.name;
  state.nic.reset();
  state.fallback.clear();
  auto info = query_timestamping(name, TsinfoPath::kAuto, sysfs_);
  if (!info) {
    if (c.hw_timestamping == HwTimestampingMode::kOn || c.discipline_phc) {
      return fail("interface " + name + ": " + info.error().message);
    }
    state.fallback = info.error().message;
    spdlog::warn("interface {}: {}; software timestamps", name, state.fallback);
    return {};
  }
  state.info = std::move(*info);
  // ethtool first (interposable, as chrony reads it), sysfs when the ioctl knows nothing.
  state.correction.speed_mbps = link_speed_by_ethtool(name).or_else([&] { return link_speed_mbps(name, sysfs_); }).value_or(0);
  if (c.hw_timestamping != HwTimestampingMode::kOff) {
    // After the privilege drop CAP_NET_ADMIN is only permitted: effective for SIOCSHWTSTAMP alone.
    const ScopedCapability net_admin(CAP_NET_ADMIN);
    auto nic = NicTimestamping::configure(name, c.hw_timestamping, ioctl_);
    if (!nic) {
      // `on` insists; `auto` and `check` go on with software stamps, loudly (often a missing
      // CAP_NET_ADMIN, which the operator should know about).
      if (c.hw_timestamping == HwTimestampingMode::kOn) return fail(nic.error().message);
      state.fallback = nic.error().message;
    } else {
      if (!nic->hardware_active()) state.fallback = nic->reason();
      state.nic.emplace(std::move(*nic));
    }
  } else {
    state.fallback = "hw-timestamping = \"off\"";
  }
  if (c.discipline_phc && (!state.hardware() || !state.phc_index())) {
    return fail("interface " + name + ": discipline-phc needs hardware timestamps and a PHC: " +
                (state.phc_index() ? state.fallback : std::string("the NIC has no PTP hardware clock")));
  }
  if (c.phc_follows_system && !state.phc_index()) {
    return fail("interface " + name + ": phc-follows-system, but the NIC has no PTP hardware clock");
  }
  if (state.hardware()) {
    spdlog::info("interface {}: hardware timestamps ({}), PHC /dev/ptp{}, link {} Mb/s", name, state.nic->describe(),
                 state.phc_index().value_or(-1), state.correction.speed_mbps);
  } else {
    spdlog::warn("interface {}: software timestamps ({})", name, state.fallback);
  }
  return {};
}

const InterfaceState* Interfaces::find(const std::string& name) const {
  for (const auto& s : states_) {
    if (s.config.name == name) return &s;
  }
  return nullptr;
}

const InterfaceState* Interfaces::by_ifindex(int ifindex) const {
  for (const auto& s : states_) {
    if (ifindex != 0 && s.ifindex() == ifindex) return &s;
  }
  return nullptr;
}

bool Interfaces::any_hardware() const {
  for (const auto& s : states_) {
    if (s.hardware()) return true;
  }
  return false;
}

void Interfaces::restore() {
  const ScopedCapability net_admin(CAP_NET_ADMIN);
  for (auto& s : states_) {
    if (!s.nic) continue;
    if (auto ok = s.nic->restore(); !ok) spdlog::error("interface {}: {}", s.config.name, ok.error().message);
  }
}

void Interfaces::check_foreign_changes() {
  for (auto& s : states_) {
    if (!s.nic || s.config.hw_timestamping == HwTimestampingMode::kOff) continue;
    auto same = s.nic->still_configured();
    if (same && *same) continue;
    if (!same) {
      spdlog::warn("interface {}: cannot re-read its timestamping: {}", s.config.name, same.error().message);
      continue;
    }
    // In check mode the other program owns the NIC: set_up only reads what it did now.
    spdlog::warn("interface {}: another program changed its timestamping; {}", s.config.name,
                 s.config.hw_timestamping == HwTimestampingMode::kCheck ? "taking its setting as it is"
                                                                        : "setting it again");
    if (auto ok = set_up(s); !ok) spdlog::error("{}", ok.error().message);
  }
}

void Interfaces::on_link_event(const LinkEvent& event) {
  if (event.kind == LinkEvent::Kind::kResync) {
    spdlog::warn("interfaces: link events were lost; checking every NIC again");
    check_foreign_changes();
    return;
  }
  for (auto& s : states_) {
    if (s.config.name != event.interface) continue;
    spdlog::info("interface {}: link {}", s.config.name, to_string(event.kind));
    // A NIC that comes back (hot-plug, driver reload, link reset) may have lost its timestamping
    // setup: set it up again. Going away needs nothing: its stamps simply stop.
    if (event.kind == LinkEvent::Kind::kAdded || event.kind == LinkEvent::Kind::kUp) {
      if (auto ok = set_up(s); !ok) spdlog::error("{}", ok.error().message);
    }
  }
}

Result<PhcBinding> vclock_binding(const InterfaceState& nic) {
  const InterfaceConfig& c = nic.config;
  const int vclock = c.phc_vclock.value_or(-1);
  const std::vector<int> vclocks = nic.phc_index() ? vclocks_of(*nic.phc_index()) : std::vector<int>{};
  if (!nic.hardware() || std::find(vclocks.begin(), vclocks.end(), vclock) == vclocks.end()) {
    std::string have;
    for (int v : vclocks) have += (have.empty() ? "/dev/ptp" : ", /dev/ptp") + std::to_string(v);
    const std::string why = !nic.hardware() ? "the NIC stamps no packets in hardware"
                            : have.empty()  ? "it has none"
                                            : "it has " + have;
    return fail(fmt::format("interface {}: phc-vclock {}: /dev/ptp{} is not a virtual clock of its PHC ({}); make one "
                            "with: echo 1 > /sys/class/ptp/ptp{}/n_vclocks",
                            c.name, vclock, vclock, why,
                            nic.phc_index() ? std::to_string(*nic.phc_index()) : std::string("N")));
  }
  spdlog::info("interface {}: hardware stamps in the time of /dev/ptp{}, a virtual clock of /dev/ptp{} (which kairosd "
               "leaves alone)",
               c.name, vclock, *nic.phc_index());
  return PhcBinding{.interface = c.name, .vclock = vclock};
}

}  // namespace kairos
