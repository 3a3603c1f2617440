#include "nts/ntp_packet.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using test::to_hex;
using Buffer = std::vector<std::uint8_t>;

// A client request as chrony sends it, with the leap bits set to "unsynchronized".
const char* kClientHeader =
    "e3 00 06 ec 00010000 00020000 4e545353"
    "0000000000000001 e1b4c5d6a1a2a3a4 e1b4c5d7b1b2b3b4 e1b4c5d8c1c2c3c4";

Buffer with_fields(Buffer packet, const Buffer& tail) {
  packet.insert(packet.end(), tail.begin(), tail.end());
  return packet;
}

Buffer serialize(const NtpPacketView& view, std::size_t capacity = 1500) {
  Buffer out(capacity);
  ByteWriter writer(out);
  write_ntp_packet(writer, view);
  EXPECT_TRUE(writer.ok());
  out.resize(writer.size());
  return out;
}

TEST(NtpPacket, HeaderFieldsDecodeFromKnownBytes) {
  auto header = parse_ntp_header(hex(kClientHeader));
  ASSERT_TRUE(header) << header.error().message;
  EXPECT_EQ(header->leap, NtpLeap::kUnsynchronized);
  EXPECT_EQ(header->version, 4);
  EXPECT_EQ(header->mode, NtpMode::kClient);
  EXPECT_EQ(header->stratum, 0);
  EXPECT_EQ(header->poll, 6);
  EXPECT_EQ(header->precision, -20);
  EXPECT_EQ(header->root_delay.raw(), 0x00010000u);
  EXPECT_EQ(header->root_dispersion.raw(), 0x00020000u);
  EXPECT_EQ(header->reference_id, make_reference_id('N', 'T', 'S', 'S'));
  EXPECT_EQ(header->reference_time.raw(), 1u);
  EXPECT_EQ(header->origin_time, NtpTimestamp::from_parts(0xe1b4c5d6, 0xa1a2a3a4));
  EXPECT_EQ(header->receive_time, NtpTimestamp::from_parts(0xe1b4c5d7, 0xb1b2b3b4));
  EXPECT_EQ(header->transmit_time, NtpTimestamp::from_parts(0xe1b4c5d8, 0xc1c2c3c4));
}

TEST(NtpPacket, HeaderWriterProducesTheSameBytes) {
  auto header = parse_ntp_header(hex(kClientHeader));
  ASSERT_TRUE(header);
  Buffer out(kNtpHeaderLength);
  ByteWriter writer(out);
  write_ntp_header(writer, *header);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(out, hex(kClientHeader));
}

TEST(NtpPacket, TruncatedHeaderIsAnError) {
  Buffer packet = hex(kClientHeader);
  packet.pop_back();
  auto parsed = parse_ntp_packet(packet);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("truncated"), std::string::npos) << parsed.error().message;
  EXPECT_FALSE(parse_ntp_packet(ByteView{}));
}

TEST(NtpPacket, PlainPacketHasNoFieldsAndNoMac) {
  const Buffer parsed_bytes = hex(kClientHeader);
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->fields.empty());
  EXPECT_FALSE(parsed->mac);
}

TEST(NtpPacket, ExtensionFieldsAreFoundInOrderWithTheirOffsets) {
  const Buffer packet = with_fields(hex(kClientHeader), hex("0104 0010 000102030405060708090a0b"
                                                             "0204 001c 101112131415161718191a1b1c1d1e1f2021222324252627"));
  auto parsed = parse_ntp_packet(packet);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->fields.size(), 2u);
  EXPECT_EQ(parsed->fields[0].type, 0x0104);
  EXPECT_EQ(parsed->fields[0].offset, 48u);
  EXPECT_EQ(parsed->fields[0].length(), 16u);
  EXPECT_EQ(to_hex(Buffer(parsed->fields[0].body.begin(), parsed->fields[0].body.end())), "000102030405060708090a0b");
  EXPECT_EQ(parsed->fields[1].type, 0x0204);
  EXPECT_EQ(parsed->fields[1].offset, 64u);
  EXPECT_EQ(parsed->fields[1].body.size(), 24u);
  // The views point into the input, not into a copy.
  EXPECT_EQ(parsed->fields[1].body.data(), packet.data() + 68);
  EXPECT_FALSE(parsed->mac);
}

TEST(NtpPacket, RoundTripIsExact) {
  const Buffer plain = hex(kClientHeader);
  const Buffer with_ef = with_fields(plain, hex("0104 0010 000102030405060708090a0b"
                                                "abcd 0020 00000000000000000000000000000000000000000000000000000001"));
  const Buffer with_mac = with_fields(with_ef, hex("00000007 00112233445566778899aabbccddeeff"));
  const Buffer with_nak = with_fields(with_ef, hex("00000000"));
  for (const Buffer& packet : {plain, with_ef, with_mac, with_nak}) {
    auto parsed = parse_ntp_packet(packet);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(to_hex(serialize(*parsed)), to_hex(packet));
  }
}

TEST(NtpPacket, TruncatedExtensionFieldIsAnError) {
  // Claims 32 octets but only 28 follow the header.
  const Buffer parsed_bytes = with_fields(hex(kClientHeader), hex("0104 0020 000102030405060708090a0b0c0d0e0f1011"
                                                                      "12131415"));
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("past the end"), std::string::npos) << parsed.error().message;
}

TEST(NtpPacket, ExtensionFieldShorterThanSixteenOctetsIsAnError) {
  // 28 bytes follow the header (so they are not a MAC): a 12-octet field, then a 16-octet one.
  const Buffer parsed_bytes = with_fields(hex(kClientHeader), hex("0104 000c 0001020304050607"
                                                                      "0204 0010 000102030405060708090a0b"));
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("below the minimum"), std::string::npos) << parsed.error().message;
}

TEST(NtpPacket, ExtensionFieldLengthNotAWordMultipleIsAnError) {
  const Buffer parsed_bytes = with_fields(hex(kClientHeader), hex("0104 0011 000102030405060708090a0b0c000000"
                                                                      "00000000 00000000"));
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("multiple of 4"), std::string::npos) << parsed.error().message;
}

TEST(NtpPacket, TrailingGarbageIsAnError) {
  const Buffer field = hex("0104 0010 000102030405060708090a0b");
  // 4 or 8 extra octets would leave 20 or 24: a MAC, which is legitimate.
  for (std::size_t extra : {1u, 2u, 3u, 5u, 6u, 7u, 10u, 12u}) {
    Buffer packet = with_fields(hex(kClientHeader), field);
    packet.resize(packet.size() + extra, 0xee);
    auto parsed = parse_ntp_packet(packet);
    EXPECT_FALSE(parsed) << extra << " trailing bytes were accepted";
  }
}

TEST(NtpPacket, ZeroLengthExtensionFieldIsAnErrorNotALoop) {
  Buffer packet = with_fields(hex(kClientHeader), Buffer(32, 0));
  auto parsed = parse_ntp_packet(packet);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("below the minimum"), std::string::npos) << parsed.error().message;
}

Buffer packet_with_n_fields(std::size_t n) {
  Buffer packet = hex(kClientHeader);
  for (std::size_t i = 0; i < n; ++i) {
    Buffer field = hex("f0f0 0010 000000000000000000000000");
    field[15] = static_cast<std::uint8_t>(i);
    packet = with_fields(packet, field);
  }
  return packet;
}

TEST(NtpPacket, ThirtyTwoExtensionFieldsAreAccepted) {
  const Buffer parsed_bytes = packet_with_n_fields(kMaxExtensionFields);
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->fields.size(), kMaxExtensionFields);
  EXPECT_EQ(parsed->fields[31].body[11], 31);
}

TEST(NtpPacket, TooManyExtensionFieldsIsAnError) {
  const Buffer parsed_bytes = packet_with_n_fields(kMaxExtensionFields + 1);
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("more than 32"), std::string::npos) << parsed.error().message;
}

TEST(NtpPacket, FourTrailingOctetsAreACryptoNak) {
  const Buffer parsed_bytes = with_fields(hex(kClientHeader), hex("00000000"));
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->mac);
  EXPECT_TRUE(parsed->mac->is_crypto_nak());
  EXPECT_EQ(parsed->mac->key_id, 0u);
}

TEST(NtpPacket, TwentyAndTwentyFourTrailingOctetsAreAMac) {
  const Buffer md5_bytes = with_fields(hex(kClientHeader), hex("0000002a 00112233445566778899aabbccddeeff"));
  auto md5 = parse_ntp_packet(md5_bytes);
  ASSERT_TRUE(md5) << md5.error().message;
  ASSERT_TRUE(md5->mac);
  EXPECT_EQ(md5->mac->key_id, 42u);
  EXPECT_EQ(md5->mac->digest.size(), 16u);
  EXPECT_FALSE(md5->mac->is_crypto_nak());

  // After an extension field, 24 octets are a SHA-1 MAC (RFC 7822 §7.5).
  const Buffer sha1_bytes = with_fields(hex(kClientHeader), hex("0104 0010 000102030405060708090a0b"
                                                                    "00000001 00112233445566778899aabbccddeeff01020304"));
  auto sha1 = parse_ntp_packet(sha1_bytes);
  ASSERT_TRUE(sha1) << sha1.error().message;
  EXPECT_EQ(sha1->fields.size(), 1u);
  ASSERT_TRUE(sha1->mac);
  EXPECT_EQ(sha1->mac->key_id, 1u);
  EXPECT_EQ(sha1->mac->digest.size(), 20u);
}

TEST(NtpPacket, TwentyEightTrailingOctetsAreAnExtensionField) {
  const Buffer parsed_bytes = with_fields(hex(kClientHeader), hex("0104 001c 000102030405060708090a0b0c0d0e0f1011"
                                                                      "121314151617"));
  auto parsed = parse_ntp_packet(parsed_bytes);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->fields.size(), 1u);
  EXPECT_FALSE(parsed->mac);
}

TEST(NtpPacket, KissCodeIsTheReferenceIdOfStratumZeroOnly) {
  NtpHeader header;
  header.stratum = 0;
  header.reference_id = kKissRate;
  EXPECT_EQ(kiss_code(header), kKissRate);
  header.stratum = 2;
  EXPECT_EQ(kiss_code(header), std::nullopt);
  EXPECT_EQ(kKissNtsn, 0x4e54534eu);
  EXPECT_EQ(kKissDeny, 0x44454e59u);
  EXPECT_EQ(kKissRstr, 0x52535452u);
}

Buffer write_field(std::uint16_t type, const Buffer& value, std::size_t min_length, std::size_t capacity = 128) {
  Buffer out(capacity);
  ByteWriter writer(out);
  write_extension_field(writer, type, value, min_length);
  EXPECT_TRUE(writer.ok());
  out.resize(writer.size());
  return out;
}

TEST(NtpPacket, ExtensionFieldWriterPadsToWordsAndMinimumLength) {
  EXPECT_EQ(to_hex(write_field(0x0104, hex("0102030405"), kMinExtensionFieldLength)),
            "01040010010203040500000000000000");
  EXPECT_EQ(to_hex(write_field(0x0104, hex("01"), kMinLastExtensionFieldLength)).size(), 28u * 2);
  EXPECT_EQ(write_field(0x0104, Buffer(33, 7), kMinExtensionFieldLength).size(), 40u);
  EXPECT_EQ(write_field(0x0104, Buffer(32, 7), kMinExtensionFieldLength).size(), 36u);
  EXPECT_EQ(write_field(0x0104, {}, kMinInnerExtensionFieldLength).size(), 4u);
}

TEST(NtpPacket, WrittenFieldsParseBack) {
  Buffer packet(200);
  ByteWriter writer(packet);
  auto header = parse_ntp_header(hex(kClientHeader));
  ASSERT_TRUE(header);
  write_ntp_header(writer, *header);
  write_extension_field(writer, 0x0104, Buffer(32, 0xab));
  write_extension_field(writer, 0x0204, Buffer(3, 0xcd), kMinLastExtensionFieldLength);
  ASSERT_TRUE(writer.ok());
  packet.resize(writer.size());
  auto parsed = parse_ntp_packet(packet);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->header, *header);
  ASSERT_EQ(parsed->fields.size(), 2u);
  EXPECT_EQ(parsed->fields[1].length(), 28u);
  EXPECT_EQ(parsed->fields[1].body[2], 0xcd);
  EXPECT_EQ(parsed->fields[1].body[3], 0);
}

TEST(NtpPacket, WriterFailsWhenTheBufferIsTooSmall) {
  Buffer out(19);
  ByteWriter writer(out);
  write_extension_field(writer, 0x0104, Buffer(13, 1));
  EXPECT_FALSE(writer.ok());
}

TEST(NtpPacket, ValueTooLongForTheLengthFieldFailsTheWriter) {
  Buffer out(70000);
  ByteWriter writer(out);
  write_extension_field(writer, 0x0104, Buffer(65533, 1));
  EXPECT_FALSE(writer.ok());
  EXPECT_EQ(writer.size(), 0u);
}

TEST(NtpPacket, EncryptedFieldsMayBeShort) {
  const Buffer inner = hex("0204 0008 01020304  abcd 0004");
  auto fields = parse_extension_fields(inner, kMinInnerExtensionFieldLength);
  ASSERT_TRUE(fields) << fields.error().message;
  ASSERT_EQ(fields->size(), 2u);
  EXPECT_EQ((*fields)[0].body.size(), 4u);
  EXPECT_EQ((*fields)[1].type, 0xabcd);
  EXPECT_TRUE((*fields)[1].body.empty());
  EXPECT_FALSE(parse_extension_fields(inner, kMinExtensionFieldLength));
  EXPECT_FALSE(parse_extension_fields(hex("0204 0008 0102"), kMinInnerExtensionFieldLength));
}

}  // namespace
}  // namespace kairos
