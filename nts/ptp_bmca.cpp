#include "nts/ptp_bmca.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace kairos {

AnnouncedDataset dataset_of(const PtpHeader& header, const PtpAnnounce& announce, const PortIdentity& receiver) {
  AnnouncedDataset dataset;
  dataset.priority1 = announce.priority1;
  dataset.grandmaster = announce.grandmaster;
  dataset.quality = announce.quality;
  dataset.priority2 = announce.priority2;
  dataset.steps_removed = announce.steps_removed;
  dataset.sender = header.source;
  dataset.receiver = receiver;
  return dataset;
}

DatasetOrder compare_datasets(const AnnouncedDataset& a, const AnnouncedDataset& b) {
  if (a.grandmaster != b.grandmaster) {
    // Figure 34: different grandmasters are ranked by their own attributes, lower wins, the
    // grandmaster identity last so two clocks are never equal.
    const auto key = [](const AnnouncedDataset& d) {
      return std::tie(d.priority1, d.quality.clock_class, d.quality.clock_accuracy,
                      d.quality.offset_scaled_log_variance, d.priority2, d.grandmaster);
    };
    return key(a) < key(b) ? DatasetOrder::kABetter : DatasetOrder::kBBetter;
  }
  // Figure 35: the same grandmaster seen along two paths. A path more than one step shorter is
  // better outright.
  const int steps_a = a.steps_removed;
  const int steps_b = b.steps_removed;
  if (steps_a > steps_b + 1) return DatasetOrder::kBBetter;
  if (steps_a + 1 < steps_b) return DatasetOrder::kABetter;
  if (steps_a > steps_b) {
    // One step longer: if A came through ourselves it is our own message back (error-1).
    if (a.receiver.clock == a.sender.clock) return DatasetOrder::kError1;
    return a.receiver.clock < a.sender.clock ? DatasetOrder::kBBetter : DatasetOrder::kBBetterByTopology;
  }
  if (steps_a < steps_b) {
    if (b.receiver.clock == b.sender.clock) return DatasetOrder::kError1;
    return b.receiver.clock < b.sender.clock ? DatasetOrder::kABetter : DatasetOrder::kABetterByTopology;
  }
  // Equal steps: the lower sender port identity, then the lower receiving port number.
  if (a.sender != b.sender) return a.sender < b.sender ? DatasetOrder::kABetterByTopology : DatasetOrder::kBBetterByTopology;
  if (a.receiver.port != b.receiver.port) {
    return a.receiver.port < b.receiver.port ? DatasetOrder::kABetterByTopology : DatasetOrder::kBBetterByTopology;
  }
  return DatasetOrder::kError2;
}

double announce_interval(std::int8_t log_interval) {
  return std::ldexp(1.0, std::clamp<int>(log_interval, -7, 7));
}

bool ForeignMasters::on_announce(const PtpHeader& header, const PtpAnnounce& announce, const std::string& address,
                                 double now) {
  if (announce.steps_removed >= 255) return false;
  auto it = std::find_if(masters_.begin(), masters_.end(), [&](const ForeignMaster& m) { return m.sender == header.source; });
  if (it == masters_.end()) {
    expire(now);
    if (masters_.size() >= config_.capacity) return false;
    masters_.push_back(ForeignMaster{header.source, address, header, announce, {}, now});
    it = masters_.end() - 1;
  } else if (it->header.sequence_id == header.sequence_id && !it->receipts.empty()) {
    return false;  // a duplicate is not a distinct Announce (§9.3.2.5)
  }
  it->address = address;
  it->header = header;
  it->announce = announce;
  it->last_receipt = now;
  it->receipts.push_back(now);
  // Keep only what the window still sees, and no more than the threshold needs.
  const double start = now - window(*it);
  std::erase_if(it->receipts, [&](double t) { return t < start; });
  if (it->receipts.size() > config_.threshold) {
    it->receipts.erase(it->receipts.begin(), it->receipts.end() - static_cast<std::ptrdiff_t>(config_.threshold));
  }
  return true;
}

bool ForeignMasters::qualified(const ForeignMaster& master, double now) const {
  const double start = now - window(master);
  const auto recent = std::count_if(master.receipts.begin(), master.receipts.end(), [&](double t) { return t >= start; });
  return static_cast<std::size_t>(recent) >= config_.threshold;
}

const ForeignMaster* ForeignMasters::best(double now) const {
  const ForeignMaster* best = nullptr;
  for (const auto& master : masters_) {
    if (!qualified(master, now)) continue;
    if (best == nullptr || a_is_better(compare_datasets(dataset(master), dataset(*best)))) best = &master;
  }
  return best;
}

const ForeignMaster* ForeignMasters::find(const PortIdentity& sender) const {
  for (const auto& master : masters_) {
    if (master.sender == sender) return &master;
  }
  return nullptr;
}

void ForeignMasters::erase(const PortIdentity& sender) {
  std::erase_if(masters_, [&](const ForeignMaster& m) { return m.sender == sender; });
}

void ForeignMasters::expire(double now) {
  std::erase_if(masters_, [&](const ForeignMaster& m) { return m.last_receipt < now - window(m); });
}

}  // namespace kairos
