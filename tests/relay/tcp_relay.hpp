#pragma once
// The NTS-KE side: each accepted connection gets its own connection to the server and bytes
// are copied both ways unchanged. TLS would turn any impairment into a failed handshake, which
// says nothing new; the NTP side is where forgeries matter. A half-close is passed on, so a
// client that shuts down its sending side still gets the whole answer.
#include <poll.h>

#include <cstdint>
#include <list>
#include <vector>

#include "daemon/client/net.hpp"

namespace kairos::relay {

struct TcpCounters {
  std::uint64_t connections = 0;
  std::uint64_t failed = 0;      // the server could not be reached
  std::uint64_t bytes_up = 0;    // client to server
  std::uint64_t bytes_down = 0;  // server to client
};

class TcpRelay {
 public:
  static Result<TcpRelay> open(const SocketAddress& listen, const SocketAddress& upstream);

  void add_poll_fds(std::vector<pollfd>& fds) const;
  void on_readable(int fd);
  const TcpCounters& counters() const { return counters_; }

 private:
  struct Side {
    UniqueFd fd;
    bool reading = true;  // false once it sent EOF
  };
  struct Pair {
    Side client;
    Side server;
  };

  TcpRelay(UniqueFd listen, SocketAddress upstream) : listen_(std::move(listen)), upstream_(std::move(upstream)) {}
  void accept_one();
  // Copies what `from` has to `to`; false when the pair is finished.
  bool forward(Side& from, Side& to, std::uint64_t& bytes);

  UniqueFd listen_;
  SocketAddress upstream_;
  std::list<Pair> pairs_;
  TcpCounters counters_;
};

}  // namespace kairos::relay
