#pragma once
// One configured source's decisions, sans IO (issue 22 item 1; the shape of ntpd-rs's source):
// when to poll, the initial burst, backoff after failures, RATE/DENY/RSTR kisses, NAKs and when
// to re-key (RFC 8915 §5.7), the NTS session and its cookies, the saved NTS state, which address
// of the name is used, the reach register, the interleaved state and the counters.
//
// Events come in with the time passed in (the timer fired, a name was looked up, an NTS-KE or an
// NTP exchange ended); each answers with actions (look this name up, start an NTS-KE with that
// address, send a request, arm the timer at t, deliver this sample, log this line). There are no
// sockets, clocks, event loop or randomness source inside: the random bytes of requests and the
// spread of polls come from the RandomFill given to it. daemon/association.cpp is the shell that
// executes the actions for kairosd; tests/unit/source_core_test.cpp drives it with a fake clock.
//
// Sending a request takes three calls, because the shell's socket sits between the decisions:
// the SendRequest action; then make_request() with the late transmit stamps the shell read from
// the kept socket (interleaved mode), which builds the request; then request_sent() once it left,
// or request_failed() if the socket or the send failed. A delivered sample is answered with
// sample_feedback() (what the clock model made of it), which sets the next poll.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "daemon/address_choice.hpp"
#include "daemon/config.hpp"
#include "daemon/client/net.hpp"
#include "daemon/client/ntp_query.hpp"
#include "daemon/poll_control.hpp"
#include "hwts/stamp_choice.hpp"
#include "nts/ke_client.hpp"
#include "nts/ntp_client.hpp"

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

// What the core asks its shell to do, in order.
namespace source_action {

// Look `host` up: TCP for an NTS-KE server, UDP for an NTP server; answer with resolved().
struct Resolve {
  std::string host;
  std::uint16_t port = 0;
  bool tcp = false;
};
// Run an NTS-KE with the server at `address` (TLS name `host`); answer with ke_finished(), with an
// error if it is not done within `timeout`.
struct StartKe {
  SocketAddress address;
  std::string host;
  std::uint16_t port = 0;
  std::chrono::milliseconds timeout{0};
};
// The request before this one was answered before its transmit stamp was read: read the stamps
// of datagram `request_id` from the kept socket's error queue for make_request().
struct LateTx {
  std::uint32_t request_id = 0;
  int phc_ifindex = 0;  // the clock of that exchange: 0 the system clock, else this NIC's PHC
};
// Send one request to `address` (make_request() builds it). `keep_socket`: the socket kept from
// the last exchange is used (one is opened if none is kept) and kept afterwards; else a fresh
// socket. Answer with exchange_finished(), timed out after `timeout`.
struct SendRequest {
  SocketAddress address;
  bool keep_socket = false;
  std::optional<LateTx> late_tx;
  std::chrono::milliseconds timeout{0};
};
// Close the kept socket (its server's interleaved state is forgotten).
struct CloseSocket {};
// Call timer_fired() at `at` (replaces the timer armed before).
struct ArmTimer {
  std::chrono::steady_clock::time_point at;
};
// Give the sample to the clock model; answer with sample_feedback().
struct Deliver {
  NtpExchangeResult result;
};
struct Log {
  enum class Level { kInfo, kWarn, kError };
  Level level = Level::kInfo;
  std::string text;
};

}  // namespace source_action

using SourceAction = std::variant<source_action::Resolve, source_action::StartKe, source_action::SendRequest,
                                  source_action::CloseSocket, source_action::ArmTimer, source_action::Deliver,
                                  source_action::Log>;
using SourceActions = std::vector<SourceAction>;

// How an exchange ended, besides its outcome: what the shell knows of the socket.
struct ExchangeEnd {
  bool timed_out = false;  // the deadline passed (else an answer or an error ended it)
  std::uint32_t request_id = 0;  // the OPT_ID of the request (interleaved: a late transmit stamp)
  bool have_tx_stamp = false;    // the request's transmit stamp was read before the answer came
};

class SourceCore {
 public:
  using Time = std::chrono::steady_clock::time_point;

  static constexpr int kBurstCount = 4;
  static constexpr auto kBurstSpacing = std::chrono::seconds(2);
  static constexpr auto kKeTimeout = std::chrono::seconds(10);
  // NTS-KE on NAKs at most this often: NAKs are unauthenticated, and a stream of them must not
  // turn into a stream of TLS handshakes (an exhausted cookie jar re-keys regardless).
  static constexpr auto kNakKeInterval = std::chrono::seconds(60);

  // `random`: the request's random fields and the spread of polls and retries.
  // `pool`: what the members of the source's pool share (null for a lone source).
  SourceCore(SourceConfig config, RandomFill random, std::shared_ptr<AddressClaims> pool = nullptr);
  SourceCore(const SourceCore&) = delete;
  SourceCore& operator=(const SourceCore&) = delete;

  // NTS: keys and cookies saved by an earlier run, used by start() instead of an NTS-KE (once;
  // if they do not work, the NTS-KE follows as usual).
  void restore_nts(KeClientResult saved) { saved_ke_.emplace(std::move(saved)); }

  // Events.
  SourceActions start(Time now);
  SourceActions timer_fired(Time now);
  // Somebody else set the system clock: its offset is unknown until measured again, so a source
  // waiting for its next poll polls now, in a burst as at start (with iburst), instead of after
  // a poll that may last 17 minutes. An exchange or NTS-KE in flight ends as it would.
  SourceActions clock_stepped(Time now);
  SourceActions resolved(Time now, Result<std::vector<SocketAddress>> addresses);
  SourceActions ke_finished(Time now, Result<KeClientResult> result);
  // SendRequest, step two: the request, interleaved on the last valid exchange if there is one.
  // `late`: the stamps read for SendRequest::late_tx (empty without); `hardware_tx_correction`:
  // the NIC's transmit correction for a hardware stamp among them (StampCorrection::tx()).
  Result<NtpClientExchange> make_request(const TxStamps& late, std::optional<double> hardware_tx_correction);
  // SendRequest, step three: the request left.
  void request_sent(Time now);
  // SendRequest failed: no socket, no request (make_request's error) or the send failed.
  SourceActions request_failed(Time now, const std::string& why);
  SourceActions exchange_finished(Time now, NtpExchangeOutcome outcome, const ExchangeEnd& end);
  // Deliver's answer: what the clock model made of the sample (nullopt: no model used it).
  SourceActions sample_feedback(Time now, const std::optional<PollFeedback>& feedback);

  // The NTS session whose keys check the answers (and whose jar takes their cookies); null
  // without keys.
  NtsClientSession* session() { return session_ ? &*session_ : nullptr; }

  const SourceConfig& config() const { return config_; }
  const std::string& name() const { return name_; }
  const AssociationCounters& counters() const { return counters_; }
  std::uint8_t reach() const { return reach_; }
  int poll_exponent() const { return poll_.exponent(); }
  const std::optional<LastSample>& last_sample() const { return last_sample_; }
  bool denied() const { return denied_; }
  bool has_keys() const { return session_.has_value(); }
  std::optional<std::uint16_t> aead() const {
    return session_origin_ ? std::optional(session_origin_->keys.aead_id()) : std::nullopt;
  }
  std::size_t cookies() const { return session_ ? session_->cookies() : 0; }
  std::string certificate_sha256() const {
    return session_ && session_origin_ ? session_origin_->certificate_sha256 : std::string();
  }
  // The NTS-KE server's address in use (NTS), or the NTP server's (without NTS).
  const std::optional<SocketAddress>& chosen_address() const { return choice_.current(); }
  // The NTP address in use (unset until resolved or negotiated).
  const std::optional<SocketAddress>& ntp_address() const { return ntp_address_; }
  // The NTS state to save: keys, NTP server and the unused cookies; nullopt without keys.
  std::optional<KeClientResult> nts_state() const;

 private:
  // What a lookup in progress is for.
  enum class Lookup { kNone, kNtpName, kKeName, kSavedNtpServer, kKeNtpServer };
  // What the timer runs when it fires.
  enum class Step { kStart, kExchange };

  void begin_ke(SourceActions& out);
  void ke_failed(Time now, const std::string& why, SourceActions& out);
  // Takes keys and cookies (from an NTS-KE or saved by the last run) and looks the NTP server's
  // name up (`purpose`); false, with `error` set, if the keys are not usable.
  bool use_keys(const KeClientResult& ke, Lookup purpose, std::string& error, SourceActions& out);
  void keys_resolved(Time now, Lookup purpose, Result<std::vector<SocketAddress>> addresses, SourceActions& out);
  void begin_exchange(Time now, SourceActions& out);
  void retry_later(Time now, const std::string& what, const std::string& why, SourceActions& out);
  void switch_address(Time now, const std::string& why, SourceActions& out);
  void forget_interleaved(SourceActions& out);
  void schedule(Time now, std::chrono::steady_clock::duration after, Step step, SourceActions& out);
  // After an exchange: the next poll (the burst's spacing while in it), or at once.
  void schedule_next_poll(Time now, SourceActions& out);
  // The next poll's interval, randomised (PollControl::interval).
  std::chrono::steady_clock::duration poll_interval();
  // A number in [0, 1) from random_, to spread polls and retries.
  double uniform();
  std::chrono::milliseconds exchange_timeout() const;
  void log(SourceActions& out, source_action::Log::Level level, std::string text) const;

  SourceConfig config_;
  std::string name_;
  RandomFill random_;
  AddressChoice choice_;  // which address of the source's name (the NTS-KE server's with NTS)
  std::string host_;
  std::uint16_t port_ = 0;
  PollControl poll_;
  int burst_left_ = 0;
  int failures_ = 0;
  bool denied_ = false;
  std::uint8_t reach_ = 0;
  AssociationCounters counters_;
  std::optional<LastSample> last_sample_;
  Lookup lookup_ = Lookup::kNone;
  std::optional<Step> next_step_;  // what the armed timer runs

  std::optional<NtsClientSession> session_;
  std::optional<KeClientResult> saved_ke_;        // from restore_nts, until start() uses it
  std::optional<KeClientResult> session_origin_;  // the session's keys and NTP server (no cookies)
  std::size_t new_cookies_ = 0;                   // the keys being taken came with these (log)
  bool restored_unconfirmed_ = false;  // saved keys in use, no answer with them yet
  // RFC 8915 §5.7: NAKs are unauthenticated. Polls that ended in one with no valid answer since;
  // the second in a row starts an NTS-KE, which keeps the session held until it succeeds.
  int naks_in_a_row_ = 0;
  bool rekeying_ = false;  // an NTS-KE with the old session held (used again if it fails)
  std::optional<Time> last_nak_ke_;
  std::optional<SocketAddress> ntp_address_;

  // Between exchange_finished and sample_feedback: the poll's schedule, drawn at the end since
  // the feedback may change the poll.
  bool in_burst_ = false;
  std::optional<std::chrono::steady_clock::duration> next_;

  // Interleaved mode (xleave): the shell's kept socket (its server), the last valid exchange,
  // whose request's transmit stamp may still come from the error queue after its answer did.
  std::optional<SocketAddress> kept_socket_;
  std::optional<SocketAddress> sending_to_;  // the request in flight's server
  std::optional<InterleavedState> last_exchange_;
  std::optional<Time> last_exchange_time_;  // when it finished (the event's time)
  std::optional<std::uint32_t> last_request_id_;  // set while last_exchange_.t1 is a daemon stamp
  int exchanges_since_valid_ = 0;
  bool answered_interleaved_ = false;
};

}  // namespace kairos
