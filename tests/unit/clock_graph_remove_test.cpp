// Sources removed from the clock graph (SIGHUP without them) no longer count anywhere.
#include <gtest/gtest.h>

#include "clock/sim_clock.hpp"
#include "daemon/clock_graph.hpp"

namespace kairos {
namespace {

// An observed system clock 2 ms behind; sources answer with the truth plus `error`.
struct ClockGraphRemoveTest : ::testing::Test {
  double t = 0;
  SimClock* real = nullptr;
  EventLoop loop = EventLoop::create().value();
  DaemonConfig config;
  std::unique_ptr<ClockGraph> graph;

  void SetUp() override {
    auto clock = std::make_unique<SimClock>("system", [this] { return t; }, 1'700'000'000, -2e-3, 0.0, 0.1);
    real = clock.get();
    graph = std::make_unique<ClockGraph>(config, loop, std::move(clock), false, [this] { return t; });
  }

  NtpExchangeResult sample(double error = 0) {
    NtpExchangeResult r;
    r.sample.offset = Duration::from_seconds(-real->offset_at(t) + error);
    r.sample.delay = Duration::from_seconds(200e-6);
    r.sample.header.stratum = 2;
    r.sample.header.precision = -24;  // the default, 2^0 s, would make every interval overlap
    r.sample.header.leap = NtpLeap::kNone;
    r.t1_source = r.t4_source = StampSource::kKernel;
    return r;
  }
};

TEST_F(ClockGraphRemoveTest, RemovedSourceIsExcludedFromSelection) {
  const std::size_t kept = graph->add_source("kept");
  const std::size_t removed = graph->add_source("removed");
  // Two sources 100 ms apart: neither is a majority, the clock cannot be synchronized.
  for (int i = 0; i < 8; ++i) {
    t = 16.0 * i;
    graph->on_sample(kept, sample());
    graph->on_sample(removed, sample(0.1));
  }
  ASSERT_EQ(graph->system_status().state, DisciplineState::kNoMajority);
  graph->remove_source(removed);
  for (int i = 8; i < 16; ++i) {
    t = 16.0 * i;
    graph->on_sample(kept, sample());
    graph->on_sample(removed, sample(0.1));  // late answers of the removed one are dropped
  }
  const ClockStatus status = graph->system_status();
  EXPECT_EQ(status.state, DisciplineState::kSynchronized);
  ASSERT_EQ(status.sources.size(), 1u);  // nobody lists it any more
  EXPECT_EQ(status.sources[0].name, "kept");
  EXPECT_TRUE(status.sources[0].selected);
  EXPECT_NEAR(status.offset, -real->offset_at(t), 50e-6);  // the truth, not half way to the other
}

TEST_F(ClockGraphRemoveTest, StartDoesNotWaitForARemovedSource) {
  const std::size_t only = graph->add_source("only");
  graph->remove_source(graph->add_source("gone 1"));
  graph->remove_source(graph->add_source("gone 2"));
  // With three sources configured one answer is no majority: the start would wait 10 s.
  t = 1;
  graph->on_sample(only, sample());
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
}

TEST_F(ClockGraphRemoveTest, SourceAddedAgainStartsAsANewOne) {
  const std::size_t first = graph->add_source("server");
  t = 1;
  graph->on_sample(first, sample());
  graph->remove_source(first);
  const std::size_t again = graph->add_source("server");
  EXPECT_NE(again, first);
  const ClockStatus status = graph->system_status();
  ASSERT_EQ(status.sources.size(), 1u);
  EXPECT_EQ(status.sources[0].samples, 0u);  // no history of the removed one
  graph->on_sample(again, sample());
  EXPECT_EQ(graph->system_status().sources[0].samples, 1u);
}

}  // namespace
}  // namespace kairos
