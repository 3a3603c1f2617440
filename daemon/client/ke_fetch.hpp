#pragma once
// One NTS-KE exchange over TCP. PendingKe is driven by readiness (kairosd's poll loop);
// fetch_nts_ke wraps it in a blocking wait bounded by a deadline for kairosctl and tests.
#include <poll.h>

#include <chrono>
#include <optional>
#include <string>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"
#include "nts/ke_client.hpp"

namespace kairos {

struct KeFetchOptions {
  std::string host;
  std::uint16_t port = kNtsKeDefaultPort;
  std::optional<std::string> ca_file;
  bool system_trust = true;
  std::vector<std::uint16_t> aeads{17, 16, 15};
  std::chrono::milliseconds timeout{5000};
};

class PendingKe {
 public:
  // Resolves the server (blocking getaddrinfo), builds the TLS context and starts connecting,
  // from `source` when given (its port 0: the kernel picks one; load tests come from several
  // loopback addresses), else from an address the kernel chooses.
  static Result<PendingKe> start(const KeFetchOptions& options, const std::optional<SocketAddress>& source = std::nullopt);
  // The same with the address already known (kairosd resolves through its Resolver, off the loop).
  static Result<PendingKe> connect(const KeFetchOptions& options, const SocketAddress& address,
                                   const std::optional<SocketAddress>& source = std::nullopt);

  int fd() const { return fd_.get(); }
  short events() const;
  // Handles what poll reported; nullopt while the exchange goes on.
  std::optional<Result<KeClientResult>> on_ready(short revents);

 private:
  PendingKe(SslCtxPtr ctx, UniqueFd fd, SocketAddress address, KeFetchOptions options)
      : ctx_(std::move(ctx)), fd_(std::move(fd)), address_(address), options_(std::move(options)) {}
  Result<void> on_connected();
  Result<void> flush();

  SslCtxPtr ctx_;
  UniqueFd fd_;
  SocketAddress address_;
  KeFetchOptions options_;
  std::optional<KeClient> client_;  // set once TCP is connected
  std::vector<std::uint8_t> outgoing_;
};

Result<KeClientResult> fetch_nts_ke(const KeFetchOptions& options);

}  // namespace kairos
