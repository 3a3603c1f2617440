#include "nts/ke_record.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using test::to_hex;
using Bytes = std::vector<std::uint8_t>;

Bytes write_one(bool critical, std::uint16_t type, const Bytes& body) {
  Bytes out(kKeRecordHeaderLength + body.size());
  ByteWriter writer(out);
  write_record(writer, critical, type, body);
  EXPECT_TRUE(writer.ok());
  out.resize(writer.size());
  return out;
}

// A request-shaped message: Next Protocol [NTPv4], AEAD [15], End of Message.
const Bytes kMessage = hex("8001 0002 0000  8004 0002 000f  8000 0000");

TEST(KeRecord, WriterLaysOutHeaderThenBody) {
  EXPECT_EQ(to_hex(write_one(true, kKeNewCookie, hex("deadbeef"))), "80050004deadbeef");
  EXPECT_EQ(to_hex(write_one(false, kKeNewCookie, hex("deadbeef"))), "00050004deadbeef");
  EXPECT_EQ(to_hex(write_one(true, kKeEndOfMessage, {})), "80000000");
}

TEST(KeRecord, U16HelpersWriteBigEndianBodies) {
  Bytes out(32);
  ByteWriter writer(out);
  const std::uint16_t ids[] = {15, 0x1234};
  write_u16_list_record(writer, true, kKeAeadAlgorithm, ids);
  write_u16_record(writer, false, kKePort, 123);
  write_end_of_message(writer);
  ASSERT_TRUE(writer.ok());
  out.resize(writer.size());
  EXPECT_EQ(to_hex(out), "80040004000f1234" "00070002007b" "80000000");
}

TEST(KeRecord, EveryRecordTypeRoundTrips) {
  for (std::uint16_t type = kKeEndOfMessage; type <= kKePort; ++type) {
    for (bool critical : {false, true}) {
      const Bytes body = type == kKeEndOfMessage ? Bytes{} : hex("01020304");
      const Bytes wire = write_one(critical, type, body);
      KeRecordReader reader(wire);
      auto record = reader.next();
      ASSERT_TRUE(record) << record.error().message;
      EXPECT_EQ(record->type, type);
      EXPECT_EQ(record->critical, critical);
      EXPECT_EQ(Bytes(record->body.begin(), record->body.end()), body);
      EXPECT_TRUE(reader.done());
    }
  }
}

TEST(KeRecord, CriticalBitIsNotPartOfTheType) {
  const Bytes wire = hex("fffe 0000");
  auto record = KeRecordReader(wire).next();
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->critical);
  EXPECT_EQ(record->type, 0x7ffe);
}

TEST(KeRecord, ReaderSplitsWithoutCopying) {
  KeRecordReader reader(kMessage);
  std::vector<KeRecord> records;
  while (!reader.done()) {
    auto record = reader.next();
    ASSERT_TRUE(record) << record.error().message;
    records.push_back(*record);
  }
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].type, kKeNextProtocol);
  EXPECT_EQ(records[1].type, kKeAeadAlgorithm);
  EXPECT_EQ(records[2].type, kKeEndOfMessage);
  // The body views point into the input buffer.
  EXPECT_EQ(records[1].body.data(), kMessage.data() + 10);
  EXPECT_EQ(records[1].body.size(), 2u);
}

TEST(KeRecord, TruncatedHeaderIsReported) {
  const Bytes wire = hex("8001 0002 0000 8004 00");
  KeRecordReader reader(wire);
  ASSERT_TRUE(reader.next());
  auto record = reader.next();
  ASSERT_FALSE(record);
  EXPECT_NE(record.error().message.find("header truncated at offset 6"), std::string::npos)
      << record.error().message;
}

TEST(KeRecord, TruncatedBodyIsReported) {
  const Bytes wire = hex("8004 0006 000f 0010");
  auto record = KeRecordReader(wire).next();
  ASSERT_FALSE(record);
  EXPECT_NE(record.error().message.find("declares 6 body bytes but only 4 remain"), std::string::npos)
      << record.error().message;
}

TEST(KeRecord, TypeBeyond15BitsPoisonsTheWriter) {
  Bytes out(16);
  ByteWriter writer(out);
  write_record(writer, false, 0x8000, {});
  EXPECT_FALSE(writer.ok());
}

TEST(KeRecord, BodyBeyond65535BytesPoisonsTheWriter) {
  Bytes body(kKeMaxBodyLength + 1);
  Bytes out(body.size() + 16);
  ByteWriter writer(out);
  write_record(writer, false, kKeNewCookie, body);
  EXPECT_FALSE(writer.ok());
  EXPECT_EQ(writer.size(), 0u);
}

TEST(KeRecord, FullBufferFailsTheWriter) {
  Bytes out(5);
  ByteWriter writer(out);
  write_record(writer, false, kKeNewCookie, hex("0102"));
  EXPECT_FALSE(writer.ok());
}

TEST(KeMessageScan, EmptyInputIsIncomplete) {
  auto scan = scan_message({});
  ASSERT_TRUE(scan);
  EXPECT_FALSE(scan->complete);
}

TEST(KeMessageScan, SplitAtEveryByteBoundaryIsIncompleteUntilTheEnd) {
  for (std::size_t n = 0; n < kMessage.size(); ++n) {
    auto scan = scan_message(ByteView(kMessage).first(n));
    ASSERT_TRUE(scan) << "prefix " << n << ": " << scan.error().message;
    EXPECT_FALSE(scan->complete) << "prefix " << n;
  }
  auto scan = scan_message(kMessage);
  ASSERT_TRUE(scan);
  EXPECT_TRUE(scan->complete);
  EXPECT_EQ(scan->message_length, kMessage.size());
}

TEST(KeMessageScan, ChunkedArrivalCompletesExactlyOnce) {
  // Feed the stream in chunks of every size, as TLS reads might deliver it.
  for (std::size_t chunk = 1; chunk <= kMessage.size(); ++chunk) {
    Bytes received;
    int completions = 0;
    for (std::size_t at = 0; at < kMessage.size(); at += chunk) {
      const std::size_t n = std::min(chunk, kMessage.size() - at);
      received.insert(received.end(), kMessage.begin() + static_cast<std::ptrdiff_t>(at),
                      kMessage.begin() + static_cast<std::ptrdiff_t>(at + n));
      auto scan = scan_message(received);
      ASSERT_TRUE(scan);
      if (scan->complete) {
        ++completions;
        EXPECT_EQ(scan->message_length, kMessage.size());
      }
    }
    EXPECT_EQ(completions, 1) << "chunk " << chunk;
  }
}

TEST(KeMessageScan, BytesAfterEndOfMessageAreNotPartOfTheMessage) {
  Bytes received = kMessage;
  received.push_back(0x80);
  auto scan = scan_message(received);
  ASSERT_TRUE(scan);
  EXPECT_TRUE(scan->complete);
  EXPECT_EQ(scan->message_length, kMessage.size());
}

TEST(KeMessageScan, OversizeRecordIsRefusedFromItsHeader) {
  // A cookie record declaring 20000 bytes: refused before its body arrives.
  const Bytes received = hex("0005 4e20");
  auto scan = scan_message(received);
  ASSERT_FALSE(scan);
  EXPECT_NE(scan.error().message.find("exceeds 16384 bytes"), std::string::npos) << scan.error().message;
}

TEST(KeMessageScan, ConfigurableLimitIsHonoured) {
  auto scan = scan_message(kMessage, kMessage.size() - 1);
  ASSERT_FALSE(scan);
  auto exact = scan_message(kMessage, kMessage.size());
  ASSERT_TRUE(exact);
  EXPECT_TRUE(exact->complete);
}

TEST(KeMessageScan, ManySmallRecordsWithoutEndHitTheLimit) {
  Bytes received;
  const Bytes warning = hex("8003 0002 0000");
  while (received.size() <= kKeDefaultMaxMessageLength) {
    received.insert(received.end(), warning.begin(), warning.end());
  }
  auto scan = scan_message(received);
  EXPECT_FALSE(scan);
}

TEST(KeMessageScan, EndOfMessageWithBodyIsMalformed) {
  auto scan = scan_message(hex("8000 0002 0000"));
  ASSERT_FALSE(scan);
  EXPECT_NE(scan.error().message.find("must be empty"), std::string::npos) << scan.error().message;
}

}  // namespace
}  // namespace kairos
