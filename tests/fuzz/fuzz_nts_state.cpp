// Any bytes as a saved NTS state file (daemon/nts_state_file.hpp): a state or an error, never a
// crash. Whatever parses must format and parse again to the same state.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/nts_state_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto state = kairos::parse_nts_state(kairos::ByteView(data, size));
  if (!state) {
    if (state.error().message.empty()) std::abort();
    return 0;
  }
  if (state->ke.cookies.empty() || state->ke.ntp_port == 0) std::abort();
  const std::string text = kairos::format_nts_state(*state);
  auto again = kairos::parse_nts_state(
      kairos::ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  if (!again || again->source != state->source || again->ke.ntp_server != state->ke.ntp_server ||
      again->ke.ntp_port != state->ke.ntp_port || !(again->ke.keys == state->ke.keys) ||
      again->ke.cookies != state->ke.cookies) {
    std::abort();
  }
  return 0;
}
