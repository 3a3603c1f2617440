#pragma once
// NTS-KE records (RFC 8915 §4): a 1-bit critical flag, a 15-bit record type, a 16-bit body
// length and the body. A message is a sequence of records ending with End of Message.
// Everything here is view-based: reading never copies a body, writing goes into a caller-owned
// ByteWriter.
#include <cstddef>
#include <cstdint>
#include <span>

#include "clock/result.hpp"
#include "nts/bytes.hpp"

namespace kairos {

// Record types (RFC 8915 §4.1, IANA "Network Time Security Key Establishment Record Types").
inline constexpr std::uint16_t kKeEndOfMessage = 0;
inline constexpr std::uint16_t kKeNextProtocol = 1;
inline constexpr std::uint16_t kKeError = 2;
inline constexpr std::uint16_t kKeWarning = 3;
inline constexpr std::uint16_t kKeAeadAlgorithm = 4;
inline constexpr std::uint16_t kKeNewCookie = 5;
inline constexpr std::uint16_t kKeServer = 6;
inline constexpr std::uint16_t kKePort = 7;

// Error codes carried in an Error record (RFC 8915 §4.1.3).
inline constexpr std::uint16_t kKeErrorUnrecognizedCritical = 0;
inline constexpr std::uint16_t kKeErrorBadRequest = 1;
inline constexpr std::uint16_t kKeErrorInternal = 2;

// Next Protocol ids (RFC 8915 §7.6): NTPv4 is the only one defined.
inline constexpr std::uint16_t kNextProtocolNtpv4 = 0;

inline constexpr std::size_t kKeRecordHeaderLength = 4;
inline constexpr std::size_t kKeMaxBodyLength = 0xffff;
inline constexpr std::uint16_t kKeMaxRecordType = 0x7fff;
// A whole message is small (a request is tens of bytes, a response with 8 cookies well under
// 2 KiB); anything past this is refused before it is buffered.
inline constexpr std::size_t kKeDefaultMaxMessageLength = 16 * 1024;

struct KeRecord {
  bool critical = false;
  std::uint16_t type = 0;
  ByteView body;
};

// Splits a byte span into records without copying. Each next() returns the record at the
// current position or a readable error when the header or body is cut short.
class KeRecordReader {
 public:
  explicit KeRecordReader(ByteView data) : reader_(data) {}

  bool done() const { return reader_.empty(); }
  std::size_t offset() const { return reader_.offset(); }
  Result<KeRecord> next();

 private:
  ByteReader reader_;
};

// Appends one record. A type above 0x7fff or a body longer than 65535 bytes cannot be put on the
// wire; either poisons the writer (ok() turns false) just as running out of room does.
void write_record(ByteWriter& out, bool critical, std::uint16_t type, ByteView body);
// Appends a record whose body is a list of big-endian u16 (Next Protocol, AEAD Algorithm).
void write_u16_list_record(ByteWriter& out, bool critical, std::uint16_t type,
                           std::span<const std::uint16_t> values);
// Appends a record whose body is one big-endian u16 (Error, Warning, Port).
void write_u16_record(ByteWriter& out, bool critical, std::uint16_t type, std::uint16_t value);
// Appends End of Message: critical, empty body (RFC 8915 §4.1.1).
void write_end_of_message(ByteWriter& out);

// Where a TLS byte stream stands: the bytes received so far either hold a whole message (ending
// with End of Message) or need more.
struct KeMessageScan {
  bool complete = false;
  // Length of the complete message, counted from the first byte; 0 while incomplete.
  std::size_t message_length = 0;
};

// Looks at the bytes received so far on an NTS-KE connection. Fails when the message would grow
// beyond max_message_length (checked against each declared record length, so an oversize record
// is refused from its header alone) or when End of Message carries a body.
Result<KeMessageScan> scan_message(ByteView received,
                                   std::size_t max_message_length = kKeDefaultMaxMessageLength);

}  // namespace kairos
