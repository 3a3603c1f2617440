#pragma once
// The NTP side: datagrams from clients go upstream through one connected socket per client (so
// the answers find their way back), and answers go back to that client, both through the
// Impairer; what it delays waits in a queue ordered by the time it is due.
#include <poll.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "daemon/client/net.hpp"
#include "impairments.hpp"

namespace kairos::relay {

using Clock = std::chrono::steady_clock;

class UdpRelay {
 public:
  static Result<UdpRelay> open(const SocketAddress& listen, const SocketAddress& upstream);

  // The descriptors to wait on, appended to fds.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Reads whatever fd has (if it is one of ours) and queues what the impairer makes of it.
  void on_readable(int fd, Impairer& impairer, Clock::time_point now);
  // Sends what is due by now.
  void send_due(Impairer& impairer, Clock::time_point now);
  // When the next queued datagram is due, if any.
  std::optional<Clock::time_point> next_due() const;

 private:
  struct Peer {
    SocketAddress client;
    UniqueFd upstream;  // connected to the server
  };
  struct Pending {
    Direction direction;
    const Peer* peer;
    std::vector<std::uint8_t> bytes;
  };

  UdpRelay(UniqueFd listen, SocketAddress upstream) : listen_(std::move(listen)), upstream_(std::move(upstream)) {}
  Peer* peer_for(const SocketAddress& client);
  void queue(Direction direction, const Peer& peer, std::span<const std::uint8_t> bytes, Impairer& impairer,
             Clock::time_point now);

  UniqueFd listen_;
  SocketAddress upstream_;
  // unique_ptr: queued datagrams point at their peer.
  std::vector<std::unique_ptr<Peer>> peers_;
  std::multimap<Clock::time_point, Pending> queue_;
};

}  // namespace kairos::relay
