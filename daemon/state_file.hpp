#pragma once
// Persisted daemon state on disk: the only place of the cookie work that does file IO.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/bytes.hpp"
#include "nts/key_ring.hpp"

namespace kairos {

// Replaces `path` with `bytes` so that a reader sees either the old or the new content, never a
// mix: a temporary file in the same directory (created 0600 with O_EXCL), all bytes written,
// fsync, chmod to `mode`, rename over `path`, fsync of the directory. On any failure (full disk,
// missing directory, ...) the temporary file is removed and the old file is left untouched.
Result<void> write_file_atomic(const std::string& path, ByteView bytes, mode_t mode);

// The whole file, or an error if it is larger than max_bytes.
Result<std::vector<std::uint8_t>> read_file_bounded(const std::string& path, std::size_t max_bytes);

// The cookie key ring, as parse_key_ring's text, in a file of mode 0600.
Result<void> save_key_ring(const std::string& path, const KeyRing& ring);
// Refuses a key file that group or others may read (its keys must be treated as leaked).
Result<KeyRing> load_key_ring(const std::string& path);

// The shared seed of a seeded key ring (see parse_seed_file), with the same permission check.
Result<Seed> load_seed_file(const std::string& path);

}  // namespace kairos
