#include "nts/ptp_message.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using Buffer = std::vector<std::uint8_t>;

const ClockIdentity kMasterClock{0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};

// A two-step Sync as ptp4l sends it (version 2.1), sequence 7, correction +1.5 ns.
const char* kTwoStepSync =
    "00 12 002c 00 00 0200 0000000000018000 00000000 001122fffe334455 0001 0007 00 00"
    "0000 00000000 00000000";

// An Announce: TAI − UTC 37 valid, PTP timescale, clockClass 6, accuracy 0x21 (100 ns),
// variance 0x4e5d, GPS, leap61.
const char* kAnnounce =
    "0b 12 0040 00 00 000d 0000000000000000 00000000 001122fffe334455 0001 0102 05 01"
    "0000 00000000 00000000 0025 00 80 06 21 4e5d 7f 001122fffe334455 0001 20";

// A Delay_Resp: t4 = 0x0001 00000002 s + 999999999 ns, for port aabbccfffeddeeff/1, sequence 9,
// logMinDelayReqInterval −3, correction −2 ns.
const char* kDelayResp =
    "09 12 0036 00 00 0000 fffffffffffe0000 00000000 001122fffe334455 0001 0009 03 fd"
    "0001 00000002 3b9ac9ff aabbccfffeddeeff 0001";

Buffer with_byte(Buffer b, std::size_t at, std::uint8_t v) {
  b[at] = v;
  return b;
}

TEST(PtpMessage, SyncHeaderDecodesFromKnownBytes) {
  auto message = parse_ptp_message(hex(kTwoStepSync));
  ASSERT_TRUE(message) << message.error().message;
  const PtpHeader& h = message->header;
  EXPECT_EQ(h.type, PtpMessageType::kSync);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.minor_version, 1);
  EXPECT_EQ(h.length, 44);
  EXPECT_EQ(h.domain, 0);
  EXPECT_TRUE(h.flag(ptp_flag::kTwoStep));
  EXPECT_FALSE(h.flag(ptp_flag::kUnicast));
  EXPECT_EQ(h.correction, 0x18000);
  EXPECT_DOUBLE_EQ(scaled_ns_to_seconds(h.correction), 1.5e-9);
  EXPECT_EQ(h.source.clock, kMasterClock);
  EXPECT_EQ(h.source.port, 1);
  EXPECT_EQ(h.sequence_id, 7);
  EXPECT_EQ(h.log_interval, 0);
  EXPECT_EQ(message->timestamp, (PtpTimestamp{0, 0}));
}

TEST(PtpMessage, AnnounceBodyAndFlagsDecode) {
  auto message = parse_ptp_message(hex(kAnnounce));
  ASSERT_TRUE(message) << message.error().message;
  const PtpHeader& h = message->header;
  EXPECT_TRUE(h.flag(ptp_flag::kCurrentUtcOffsetValid));
  EXPECT_TRUE(h.flag(ptp_flag::kPtpTimescale));
  EXPECT_TRUE(h.flag(ptp_flag::kLeap61));
  EXPECT_FALSE(h.flag(ptp_flag::kLeap59));
  EXPECT_EQ(h.log_interval, 1);
  ASSERT_TRUE(message->announce);
  const PtpAnnounce& a = *message->announce;
  EXPECT_EQ(a.current_utc_offset, 37);
  EXPECT_EQ(a.priority1, 128);
  EXPECT_EQ(a.quality.clock_class, 6);
  EXPECT_EQ(a.quality.clock_accuracy, 0x21);
  EXPECT_EQ(a.quality.offset_scaled_log_variance, 0x4e5d);
  EXPECT_EQ(a.priority2, 127);
  EXPECT_EQ(a.grandmaster, kMasterClock);
  EXPECT_EQ(a.steps_removed, 1);
  EXPECT_EQ(a.time_source, 0x20);
}

TEST(PtpMessage, DelayRespBodyDecodesWith48BitSecondsAndNegativeCorrection) {
  auto message = parse_ptp_message(hex(kDelayResp));
  ASSERT_TRUE(message) << message.error().message;
  EXPECT_EQ(message->header.correction, -0x20000);
  EXPECT_EQ(message->header.log_interval, -3);
  ASSERT_TRUE(message->delay_resp);
  EXPECT_EQ(message->delay_resp->receive.seconds, (std::uint64_t{1} << 32) + 2);
  EXPECT_EQ(message->delay_resp->receive.nanoseconds, 999'999'999u);
  EXPECT_EQ(message->delay_resp->requesting,
            (PortIdentity{{0xaa, 0xbb, 0xcc, 0xff, 0xfe, 0xdd, 0xee, 0xff}, 1}));
}

TEST(PtpMessage, MinorVersionZeroIsAcceptedOthersAreNot) {
  EXPECT_TRUE(parse_ptp_message(with_byte(hex(kTwoStepSync), 1, 0x02)));   // 2.0 (1588-2008)
  EXPECT_FALSE(parse_ptp_message(with_byte(hex(kTwoStepSync), 1, 0x22)));  // 2.2
  EXPECT_FALSE(parse_ptp_message(with_byte(hex(kTwoStepSync), 1, 0x11)));  // PTPv1
  EXPECT_FALSE(parse_ptp_message(with_byte(hex(kTwoStepSync), 1, 0x13)));
}

TEST(PtpMessage, ReservedMessageTypeIsAnError) {
  EXPECT_FALSE(parse_ptp_message(with_byte(hex(kTwoStepSync), 0, 0x05)));
  EXPECT_FALSE(parse_ptp_message(with_byte(hex(kTwoStepSync), 0, 0x0f)));
  // The majorSdoId nibble is carried, not judged.
  auto sdo = parse_ptp_message(with_byte(hex(kTwoStepSync), 0, 0x10));
  ASSERT_TRUE(sdo);
  EXPECT_EQ(sdo->header.major_sdo_id, 1);
}

TEST(PtpMessage, MessageLengthIsCheckedAgainstTheBufferAndTheBody) {
  Buffer sync = hex(kTwoStepSync);
  // Longer than what arrived.
  EXPECT_FALSE(parse_ptp_message(with_byte(sync, 3, 45)));
  // Shorter than a Sync body, though the bytes are there.
  EXPECT_FALSE(parse_ptp_message(with_byte(sync, 3, 40)));
  // Shorter than the header.
  EXPECT_FALSE(parse_ptp_message(with_byte(sync, 3, 20)));
  // Padding after messageLength (Ethernet's 60-octet minimum) is ignored.
  Buffer padded = sync;
  padded.resize(60, 0xee);
  auto message = parse_ptp_message(padded);
  ASSERT_TRUE(message) << message.error().message;
  EXPECT_EQ(message->header.length, 44);
}

TEST(PtpMessage, EveryTruncationIsAnErrorNotARead) {
  for (const char* text : {kTwoStepSync, kAnnounce, kDelayResp}) {
    const Buffer whole = hex(text);
    for (std::size_t n = 0; n < whole.size(); ++n) {
      Buffer prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_FALSE(parse_ptp_message(prefix)) << text << " cut at " << n;
    }
  }
}

TEST(PtpMessage, NanosecondsOfOneSecondOrMoreAreRejected) {
  Buffer sync = hex(kTwoStepSync);
  // originTimestamp.nanoseconds = 1e9 (0x3b9aca00).
  sync[40] = 0x3b;
  sync[41] = 0x9a;
  sync[42] = 0xca;
  sync[43] = 0x00;
  auto message = parse_ptp_message(sync);
  ASSERT_FALSE(message);
  EXPECT_NE(message.error().message.find("nanoseconds"), std::string::npos);
  sync[42] = 0xc9;
  sync[43] = 0xff;
  EXPECT_TRUE(parse_ptp_message(sync));
}

TEST(PtpMessage, TimestampRangesAndDifferences) {
  EXPECT_TRUE(make_ptp_timestamp(kPtpMaxSeconds, 999'999'999));
  EXPECT_FALSE(make_ptp_timestamp(kPtpMaxSeconds + 1, 0));
  EXPECT_FALSE(make_ptp_timestamp(0, 1'000'000'000));
  EXPECT_EQ(difference_ns({10, 100}, {9, 999'999'900}), 200);
  EXPECT_EQ(difference_ns({9, 999'999'900}, {10, 100}), -200);
  EXPECT_EQ(difference_ns({1'700'000'000, 5}, {1'700'000'000, 5}), 0);
  // 2^48 s apart is ~8.9 million years: no int64 of nanoseconds holds it.
  EXPECT_FALSE(difference_ns({kPtpMaxSeconds, 0}, {0, 0}));
}

TEST(PtpMessage, DelayReqIsBuiltAsTheStandardSaysByteForByte) {
  PtpHeaderFields fields;
  fields.domain = 24;
  fields.source = PortIdentity{{0xaa, 0xbb, 0xcc, 0xff, 0xfe, 0xdd, 0xee, 0xff}, 1};
  fields.sequence_id = 0x1234;
  Buffer out(64);
  auto size = build_delay_req(out, fields);
  ASSERT_TRUE(size) << size.error().message;
  out.resize(*size);
  EXPECT_EQ(out, hex("01 12 002c 18 00 0000 0000000000000000 00000000 aabbccfffeddeeff 0001 1234 01 7f"
                     "0000 00000000 00000000"));
  Buffer small(43);
  EXPECT_FALSE(build_delay_req(small, fields));
}

TEST(PtpMessage, UnicastDelayReqCarriesTheUnicastFlag) {
  PtpHeaderFields fields;
  fields.unicast = true;
  Buffer out(64);
  auto size = build_delay_req(out, fields);
  ASSERT_TRUE(size);
  auto parsed = parse_ptp_message(std::span(out).first(*size));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->header.flag(ptp_flag::kUnicast));
  EXPECT_EQ(parsed->header.type, PtpMessageType::kDelayReq);
}

TEST(PtpMessage, SignalingRequestBytesAndRoundTrip) {
  PtpHeaderFields fields;
  fields.source = PortIdentity{{1, 2, 3, 4, 5, 6, 7, 8}, 1};
  fields.sequence_id = 3;
  fields.unicast = true;
  const UnicastTlv request{PtpTlvType::kRequestUnicastTransmission, PtpMessageType::kSync, -3, 300, false};
  Buffer out(128);
  auto size = build_signaling(out, fields, kAllPorts, std::span(&request, 1));
  ASSERT_TRUE(size);
  out.resize(*size);
  EXPECT_EQ(out, hex("0c 12 0036 00 00 0400 0000000000000000 00000000 0102030405060708 0001 0003 05 7f"
                     "ffffffffffffffff ffff"
                     "0004 0006 00 fd 0000012c"));
  auto parsed = parse_ptp_message(out);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->signaling);
  EXPECT_EQ(parsed->signaling->target, kAllPorts);
  ASSERT_EQ(parsed->signaling->tlvs.size(), 1u);
  EXPECT_EQ(parsed->signaling->tlvs[0], request);
}

// A master's answer: GRANT Announce (60 s, renewal invited), an unknown TLV, GRANT Sync denied,
// CANCEL Delay_Resp.
const char* kGrantSignaling =
    "0c 12 0052 00 00 0400 0000000000000000 00000000 001122fffe334455 0001 0001 05 7f"
    "aabbccfffeddeeff 0001"
    "0005 0008 b0 01 0000003c 00 01"
    "2004 0004 deadbeef"
    "0005 0008 00 fd 00000000 00 00"
    "0006 0002 90 00";

TEST(PtpMessage, SignalingGrantsDenialsAndCancelsParseUnknownTlvsAreSkipped) {
  auto message = parse_ptp_message(hex(kGrantSignaling));
  ASSERT_TRUE(message) << message.error().message;
  const PtpSignaling& s = *message->signaling;
  EXPECT_EQ(s.skipped_tlvs, 1u);
  ASSERT_EQ(s.tlvs.size(), 3u);
  EXPECT_EQ(s.tlvs[0], (UnicastTlv{PtpTlvType::kGrantUnicastTransmission, PtpMessageType::kAnnounce, 1, 60, true}));
  EXPECT_EQ(s.tlvs[1], (UnicastTlv{PtpTlvType::kGrantUnicastTransmission, PtpMessageType::kSync, -3, 0, false}));
  EXPECT_EQ(s.tlvs[2], (UnicastTlv{PtpTlvType::kCancelUnicastTransmission, PtpMessageType::kDelayResp, 0, 0, false}));
}

TEST(PtpMessage, SignalingTlvPastTheEndOrTooShortIsAnError) {
  Buffer message = hex(kGrantSignaling);
  // The last TLV's length says 4 where 2 octets remain.
  Buffer past = with_byte(message, message.size() - 3, 0x04);
  auto parsed = parse_ptp_message(past);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("past"), std::string::npos);
  // A GRANT of 6 octets (shorter than its 8): drop two octets and fix both lengths.
  Buffer shortened = hex(
      "0c 12 0036 00 00 0400 0000000000000000 00000000 001122fffe334455 0001 0001 05 7f"
      "aabbccfffeddeeff 0001"
      "0005 0006 b0 01 0000003c");
  EXPECT_FALSE(parse_ptp_message(shortened));
  // A stray octet after the last TLV: no TLV header fits in it.
  Buffer stray = hex(
      "0c 12 002d 00 00 0400 0000000000000000 00000000 001122fffe334455 0001 0001 05 7f"
      "aabbccfffeddeeff 0001 00");
  EXPECT_FALSE(parse_ptp_message(stray));
}

TEST(PtpMessage, WrittenMessagesParseBackToTheSameFields) {
  for (const char* text : {kTwoStepSync, kAnnounce, kDelayResp}) {
    auto first = parse_ptp_message(hex(text));
    ASSERT_TRUE(first);
    Buffer out(256);
    auto size = write_ptp_message(out, *first);
    ASSERT_TRUE(size);
    out.resize(*size);
    EXPECT_EQ(out, hex(text));
  }
}

}  // namespace
}  // namespace kairos
