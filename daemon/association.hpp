#pragma once
// One configured source's IO: the shell around daemon/source_core.hpp, which makes every decision
// (polls, backoff, kisses, NAKs, NTS-KE, cookies, addresses, interleaving). The association owns
// the sockets, timers, NTS-KE connection and name lookups on the event loop, turns what they
// report into the core's events and carries out the actions it answers with; samples go to a
// callback (the clock graph).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/address_choice.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/ke_fetch.hpp"
#include "daemon/client/ntp_query.hpp"
#include "daemon/poll_control.hpp"
#include "daemon/resolver.hpp"
#include "daemon/source_core.hpp"

namespace kairos {

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
  // Somebody else set the system clock (RealtimeWatch): poll now (SourceCore::clock_stepped).
  void clock_stepped() { run(core_.clock_stepped(EventLoop::Clock::now())); }
  // Hardware stamps in a PTP virtual clock's time ([[interface]] phc-vclock): every socket of
  // this source is bound to that NIC. Call before start().
  void bind_stamps(PhcBinding binding) { bind_ = std::move(binding); }
  // NTS: keys and cookies saved by an earlier run, used by start() instead of an NTS-KE (once;
  // if they do not work, the NTS-KE follows as usual).
  void restore_nts(KeClientResult saved) { core_.restore_nts(std::move(saved)); }
  // The NTS state to save: keys, NTP server and the unused cookies; nullopt without keys.
  std::optional<KeClientResult> nts_state() const { return core_.nts_state(); }
  const std::string& name() const { return core_.name(); }
  const AssociationCounters& counters() const { return core_.counters(); }
  std::uint8_t reach() const { return core_.reach(); }
  int poll_exponent() const { return core_.poll_exponent(); }
  const std::optional<LastSample>& last_sample() const { return core_.last_sample(); }
  bool nts() const { return core_.config().nts; }
  bool has_keys() const { return core_.has_keys(); }
  // The AEAD of the NTS keys in use (RFC 8915 §5.1 numbering); none without keys.
  std::optional<std::uint16_t> aead() const { return core_.aead(); }
  std::size_t cookies() const { return core_.cookies(); }
  // The NTS-KE server's certificate (SHA-256, hex) of the keys in use; "" without keys or unknown.
  std::string certificate_sha256() const { return core_.certificate_sha256(); }
  // The NTS-KE server's address in use (NTS; "" until chosen).
  std::string ke_address() const {
    return nts() && core_.chosen_address() ? core_.chosen_address()->to_string() : std::string();
  }
  // The NTP address in use ("" until resolved or negotiated).
  std::string ntp_address() const { return core_.ntp_address() ? core_.ntp_address()->to_string() : std::string(); }

 private:
  // Carries the core's actions out, in order; an action whose answer is at hand at once (a
  // request that could not be sent, a delivered sample) runs the core's answer to it as well.
  void run(SourceActions actions);
  void execute(SourceAction& action);
  void lookup(const source_action::Resolve& resolve);
  void start_ke(const source_action::StartKe& start);
  void ke_ready(short revents);
  void ke_done(Result<KeClientResult> result);
  void send(const source_action::SendRequest& send);
  void exchange_ready(short revents);
  void exchange_done(NtpExchangeOutcome outcome);
  void arm(std::chrono::steady_clock::time_point at);

  EventLoop& loop_;
  Resolver& resolver_;
  SourceCore core_;
  SampleCallback on_sample_;
  HardwareInterfaces hardware_;
  std::optional<PhcBinding> bind_;
  std::optional<Resolver::RequestId> lookup_;  // while a name is being looked up
  std::optional<PendingKe> ke_;
  std::optional<PendingNtpExchange> exchange_;
  std::optional<EventLoop::TimerId> deadline_;   // the NTS-KE's or the exchange's
  std::optional<EventLoop::TimerId> next_step_;  // the core's timer
  // Interleaved mode (xleave): the socket kept across exchanges (SendRequest::keep_socket).
  std::optional<NtpClientSocket> socket_;
};

}  // namespace kairos
