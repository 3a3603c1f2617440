#pragma once
// The counters as the tests read them: one line per direction and one for TCP, key=value.
#include <string>

#include "impairments.hpp"
#include "tcp_relay.hpp"

namespace kairos::relay {

// "udp requests received=12 sent=11 lost=1 ...": name is "requests" or "responses".
std::string format_direction(const char* name, const DirectionCounters& c);
std::string format_tcp(const TcpCounters& c);

}  // namespace kairos::relay
