#pragma once
// NTS-KE in simulation: kairosd's NTS-KE client session (nts/ke_client) against kairosd's NTS-KE
// server session (nts/ke_server), each over its TLS session's memory BIOs, wired back to back. The
// server's certificate is a throwaway self-signed one made in memory when the world is built (no
// files); the client trusts it alone, not the system store. The NTS keys are exported from that
// TLS session and the cookies sealed with the server's key ring, as on the wire.
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/ke_client.hpp"
#include "nts/key_ring.hpp"
#include "nts/tls_session.hpp"

namespace kairos::sim {

class SimNtsKe {
 public:
  // A certificate for every name in `server_names` (its subjectAltNames), and the two contexts.
  static Result<SimNtsKe> create(const std::vector<std::string>& server_names);

  // One NTS-KE: the client's and the server's sessions exchange bytes until the client has its
  // result or one side gives up. The cookies are sealed with `ring`'s current key.
  Result<KeClientResult> exchange(const KeClientOptions& options, KeyRing& ring) const;

 private:
  SimNtsKe(SslCtxPtr client, SslCtxPtr server) : client_(std::move(client)), server_(std::move(server)) {}
  SslCtxPtr client_;
  SslCtxPtr server_;
};

}  // namespace kairos::sim
