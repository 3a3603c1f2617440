#pragma once
// The relay's decisions, without sockets: for each datagram, what goes out and when. Every
// decision comes from one seeded generator, so the same seed and the same arrivals give the
// same losses, corruptions and replays.
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "options.hpp"

namespace kairos::relay {

enum class Direction { kRequest, kResponse };

struct DirectionCounters {
  std::uint64_t received = 0;
  std::uint64_t sent = 0;  // counted by the relay when a datagram actually leaves
  std::uint64_t lost = 0;
  std::uint64_t reordered = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t corrupted = 0;
  std::uint64_t truncated = 0;
  std::uint64_t replayed = 0;
  std::uint64_t rewritten = 0;  // responses whose timestamps --offset moved or --leap marked
};

// One datagram to send, `delay` seconds after the original arrived.
struct Delivery {
  std::vector<std::uint8_t> bytes;
  double delay = 0;
};

class Impairer {
 public:
  Impairer(const Impairments& impairments, std::uint64_t seed);

  // What becomes of one datagram: nothing (lost), or one or more deliveries.
  std::vector<Delivery> impair(Direction direction, std::span<const std::uint8_t> datagram);

  DirectionCounters& counters(Direction direction) { return direction == Direction::kRequest ? requests_ : responses_; }
  const DirectionCounters& counters(Direction direction) const {
    return direction == Direction::kRequest ? requests_ : responses_;
  }

 private:
  // Older datagrams of each direction kept for --replay.
  static constexpr std::size_t kHistory = 16;

  bool affects(Direction direction) const;
  bool chance(double probability);
  double uniform(double low, double high);
  std::deque<std::vector<std::uint8_t>>& history(Direction direction) {
    return direction == Direction::kRequest ? request_history_ : response_history_;
  }

  Impairments impairments_;
  std::mt19937_64 random_;
  DirectionCounters requests_;
  DirectionCounters responses_;
  std::deque<std::vector<std::uint8_t>> request_history_;
  std::deque<std::vector<std::uint8_t>> response_history_;
};

}  // namespace kairos::relay
