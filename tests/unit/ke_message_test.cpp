#include "nts/ke_message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using test::to_hex;
using Bytes = std::vector<std::uint8_t>;

// Hand-built from the record layout of RFC 8915 §4 (C bit | type, body length, body):
//   8001 0002 0000       Next Protocol Negotiation, critical: [NTPv4]
//   8004 0004 000f 0011  AEAD Algorithm Negotiation, critical: [15 AES-SIV-CMAC-256, 17 -512]
//   8000 0000            End of Message, critical
const char* const kRequestHex = "80010002 0000  80040004 000f0011  80000000";
// The server's answer: NTPv4, AEAD 15, two 4-byte cookies (non-critical), End of Message.
const char* const kResponseHex =
    "80010002 0000  80040002 000f  00050004 deadbeef  00050004 cafebabe  80000000";

KeRequest typical_request() {
  KeRequest request;
  request.aead_algorithms = {15, 17};
  return request;
}

Bytes concat(std::initializer_list<const char*> parts) {
  Bytes out;
  for (const char* part : parts) {
    const Bytes bytes = hex(part);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

// Record snippets for assembling malformed messages.
constexpr const char* kNtpv4 = "80010002 0000";
constexpr const char* kAead15 = "80040002 000f";
constexpr const char* kEnd = "80000000";
constexpr const char* kCookie = "00050004 deadbeef";

std::uint16_t refusal_code(const Bytes& message) {
  auto request = decode_request(message);
  EXPECT_FALSE(request) << "request was accepted";
  return request ? 0xffff : request.error().code;
}

std::string response_problem(const Bytes& message, const KeRequest& sent = typical_request()) {
  auto response = decode_response(message, sent);
  EXPECT_FALSE(response) << "response was accepted";
  return response ? std::string() : response.error().message;
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// Requests

TEST(KeRequest, EncodesTheHandBuiltExampleByteForByte) {
  auto wire = encode_request(typical_request());
  ASSERT_TRUE(wire) << wire.error().message;
  EXPECT_EQ(to_hex(*wire), to_hex(hex(kRequestHex)));
}

TEST(KeRequest, DecodesTheHandBuiltExample) {
  auto request = decode_request(hex(kRequestHex));
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(*request, typical_request());
}

TEST(KeRequest, RoundTripsEveryField) {
  KeRequest request;
  request.next_protocols = {kNextProtocolNtpv4, 0x8001};
  request.aead_algorithms = {17, 16, 15};
  request.server = "ntp.example.org";
  request.port = 4123;
  auto wire = encode_request(request);
  ASSERT_TRUE(wire) << wire.error().message;
  auto back = decode_request(*wire);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, request);
}

TEST(KeRequest, ServerAndPortAreSentNonCritical) {
  KeRequest request = typical_request();
  request.server = "a.b";
  request.port = 123;
  auto wire = encode_request(request);
  ASSERT_TRUE(wire);
  EXPECT_TRUE(mentions(to_hex(*wire), "00060003612e62" "00070002007b")) << to_hex(*wire);
}

TEST(KeRequest, EncodeIntoTooSmallBufferFails) {
  Bytes out(8);
  EXPECT_FALSE(encode_request(typical_request(), out));
}

TEST(KeRequest, EncodeRefusesRequestWithoutProtocols) {
  KeRequest request = typical_request();
  request.next_protocols.clear();
  EXPECT_FALSE(encode_request(request));
}

TEST(KeRequest, EncodeRefusesNtpv4WithoutAead) {
  KeRequest request;
  EXPECT_FALSE(encode_request(request));
}

TEST(KeRequest, EncodeRefusesInvalidServerName) {
  KeRequest request = typical_request();
  request.server = "bad name";
  EXPECT_FALSE(encode_request(request));
}

TEST(KeRequest, UnknownNonCriticalRecordIsIgnored) {
  auto request = decode_request(concat({"00630002 abcd", kNtpv4, kAead15, kEnd}));
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->aead_algorithms, std::vector<std::uint16_t>{15});
}

TEST(KeRequest, UnknownCriticalRecordGetsError0) {
  auto request = decode_request(concat({kNtpv4, kAead15, "80630000", kEnd}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorUnrecognizedCritical);
  EXPECT_TRUE(mentions(request.error().message, "unrecognized critical record type 99")) << request.error().message;
}

TEST(KeRequest, UnknownCriticalRecordBeforeTheRequiredOnesStillGetsError0) {
  EXPECT_EQ(refusal_code(concat({"c0000000", kEnd})), kKeErrorUnrecognizedCritical);
}

TEST(KeRequest, DuplicateNextProtocolRecordIsBadRequest) {
  auto request = decode_request(concat({kNtpv4, kNtpv4, kAead15, kEnd}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "duplicate Next Protocol")) << request.error().message;
}

TEST(KeRequest, DuplicateAeadRecordIsBadRequest) {
  auto request = decode_request(concat({kNtpv4, kAead15, kAead15, kEnd}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "duplicate AEAD")) << request.error().message;
}

TEST(KeRequest, MissingNextProtocolIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kAead15, kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, MissingAeadWhileOfferingNtpv4IsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, AeadIsNotRequiredWithoutNtpv4) {
  auto request = decode_request(concat({"80010002 8001", kEnd}));
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->next_protocols, std::vector<std::uint16_t>{0x8001});
}

TEST(KeRequest, OddLengthProtocolListIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({"80010003 000000", kAead15, kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, OddLengthAeadListIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, "80040001 0f", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, EmptyProtocolListIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({"80010000", kAead15, kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, EmptyAeadListIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, "80040000", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, TooManyAeadIdsIsBadRequest) {
  KeRequest request = typical_request();
  request.aead_algorithms.assign(kKeMaxListEntries, 15);
  auto wire = encode_request(request);
  ASSERT_TRUE(wire);
  ASSERT_TRUE(decode_request(*wire));
  // One more id than the bound, spliced in by hand since the encoder refuses it.
  Bytes body(2 * (kKeMaxListEntries + 1), 0);
  Bytes message = hex(kNtpv4);
  message.push_back(0x80);
  message.push_back(0x04);
  message.push_back(0);
  message.push_back(static_cast<std::uint8_t>(body.size()));
  message.insert(message.end(), body.begin(), body.end());
  const Bytes end = hex(kEnd);
  message.insert(message.end(), end.begin(), end.end());
  EXPECT_EQ(refusal_code(message), kKeErrorBadRequest);
}

TEST(KeRequest, NonAsciiServerNameIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00060004 c3a96e74", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, ServerNameWithSpaceIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00060003 612062", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, EmptyServerNameIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00060000", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, DuplicateServerRecordIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00060001 61", "00060001 62", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, DuplicatePortRecordIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00070002 007b", "00070002 007b", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, PortOfWrongLengthIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "00070003 00007b", kEnd})), kKeErrorBadRequest);
}

TEST(KeRequest, RecordsOnlyServersSendAreBadRequest) {
  // RFC 8915 §4.1.3, §4.1.4, §4.1.6: clients MUST NOT send Error, Warning or New Cookie.
  for (const char* record : {"80020002 0000", "80030002 0000", kCookie}) {
    auto request = decode_request(concat({kNtpv4, kAead15, record, kEnd}));
    ASSERT_FALSE(request) << record;
    EXPECT_EQ(request.error().code, kKeErrorBadRequest) << record;
    EXPECT_TRUE(mentions(request.error().message, "must not send")) << request.error().message;
  }
}

TEST(KeRequest, MissingEndOfMessageIsBadRequest) {
  auto request = decode_request(concat({kNtpv4, kAead15}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "without an End of Message")) << request.error().message;
}

TEST(KeRequest, BytesAfterEndOfMessageAreBadRequest) {
  auto request = decode_request(concat({kNtpv4, kAead15, kEnd, kAead15}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "6 bytes follow End of Message")) << request.error().message;
}

TEST(KeRequest, EndOfMessageWithBodyIsBadRequest) {
  EXPECT_EQ(refusal_code(concat({kNtpv4, kAead15, "80000001 00"})), kKeErrorBadRequest);
}

TEST(KeRequest, TruncatedRecordIsBadRequest) {
  auto request = decode_request(concat({kNtpv4, "80040004 000f"}));
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "declares 4 body bytes")) << request.error().message;
}

TEST(KeRequest, EmptyInputIsBadRequest) { EXPECT_EQ(refusal_code({}), kKeErrorBadRequest); }

TEST(KeRequest, OversizeRequestIsBadRequest) {
  // A valid request padded with an ignorable record up to one byte over the limit.
  Bytes message = concat({kNtpv4, kAead15});
  const std::size_t pad = kKeDefaultMaxMessageLength + 1 - message.size() - 4 - 4;
  message.push_back(0x00);
  message.push_back(0x63);
  message.push_back(static_cast<std::uint8_t>(pad >> 8));
  message.push_back(static_cast<std::uint8_t>(pad));
  message.resize(message.size() + pad, 0);
  const Bytes end = hex(kEnd);
  message.insert(message.end(), end.begin(), end.end());
  ASSERT_EQ(message.size(), kKeDefaultMaxMessageLength + 1);
  auto request = decode_request(message);
  ASSERT_FALSE(request);
  EXPECT_EQ(request.error().code, kKeErrorBadRequest);
  EXPECT_TRUE(mentions(request.error().message, "exceeds")) << request.error().message;
  // The same message is fine under a larger limit.
  EXPECT_TRUE(decode_request(message, 2 * kKeDefaultMaxMessageLength));
}

// ---------------------------------------------------------------------------------------------
// Negotiation

TEST(KeNegotiate, ChoosesNtpv4AndTheClientsFirstSupportedAead) {
  KeRequest request;
  request.aead_algorithms = {30, 17, 15};
  const std::uint16_t server[] = {15, 16, 17};
  const KeNegotiation negotiation = negotiate(request, server);
  EXPECT_EQ(negotiation.next_protocol, kNextProtocolNtpv4);
  EXPECT_EQ(negotiation.aead, 17);
  EXPECT_TRUE(negotiation.agreed());
}

TEST(KeNegotiate, NoCommonAeadLeavesTheAeadRecordEmptyAndSendsNoCookies) {
  KeRequest request;
  request.aead_algorithms = {30};
  const std::uint16_t server[] = {15};
  const KeNegotiation negotiation = negotiate(request, server);
  EXPECT_FALSE(negotiation.agreed());
  const KeResponse response = make_response(negotiation, {Bytes{1, 2, 3}});
  EXPECT_TRUE(response.cookies.empty());
  auto wire = encode_response(response);
  ASSERT_TRUE(wire);
  // RFC 8915 §4.1.5: "It is empty if the server supports none of the algorithms offered."
  EXPECT_EQ(to_hex(*wire), "800100020000" "80040000" "80000000");
  EXPECT_TRUE(mentions(response_problem(*wire, request), "none of the offered AEAD"));
}

TEST(KeNegotiate, WithoutNtpv4TheProtocolListIsEmpty) {
  KeRequest request;
  request.next_protocols = {0x8001};
  request.aead_algorithms = {15};
  const std::uint16_t server[] = {15};
  const KeNegotiation negotiation = negotiate(request, server);
  EXPECT_FALSE(negotiation.next_protocol);
  EXPECT_FALSE(negotiation.aead);
  auto wire = encode_response(make_response(negotiation, {}));
  ASSERT_TRUE(wire);
  EXPECT_EQ(to_hex(*wire), "80010000" "80040000" "80000000");
  EXPECT_TRUE(mentions(response_problem(*wire, request), "none of the offered next protocols"));
}

TEST(KeNegotiate, AgreedResponseDecodesOnTheClient) {
  const KeRequest request = typical_request();
  const std::uint16_t server[] = {17};
  const KeResponse response = make_response(negotiate(request, server), {Bytes(100, 7), Bytes(100, 8)});
  auto wire = encode_response(response);
  ASSERT_TRUE(wire) << wire.error().message;
  auto back = decode_response(*wire, request);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, response);
  EXPECT_EQ(back->aead, 17);
  EXPECT_TRUE(check_usable(*back));
}

// ---------------------------------------------------------------------------------------------
// Responses

KeResponse typical_response() {
  KeResponse response;
  response.next_protocol = kNextProtocolNtpv4;
  response.aead = 15;
  response.cookies = {hex("deadbeef"), hex("cafebabe")};
  return response;
}

TEST(KeResponse, EncodesTheHandBuiltExampleByteForByte) {
  auto wire = encode_response(typical_response());
  ASSERT_TRUE(wire) << wire.error().message;
  EXPECT_EQ(to_hex(*wire), to_hex(hex(kResponseHex)));
}

TEST(KeResponse, DecodesTheHandBuiltExample) {
  auto response = decode_response(hex(kResponseHex), typical_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(*response, typical_response());
  EXPECT_TRUE(check_usable(*response));
}

TEST(KeResponse, RoundTripsEveryField) {
  KeResponse response = typical_response();
  response.cookies.assign(8, Bytes(100, 0xab));
  response.server = "2001:db8::1";
  response.port = 1123;
  auto wire = encode_response(response);
  ASSERT_TRUE(wire) << wire.error().message;
  auto back = decode_response(*wire, typical_request());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, response);
}

TEST(KeResponse, ErrorIsSurfacedWithItsCode) {
  auto wire = encode_response(make_error_response(kKeErrorBadRequest));
  ASSERT_TRUE(wire);
  EXPECT_EQ(to_hex(*wire), "800200020001" "80000000");
  auto response = decode_response(*wire, typical_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->error, kKeErrorBadRequest);
  auto usable = check_usable(*response);
  ASSERT_FALSE(usable);
  EXPECT_TRUE(mentions(usable.error().message, "Error 1 (Bad Request)")) << usable.error().message;
}

TEST(KeResponse, ErrorResponseDropsEverythingElse) {
  auto response = decode_response(concat({kNtpv4, kAead15, kCookie, "80020002 0002", kEnd}), typical_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->error, kKeErrorInternal);
  EXPECT_TRUE(response->cookies.empty());
  EXPECT_FALSE(response->aead);
}

TEST(KeResponse, WarningIsSurfacedAndMakesTheResponseUnusable) {
  auto response = decode_response(concat({kNtpv4, kAead15, kCookie, "80030002 0007", kEnd}), typical_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->warnings, std::vector<std::uint16_t>{7});
  auto usable = check_usable(*response);
  ASSERT_FALSE(usable);
  EXPECT_TRUE(mentions(usable.error().message, "Warning 7")) << usable.error().message;
}

TEST(KeResponse, MissingNextProtocolIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kAead15, kCookie, kEnd})), "no Next Protocol"));
}

TEST(KeResponse, ProtocolNotOfferedIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({"80010002 0001", kAead15, kCookie, kEnd})), "not offered"));
}

TEST(KeResponse, MissingAeadIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, kCookie, kEnd})), "no AEAD"));
}

TEST(KeResponse, AeadNotOfferedIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, "80040002 0010", kCookie, kEnd})), "16, which was not offered"));
}

TEST(KeResponse, TwoAeadsInAResponseAreRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, "80040004 000f0011", kCookie, kEnd})), "at most one"));
}

TEST(KeResponse, OddLengthProtocolListIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({"80010001 00", kAead15, kCookie, kEnd})), "odd length"));
}

TEST(KeResponse, DuplicateSingletonRecordsAreRejected) {
  for (const char* record : {kNtpv4, kAead15, "00060001 61", "00070002 007b"}) {
    const Bytes message = concat({kNtpv4, kAead15, kCookie, "00060001 61", "00070002 007b", record, kEnd});
    EXPECT_TRUE(mentions(response_problem(message), "duplicate")) << record;
  }
  EXPECT_TRUE(mentions(response_problem(concat({"80020002 0001", "80020002 0001", kEnd})), "duplicate Error"));
}

TEST(KeResponse, NoCookiesIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, kAead15, kEnd})), "no New Cookie"));
}

TEST(KeResponse, TooManyCookiesAreRejected) {
  KeResponse response = typical_response();
  response.cookies.assign(kKeMaxCookies, Bytes(100, 1));
  auto wire = encode_response(response);
  ASSERT_TRUE(wire) << wire.error().message;
  ASSERT_TRUE(decode_response(*wire, typical_request()));
  // One more cookie record spliced in before End of Message.
  Bytes more(wire->begin(), wire->end() - 4);
  const Bytes tail = concat({kCookie, kEnd});
  more.insert(more.end(), tail.begin(), tail.end());
  EXPECT_TRUE(mentions(response_problem(more), "more than 16 cookies"));
  response.cookies.emplace_back(100, 1);
  EXPECT_FALSE(encode_response(response));
}

TEST(KeResponse, OversizeCookieIsRejected) {
  KeResponse response = typical_response();
  response.cookies = {Bytes(kKeMaxCookieLength, 1)};
  ASSERT_TRUE(encode_response(response));
  response.cookies = {Bytes(kKeMaxCookieLength + 1, 1)};
  EXPECT_FALSE(encode_response(response));
  Bytes message = concat({kNtpv4, kAead15, "00050401"});
  message.resize(message.size() + kKeMaxCookieLength + 1, 1);
  const Bytes end = hex(kEnd);
  message.insert(message.end(), end.begin(), end.end());
  EXPECT_TRUE(mentions(response_problem(message), "cookie of 1025 bytes"));
}

TEST(KeResponse, EmptyCookieIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, kAead15, "00050000", kEnd})), "cookie of 0 bytes"));
}

TEST(KeResponse, UnknownCriticalRecordIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, kAead15, kCookie, "c0010000", kEnd})),
                       "unrecognized critical record type 16385"));
}

TEST(KeResponse, UnknownNonCriticalRecordIsIgnored) {
  auto response = decode_response(concat({kNtpv4, "40010002 abcd", kAead15, kCookie, kEnd}), typical_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->cookies.size(), 1u);
}

TEST(KeResponse, InvalidServerNameIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kNtpv4, kAead15, kCookie, "80060002 61ff", kEnd})), "ASCII"));
}

TEST(KeResponse, ErrorOfWrongLengthIsRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({"80020001 01", kEnd})), "not 2"));
}

TEST(KeResponse, TooManyWarningsAreRejected) {
  Bytes message = concat({kNtpv4, kAead15, kCookie});
  for (std::size_t i = 0; i <= kKeMaxWarnings; ++i) {
    const Bytes warning = hex("80030002 0000");
    message.insert(message.end(), warning.begin(), warning.end());
  }
  const Bytes end = hex(kEnd);
  message.insert(message.end(), end.begin(), end.end());
  EXPECT_TRUE(mentions(response_problem(message), "more than 16 Warning"));
}

TEST(KeResponse, BytesAfterEndOfMessageAreRejected) {
  EXPECT_TRUE(mentions(response_problem(concat({kResponseHex, "00"})), "1 bytes follow End of Message"));
}

TEST(KeResponse, TruncatedResponseIsRejected) {
  const Bytes full = hex(kResponseHex);
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(decode_response(ByteView(full).first(n), typical_request())) << "prefix " << n;
  }
}

TEST(KeResponse, OversizeResponseIsRejected) {
  const Bytes full = hex(kResponseHex);
  auto response = decode_response(full, typical_request(), full.size() - 1);
  ASSERT_FALSE(response);
  EXPECT_TRUE(mentions(response.error().message, "exceeds the limit")) << response.error().message;
}

TEST(KeServerName, AcceptsHostNamesAndAddressLiterals) {
  EXPECT_TRUE(is_valid_server_name("time.example.com"));
  EXPECT_TRUE(is_valid_server_name("192.0.2.1"));
  EXPECT_TRUE(is_valid_server_name("2001:db8::1"));
  EXPECT_FALSE(is_valid_server_name(""));
  EXPECT_FALSE(is_valid_server_name("a b"));
  EXPECT_FALSE(is_valid_server_name("tab\there"));
  EXPECT_FALSE(is_valid_server_name(std::string(256, 'a')));
  EXPECT_TRUE(is_valid_server_name(std::string(255, 'a')));
}

}  // namespace
}  // namespace kairos
