#include "daemon/clock_evidence.hpp"

#include <fmt/format.h>

#include "clock/leap.hpp"

namespace kairos {
namespace {

EvidenceState evidence_state(DisciplineState state) {
  switch (state) {
    case DisciplineState::kSynchronized: return EvidenceState::kSynchronized;
    case DisciplineState::kUnsynchronized: return EvidenceState::kUnsynchronized;
    case DisciplineState::kNoMajority: return EvidenceState::kNoMajority;
    case DisciplineState::kPanic: return EvidenceState::kPanic;
  }
  return EvidenceState::kUnsynchronized;
}

}  // namespace

std::string source_authentication(const Association& source) {
  // Where it stands in the chain to the reference, from its last answer.
  const std::optional<LastSample>& last = source.last_sample();
  const std::string upstream = last ? fmt::format(",stratum={},refid={}", last->stratum, last->reference) : "";
  if (!source.nts()) return "ntp" + upstream;
  const auto aead = source.aead();
  if (!aead) return "nts,no-keys";
  const std::string address = source.ntp_address();
  const std::string certificate = source.certificate_sha256();
  return fmt::format("nts,aead={}{}{}{}", *aead, address.empty() ? "" : ",ntp=" + address, upstream,
                     certificate.empty() ? "" : ",cert-sha256=" + certificate);
}

std::vector<EvidenceSnapshot> evidence_snapshots(const std::vector<ClockStatus>& clocks,
                                                 const std::function<std::string(const std::string&)>& authentication) {
  std::vector<EvidenceSnapshot> out;
  for (const ClockStatus& c : clocks) {
    EvidenceSnapshot s;
    s.name = c.name;
    s.state = evidence_state(c.state);
    s.offset = c.offset;
    s.max_error = c.error_bound;
    s.steps = c.steps;
    s.leap = to_string(c.leap_armed);
    if (!c.follows.empty()) {
      // A follower's single source is its leader, measured by cross-timestamps; the leader's own
      // sources are in the leader's lines.
      s.selected.push_back(EvidenceSource{c.follows, "cross-timestamps"});
    } else {
      for (const SourceStatus& source : c.sources) {
        if (source.selected) s.selected.push_back(EvidenceSource{source.name, authentication(source.name)});
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::function<std::string(const std::string&)> association_authentication(const std::list<Association>& associations) {
  return [&associations](const std::string& name) -> std::string {
    for (const Association& a : associations) {
      if (a.name() == name) return source_authentication(a);
    }
    return "unknown";
  };
}

}  // namespace kairos
