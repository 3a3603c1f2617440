#include "junk.hpp"

#include <array>

#include "nts/ntp_packet.hpp"

namespace kairos {
namespace {

std::uint32_t random_below(const RandomFill& random, std::uint32_t bound) {
  std::array<std::uint8_t, 4> b{};
  random(b);
  const std::uint32_t value = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return value % bound;
}

std::vector<std::uint8_t> random_bytes(std::size_t length, const RandomFill& random) {
  std::vector<std::uint8_t> out(length);
  random(out);
  return out;
}

// The first octet of an NTP packet: leap indicator (2 bits, 0 here), version (3), mode (3).
std::uint8_t first_octet(unsigned version, unsigned mode) { return static_cast<std::uint8_t>((version << 3) | mode); }

constexpr unsigned kClientMode = 3;

// A header a server would answer (NTPv4, client mode; the other fields random): the kinds that
// are junk only in what follows the header start with it.
std::vector<std::uint8_t> client_header(const RandomFill& random) {
  auto out = random_bytes(kNtpHeaderLength, random);
  out[0] = first_octet(4, kClientMode);
  return out;
}

// An extension field header (RFC 7822 §3): type, then the length of the whole field.
void append_field_header(std::vector<std::uint8_t>& out, std::uint16_t type, std::uint16_t length) {
  out.push_back(static_cast<std::uint8_t>(type >> 8));
  out.push_back(static_cast<std::uint8_t>(type));
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length));
}

}  // namespace

const char* to_string(JunkKind kind) {
  switch (kind) {
    case JunkKind::kTooShort: return "too-short";
    case JunkKind::kBadVersion: return "bad-version";
    case JunkKind::kBadMode: return "bad-mode";
    case JunkKind::kOversize: return "oversize";
    case JunkKind::kBogusExtension: return "bogus-extension";
    case JunkKind::kOverlongExtension: return "overlong-extension";
    case JunkKind::kRandom: return "random";
  }
  return "unknown";
}

std::vector<std::uint8_t> make_junk(JunkKind kind, const RandomFill& random) {
  switch (kind) {
    case JunkKind::kTooShort: {
      auto out = random_bytes(1 + random_below(random, kNtpHeaderLength - 1), random);
      out[0] = first_octet(4, kClientMode);  // it starts like a request and stops short
      return out;
    }
    case JunkKind::kBadVersion: {
      constexpr std::array<unsigned, 4> versions{0, 5, 6, 7};
      auto out = client_header(random);
      out[0] = first_octet(versions[random_below(random, versions.size())], kClientMode);
      return out;
    }
    case JunkKind::kBadMode: {
      // Symmetric (1, 2), server (4), broadcast (5), control (6) and private (7): the last two
      // are the classic amplification vectors.
      constexpr std::array<unsigned, 7> modes{0, 1, 2, 4, 5, 6, 7};
      auto out = client_header(random);
      out[0] = first_octet(4, modes[random_below(random, modes.size())]);
      return out;
    }
    case JunkKind::kOversize: {
      // Not a valid request with a long unknown field, which RFC 7822 §3 has a server answer
      // (with a plain 48-octet header): zeros read as a field of length 0, which is malformed.
      auto out = client_header(random);
      out.resize(kJunkMaxLength, 0);
      return out;
    }
    case JunkKind::kBogusExtension: {
      // Either shorter than the 16-octet minimum or not a whole number of 4-octet words.
      const std::uint16_t length = random_below(random, 2) == 0 ? 8 : 18;
      auto out = client_header(random);
      append_field_header(out, static_cast<std::uint16_t>(random_below(random, 0x10000)), length);
      const auto body = random_bytes(length - kExtensionFieldHeaderLength, random);
      out.insert(out.end(), body.begin(), body.end());
      return out;
    }
    case JunkKind::kOverlongExtension: {
      // A well-sized last field (28 octets) whose length field claims almost 64 KiB.
      auto out = client_header(random);
      append_field_header(out, static_cast<std::uint16_t>(random_below(random, 0x10000)), 0xfffc);
      const auto body = random_bytes(kMinLastExtensionFieldLength - kExtensionFieldHeaderLength, random);
      out.insert(out.end(), body.begin(), body.end());
      return out;
    }
    case JunkKind::kRandom: {
      auto out = random_bytes(1 + random_below(random, kJunkMaxLength), random);
      // Random octets are now and then a valid client request, which a server rightly answers;
      // moving mode 3 to mode 7 keeps them junk.
      if ((out[0] & 7) == kClientMode) out[0] ^= 4;
      return out;
    }
  }
  return {};
}

JunkSet::JunkSet(std::size_t count, const RandomFill& random) {
  datagrams_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    datagrams_.push_back(make_junk(static_cast<JunkKind>(i % kJunkKindCount), random));
  }
}

}  // namespace kairos
