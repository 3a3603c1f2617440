#include "daemon/association.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>

namespace kairos {

Association::Association(EventLoop& loop, Resolver& resolver, SourceConfig config, SampleCallback on_sample,
                         HardwareInterfaces hardware, std::shared_ptr<AddressClaims> pool)
    : loop_(loop),
      resolver_(resolver),
      core_(std::move(config), system_random(), std::move(pool)),
      on_sample_(std::move(on_sample)),
      hardware_(std::move(hardware)) {}

Association::~Association() {
  if (next_step_) loop_.cancel_timer(*next_step_);
  if (deadline_) loop_.cancel_timer(*deadline_);
  if (ke_) loop_.unwatch(ke_->fd());
  if (exchange_) loop_.unwatch(exchange_->fd());
  if (lookup_) resolver_.cancel(*lookup_);
}

void Association::start() { run(core_.start(EventLoop::Clock::now())); }

void Association::run(SourceActions actions) {
  for (SourceAction& action : actions) execute(action);
}

void Association::execute(SourceAction& action) {
  std::visit(
      [this](auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, source_action::Resolve>) {
          lookup(a);
        } else if constexpr (std::is_same_v<A, source_action::StartKe>) {
          start_ke(a);
        } else if constexpr (std::is_same_v<A, source_action::SendRequest>) {
          send(a);
        } else if constexpr (std::is_same_v<A, source_action::CloseSocket>) {
          socket_.reset();
        } else if constexpr (std::is_same_v<A, source_action::ArmTimer>) {
          arm(a.at);
        } else if constexpr (std::is_same_v<A, source_action::Deliver>) {
          const std::optional<PollFeedback> feedback = on_sample_(*this, a.result);
          run(core_.sample_feedback(EventLoop::Clock::now(), feedback));
        } else if constexpr (std::is_same_v<A, source_action::Log>) {
          using Level = source_action::Log::Level;
          const auto level = a.level == Level::kError  ? spdlog::level::err
                             : a.level == Level::kWarn ? spdlog::level::warn
                                                       : spdlog::level::info;
          spdlog::log(level, "{}", a.text);
        }
      },
      action);
}

void Association::arm(std::chrono::steady_clock::time_point at) {
  if (next_step_) loop_.cancel_timer(*next_step_);
  next_step_ = loop_.add_timer(at, [this] {
    next_step_.reset();
    run(core_.timer_fired(EventLoop::Clock::now()));
  });
}

void Association::lookup(const source_action::Resolve& resolve) {
  lookup_ = resolver_.lookup(resolve.host, resolve.port, resolve.tcp ? SOCK_STREAM : SOCK_DGRAM,
                             [this](Result<Resolver::Addresses> addresses) {
                               lookup_.reset();
                               run(core_.resolved(EventLoop::Clock::now(), std::move(addresses)));
                             });
}

void Association::start_ke(const source_action::StartKe& start) {
  const SourceConfig& config = core_.config();
  KeFetchOptions options{
      .host = start.host, .port = start.port, .ca_file = config.ca, .system_trust = true, .aeads = config.aeads};
  auto pending = PendingKe::connect(options, start.address);
  if (!pending) return run(core_.ke_finished(EventLoop::Clock::now(), std::unexpected(pending.error())));
  ke_.emplace(std::move(*pending));
  loop_.watch(ke_->fd(), ke_->events(), [this](short revents) { ke_ready(revents); });
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(start.timeout).count();
  deadline_ = loop_.add_timer(std::chrono::steady_clock::duration(start.timeout), [this, seconds] {
    deadline_.reset();
    ke_done(fail("timed out after " + std::to_string(seconds) + " s"));
  });
}

void Association::ke_ready(short revents) {
  auto outcome = ke_->on_ready(revents);
  if (!outcome) {
    loop_.watch(ke_->fd(), ke_->events(), [this](short r) { ke_ready(r); });
    return;
  }
  ke_done(std::move(*outcome));
}

void Association::ke_done(Result<KeClientResult> result) {
  if (deadline_) loop_.cancel_timer(*deadline_);
  deadline_.reset();
  if (ke_) loop_.unwatch(ke_->fd());
  ke_.reset();
  run(core_.ke_finished(EventLoop::Clock::now(), std::move(result)));
}

void Association::send(const source_action::SendRequest& send) {
  const auto failed = [this](const std::string& why) { run(core_.request_failed(EventLoop::Clock::now(), why)); };
  // The kept socket is for one server (the core forgets it when the server changes).
  if (socket_ && socket_->server().to_string() != send.address.to_string()) socket_.reset();
  if (send.keep_socket && !socket_) {
    auto socket = NtpClientSocket::open(send.address, static_cast<bool>(hardware_), loop_.portable(), bind_);
    if (!socket) return failed(socket.error().message);
    socket_.emplace(std::move(*socket));
  }
  TxStamps late;
  std::optional<double> correction;
  if (send.late_tx && socket_) {
    late = socket_->take_tx_stamps(send.late_tx->request_id);
    const int phc = send.late_tx->phc_ifindex;
    if (phc != 0 && late.hardware && hardware_) {
      if (const auto c = hardware_(phc)) correction = c->tx();
    }
  }
  auto exchange = core_.make_request(late, correction);
  if (!exchange) return failed(exchange.error().message);
  // Basic mode: a fresh socket (and source port) for each request.
  if (!socket_) {
    auto socket = NtpClientSocket::open(send.address, static_cast<bool>(hardware_), loop_.portable(), bind_);
    if (!socket) return failed(socket.error().message);
    socket_.emplace(std::move(*socket));
  }
  auto pending = PendingNtpExchange::start(std::move(*socket_), std::move(*exchange), hardware_);
  socket_.reset();
  if (!pending) return failed(pending.error().message);
  exchange_.emplace(std::move(*pending));
  core_.request_sent(EventLoop::Clock::now());
  loop_.watch(exchange_->fd(), exchange_->events(), [this](short revents) { exchange_ready(revents); });
  const auto timeout = send.timeout;
  const bool keep = send.keep_socket;
  deadline_ = loop_.add_timer(std::chrono::steady_clock::duration(timeout), [this, timeout, keep] {
    deadline_.reset();
    NtpExchangeError error = exchange_->timed_out(timeout);
    const ExchangeEnd end{.timed_out = true, .request_id = exchange_->request_id(), .have_tx_stamp = exchange_->have_tx_stamp()};
    loop_.unwatch(exchange_->fd());
    if (keep) socket_.emplace(std::move(*exchange_).release_socket());
    exchange_.reset();
    run(core_.exchange_finished(EventLoop::Clock::now(), std::unexpected(std::move(error)), end));
  });
}

void Association::exchange_ready(short revents) {
  auto outcome = exchange_->on_ready(revents, core_.session());
  if (outcome) exchange_done(std::move(*outcome));
}

void Association::exchange_done(NtpExchangeOutcome outcome) {
  if (deadline_) loop_.cancel_timer(*deadline_);
  deadline_.reset();
  ExchangeEnd end;
  if (exchange_) {
    loop_.unwatch(exchange_->fd());
    end.request_id = exchange_->request_id();
    end.have_tx_stamp = exchange_->have_tx_stamp();
    // Interleaved: the socket is the core's to keep or close (a CloseSocket action follows).
    if (core_.config().xleave) socket_.emplace(std::move(*exchange_).release_socket());
  }
  exchange_.reset();
  run(core_.exchange_finished(EventLoop::Clock::now(), std::move(outcome), end));
}

}  // namespace kairos
