// kairos-relay: a test tool that stands between an NTP/NTS client and a server on loopback and
// mistreats the traffic as told (loss, delay, reordering, duplicates, corruption, truncation,
// replays, a lying clock), so the tests can show what the client makes of it. Decisions are
// seeded. The counters go to stdout on SIGUSR1 and, last, on SIGTERM or SIGINT.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "impairments.hpp"
#include "options.hpp"
#include "report.hpp"
#include "tcp_relay.hpp"
#include "udp_relay.hpp"

namespace kairos::relay {
namespace {

Result<SocketAddress> address(const std::string& text, int socktype) {
  auto host_port = split_host_port(text, 0);
  if (!host_port) return std::unexpected(host_port.error());
  if (host_port->second == 0) return fail(text + ": a port is needed");
  auto found = resolve(host_port->first, host_port->second, socktype);
  if (!found) return std::unexpected(found.error());
  if (found->empty()) return fail(text + ": no address");
  return found->front();
}

void print_counters(const Impairer& impairer, const std::optional<TcpRelay>& tcp) {
  std::printf("%s\n%s\n", format_direction("requests", impairer.counters(Direction::kRequest)).c_str(),
              format_direction("responses", impairer.counters(Direction::kResponse)).c_str());
  if (tcp) std::printf("%s\n", format_tcp(tcp->counters()).c_str());
  std::fflush(stdout);
}

int timeout_ms(const std::optional<UdpRelay>& udp, Clock::time_point now) {
  if (!udp) return -1;
  auto due = udp->next_due();
  if (!due) return -1;
  if (*due <= now) return 0;
  // Round up: waking a little late is fine, waking early only spins.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*due - now).count());
}

int run(const Options& options) {
  std::optional<UdpRelay> udp;
  std::optional<TcpRelay> tcp;
  if (!options.udp_listen.empty()) {
    auto listen = address(options.udp_listen, SOCK_DGRAM);
    auto upstream = listen ? address(options.udp_upstream, SOCK_DGRAM) : listen;
    auto relay = upstream ? UdpRelay::open(*listen, *upstream) : std::unexpected(upstream.error());
    if (!relay) {
      std::fprintf(stderr, "kairos-relay: %s\n", relay.error().message.c_str());
      return 1;
    }
    udp.emplace(std::move(*relay));
  }
  if (!options.tcp_listen.empty()) {
    auto listen = address(options.tcp_listen, SOCK_STREAM);
    auto upstream = listen ? address(options.tcp_upstream, SOCK_STREAM) : listen;
    auto relay = upstream ? TcpRelay::open(*listen, *upstream) : std::unexpected(upstream.error());
    if (!relay) {
      std::fprintf(stderr, "kairos-relay: %s\n", relay.error().message.c_str());
      return 1;
    }
    tcp.emplace(std::move(*relay));
  }
  if (!udp && !tcp) {
    std::fprintf(stderr, "kairos-relay: nothing to relay (--udp-listen or --tcp-listen)\n");
    return 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signal_fd) {
    std::fprintf(stderr, "kairos-relay: signalfd: %s\n", std::strerror(errno));
    return 1;
  }

  Impairer impairer(options.impairments, options.seed);
  std::printf("kairos-relay ready\n");
  std::fflush(stdout);
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back(pollfd{.fd = signal_fd.get(), .events = POLLIN, .revents = 0});
    if (udp) udp->add_poll_fds(fds);
    if (tcp) tcp->add_poll_fds(fds);
    if (::poll(fds.data(), fds.size(), timeout_ms(udp, Clock::now())) < 0 && errno != EINTR) {
      std::fprintf(stderr, "kairos-relay: poll: %s\n", std::strerror(errno));
      return 1;
    }
    const auto now = Clock::now();
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == signal_fd.get()) {
        signalfd_siginfo info{};
        if (::read(p.fd, &info, sizeof(info)) != sizeof(info)) continue;
        print_counters(impairer, tcp);
        if (info.ssi_signo != SIGUSR1) return 0;
        continue;
      }
      if (udp) udp->on_readable(p.fd, impairer, now);
      if (tcp) tcp->on_readable(p.fd);
    }
    if (udp) udp->send_due(impairer, Clock::now());
  }
}

}  // namespace
}  // namespace kairos::relay

int main(int argc, char** argv) {
  kairos::relay::Options options;
  CLI::App app{"kairos-relay — an impairing NTP/NTS-KE relay for tests (loopback labs only)"};
  kairos::relay::add_options(app, options);
  CLI11_PARSE(app, argc, argv);
  return kairos::relay::run(options);
}
