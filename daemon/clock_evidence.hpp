#pragma once
// What the evidence log records of kairosd's clocks (daemon/evidence_log.hpp): each clock's state,
// offset and maximum error, and the sources it selected with how each was authenticated, so the
// log names the chain of custody of the time: which server, over NTS or not, with which AEAD, and
// for a clock following another, that one by cross-timestamps.
#include <functional>
#include <list>
#include <string>
#include <vector>

#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/evidence_log.hpp"

namespace kairos {

// How a configured source is authenticated and where it stands, as the log writes it:
// "nts,aead=15,ntp=192.0.2.1:123,stratum=2,refid=192.0.2.9,cert-sha256=<hex>" (AEAD by its RFC
// 8915 number, the NTP server NTS-KE named, the server's stratum and reference ID from its last
// answer — the next link of the chain to UTC —, the SHA-256 of the NTS-KE server's leaf
// certificate as `openssl x509 -fingerprint -sha256` shows it), "nts,no-keys" while NTS-KE has
// not succeeded, "ntp,stratum=1,refid=GPS" for plain NTP (unauthenticated).
std::string source_authentication(const Association& source);

// `authentication` names a source's authentication by its configured name.
std::vector<EvidenceSnapshot> evidence_snapshots(const std::vector<ClockStatus>& clocks,
                                                 const std::function<std::string(const std::string&)>& authentication);

// For kairosd: the authentication of the associations, looked up by name.
std::function<std::string(const std::string&)> association_authentication(const std::list<Association>& associations);

}  // namespace kairos
