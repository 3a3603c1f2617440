#include "daemon/time_service.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "hwts/packet_timestamps.hpp"

namespace kairos {
namespace {

constexpr auto kClockStateRefresh = std::chrono::seconds(16);

std::uint64_t unix_now() { return static_cast<std::uint64_t>(realtime_now().tv_sec); }

Result<void> make_state_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail("cannot create state-dir " + dir + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace

std::optional<std::uint16_t> announced_ntp_port(const DaemonConfig& config) {
  if (config.ke_server && config.ke_server->ntp_port) return config.ke_server->ntp_port;
  if (!config.server || config.server->listen.empty()) return std::nullopt;
  auto host_port = split_host_port(config.server->listen.front(), 0);
  if (!host_port || host_port->second == kNtpDefaultPort) return std::nullopt;
  return host_port->second;
}

Result<std::unique_ptr<TimeService>> TimeService::start(const DaemonConfig& config, EventLoop& loop, bool hardware) {
  std::unique_ptr<TimeService> service(new TimeService(config, loop));
  if (config.has_cookie_keys()) {
    if (!config.cookie_key_seed()) {
      if (auto made = make_state_dir(config.state_dir); !made) return std::unexpected(made.error());
    }
    std::vector<std::string> notes;
    auto keys = CookieKeys::open({config.cookie_key_seed(), config.cookie_key_schedule(), config.state_dir + "/nts-keys"},
                                 unix_now(), notes);
    if (!keys) return fail("cookie keys: " + keys.error().message);
    for (const std::string& note : notes) spdlog::info("cookie keys: {}", note);
    service->keys_.emplace(std::move(*keys));
    spdlog::info("cookie keys: {} ring, epoch {}, rotation every {} s, {} old keys accepted",
                 service->keys_->ring().mode() == KeyMode::kSeeded ? "seeded (fleet)" : "random (persisted)",
                 service->keys_->ring().epoch(), config.cookie_key_schedule().rotation_interval,
                 config.cookie_key_schedule().old_keys);
  }
  if (config.server) {
    auto ntp = NtpServer::start(*config.server, local_clock_state(config.server->local_stratum, realtime_ntp_now(), service->precision_),
                                service->keys_ ? &service->keys_->ring() : nullptr, &loop, hardware);
    if (!ntp) return std::unexpected(ntp.error());
    service->ntp_ = std::move(*ntp);
    for (const SocketAddress& a : service->ntp_->addresses()) {
      const std::size_t workers = service->ntp_->worker_count();
      spdlog::info("server: NTP{} on {} {}{}", service->keys_ ? " and NTS" : "", a.to_string(),
                   workers ? fmt::format("with {} workers", workers) : std::string("on the main loop"),
                   config.server->local_stratum ? fmt::format(", local stratum {}", *config.server->local_stratum)
                                                : std::string(", unsynchronised until a clock model vouches"));
    }
  }
  if (config.ke_server) {
    const auto port = announced_ntp_port(config);
    auto ke = KeWorkers::start(*config.ke_server, loop, service->keys_->ring(), port);
    if (!ke) return std::unexpected(ke.error());
    service->ke_ = std::move(*ke);
    const std::size_t workers = service->ke_->worker_count();
    for (const SocketAddress& a : service->ke_->local_addresses()) {
      spdlog::info("nts-ke: listening on {} {}{}{}", a.to_string(),
                   workers ? fmt::format("with {} workers", workers) : std::string("on the main loop"),
                   config.ke_server->ntp_server ? " announcing server " + *config.ke_server->ntp_server : "",
                   port ? fmt::format(" announcing port {}", *port) : "");
    }
  }
  if (service->keys_) service->schedule_rotation();
  if (service->ntp_) {
    service->clock_timer_ = loop.add_repeating(kClockStateRefresh, [s = service.get()] { s->refresh_clock_state(); });
  }
  return service;
}

TimeService::~TimeService() {
  loop_.cancel_timer(rotation_timer_);
  loop_.cancel_timer(clock_timer_);
}

void TimeService::schedule_rotation() {
  const std::uint64_t wait = keys_->seconds_to_next_rotation(unix_now());
  rotation_timer_ = loop_.add_timer(std::chrono::seconds(wait), [this] {
    auto rotated = keys_->rotate(unix_now());
    if (!rotated) {
      // The keys in memory moved on if only saving failed; clients are served either way.
      spdlog::error("cookie keys: {}", rotated.error().message);
    } else if (*rotated) {
      if (ntp_) ntp_->publish_key_ring(keys_->ring());
      if (ke_) ke_->publish_key_ring(keys_->ring());
      spdlog::info("cookie keys rotated: epoch {}, key id {:08x}", keys_->ring().epoch(), keys_->ring().current().id());
    }
    schedule_rotation();
  });
}

void TimeService::clock_updated() {
  if (!ntp_) return;
  // Published now, and the next refresh a whole period from now.
  loop_.cancel_timer(clock_timer_);
  refresh_clock_state();
  clock_timer_ = loop_.add_repeating(kClockStateRefresh, [this] { refresh_clock_state(); });
}

void TimeService::refresh_clock_state() {
  const NtpTimestamp now = realtime_ntp_now();
  std::optional<ServerClockState> state = clock_source_ ? clock_source_() : std::nullopt;
  if (state) {
    state->precision = precision_;
    // The clock graph names its last update; a source of state that does not is taken as fresh.
    if (state->reference_time.is_zero()) state->reference_time = now;
  }
  ntp_->publish_clock_state(state ? *state : local_clock_state(config_.server->local_stratum, now, precision_));
}

void TimeService::reload() {
  if (!ke_) return;
  if (auto reloaded = ke_->reload_credentials(); !reloaded) {
    spdlog::error("nts-ke: keeping the current certificate: {}", reloaded.error().message);
  } else {
    spdlog::info("nts-ke: certificate and key reloaded from {}", config_.ke_server->certificate);
  }
}

void TimeService::log_counters() const {
  if (ntp_) {
    const NtpServerCounters c = ntp_->counters();
    const ResponderCounters& r = c.responses;
    spdlog::info("server: {} received, {} sent ({} plain, {} NTS, {} NTS NAKs, {} RATE kisses), {} dropped, "
                 "{} dropped late, {} hardware and {} kernel RX stamps, {} send errors; RX to TX p50 {:.6f} s, p99 {:.6f} s, "
                 "max {:.6f} s; interleaved: {} answers, {} TX stamps ({} used, {} of them hardware), {} resyncs",
                 c.received, c.sent, r.plain, r.nts, r.naks_total(), r.rate_kisses_plain + r.rate_kisses_nts, r.dropped_total(),
                 c.late, c.hardware_stamps, c.kernel_stamps, c.send_errors, c.latency.quantile_seconds(0.5),
                 c.latency.quantile_seconds(0.99), c.latency.max_seconds(), r.interleaved, c.tx_stamps, c.tx_stamps_used,
                 c.tx_hardware_used, c.tx_resyncs);
  }
  if (ke_) {
    const KeListenerCounters c = ke_->counters();
    spdlog::info("nts-ke: {} accepted, {} handshakes ok, {} failed, {} answered with cookies, {} error records, "
                 "{} over the connection limit, {} evicted for a newcomer, {} rate-limited, {} timed out",
                 c.accepted, c.handshakes_ok, c.handshakes_failed, c.responses, c.error_records, c.over_limit,
                 c.evicted, c.rate_limited, c.timed_out);
  }
}

}  // namespace kairos
