// libFuzzer target: whatever arrives on the generator's sockets is classified without a crash,
// and no sequence of datagrams makes more answers count as served than requests were sent.
// Input: one byte choosing plain (even) or NTS (odd) requests, then datagrams, each preceded by
// its length (u16, big-endian). Built here rather than from tests/fuzz/ because it links the
// tool's own library; the binary lands in BUILD/tests/ with the others (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "request_set.hpp"

namespace {

using namespace kairos;

// Deterministic "randomness" so seeds can name our requests (salt 0x81020304).
RandomFill counting_random() {
  auto state = std::make_shared<std::uint8_t>(1);
  return [state](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*state)++;
  };
}

KeClientResult fixed_session() {
  const std::vector<std::uint8_t> c2s(32, 0x11), s2c(32, 0x12);
  KeClientResult ke{.keys = *NtsKeys::create(15, c2s, s2c), .cookies = {}, .ntp_server = "127.0.0.1"};
  ke.cookies.push_back(std::vector<std::uint8_t>(64, 0x40));
  return ke;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool nts = (data[0] & 1) != 0;
  const KeClientResult ke = fixed_session();
  auto built = nts ? RequestSet::nts({&ke, 1}, 2, 1, counting_random()) : RequestSet::plain(4, counting_random());
  if (!built) std::abort();
  RequestSet& set = *built;
  for (std::size_t i = 0; i < set.size(); ++i) set.next_to_send();

  std::size_t served = 0;
  ByteReader in({data + 1, size - 1});
  while (auto length = in.u16()) {
    auto datagram = in.bytes(std::min<std::size_t>(*length, in.remaining()));
    if (set.classify(*datagram) == Verdict::kServed) ++served;
  }
  if (served > set.size()) std::abort();  // more answers counted than requests sent
  return 0;
}
