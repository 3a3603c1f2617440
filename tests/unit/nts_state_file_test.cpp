#include "daemon/nts_state_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::TempDir;
using Buffer = std::vector<std::uint8_t>;

ByteView view(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

SavedNtsState sample_state(const std::string& source = "time.example.net:4460") {
  const Buffer c2s(32, 0x11);
  const Buffer s2c(32, 0x22);
  SavedNtsState state{.source = source,
                      .ke = KeClientResult{.keys = NtsKeys::create(15, c2s, s2c).value(),
                                           .cookies = {Buffer(100, 0xa1), Buffer(100, 0xa2), Buffer{0x00, 0xff}},
                                           .ntp_server = "ntp.example.net",
                                           .ntp_port = 10123,
                                           .server_negotiated = true,
                                           .port_negotiated = true}};
  return state;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(NtsStateFile, FormatThenParseRoundTrips) {
  const SavedNtsState state = sample_state();
  auto parsed = parse_nts_state(view(format_nts_state(state)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->source, state.source);
  EXPECT_EQ(parsed->ke.ntp_server, "ntp.example.net");
  EXPECT_EQ(parsed->ke.ntp_port, 10123);
  EXPECT_TRUE(parsed->ke.keys == state.ke.keys);
  EXPECT_EQ(parsed->ke.cookies, state.ke.cookies);
}

// The certificate the keys came with is kept (the evidence log names the server by it after a
// restart too); files of older kairosd have none; a malformed one is refused.
TEST(NtsStateFile, TheServersCertificateFingerprintIsKeptWhenThere) {
  SavedNtsState state = sample_state();
  state.ke.certificate_sha256 = std::string(60, 'a') + "0f9e";
  auto parsed = parse_nts_state(view(format_nts_state(state)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->ke.certificate_sha256, state.ke.certificate_sha256);
  auto without = parse_nts_state(view(format_nts_state(sample_state())));
  ASSERT_TRUE(without);
  EXPECT_EQ(without->ke.certificate_sha256, "");
  std::string text = format_nts_state(state);
  text.replace(text.find("0f9e"), 4, "0F9E");
  EXPECT_FALSE(parse_nts_state(view(text)));
}

TEST(NtsStateFile, SaveThenTakeRoundTripsAndConsumesTheFile) {
  TempDir dir;
  const SavedNtsState state = sample_state();
  ASSERT_TRUE(save_nts_state(dir.path(), state));
  const std::string path = dir.file("nts/" + nts_state_file_name(state.source));
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir.file("nts")), 0700u);
  auto taken = take_nts_state(dir.path(), state.source);
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_TRUE(*taken);
  EXPECT_TRUE((*taken)->keys == state.ke.keys);
  EXPECT_EQ((*taken)->cookies, state.ke.cookies);
  // A cookie is never handed out twice: the second start finds nothing.
  EXPECT_FALSE(std::filesystem::exists(path));
  auto again = take_nts_state(dir.path(), state.source);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST(NtsStateFile, MissingFileIsNoStateAndNoError) {
  TempDir dir;
  auto taken = take_nts_state(dir.path(), "time.example.net");
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_FALSE(*taken);
}

TEST(NtsStateFile, CorruptFileIsAnErrorAndIsRemoved) {
  TempDir dir;
  const SavedNtsState state = sample_state();
  ASSERT_TRUE(save_nts_state(dir.path(), state));
  const std::string path = dir.file("nts/" + nts_state_file_name(state.source));
  std::string text = format_nts_state(state);
  write_text(path, text.substr(0, text.size() / 2));
  auto taken = take_nts_state(dir.path(), state.source);
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find(path), std::string::npos) << taken.error().message;
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(NtsStateFile, FileOfAnotherSourceIsRefused) {
  TempDir dir;
  ASSERT_TRUE(save_nts_state(dir.path(), sample_state("a.example.net")));
  std::filesystem::rename(dir.file("nts/" + nts_state_file_name("a.example.net")),
                          dir.file("nts/" + nts_state_file_name("b.example.net")));
  auto taken = take_nts_state(dir.path(), "b.example.net");
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find("a.example.net"), std::string::npos);
}

TEST(NtsStateFile, WrongVersionIsRefused) {
  std::string text = format_nts_state(sample_state());
  const auto at = text.find("\"version\": 1");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 12, "\"version\": 7");
  auto parsed = parse_nts_state(view(text));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("version 7"), std::string::npos) << parsed.error().message;
}

TEST(NtsStateFile, CorruptContentIsRefused) {
  const std::string good = format_nts_state(sample_state());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  const std::string bad[] = {
      "", "not json", "[]", with("\"aead\": 15", "\"aead\": 9999"),                  // unknown AEAD
      with("\"aead\": 15", "\"aead\": 17"),                                          // key length does not fit
      with("\"ntp_port\": 10123", "\"ntp_port\": 70000"), with("\"ntp_port\": 10123", "\"ntp_port\": 0"),
      with("\"ntp_server\": \"ntp.example.net\"", "\"ntp_server\": \"\""),
      with("\"c2s\": \"1111", "\"c2s\": \"zz11"), with("\"c2s\": \"1111", "\"c2s\": \"111"),
      with("\"source\": \"time.example.net:4460\"", "\"source\": 5"), with("\"00ff\"", "\"\""),
      with("\"cookies\": [", "\"cookies\": 1, \"x\": ["),
  };
  for (const std::string& text : bad) EXPECT_FALSE(parse_nts_state(view(text))) << text;
  EXPECT_TRUE(parse_nts_state(view(good)));
}

TEST(NtsStateFile, StateWithoutCookiesIsRefused) {
  SavedNtsState state = sample_state();
  state.ke.cookies.clear();
  EXPECT_FALSE(parse_nts_state(view(format_nts_state(state))));
}

TEST(NtsStateFile, SavingWithoutCookiesRemovesTheOldFile) {
  TempDir dir;
  SavedNtsState state = sample_state();
  ASSERT_TRUE(save_nts_state(dir.path(), state));
  state.ke.cookies.clear();
  ASSERT_TRUE(save_nts_state(dir.path(), state));
  EXPECT_FALSE(std::filesystem::exists(dir.file("nts/" + nts_state_file_name(state.source))));
}

TEST(NtsStateFile, ServerNameThatIsNotUtf8DoesNotThrow) {
  SavedNtsState state = sample_state();
  state.ke.ntp_server = "ntp\xff.example.net";
  auto parsed = parse_nts_state(view(format_nts_state(state)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_NE(parsed->ke.ntp_server, state.ke.ntp_server);
}

TEST(NtsStateFile, FileNamesStayInTheDirectoryAndNeverCollide) {
  EXPECT_EQ(nts_state_file_name("time.example.net"), "time.example.net");
  EXPECT_EQ(nts_state_file_name("time.example.net:4460"), "time.example.net_3a4460");
  EXPECT_EQ(nts_state_file_name(".."), "_2e.");
  EXPECT_EQ(nts_state_file_name("a/b"), "a_2fb");
  EXPECT_NE(nts_state_file_name("a:b"), nts_state_file_name("a_3ab"));
  EXPECT_NE(nts_state_file_name("[::1]:4460"), nts_state_file_name("[::1]_4460"));
  EXPECT_EQ(nts_state_file_name(""), "_");
}

}  // namespace
}  // namespace kairos
