#include "hold_load.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "nts/ntp_client.hpp"

namespace kairos {
namespace {

using Clock = std::chrono::steady_clock;

// What a slowloris trickles: the start of a TLS record (RFC 8446 §5.1: handshake, 512 octets)
// holding a ClientHello (§4.1.2) that never completes, so the server cannot tell it from a slow
// client until its deadline. Past this prefix it goes on with zeros.
constexpr std::array<std::uint8_t, 11> kTricklePrefix{0x16, 0x03, 0x01, 0x02, 0x00,  // record header
                                                      0x01, 0x00, 0x01, 0xfc,        // ClientHello, 508 octets
                                                      0x03, 0x03};                   // legacy_version

enum class State : std::uint8_t { kConnecting, kOpen, kClosed };

struct Held {
  UniqueFd fd;
  State state = State::kConnecting;
  Clock::time_point opened_at;
  Clock::time_point next_byte;
  std::size_t trickled = 0;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class Holder {
 public:
  explicit Holder(const HoldOptions& options) : options_(options), garbage_(options.garbage) {
    if (!garbage_.empty()) system_random()(garbage_);
    held_.reserve(options.connections);
  }

  Result<HoldReport> run() {
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.duration));
    const auto interval = std::chrono::duration<double>(1.0 / options_.rate);
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;  // index into held_ of each pollfd
    for (;;) {
      auto now = Clock::now();
      // Connection k is due at start + k / rate: a late turn opens what it owes.
      while (held_.size() < options_.connections && now < end &&
             start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(held_.size())) <= now) {
        if (auto ok = open_next(now); !ok) return std::unexpected(ok.error());
      }
      if (options_.trickle > 0) trickle(now);
      if (now >= end) break;
      if (held_.size() == options_.connections && open_ + connecting_ == 0) break;  // all done

      auto wake = end;
      if (held_.size() < options_.connections) {
        wake = std::min(wake, start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(held_.size())));
      }
      fds.clear();
      which.clear();
      for (std::size_t i = 0; i < held_.size(); ++i) {
        const Held& h = held_[i];
        if (h.state == State::kClosed) continue;
        fds.push_back({.fd = h.fd.get(), .events = static_cast<short>(h.state == State::kConnecting ? POLLOUT : POLLIN), .revents = 0});
        which.push_back(i);
        if (h.state == State::kOpen && options_.trickle > 0) wake = std::min(wake, h.next_byte);
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      const int ready = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long>(wait, 0, 1000)));
      if (ready < 0 && errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
      if (ready <= 0) continue;
      now = Clock::now();
      for (std::size_t k = 0; k < fds.size(); ++k) {
        if (fds[k].revents == 0) continue;
        Held& h = held_[which[k]];
        if (h.state == State::kConnecting) on_connect_ready(h, fds[k].revents, now);
        if (h.state == State::kOpen && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) read(h, now);
      }
    }
    return finish(start);
  }

 private:
  Result<void> open_next(Clock::time_point now) {
    ++report_.attempted;
    auto fd = open_socket(options_.server.family(), SOCK_STREAM);
    if (!fd) return fail(fd.error().message + " after " + std::to_string(held_.size()) + " connections (ulimit -n?)");
    if (!options_.bind.empty()) {
      const SocketAddress& source = options_.bind[held_.size() % options_.bind.size()];
      if (bind(fd->get(), source.get(), source.length) != 0) {
        return fail("bind to " + source.to_string() + ": " + std::strerror(errno));
      }
    }
    held_.emplace_back();
    Held& h = held_.back();
    h.fd = std::move(*fd);
    if (connect(h.fd.get(), options_.server.get(), options_.server.length) == 0) {
      established(h, now);
    } else if (errno == EINPROGRESS) {
      ++connecting_;
    } else {
      ++report_.connect_failed;
      close(h);
    }
    return {};
  }

  void on_connect_ready(Held& h, short revents, Clock::time_point now) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return;
    --connecting_;
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(h.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == 0 || error == ECONNRESET || error == EPIPE) {
      // A reset here came after the handshake: the server accepted and closed at once.
      established(h, now);
      if (error != 0) server_closed(h, now);
      return;
    }
    ++report_.connect_failed;
    close(h);
  }

  void established(Held& h, Clock::time_point now) {
    h.state = State::kOpen;
    h.opened_at = now;
    h.next_byte = now;
    ++report_.opened;
    ++open_;
    report_.peak_open = std::max<std::uint64_t>(report_.peak_open, open_);
    if (!garbage_.empty()) {
      const ssize_t n = send(h.fd.get(), garbage_.data(), garbage_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) report_.bytes_sent += static_cast<std::uint64_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) server_closed(h, now);
    }
  }

  void trickle(Clock::time_point now) {
    const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.trickle));
    for (Held& h : held_) {
      if (h.state != State::kOpen || h.next_byte > now) continue;
      const std::uint8_t byte = h.trickled < kTricklePrefix.size() ? kTricklePrefix[h.trickled] : 0;
      const ssize_t n = send(h.fd.get(), &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n == 1) {
        ++h.trickled;
        ++report_.bytes_sent;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        server_closed(h, now);
        continue;
      }
      h.next_byte = now + every;
    }
  }

  // Reads and drops what the server sends; its FIN or reset ends the connection.
  void read(Held& h, Clock::time_point now) {
    std::array<std::uint8_t, 4096> buffer{};
    for (;;) {
      const ssize_t n = recv(h.fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n > 0) {
        report_.bytes_received += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      server_closed(h, now);
      return;
    }
  }

  void server_closed(Held& h, Clock::time_point now) {
    lifetimes_.push_back(seconds(now - h.opened_at));
    ++report_.closed_by_server;
    --open_;
    close(h);
  }

  static void close(Held& h) {
    h.state = State::kClosed;
    h.fd = UniqueFd();
  }

  HoldReport finish(Clock::time_point start) {
    report_.still_open = open_;
    report_.connect_failed += connecting_;  // not connected by the end
    if (!lifetimes_.empty()) {
      std::sort(lifetimes_.begin(), lifetimes_.end());
      const std::size_t n = lifetimes_.size();
      report_.longest_lifetime = lifetimes_.back();
      report_.median_lifetime = n % 2 == 1 ? lifetimes_[n / 2] : (lifetimes_[n / 2 - 1] + lifetimes_[n / 2]) / 2;
    }
    report_.wall_seconds = seconds(Clock::now() - start);
    held_.clear();  // closes what is still open
    return report_;
  }

  const HoldOptions& options_;
  std::vector<std::uint8_t> garbage_;
  std::vector<Held> held_;
  std::vector<double> lifetimes_;
  std::uint64_t open_ = 0;
  std::uint64_t connecting_ = 0;
  HoldReport report_;
};

}  // namespace

Result<HoldReport> run_hold(const HoldOptions& options) {
  if (options.connections == 0) return fail("at least one connection is needed");
  if (!(options.rate > 0) || !(options.duration > 0)) return fail("rate and duration must be positive");
  if (!(options.trickle >= 0)) return fail("the trickle interval cannot be negative");
  if (options.trickle > 0 && options.garbage > 0) return fail("trickle or garbage, not both");
  return Holder(options).run();
}

}  // namespace kairos
