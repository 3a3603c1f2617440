#include "impairments.hpp"

#include <algorithm>

#include "ntp_rewrite.hpp"

namespace kairos::relay {
namespace {

// A duplicate trails its original by a millisecond, like a copy made by a switch or a retry.
constexpr double kDuplicateGap = 0.001;
// A replay comes back well after the exchange it belonged to is over.
constexpr double kReplayMin = 0.05;
constexpr double kReplayMax = 0.5;

}  // namespace

Impairer::Impairer(const Impairments& impairments, std::uint64_t seed) : impairments_(impairments), random_(seed) {}

bool Impairer::affects(Direction direction) const {
  switch (impairments_.affected) {
    case Affected::kBoth: return true;
    case Affected::kRequests: return direction == Direction::kRequest;
    case Affected::kResponses: return direction == Direction::kResponse;
  }
  return true;
}

bool Impairer::chance(double probability) {
  // Always draw, so one option's probability does not shift the decisions of the others.
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  return draw < probability;
}

double Impairer::uniform(double low, double high) {
  if (!(high > low)) return low;
  return std::uniform_real_distribution<double>(low, high)(random_);
}

std::vector<Delivery> Impairer::impair(Direction direction, std::span<const std::uint8_t> datagram) {
  DirectionCounters& c = counters(direction);
  ++c.received;
  std::vector<std::uint8_t> bytes(datagram.begin(), datagram.end());
  if (direction == Direction::kResponse && impairments_.offset != 0 && c.received > impairments_.offset_from &&
      shift_server_timestamps(bytes, Duration::from_seconds(impairments_.offset))) {
    ++c.rewritten;
  }
  if (direction == Direction::kResponse && impairments_.leap >= 0 &&
      set_leap_indicator(bytes, static_cast<unsigned>(impairments_.leap))) {
    ++c.rewritten;
  }
  auto& old = history(direction);
  if (!affects(direction)) {
    old.clear();  // nothing is ever replayed in this direction
    return {Delivery{std::move(bytes), 0}};
  }

  const Impairments& i = impairments_;
  const bool lose = chance(i.loss);
  const bool hold = chance(i.reorder);
  const bool corrupt = chance(i.corrupt);
  const bool truncate = chance(i.truncate);
  const bool duplicate = chance(i.duplicate);
  const bool replay = chance(i.replay);
  double delay = std::max(0.0, i.delay + uniform(-i.jitter, i.jitter));

  std::vector<Delivery> out;
  if (!lose) {
    std::vector<std::uint8_t> sent = bytes;
    if (hold) {
      // Longer than any other datagram can be delayed, so the ones after it go first.
      delay += 2 * (i.delay + i.jitter) + 0.01;
      ++c.reordered;
    }
    if (corrupt && !sent.empty()) {
      const auto at = std::uniform_int_distribution<std::size_t>(0, sent.size() - 1)(random_);
      const auto flip = std::uniform_int_distribution<unsigned>(1, 255)(random_);
      sent[at] = static_cast<std::uint8_t>(sent[at] ^ flip);
      ++c.corrupted;
    }
    if (truncate && !sent.empty()) {
      sent.resize(std::uniform_int_distribution<std::size_t>(0, sent.size() - 1)(random_));
      ++c.truncated;
    }
    if (duplicate) {
      out.push_back(Delivery{sent, delay + kDuplicateGap});
      ++c.duplicated;
    }
    out.insert(out.begin(), Delivery{std::move(sent), delay});
  } else {
    ++c.lost;
  }
  if (replay && !old.empty()) {
    const auto pick = std::uniform_int_distribution<std::size_t>(0, old.size() - 1)(random_);
    out.push_back(Delivery{old[pick], delay + uniform(kReplayMin, kReplayMax)});
    ++c.replayed;
  }
  old.push_back(std::move(bytes));
  if (old.size() > kHistory) old.pop_front();
  return out;
}

}  // namespace kairos::relay
