#include "daemon/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kairos {
namespace {

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

// Owns one file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes and reports the error: close can be where a delayed write error shows up.
  int close_checked() {
    const int rc = ::close(std::exchange(fd_, -1));
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Removes the temporary file unless the rename made it the real one.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!committed_) ::unlink(path_.c_str());
  }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  bool committed_ = false;
};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> write_all(int fd, ByteView bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno_text("cannot write", path, errno));
    if (n == 0) return fail("cannot write " + path + ": no progress");
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> fsync_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(errno_text("cannot open directory", dir, errno));
  if (::fsync(fd.get()) != 0) return fail(errno_text("cannot fsync directory", dir, errno));
  return {};
}

Result<std::vector<std::uint8_t>> read_fd_bounded(int fd, std::size_t max_bytes, const std::string& path) {
  std::vector<std::uint8_t> out;
  std::array<std::uint8_t, 4096> chunk{};
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(chunk.data(), chunk.size());
      return fail(errno_text("cannot read", path, errno));
    }
    if (n == 0) break;
    const auto got = static_cast<std::size_t>(n);
    if (out.size() + got > max_bytes) {
      OPENSSL_cleanse(chunk.data(), chunk.size());
      if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
      return fail(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    // Reserve the bound once so growing never leaves copies of secrets in freed memory.
    if (out.capacity() < max_bytes) out.reserve(max_bytes);
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  OPENSSL_cleanse(chunk.data(), chunk.size());
  return out;
}

}  // namespace

Result<void> write_file_atomic(const std::string& path, ByteView bytes, mode_t mode) {
  const std::string dir = directory_of(path);
  std::string temp = path + ".tmp.XXXXXX";
  // mkostemp creates the file with O_CREAT|O_EXCL and mode 0600, so no one else can open it.
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return fail(errno_text("cannot create temporary file for", path, errno));
  TempFileGuard guard(temp);

  if (auto written = write_all(fd.get(), bytes, temp); !written) return written;
  if (::fchmod(fd.get(), mode) != 0) return fail(errno_text("cannot set mode of", temp, errno));
  if (::fsync(fd.get()) != 0) return fail(errno_text("cannot fsync", temp, errno));
  if (int err = fd.close_checked(); err != 0) return fail(errno_text("cannot close", temp, err));
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno_text("cannot rename " + temp + " to", path, errno));
  guard.commit();
  // The rename is durable only once the directory entry is on disk.
  return fsync_directory(dir);
}

Result<std::vector<std::uint8_t>> read_file_bounded(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(errno_text("cannot open", path, errno));
  return read_fd_bounded(fd.get(), max_bytes, path);
}

Result<void> save_key_ring(const std::string& path, const KeyRing& ring) {
  const SecretBytes text = ring.serialize();
  return write_file_atomic(path, text.view(), 0600);
}

namespace {

// Reads a file holding secrets: it must be a regular file no one but its owner can access.
// Checked on the open descriptor, so the file read is the file checked.
Result<std::vector<std::uint8_t>> read_secret_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return fail(errno_text("cannot open", path, errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno_text("cannot stat", path, errno));
  if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return fail(path + " is accessible by group or others (mode " + std::to_string((st.st_mode >> 6) & 7) +
                std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
                "); its keys must be considered leaked: chmod 600 and replace them");
  }
  return read_fd_bounded(fd.get(), max_bytes, path);
}

}  // namespace

Result<KeyRing> load_key_ring(const std::string& path) {
  auto bytes = read_secret_file(path, kMaxKeyFileSize);
  if (!bytes) return std::unexpected(bytes.error());
  auto ring = parse_key_ring(*bytes);
  if (!bytes->empty()) OPENSSL_cleanse(bytes->data(), bytes->size());
  if (!ring) return fail(path + ": " + ring.error().message);
  return ring;
}

Result<Seed> load_seed_file(const std::string& path) {
  auto bytes = read_secret_file(path, kMaxSeedFileSize);
  if (!bytes) return std::unexpected(bytes.error());
  auto seed = parse_seed_file(*bytes);
  if (!bytes->empty()) OPENSSL_cleanse(bytes->data(), bytes->size());
  if (!seed) return fail(path + ": " + seed.error().message);
  return seed;
}

}  // namespace kairos
