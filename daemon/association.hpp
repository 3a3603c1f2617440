#pragma once
// One configured source: NTS-KE when needed, then NTP exchanges on the poll schedule, with
// backoff after failures. Driven entirely by the event loop; samples go to a callback (the clock
// model, once it exists; for now the log).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/address_choice.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/ke_fetch.hpp"
#include "daemon/ntp_query.hpp"
#include "daemon/poll_control.hpp"
#include "daemon/resolver.hpp"

namespace kairos {

struct AssociationCounters {
  std::uint64_t samples = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t rejected = 0;  // responses that failed a check (forged, stale, unauthenticated, unsynchronized)
  std::uint64_t naks = 0;
  std::uint64_t kisses = 0;  // RATE, DENY and RSTR kisses (after their checks)
  std::uint64_t ke_ok = 0;
  std::uint64_t ke_failed = 0;
  std::uint64_t interleaved = 0;  // samples from interleaved answers (xleave)
};

// The last accepted measurement, for status queries.
struct LastSample {
  double offset = 0;  // server minus us (s)
  double delay = 0;   // round trip minus the server's processing (s)
  std::chrono::steady_clock::time_point when;
  // The server's place in the chain to the reference: its stratum and its own reference ID
  // (an upstream's address, or a stratum 1's "GPS"), for the evidence log's traceability.
  int stratum = 0;
  std::string reference;
};

class Association {
 public:
  // Returns what the clock model made of the sample (nullopt: no model used it), which sets the
  // poll between minpoll and maxpoll (daemon/poll_control.hpp).
  using SampleCallback = std::function<std::optional<PollFeedback>(const Association&, const NtpExchangeResult&)>;

  // `hardware`: the interfaces whose NIC stamps this source's exchanges may use (empty: none).
  // Names are looked up through `resolver`, which must outlive the association.
  // `pool`: what the members of the source's pool share (null for a lone source).
  Association(EventLoop& loop, Resolver& resolver, SourceConfig config, SampleCallback on_sample,
              HardwareInterfaces hardware = {}, std::shared_ptr<AddressClaims> pool = nullptr);
  Association(const Association&) = delete;
  Association& operator=(const Association&) = delete;
  // Stops it: its timers are cancelled, its sockets unwatched and closed and its name lookup
  // cancelled (a source removed on SIGHUP), so no callback of the loop reaches it afterwards.
  ~Association();

  void start();
  // Hardware stamps in a PTP virtual clock's time ([[interface]] phc-vclock): every socket of
  // this source is bound to that NIC. Call before start().
  void bind_stamps(PhcBinding binding) { bind_ = std::move(binding); }
  // NTS: keys and cookies saved by an earlier run, used by start() instead of an NTS-KE (once;
  // if they do not work, the NTS-KE follows as usual).
  void restore_nts(KeClientResult saved) { saved_ke_.emplace(std::move(saved)); }
  // The NTS state to save: keys, NTP server and the unused cookies; nullopt without keys.
  std::optional<KeClientResult> nts_state() const;
  const std::string& name() const { return name_; }
  const AssociationCounters& counters() const { return counters_; }
  std::uint8_t reach() const { return reach_; }
  int poll_exponent() const { return poll_.exponent(); }
  const std::optional<LastSample>& last_sample() const { return last_sample_; }
  bool nts() const { return config_.nts; }
  bool has_keys() const { return session_.has_value(); }
  // The AEAD of the NTS keys in use (RFC 8915 §5.1 numbering); none without keys.
  std::optional<std::uint16_t> aead() const {
    return session_origin_ ? std::optional(session_origin_->keys.aead_id()) : std::nullopt;
  }
  std::size_t cookies() const { return session_ ? session_->cookies() : 0; }
  // The NTS-KE server's certificate (SHA-256, hex) of the keys in use; "" without keys or unknown.
  std::string certificate_sha256() const {
    return session_ && session_origin_ ? session_origin_->certificate_sha256 : std::string();
  }
  // The NTS-KE server's address in use (NTS; "" until chosen).
  std::string ke_address() const { return config_.nts && choice_.current() ? choice_.current()->to_string() : std::string(); }
  // The NTP address in use ("" until resolved or negotiated).
  std::string ntp_address() const { return ntp_address_ ? ntp_address_->to_string() : std::string(); }

 private:
  void begin_ke();
  void connect_ke(const SocketAddress& address);
  void ke_ready(short revents);
  void ke_done(Result<KeClientResult> result);
  // Takes keys and cookies (from an NTS-KE or saved by the last run); `done` once the NTP
  // server's name is looked up, with the keys dropped again if that failed.
  void use_keys(const KeClientResult& ke, std::function<void(Result<void>)> done);
  void begin_exchange();
  void exchange_ready(short revents);
  void exchange_done(NtpExchangeOutcome outcome);
  void retry_later(const std::string& what, const std::string& why);
  // A failed NTS-KE: back to the held cookies when re-keying after NAKs, else retry with backoff.
  void ke_failed(const std::string& why);
  void schedule(std::chrono::steady_clock::duration after, void (Association::*step)());
  // The next poll's interval, randomised (PollControl::interval).
  std::chrono::steady_clock::duration poll_interval();
  // A number in [0, 1) from random_, to spread polls and retries.
  double uniform();
  std::chrono::milliseconds exchange_timeout() const;
  // Looks the NTP server up off the loop; `then` runs with ntp_address_ set, or with the error.
  void resolve_ntp(const std::string& host, std::uint16_t port, std::function<void(Result<void>)> then);
  // Gives the address in use up (daemon/address_choice.hpp) and starts again with another.
  void switch_address(const std::string& why);

  EventLoop& loop_;
  Resolver& resolver_;
  std::optional<Resolver::RequestId> lookup_;  // while a name is being looked up
  SourceConfig config_;
  std::string name_;
  AddressChoice choice_;  // which address of the source's name (the NTS-KE server's with NTS)
  SampleCallback on_sample_;
  HardwareInterfaces hardware_;
  std::optional<PhcBinding> bind_;
  std::string host_;
  std::uint16_t port_ = 0;
  PollControl poll_;
  int burst_left_ = 0;
  int failures_ = 0;
  bool denied_ = false;
  std::uint8_t reach_ = 0;
  AssociationCounters counters_;
  std::optional<LastSample> last_sample_;

  std::optional<PendingKe> ke_;
  std::optional<NtsClientSession> session_;
  std::optional<KeClientResult> saved_ke_;        // from restore_nts, until start() uses it
  std::optional<KeClientResult> session_origin_;  // the session's keys and NTP server (no cookies)
  bool restored_unconfirmed_ = false;  // saved keys in use, no answer with them yet
  // RFC 8915 §5.7: NAKs are unauthenticated. Polls that ended in one with no valid answer since;
  // the second in a row starts an NTS-KE, which keeps the session held until it succeeds.
  int naks_in_a_row_ = 0;
  bool rekeying_ = false;  // an NTS-KE with the old session held (used again if it fails)
  std::optional<std::chrono::steady_clock::time_point> last_nak_ke_;
  std::optional<SocketAddress> ntp_address_;
  std::optional<PendingNtpExchange> exchange_;
  std::optional<EventLoop::TimerId> deadline_;
  std::optional<EventLoop::TimerId> next_step_;  // the timer schedule() set
  RandomFill random_ = system_random();

  // Interleaved mode (xleave): the kept socket and the last valid exchange, whose request's
  // transmit stamp may still come from the error queue after its answer did.
  void forget_interleaved();
  std::optional<NtpClientSocket> socket_;
  std::optional<InterleavedState> last_exchange_;
  std::optional<std::uint32_t> last_request_id_;  // set while last_exchange_.t1 is a daemon stamp
  int exchanges_since_valid_ = 0;
  bool answered_interleaved_ = false;
};

}  // namespace kairos
