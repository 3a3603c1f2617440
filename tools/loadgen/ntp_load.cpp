#include "ntp_load.hpp"

#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

namespace kairos {
namespace {

constexpr std::size_t kReceiveBatch = 64;
constexpr std::size_t kReceiveBufferSize = 1280;  // larger than any NTS response we provoke
// Requests sent per loop turn at most, so a generator running behind still empties its sockets.
constexpr std::uint64_t kSendsPerTurn = 1024;
// Datagrams per UDP GSO send: the kernel takes at most 64 segments (UDP_MAX_SEGMENTS) on older
// kernels.
constexpr std::size_t kMaxGsoSegments = 64;

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// `count` connected UDP sockets, each its own source port; socket i comes from
// options.bind[i % size] when addresses are given. SO_RXQ_OVFL reports what a queue dropped.
Result<std::vector<UniqueFd>> open_sockets(const NtpLoadOptions& options, std::size_t count) {
  std::vector<UniqueFd> sockets;
  for (std::size_t i = 0; i < count; ++i) {
    auto fd = open_socket(options.server.family(), SOCK_DGRAM);
    if (!fd) return std::unexpected(fd.error());
    const int on = 1;
    setsockopt(fd->get(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    // Room for bursts of answers while the generator is busy sending; capped by rmem_max.
    const int buffer = 1 << 20;
    setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    if (!options.bind.empty()) {
      const SocketAddress& source = options.bind[i % options.bind.size()];
      if (bind(fd->get(), source.get(), source.length) != 0) {
        return fail("bind to " + source.to_string() + ": " + std::strerror(errno));
      }
    }
    if (connect(fd->get(), options.server.get(), options.server.length) != 0) {
      return fail("connect to " + options.server.to_string() + ": " + std::strerror(errno));
    }
    sockets.push_back(std::move(*fd));
  }
  return sockets;
}

class Receiver {
 public:
  explicit Receiver(std::size_t sockets) : drops_(sockets, 0) {
    for (std::size_t i = 0; i < kReceiveBatch; ++i) {
      iov_[i] = {buffers_[i].data(), buffers_[i].size()};
    }
  }

  // Reads everything queued on one socket and classifies it; on a junk socket everything is an
  // answer to junk.
  void drain(int fd, std::size_t socket, bool junk_socket, RequestSet& requests, NtpLoadReport& report) {
    for (;;) {
      for (std::size_t i = 0; i < kReceiveBatch; ++i) {
        msgs_[i].msg_hdr = {};
        msgs_[i].msg_hdr.msg_iov = &iov_[i];
        msgs_[i].msg_hdr.msg_iovlen = 1;
        msgs_[i].msg_hdr.msg_control = control_[i].data();
        msgs_[i].msg_hdr.msg_controllen = control_[i].size();
      }
      const int n = recvmmsg(fd, msgs_.data(), kReceiveBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;  // EAGAIN, or an ICMP error reported once: nothing more to read now
      for (int i = 0; i < n; ++i) {
        const auto& msg = msgs_[static_cast<std::size_t>(i)];
        note_drops(msg.msg_hdr, socket);
        if (junk_socket) {
          ++report.answered_junk;
          continue;
        }
        ++report.received;
        const Verdict v = requests.classify({buffers_[static_cast<std::size_t>(i)].data(), msg.msg_len});
        ++report.verdicts[static_cast<std::size_t>(v)];
      }
      if (static_cast<std::size_t>(n) < kReceiveBatch) return;
    }
  }

  std::uint64_t drops() const {
    std::uint64_t total = 0;
    for (auto d : drops_) total += d;
    return total;
  }

 private:
  // The kernel reports the socket's running drop count with each datagram.
  void note_drops(const msghdr& hdr, std::size_t socket) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&hdr), c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        std::uint32_t dropped = 0;
        std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
        drops_[socket] = std::max<std::uint64_t>(drops_[socket], dropped);
      }
    }
  }

  std::array<std::array<std::uint8_t, kReceiveBufferSize>, kReceiveBatch> buffers_{};
  std::array<std::array<std::uint8_t, CMSG_SPACE(sizeof(std::uint32_t))>, kReceiveBatch> control_{};
  std::array<iovec, kReceiveBatch> iov_{};
  std::array<mmsghdr, kReceiveBatch> msgs_{};
  std::vector<std::uint64_t> drops_;
};

class Sender {
 public:
  Sender(std::size_t batch, bool gso)
      : batch_(std::clamp<std::size_t>(batch, 1, kMaxGsoSegments)), gso_(gso), msgs_(batch_), iov_(batch_), index_(batch_) {}

  bool gso() const { return gso_; }

  // Sends `count` requests (or fewer on a kernel refusal) from one socket; returns how many left.
  std::size_t send(int fd, std::size_t count, RequestSet& requests, NtpLoadReport& report) {
    count = std::min(count, batch_);
    bool same_size = true;
    for (std::size_t i = 0; i < count; ++i) {
      index_[i] = requests.next_to_send();
      const ByteView bytes = requests.request(index_[i]);
      iov_[i] = {const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
      same_size = same_size && bytes.size() == iov_[0].iov_len;
    }
    std::size_t sent = 0;
    if (gso_ && same_size && count > 1) {
      sent = send_segmented(fd, count);
    } else {
      sent = send_each(fd, count);
    }
    for (std::size_t i = sent; i < count; ++i) requests.unsend(index_[i]);
    report.sent += sent;
    report.send_failed += count - sent;
    return sent;
  }

 private:
  // UDP GSO (UDP_SEGMENT): the batch leaves as one buffer that the kernel cuts into datagrams of
  // the segment size before any socket sees them, so the server receives exactly what sendmmsg
  // would have sent, for a fraction of the generator's per-datagram kernel work.
  std::size_t send_segmented(int fd, std::size_t count) {
    alignas(cmsghdr) std::array<std::uint8_t, CMSG_SPACE(sizeof(std::uint16_t))> control{};
    msghdr msg{};
    msg.msg_iov = iov_.data();
    msg.msg_iovlen = count;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(iov_[0].iov_len);
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    if (sendmsg(fd, &msg, MSG_DONTWAIT) >= 0) return count;  // all or nothing
    if (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
      gso_ = false;  // no UDP GSO here: datagram by datagram from now on
      return send_each(fd, count);
    }
    return 0;
  }

  std::size_t send_each(int fd, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      msgs_[i] = {};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = sendmmsg(fd, msgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  std::size_t batch_;
  bool gso_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<std::size_t> index_;
};

// Junk goes datagram by datagram (sendmmsg): its sizes differ, so UDP GSO cannot carry it.
class JunkSender {
 public:
  explicit JunkSender(std::size_t batch) : batch_(std::clamp<std::size_t>(batch, 1, kMaxGsoSegments)), msgs_(batch_), iov_(batch_) {}

  // Sends `count` (at most one batch) junk datagrams from one socket; returns how many it tried.
  std::size_t send(int fd, std::size_t count, JunkSet& junk, NtpLoadReport& report) {
    count = std::min(count, batch_);
    for (std::size_t i = 0; i < count; ++i) {
      const ByteView bytes = junk.next();
      iov_[i] = {const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
      msgs_[i] = {};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = sendmmsg(fd, msgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
    report.junk_sent += sent;
    report.send_failed += count - sent;
    return count;
  }

 private:
  std::size_t batch_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
};

}  // namespace

Result<NtpLoadReport> run_ntp_load(const NtpLoadOptions& options, RequestSet& requests, JunkSet* junk) {
  if (!(options.rate > 0) || !(options.duration > 0)) return fail("rate and duration must be positive");
  if (options.sockets == 0) return fail("at least one socket is needed");
  if (requests.size() == 0) return fail("no requests to send");
  if (!(options.junk >= 0 && options.junk <= 1)) return fail("the junk fraction must be from 0 to 1");
  const bool with_junk = options.junk > 0;
  if (with_junk && (junk == nullptr || junk->size() == 0)) return fail("a junk fraction needs junk to send");
  // Request sockets first, then the junk sockets (one per source address), in one list so one
  // epoll watches them all; an index at or past `junk_first` is a junk socket.
  auto sockets = open_sockets(options, options.sockets);
  if (!sockets) return std::unexpected(sockets.error());
  const std::size_t junk_first = sockets->size();
  if (with_junk) {
    auto junk_sockets = open_sockets(options, std::max<std::size_t>(1, options.bind.size()));
    if (!junk_sockets) return std::unexpected(junk_sockets.error());
    for (auto& fd : *junk_sockets) sockets->push_back(std::move(fd));
  }
  const std::size_t junk_count = sockets->size() - junk_first;

  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return fail(std::string("epoll_create1: ") + std::strerror(errno));
  for (std::size_t i = 0; i < sockets->size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, (*sockets)[i].get(), &ev) != 0) {
      return fail(std::string("epoll_ctl: ") + std::strerror(errno));
    }
  }

  NtpLoadReport report;
  report.planned = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(options.rate * options.duration)));
  Receiver receiver(sockets->size());
  Sender sender(options.batch, options.gso);
  JunkSender junk_sender(options.batch);
  std::array<epoll_event, 64> events{};
  const double ns_per_request = 1e9 / options.rate;
  const std::int64_t drain_ns = std::chrono::nanoseconds(options.drain).count();

  const double cpu_start = cpu_seconds();
  const std::int64_t start = monotonic_ns();
  std::int64_t last_send = start;
  std::int64_t receive_end = -1;  // set once everything is sent
  std::uint64_t attempted = 0;    // sent + refused, requests and junk
  std::uint64_t junk_attempted = 0;
  std::size_t next_socket = 0;
  std::size_t next_junk_socket = 0;
  // Of the first k datagrams, floor(k × junk) are junk: the share holds at every moment.
  auto junk_share = [&](std::uint64_t k) {
    return static_cast<std::uint64_t>(std::floor(static_cast<double>(k) * options.junk));
  };
  std::int64_t last_wake = start;
  const std::int64_t tick_ns = std::chrono::nanoseconds(options.tick).count();

  for (;;) {
    std::int64_t now = monotonic_ns();
    if (attempted < report.planned) {
      // Request k is due at start + k / rate: deadlines are absolute, so lateness is caught up.
      const auto due = std::min<std::uint64_t>(
          report.planned, static_cast<std::uint64_t>(static_cast<double>(now - start) / ns_per_request) + 1);
      const std::uint64_t junk_due = junk_share(due);
      const std::uint64_t requests_due = due - junk_due;
      std::uint64_t budget = kSendsPerTurn;
      while (attempted < due && budget > 0) {
        if (junk_attempted < junk_due) {
          const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(junk_due - junk_attempted, budget));
          const std::size_t tried =
              junk_sender.send((*sockets)[junk_first + next_junk_socket].get(), count, *junk, report);
          junk_attempted += tried;
          attempted += tried;
          budget -= std::min<std::uint64_t>(budget, tried);
          next_junk_socket = next_junk_socket + 1 == junk_count ? 0 : next_junk_socket + 1;
          last_send = now;
          continue;
        }
        const std::uint64_t requests_attempted = attempted - junk_attempted;
        if (requests_attempted >= requests_due) break;
        const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(requests_due - requests_attempted, budget));
        const std::size_t before = report.send_failed;
        const std::size_t sent = sender.send((*sockets)[next_socket].get(), count, requests, report);
        const std::size_t tried = sent + (report.send_failed - before);
        attempted += tried;
        budget -= std::min<std::uint64_t>(budget, tried);
        next_socket = next_socket + 1 == junk_first ? 0 : next_socket + 1;
        if (sent > 0) last_send = now;
      }
      if (attempted == report.planned) {
        last_send = monotonic_ns();
        receive_end = last_send + drain_ns;
      }
    }
    // Answers are read once per turn, not per arrival: waking for every datagram would cost the
    // generator more than the server spends on it. A few passes at most, so sending goes on.
    for (int pass = 0; pass < 4; ++pass) {
      const int ready = epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 0);
      if (ready < 0 && errno != EINTR) return fail(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < ready; ++i) {
        const auto socket = static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64);
        receiver.drain((*sockets)[socket].get(), socket, socket >= junk_first, requests, report);
      }
      if (ready < static_cast<int>(events.size())) break;
    }
    now = monotonic_ns();
    if (receive_end >= 0 && now >= receive_end) break;

    // Sleep until the next request is due, but at least one tick after the last wake-up, so
    // each turn sends a batch (rate × tick requests) instead of one request per wake-up.
    std::int64_t wake = last_wake + tick_ns;
    if (attempted < report.planned) {
      const auto next_due = start + static_cast<std::int64_t>(static_cast<double>(attempted) * ns_per_request);
      wake = std::max(wake, next_due);
    } else {
      wake = std::min(std::max(wake, now + tick_ns), receive_end);
    }
    if (wake > now) {
      const timespec until{.tv_sec = wake / 1'000'000'000, .tv_nsec = wake % 1'000'000'000};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
      }
    }
    last_wake = monotonic_ns();
  }

  const std::int64_t end = monotonic_ns();
  report.client_cpu_seconds = cpu_seconds() - cpu_start;
  report.wall_seconds = static_cast<double>(end - start) * 1e-9;
  // From the start to the last send plus one interval: exactly the duration when on time.
  report.send_seconds = (static_cast<double>(last_send - start) + ns_per_request) * 1e-9;
  report.verified = requests.verified();
  report.gso = sender.gso();
  report.client_drops = receiver.drops();
  return report;
}

}  // namespace kairos
