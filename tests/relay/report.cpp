#include "report.hpp"

namespace kairos::relay {
namespace {

std::string field(const char* name, std::uint64_t value) { return std::string(" ") + name + "=" + std::to_string(value); }

}  // namespace

std::string format_direction(const char* name, const DirectionCounters& c) {
  return std::string("udp ") + name + field("received", c.received) + field("sent", c.sent) + field("lost", c.lost) +
         field("reordered", c.reordered) + field("duplicated", c.duplicated) + field("corrupted", c.corrupted) +
         field("truncated", c.truncated) + field("replayed", c.replayed) + field("rewritten", c.rewritten);
}

std::string format_tcp(const TcpCounters& c) {
  return std::string("tcp") + field("connections", c.connections) + field("failed", c.failed) +
         field("bytes_up", c.bytes_up) + field("bytes_down", c.bytes_down);
}

}  // namespace kairos::relay
