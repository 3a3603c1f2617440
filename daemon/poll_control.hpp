#pragma once
// How often one source is asked (issue 21 item 2): between minpoll and maxpoll, from what the
// clock model says of each sample, with no sockets or clocks inside (the association feeds it).
//
// The rule is the Allan intercept seen from the model. A poll is worth its packet while the clock
// drifts, between two polls, by more than one measurement can resolve: the model's prediction of
// the offset at a sample's time has an uncertainty (predicted sd) that grows with the interval,
// and the samples have theirs (their sd, from their excess delay; a running typical value). While
// the prediction stays well below the samples' noise, a longer interval loses nothing: after a
// run of such samples the poll doubles. When the prediction is coarser than the noise (the clock
// wanders faster than we look), or a sample lands far outside what the model predicted (a step, a
// frequency change), or the round trip stays far above its usual excess (a new path), the poll
// halves at once, so that the
// model relearns quickly. A RATE kiss from the server doubles it as well, up to maxpoll or the
// exponent the server asked for (chrony and ntpd do the same).
//
// Each interval is randomised by ±10 % so that many clients started together (a fleet after a
// power cut) do not keep asking a server in the same instant.
#include <chrono>
#include <cstdint>
#include <functional>

namespace kairos {

struct SourceStatus;  // clock/discipline.hpp

// What the model said of one sample (daemon/clock_graph.cpp builds it from the discipline).
struct PollFeedback {
  double residual = 0;        // the sample's offset minus the model's prediction (s)
  double predicted_sd = 0;    // uncertainty of that prediction (s)
  double measurement_sd = 0;  // the sample's own noise (s)
  double excess_delay = 0;    // round trip minus the shortest one seen recently (s)
  // Not for the poll: whether the selection took the source after this sample (a pool member
  // that is left out again and again is replaced: daemon/address_choice.hpp).
  bool selected = true;
};

// What the model's view of a source after its sample says to the poll: kairosd's clock graph and
// kairos-sim both answer a delivered sample with it.
PollFeedback poll_feedback(const SourceStatus& status);

class PollControl {
 public:
  // Samples in a row that must be well predicted before the poll doubles.
  static constexpr int kRunToLengthen = 4;
  // Doubling the interval multiplies a wandering clock's prediction sd by up to 2^1.5 (phase
  // variance of a random-walk frequency grows as t^3): lengthen only below half the noise, shorten
  // above twice it, so that one step up never lands above the line that steps down again.
  static constexpr double kLengthenBelow = 0.5;
  static constexpr double kShortenAbove = 2.0;
  // A residual beyond this many combined sd: the model did not predict this sample.
  static constexpr double kSurprise = 4.0;
  // An excess round trip beyond this many times its running typical value: the path changed.
  static constexpr double kDelayJump = 4.0;
  static constexpr double kJitter = 0.1;

  PollControl(int minpoll, int maxpoll);

  int exponent() const { return poll_; }
  // One sample and the model's view of it.
  void on_sample(const PollFeedback& feedback);
  // The server asked us to slow down (kiss RATE).
  void on_rate_kiss();
  // The next interval: 2^poll randomised by ±kJitter; `uniform` returns a number in [0, 1).
  std::chrono::steady_clock::duration interval(const std::function<double()>& uniform) const;
  // The interval without randomisation (the exchange's timeout is half of it).
  std::chrono::steady_clock::duration nominal_interval() const;

 private:
  void lengthen();
  void shorten();

  int minpoll_;
  int maxpoll_;
  int poll_;
  int good_run_ = 0;
  double typical_excess_ = -1;  // running typical excess round trip (s); negative until the first
  double typical_variance_ = 0;  // running typical variance of a measurement (s^2)
  bool last_was_long_ = false;   // the last sample's round trip was far above the typical
};

}  // namespace kairos
