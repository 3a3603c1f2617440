#include "daemon/source_set.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/nts_state_file.hpp"

namespace kairos {
namespace {

void log_sample(const Association& source, const NtpExchangeResult& r) {
  const NtpSample& s = r.sample;
  spdlog::info("{}: sample offset {:+.9f} s delay {:.9f} s stratum {} stamps {}/{} {}{}{}", source.name(),
               s.offset.seconds(), s.delay.seconds(), s.header.stratum, to_string(r.t1_source),
               to_string(r.t4_source), s.authenticated ? "authenticated" : "unauthenticated",
               s.interleaved ? " interleaved" : "",
               r.rejected ? fmt::format(" ({} forged or stale responses rejected)", r.rejected) : "");
}

}  // namespace

Result<void> SourceSet::start_resolver() {
  auto started = Resolver::start(loop_);
  if (!started) return std::unexpected(started.error());
  resolver_ = std::move(*started);
  return {};
}

void SourceSet::add(const SourceConfig& source) {
  const std::size_t index = clocks_.add_source(source_name(source));
  std::shared_ptr<AddressClaims> pool;
  if (source.pool_member != 0) {
    std::shared_ptr<AddressClaims>& claims = pools_[source.address];
    if (!claims) claims = std::make_shared<AddressClaims>();
    pool = claims;
  }
  graph_ids_.push_back(index);
  Association& association = associations_.emplace_back(
      loop_, *resolver_, source,
      [this, index](const Association& a, const NtpExchangeResult& r) {
        log_sample(a, r);
        std::optional<PollFeedback> feedback = clocks_.on_sample(index, r);
        after_sample_();
        return feedback;
      },
      hardware_, std::move(pool));
  if (stamp_binding_) association.bind_stamps(*stamp_binding_);
  if (source.nts) {
    auto saved = take_nts_state(state_dir_, source_name(source));
    if (!saved) {
      spdlog::warn("{}: saved NTS state ignored: {}", source_name(source), saved.error().message);
    } else if (*saved) {
      association.restore_nts(std::move(**saved));
    }
  }
  association.start();
}

void SourceSet::remove(std::size_t at) {
  const auto association = std::next(associations_.begin(), static_cast<std::ptrdiff_t>(at));
  associations_.erase(association);  // its timers, sockets and NTS session go with it
  clocks_.remove_source(graph_ids_[at]);
  graph_ids_.erase(graph_ids_.begin() + static_cast<std::ptrdiff_t>(at));
}

void SourceSet::log_counters() const {
  for (const Association& a : associations_) {
    const auto& c = a.counters();
    spdlog::info("{}: {} samples ({} interleaved), {} timeouts, {} rejected responses, {} NAKs, {} kisses, "
                 "NTS-KE {} ok / {} failed",
                 a.name(), c.samples, c.interleaved, c.timeouts, c.rejected, c.naks, c.kisses, c.ke_ok, c.ke_failed);
  }
}

void SourceSet::save_nts_state() const {
  for (const Association& a : associations_) {
    if (!a.nts()) continue;
    auto state = a.nts_state();
    if (!state) continue;
    if (auto written = kairos::save_nts_state(state_dir_, SavedNtsState{.source = a.name(), .ke = std::move(*state)});
        !written) {
      spdlog::warn("{}: NTS state not saved: {}", a.name(), written.error().message);
    }
  }
}

}  // namespace kairos
