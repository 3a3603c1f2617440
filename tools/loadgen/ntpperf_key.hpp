#pragma once
// ntpperf's NTS input (its -S option): the C2S key and one cookie, each in hex, joined by a comma.
// ntpperf has no NTS-KE client of its own; `kairos-loadgen cookie` does the exchange for it.
#include <string>

#include "nts/ke_client.hpp"

namespace kairos {

// "C2SHEX,COOKIEHEX" from the first cookie of `ke` (upper-case hex, as ntpperf's README shows);
// "" when the exchange gave no cookie.
std::string ntpperf_nts_argument(const KeClientResult& ke);

}  // namespace kairos
