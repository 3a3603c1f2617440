#pragma once
// NTPv4 packet codec (RFC 5905 §7.3) with extension fields and the legacy MAC (RFC 7822).
// Parsing yields a view: spans into the caller's bytes and a fixed-capacity list of extension
// fields, so a packet costs no heap allocation. Writers go through a bounded ByteWriter.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <span>
#include <string>

#include "clock/ntp_time.hpp"
#include "clock/result.hpp"
#include "nts/bytes.hpp"

namespace kairos {

inline constexpr std::size_t kNtpHeaderLength = 48;
inline constexpr std::size_t kExtensionFieldHeaderLength = 4;  // type (u16) + length (u16)
// RFC 7822 §3: an extension field is at least 16 octets and a whole number of 4-octet words.
inline constexpr std::size_t kMinExtensionFieldLength = 16;
// RFC 7822 §7.5: with no MAC, the last extension field is at least 28 octets, so a 20- or 24-octet
// remainder can only be a MAC. Writers of a packet's last field pass this as the minimum.
inline constexpr std::size_t kMinLastExtensionFieldLength = 28;
// Encrypted extension fields may be as short as their header (RFC 8915 §5.6).
inline constexpr std::size_t kMinInnerExtensionFieldLength = 4;
// More fields than any real packet carries (an NTS request with 7 placeholders has 10); the cap
// keeps the parsed view inline.
inline constexpr std::size_t kMaxExtensionFields = 32;

// Leap indicator (RFC 5905 §7.3, Figure 9).
enum class NtpLeap : std::uint8_t {
  kNone = 0,
  kInsertSecond = 1,  // last minute of the day has 61 seconds
  kDeleteSecond = 2,  // last minute of the day has 59 seconds
  kUnsynchronized = 3,
};

// Association mode (RFC 5905 §7.3, Figure 10).
enum class NtpMode : std::uint8_t {
  kReserved = 0,
  kSymmetricActive = 1,
  kSymmetricPassive = 2,
  kClient = 3,
  kServer = 4,
  kBroadcast = 5,
  kControl = 6,
  kPrivate = 7,
};

// A four-character reference id as the u32 it is on the wire.
constexpr std::uint32_t make_reference_id(char a, char b, char c, char d) {
  return (std::uint32_t{static_cast<std::uint8_t>(a)} << 24) | (std::uint32_t{static_cast<std::uint8_t>(b)} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(c)} << 8) | std::uint32_t{static_cast<std::uint8_t>(d)};
}

// Kiss codes carried in the reference id of a stratum-0 packet (RFC 5905 §7.4, RFC 8915 §5.7).
inline constexpr std::uint32_t kKissDeny = make_reference_id('D', 'E', 'N', 'Y');
inline constexpr std::uint32_t kKissRstr = make_reference_id('R', 'S', 'T', 'R');
inline constexpr std::uint32_t kKissRate = make_reference_id('R', 'A', 'T', 'E');
inline constexpr std::uint32_t kKissNtsn = make_reference_id('N', 'T', 'S', 'N');

struct NtpHeader {
  NtpLeap leap = NtpLeap::kNone;
  std::uint8_t version = 4;  // 3 bits on the wire
  NtpMode mode = NtpMode::kClient;
  std::uint8_t stratum = 0;
  std::int8_t poll = 0;       // log2 seconds
  std::int8_t precision = 0;  // log2 seconds
  NtpShort root_delay;
  NtpShort root_dispersion;
  std::uint32_t reference_id = 0;
  NtpTimestamp reference_time;
  NtpTimestamp origin_time;
  NtpTimestamp receive_time;
  NtpTimestamp transmit_time;

  bool operator==(const NtpHeader&) const = default;
};

// The kiss code of a kiss-o'-death packet (stratum 0, RFC 5905 §7.4), nullopt for any other.
std::optional<std::uint32_t> kiss_code(const NtpHeader& header);
// The reference ID as people read it: stratum 0/1 ASCII codes (RFC 5905 §7.3) when printable
// ("GPS", "PPS"), otherwise (and for higher strata) the four bytes as an IPv4 address.
std::string reference_id_text(const NtpHeader& header);

// One extension field as it is on the wire (RFC 7822 §3). The body is everything after the
// 4-octet header, padding included: the wire does not separate value from padding.
struct ExtensionField {
  std::uint16_t type = 0;
  ByteView body;
  std::size_t offset = 0;  // where the field starts in the parsed bytes

  std::size_t length() const { return kExtensionFieldHeaderLength + body.size(); }
};

// Inline list of at most kMaxExtensionFields fields. The storage is left uninitialised and copies
// take only the fields in use: a server parses every packet it gets, and zeroing or copying 32
// entries (1 KiB) per parse cost more than reading the few fields a packet has.
class ExtensionFieldList {
 public:
  // User-provided, so that even value-initialisation (`ExtensionFieldList{}`) zeroes nothing.
  ExtensionFieldList() noexcept {}
  ExtensionFieldList(const ExtensionFieldList& other) : count_(other.count_) {
    std::uninitialized_copy_n(other.begin(), other.count_, data());
  }
  ExtensionFieldList& operator=(const ExtensionFieldList& other) {
    if (this != &other) {
      count_ = other.count_;
      std::uninitialized_copy_n(other.begin(), other.count_, data());
    }
    return *this;
  }
  ~ExtensionFieldList() = default;  // ExtensionField is trivially destructible

  bool push(const ExtensionField& field) {
    if (count_ == kMaxExtensionFields) return false;
    std::construct_at(data() + count_, field);
    ++count_;
    return true;
  }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const ExtensionField& operator[](std::size_t i) const { return data()[i]; }
  const ExtensionField* begin() const { return data(); }
  const ExtensionField* end() const { return data() + count_; }

 private:
  static_assert(std::is_trivially_destructible_v<ExtensionField> && std::is_trivially_copyable_v<ExtensionField>);
  // A byte array implicitly creates the ExtensionField objects placed in it (P0593, C++20).
  ExtensionField* data() { return std::launder(reinterpret_cast<ExtensionField*>(storage_)); }
  const ExtensionField* data() const { return std::launder(reinterpret_cast<const ExtensionField*>(storage_)); }

  alignas(ExtensionField) std::byte storage_[kMaxExtensionFields * sizeof(ExtensionField)];
  std::size_t count_ = 0;
};

// Legacy symmetric-key MAC trailer (RFC 5905 §7.3). A lone key id with no digest is a crypto-NAK.
struct LegacyMac {
  std::uint32_t key_id = 0;
  ByteView digest;

  bool is_crypto_nak() const { return digest.empty(); }
};

struct NtpPacketView {
  NtpHeader header;
  ExtensionFieldList fields;
  std::optional<LegacyMac> mac;
};

Result<NtpHeader> parse_ntp_header(ByteView packet);

// Parses a whole NTPv4 packet. After the header, the remaining bytes are read per RFC 7822 §7.5:
// exactly 4 left is a crypto-NAK, exactly 20 or 24 left is a MAC (key id + 128- or 160-bit
// digest), anything else must be a well-formed extension field of at least 16 octets.
Result<NtpPacketView> parse_ntp_packet(ByteView packet);

// Parses a run of extension fields filling `data` exactly, each at least `min_length` octets
// (kMinInnerExtensionFieldLength for the plaintext of an NTS authenticator). Offsets are
// reported relative to `data` plus `base_offset`.
Result<ExtensionFieldList> parse_extension_fields(ByteView data, std::size_t min_length,
                                                  std::size_t base_offset = 0);

void write_ntp_header(ByteWriter& out, const NtpHeader& header);

// Writes type, length and value, zero-padded to a word boundary and to at least `min_length`
// octets. A value too long for the 16-bit length field makes the writer fail.
void write_extension_field(ByteWriter& out, std::uint16_t type, ByteView value,
                           std::size_t min_length = kMinExtensionFieldLength);

// For fields whose body is written piecewise: begin writes the header with a zero length and
// returns where the field starts; end pads the body and fills in the length.
std::size_t begin_extension_field(ByteWriter& out, std::uint16_t type);
void end_extension_field(ByteWriter& out, std::size_t start, std::size_t min_length = kMinExtensionFieldLength);

void write_legacy_mac(ByteWriter& out, const LegacyMac& mac);

// Writes a parsed packet back; the bytes equal the parsed ones exactly.
void write_ntp_packet(ByteWriter& out, const NtpPacketView& packet);

// Zero bytes needed to bring n up to a multiple of 4.
constexpr std::size_t padding_to_word(std::size_t n) { return (4 - n % 4) % 4; }

}  // namespace kairos
