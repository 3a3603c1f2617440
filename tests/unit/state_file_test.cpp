#include "daemon/state_file.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nts/cookie.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

constexpr std::uint64_t kNow = 19000 * 86400 + 5;

using test::TempDir;

Buffer bytes_of(const std::string& s) { return Buffer(s.begin(), s.end()); }

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(StateFile, WriteThenReadRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("state");
  ASSERT_TRUE(write_file_atomic(path, bytes_of("first"), 0600));
  EXPECT_EQ(contents(path), "first");
  EXPECT_EQ(mode_of(path), 0600u);
  ASSERT_TRUE(write_file_atomic(path, bytes_of("second, longer"), 0644));
  auto read = read_file_bounded(path, 100);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, bytes_of("second, longer"));
  EXPECT_EQ(mode_of(path), 0644u);
  EXPECT_EQ(dir.entry_count(), 1u);  // no temporary file left behind
}

TEST(StateFile, EmptyFileIsFine) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.file("empty"), {}, 0600));
  auto read = read_file_bounded(dir.file("empty"), 0);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_TRUE(read->empty());
}

TEST(StateFile, ReadRefusesFilesOverTheBound) {
  TempDir dir;
  const std::string path = dir.file("big");
  ASSERT_TRUE(write_file_atomic(path, Buffer(10000, 'x'), 0600));
  EXPECT_TRUE(read_file_bounded(path, 10000));
  auto refused = read_file_bounded(path, 9999);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("larger than 9999 bytes"), std::string::npos) << refused.error().message;
}

TEST(StateFile, MissingFileErrorNamesPathAndCause) {
  TempDir dir;
  auto refused = read_file_bounded(dir.file("absent"), 10);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(dir.file("absent")), std::string::npos);
  EXPECT_NE(refused.error().message.find("No such file"), std::string::npos) << refused.error().message;
}

// Root ignores permission bits, but not RLIMIT_FSIZE: a write past the limit fails with EFBIG in
// the middle of the file, just like a full disk would.
TEST(StateFile, FailedWriteKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("state");
  ASSERT_TRUE(write_file_atomic(path, bytes_of("old content"), 0600));

  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* saved_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto result = write_file_atomic(path, Buffer(100000, 'n'), 0600);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);

  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("File too large"), std::string::npos) << result.error().message;
  EXPECT_EQ(contents(path), "old content");
  EXPECT_EQ(dir.entry_count(), 1u);  // the temporary file was removed
}

TEST(StateFile, FailedRenameKeepsTheTargetAndCleansUp) {
  TempDir dir;
  const std::string path = dir.file("occupied");
  fs::create_directory(path);
  std::ofstream(path + "/inside") << "keep me";
  auto result = write_file_atomic(path, bytes_of("new"), 0600);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("cannot rename"), std::string::npos) << result.error().message;
  EXPECT_EQ(contents(path + "/inside"), "keep me");
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(StateFile, ParentThatIsAFileIsAnError) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.file("plain"), bytes_of("x"), 0600));
  auto result = write_file_atomic(dir.file("plain") + "/state", bytes_of("new"), 0600);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("Not a directory"), std::string::npos) << result.error().message;
  EXPECT_EQ(contents(dir.file("plain")), "x");
}

TEST(KeyRingFile, SavedRingLoadsEqualWithMode0600) {
  TempDir dir;
  const std::string path = dir.file("cookie-keys");
  auto ring = KeyRing::from_random(KeyRingConfig{86400, 3}, kNow).value();
  ASSERT_TRUE(ring.rotate(kNow + 86400));
  ASSERT_TRUE(save_key_ring(path, ring));
  EXPECT_EQ(mode_of(path), 0600u);
  auto loaded = load_key_ring(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(*loaded == ring);
}

// The reason random keys are persisted: a restarted server still opens the cookies it gave out.
TEST(KeyRingFile, CookiesSurviveARestartWithRandomKeys) {
  TempDir dir;
  const std::string path = dir.file("cookie-keys");
  auto ring = KeyRing::from_random(KeyRingConfig{86400, 1}, kNow).value();
  const auto keys = NtsKeys::create(15, Buffer(32, 1), Buffer(32, 2)).value();
  Buffer cookie(kCookieMaxLength);
  auto n = seal_cookie(keys, ring.current(), cookie);
  ASSERT_TRUE(n);
  cookie.resize(*n);
  ASSERT_TRUE(save_key_ring(path, ring));

  auto restarted = load_key_ring(path);
  ASSERT_TRUE(restarted) << restarted.error().message;
  auto opened = open_cookie(cookie, *restarted);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(*opened == keys);
  // A new random ring (what a restart without the file would make) refuses it.
  auto fresh = KeyRing::from_random(KeyRingConfig{86400, 1}, kNow).value();
  EXPECT_FALSE(open_cookie(cookie, fresh));
}

TEST(KeyRingFile, KeyFileReadableByOthersIsRefused) {
  TempDir dir;
  const std::string path = dir.file("cookie-keys");
  const auto ring = KeyRing::from_random(KeyRingConfig{86400, 1}, kNow).value();
  for (mode_t mode : {mode_t{0640}, mode_t{0604}, mode_t{0660}, mode_t{0602}}) {
    const SecretBytes text = ring.serialize();
    ASSERT_TRUE(write_file_atomic(path, text.view(), mode));
    auto refused = load_key_ring(path);
    ASSERT_FALSE(refused) << std::oct << mode;
    EXPECT_NE(refused.error().message.find("group or others"), std::string::npos) << refused.error().message;
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(load_key_ring(path));
}

TEST(KeyRingFile, CorruptOrOversizedKeyFileIsRefusedWithItsPath) {
  TempDir dir;
  const std::string path = dir.file("cookie-keys");
  const auto ring = KeyRing::from_random(KeyRingConfig{86400, 1}, kNow).value();
  const SecretBytes text = ring.serialize();
  ASSERT_TRUE(write_file_atomic(path, text.view().first(text.size() - 1), 0600));
  auto truncated = load_key_ring(path);
  ASSERT_FALSE(truncated);
  EXPECT_TRUE(truncated.error().message.starts_with(path + ": ")) << truncated.error().message;

  ASSERT_TRUE(write_file_atomic(path, Buffer(kMaxKeyFileSize + 1, 'k'), 0600));
  auto oversized = load_key_ring(path);
  ASSERT_FALSE(oversized);
  EXPECT_NE(oversized.error().message.find("larger than"), std::string::npos) << oversized.error().message;

  fs::create_directory(dir.file("a-directory"));
  ::chmod(dir.file("a-directory").c_str(), 0700);
  EXPECT_FALSE(load_key_ring(dir.file("a-directory")));
  EXPECT_FALSE(load_key_ring(dir.file("absent")));
}

TEST(SeedFileIo, SeedFileLoadsAndFeedsARing) {
  TempDir dir;
  const std::string path = dir.file("seed");
  const std::string text = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n";
  ASSERT_TRUE(write_file_atomic(path, bytes_of(text), 0600));
  auto seed = load_seed_file(path);
  ASSERT_TRUE(seed) << seed.error().message;
  EXPECT_EQ(seed->bytes().size(), 32u);
  EXPECT_TRUE(KeyRing::from_seed(*seed, KeyRingConfig{86400, 1}, kNow));

  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto exposed = load_seed_file(path);
  ASSERT_FALSE(exposed);
  EXPECT_NE(exposed.error().message.find("group or others"), std::string::npos) << exposed.error().message;

  ASSERT_TRUE(write_file_atomic(path, bytes_of("00112233\n"), 0600));
  auto short_seed = load_seed_file(path);
  ASSERT_FALSE(short_seed);
  EXPECT_TRUE(short_seed.error().message.starts_with(path + ": ")) << short_seed.error().message;
}

}  // namespace
}  // namespace kairos
