#pragma once
// The clocks kairosd disciplines and how they hang together (ARCHITECTURE.md, "clock graph"):
// the system clock, disciplined by the NTP sources or following a NIC's PHC; PHCs disciplined
// by NTP measured with that NIC's hardware stamps, or following the system clock. Each clock is
// a Discipline (the Kalman model, selection, steering) over a ClockDevice: the kernel's own clock
// when steering, an ObservedClock over it when only observing (`steer = false`), so the same
// model runs either way and reports the real clock's offset. A follower's single source is its
// leader, measured by cross-timestamps every second; the leader's corrections reach it as known
// control inputs and its error adds to the follower's. The event loop drives it all.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock/discipline.hpp"
#include "clock/leap_seconds_list.hpp"
#include "clock/leap_smear.hpp"
#include "clock/phc_line.hpp"
#include "clock/observed_clock.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/ntp_query.hpp"
#include "daemon/poll_control.hpp"
#include "daemon/tier_watch.hpp"
#include "hwts/phc_device.hpp"
#include "hwts/phc_watch.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {

// One clock as an operator sees it.
struct ClockStatus {
  std::string name;
  DisciplineState state = DisciplineState::kUnsynchronized;
  bool steered = false;        // the kernel clock is adjusted (not observe-only)
  double offset = 0;           // true time minus the real clock's reading (s), the model's estimate
  // The maximum error: half-width of the interval around `offset` the true time is in, built from
  // the measurements' delays and their servers' root distances (Discipline::root_distance);
  // infinite when unknown.
  double error_bound = 0;
  double estimate_error = 0;   // the model's sd of `offset` (s); infinite when unknown
  double frequency = 0;        // the model's correction of the clock's rate (fractional)
  double frequency_sd = 0;
  std::size_t steps = 0;
  std::string follows;         // the clock it follows by cross-timestamps; empty: NTP sources
  Leap leap = Leap::kNone;      // announced by the majority of its selected sources
  Leap leap_armed = Leap::kNone;  // set on the clock (only on the last day of a month)
  std::optional<double> last_update_age;  // seconds since its model took a measurement; none yet
  std::vector<SourceStatus> sources;
  std::vector<TierState> tiers;  // [evidence] tiers, filled in by kairosd's TierWatch (none without)
};

// Leap seconds as an operator sees them (kairosctl status): TAI - UTC and where it comes from,
// and what a smearing server does.
struct LeapStatus {
  std::optional<int> tai_utc;             // from the list while it has not expired; else unknown
  std::string list;                       // the leap-seconds.list in use; empty: none
  std::optional<std::int64_t> list_expiry;  // unix seconds
  bool list_expired = false;
  std::optional<LeapEvent> next_leap;     // the list's next leap second, if any
  std::string smear = "none";             // [server] leap-smear
  bool smear_active = false;              // the served time is being smeared now
  double smear_offset = 0;                // served minus system time now (s)
};

// A PHC of an [[interface]] that takes part: disciplined by NTP through its NIC, or following the
// system clock (or both named: discipline wins, following is then refused by the config check).
struct PhcPlan {
  std::string interface;
  int ifindex = 0;
  bool discipline = false;      // discipline-phc
  bool follows_system = false;  // phc-follows-system
  // Neither: the direct path (as chrony's hwtimestamp). The NIC's stamps, in PHC time, reach the
  // system clock's model through a line fitted to cross-timestamps; the PHC is only read.
  bool convert = false;
};

// A [[refclock]] as an operator sees it: a PHC another daemon disciplines, read as a source of
// the system clock, and what the NTS sources say of it.
struct RefclockStatus {
  std::string name;
  std::string device;       // /dev/ptpN
  bool tai = true;          // the PHC keeps TAI (converted to UTC by the leap-seconds list)
  std::string problem;      // why its readings are not used now; empty: they are
  std::size_t readings = 0;  // cross-timestamps taken
  std::size_t unused = 0;    // readings not used (TAI - UTC unknown, the system clock not disciplined)
  std::optional<double> last_offset;  // PHC (in UTC) minus the system clock at the last reading (s)
  std::optional<double> last_window;  // that reading's window (s)
  std::optional<double> last_age;     // seconds since it was taken
  SourceStatus source;      // its part in the system clock's selection, the NTS guard's verdict included
};

// The loop's time point `seconds` after `start`, never before it (rounded up to the tick).
EventLoop::Clock::time_point loop_time_at(EventLoop::Clock::time_point start, double seconds);

class ClockGraph {
 public:
  // `real_system` is the system clock (KernelClock::system() in kairosd, a fake in tests). With
  // steer false it is only ever read. `elapsed` replaces the monotonic clock as the model's time
  // axis (tests); timers still run on the loop's clock.
  ClockGraph(const DaemonConfig& config, EventLoop& loop, std::unique_ptr<ClockDevice> real_system, bool steer,
             std::function<double()> elapsed = {});
  ClockGraph(const ClockGraph&) = delete;
  ClockGraph& operator=(const ClockGraph&) = delete;
  ~ClockGraph();

  // Starts the system clock's model from a frequency known before any sample (the frequency
  // file): the clock device is set to `frequency` (the kernel when steering, the virtual
  // correction when observing) and the model believes it to within `sd`. Call before add_phc and
  // add_source.
  void seed_system_frequency(double frequency, double sd);

  // A PHC joins the graph. `open` opens its device (again after it went away): read-write when
  // steering, read-only when observing. Call before add_source. Fails when it cannot be opened.
  using PhcOpener = std::function<Result<PhcDevice>()>;
  Result<void> add_phc(const PhcPlan& plan, PhcOpener open);

  // A [[refclock]]: `open` opens its PHC (read-only: it is never adjusted); a source of the
  // system clock from then on, read on the cross-timestamp tick every 2^poll seconds. Call
  // after add_phc. Fails when the device cannot be opened.
  Result<void> add_refclock(const RefclockConfig& config, PhcOpener open);
  std::vector<RefclockStatus> refclock_statuses() const;

  // A source that measures a clock against a master elsewhere (a [[ptp]] port,
  // daemon/ptp_source): unauthenticated and precise, so NTS guards it
  // (clock/agreement_guard.hpp); a primary reference with `refid` to our clients. With software
  // stamps a source of the system clock alone; with `hardware` stamps (a PHC's time) a source of
  // every clock NTP disciplines, as an NTP source. Returns its index for on_system_measurement.
  std::size_t add_guarded_source(const std::string& name, const SourceOptions& options, std::uint32_t refid,
                                 bool hardware = false);
  // A measurement of such a source, master minus our stamps: kernel stamps on the system clock
  // (`phc_ifindex` 0), or that NIC's hardware stamps in its PHC's time. The latter go to the PHC's
  // model when it is disciplined, else through its line to the system clock's (the direct path).
  // The observe-only correction is applied here, as for NTP samples.
  void on_system_measurement(std::size_t source, Measurement m, int phc_ifindex = 0);
  // Its part in the selection of the clock its last measurement went to (the system clock before
  // any), the NTS guard's verdict included.
  std::optional<SourceStatus> system_source_status(std::size_t source) const;
  // TAI - UTC now by the leap-seconds list; nullopt without one or past its expiry.
  std::optional<int> tai_utc_now() const;

  // An NTP source (of every clock NTP disciplines); returns its index for on_sample.
  std::size_t add_source(const std::string& name);
  // The source is gone (SIGHUP without it): no clock counts it in selection any more and its
  // late samples are dropped. Indexes are never reused; a source that comes back is added anew.
  void remove_source(std::size_t source);
  // A sample goes to the clock its stamps were read on: a PHC for a hardware-stamped exchange
  // through a disciplining NIC, else the system clock (unless that follows a PHC: then unused).
  // Returns what that clock's model made of it, for the source's poll; nullopt when no clock
  // used it.
  std::optional<PollFeedback> on_sample(std::size_t source, const NtpExchangeResult& result);
  // Somebody else set CLOCK_REALTIME (timerfd cancel-on-set): the offset is unknown again.
  void on_realtime_set();
  // Cross-timestamps of every PHC: reset and jump detection, and the followers' measurements.
  // Runs every second on the loop; public for tests.
  void on_cross_tick();
  // Ends the slews that are due by the model's time axis (the loop's timers do it in kairosd;
  // tests on a simulated time axis call this).
  void run_due_timers();

  // The leap-seconds.list (nullopt: none) and its path: it decides the system clock's leap
  // seconds and the kernel's TAI offset while it has not expired (Discipline). Again on SIGHUP.
  void set_leap_seconds_list(std::optional<LeapSecondsList> list, std::string path);
  LeapStatus leap_status() const;

  ClockStatus system_status() const;
  // Every clock, the system clock first.
  std::vector<ClockStatus> clock_statuses() const;
  // What our NTP server should announce while we are synchronized (stratum from the selected
  // source, leap, root distance from the bound); nullopt while unsynchronized.
  std::optional<ServerClockState> server_state() const;
  void log_status() const;
  // Samples that reached no clock (a system-clock sample while the system clock follows a PHC,
  // a hardware sample from a NIC whose PHC is not disciplined).
  std::size_t unused_samples() const { return unused_samples_; }
  // Samples refused because their server is synchronized to us (its reference ID is our address).
  std::size_t loop_samples() const { return loop_samples_; }

  // The model's time axis: monotonic seconds since the graph was made.
  double elapsed() const;

  // The direct path's PHC-to-system lines as of now, by the NIC's ifindex: one for each PHC on
  // the direct path that has a line, for the NTP server's hardware stamps.
  std::vector<std::pair<int, PhcLine>> phc_lines() const;
  // Called whenever those lines may have changed (a cross-timestamp, a change of the system
  // clock's steering, a PHC lost, a foreign step).
  void on_lines_changed(std::function<void()> listener) { lines_changed_ = std::move(listener); }

 private:
  struct Node;
  struct Refclock;
  Node& system() const { return *nodes_.front(); }
  Node* phc_by_ifindex(int ifindex) const;
  Result<void> build(Node& node);
  void connect_leader(Node& follower, Node& leader);
  void cross_tick(Node& phc);
  void phc_lost(Node& phc, const std::string& why);
  // A clock set seen now is the kernel applying the leap second the system clock armed.
  bool kernel_leap_now(const Node& sys) const;
  // A PHC we were to steer refuses adjustment: it is only read from now on, and its NIC's
  // stamps take the direct path to the system clock, which no longer follows it.
  void fall_back_to_direct(Node& phc, const std::string& why);
  void check_refusals(Node& node);
  void convert_tick(Node& phc, const CrossTimestamp& cross, PhcEvent event, double now);
  void rearm_timer(Node& node);
  // A source of every NTP-disciplined clock (a refclock's only of the system clock).
  std::size_t register_source(const std::string& name, const SourceOptions& options, bool refclock);
  void refclock_tick(Refclock& ref);
  // A sample of a source of the system clock alone (a refclock, a PTP port) into its model, read
  // on the real clock: the observe-only correction is taken off. Returns the corrected offset.
  double feed_system(std::size_t source, Measurement m, double now);
  // Which clock a sample stamped on `phc_ifindex`'s PHC (0: the system clock) is for and, on the
  // direct path, the PHC's line to system time at `taken`. No node: no clock uses it (counted,
  // logged once per source).
  struct Route {
    Node* node = nullptr;
    std::optional<TimescaleMap::Estimate> through;
  };
  Route route(std::size_t source, int phc_ifindex, double taken);
  // A measurement into `node`'s model, its observe-only correction taken off: the source's part
  // in that model, read before a refusal check may take a PHC's model away.
  SourceStatus take(Node& node, std::size_t source, const Measurement& m, double now);
  // Logs each refclock's NTS verdict once per change.
  void note_guards();
  void note_state(Node& node);
  // Logs once when the sources announce a leap second the list does not have.
  void note_outvoted_leap();
  // The leap second a smearing server smears around now, if any (steering, leap-smear on).
  std::optional<LeapSmear> current_smear() const;
  ClockStatus status_of(const Node& node) const;
  void log_node(const Node& node) const;

  // The running configuration (kairosd keeps it current across SIGHUP): a source's calibrated
  // path is looked up in it when the source is added.
  const DaemonConfig& config_;
  EventLoop& loop_;
  bool steer_;
  DisciplineOptions options_;
  EventLoop::Clock::time_point start_;
  std::function<double()> elapsed_;
  std::optional<std::string> system_follows_;
  struct FrequencySeed {
    double frequency;
    double sd;
  };
  std::optional<FrequencySeed> system_seed_;
  std::vector<std::unique_ptr<Node>> nodes_;  // [0]: the system clock; stable addresses
  std::vector<std::string> source_names_;
  std::vector<SourceOptions> source_options_;  // as the models get them (a rebuilt one too)
  std::vector<std::uint8_t> source_strata_;
  std::vector<std::uint32_t> source_refids_;
  std::vector<bool> source_unused_warned_;
  std::vector<bool> source_loop_warned_;
  std::vector<bool> source_removed_;
  std::vector<bool> source_refclock_;
  std::vector<std::optional<GuardState>> source_logged_guard_;  // each guarded source's verdict, logged once
  std::vector<const Node*> source_node_;    // the clock its last measurement went to (guarded sources)
  std::vector<std::string> source_labels_;  // how the logs name it ("refclock NAME", a PTP port's name)
  std::vector<std::unique_ptr<Refclock>> refclocks_;
  std::size_t unused_samples_ = 0;
  std::size_t loop_samples_ = 0;
  std::optional<EventLoop::TimerId> status_timer_;
  std::optional<EventLoop::TimerId> cross_timer_;
  std::optional<LeapSecondsList> leap_list_;
  std::string leap_list_path_;
  Leap logged_outvoted_ = Leap::kNone;
  std::function<void()> lines_changed_;
  void lines_changed() const {
    if (lines_changed_) lines_changed_();
  }
};

// The sd of one exchange's timestamp error (both ends) for the stamps it had.
double stamp_precision(StampSource t1, StampSource t4);
StepMode parse_step_mode(const std::string& text);

}  // namespace kairos
