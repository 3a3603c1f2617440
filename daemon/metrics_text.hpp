#pragma once
// The daemon's status snapshot as Prometheus text exposition (format 0.0.4): what GET /metrics
// answers. Pure, so the exact text is tested. Names start with kairos_, times are seconds,
// counters end in _total; README.md "Metrics" lists every series with its meaning and unit.
#include <string>
#include <string_view>

#include "daemon/daemon_status.hpp"

namespace kairos {

// `version` goes into kairos_build_info.
std::string metrics_text(const DaemonStatus& status, std::string_view version);

// A label value as the format writes it between double quotes: backslash, double quote and
// line feed escaped (\\, \", \n).
std::string escape_label_value(std::string_view value);

}  // namespace kairos
