#include "daemon/reload.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace kairos {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

DaemonConfig parse(const std::string& text) {
  auto config = parse_config(text, "kairos.toml");
  EXPECT_TRUE(config) << config.error().message;
  return config.value_or(DaemonConfig{});
}

const std::string kServing = R"(
[server]
listen = ["127.0.0.1:123"]
[nts-ke-server]
listen = ["127.0.0.1:4460"]
certificate = "/etc/kairos/fullchain.pem"
private-key = "/etc/kairos/key.pem"
)";

const std::string kSources = R"(
[[source]]
address = "a.example.net"
[[source]]
address = "10.0.0.1:123"
nts = false
)";
const std::string kTwoSources = "[logging]\nlevel = \"info\"\n" + kSources;

TEST(PlanReload, UnchangedFileChangesNothing) {
  const DaemonConfig running = parse(kTwoSources + kServing);
  const ReloadPlan plan = plan_reload(running, parse(kTwoSources + kServing));
  EXPECT_TRUE(plan.no_changes());
  EXPECT_THAT(plan.add, IsEmpty());
  EXPECT_THAT(plan.remove, IsEmpty());
  EXPECT_FALSE(plan.log_level);
  EXPECT_THAT(plan.restart_needed, IsEmpty());
  EXPECT_EQ(reload_summary(plan), "reloaded: no changes");
}

TEST(PlanReload, SectionsMovedByAnEditAreNotChanges) {
  const DaemonConfig running = parse(kTwoSources + kServing);
  // Same settings, other lines and order: comments above, the servers first.
  const ReloadPlan plan = plan_reload(running, parse("# edited\n\n# by hand\n" + kServing + kTwoSources));
  EXPECT_TRUE(plan.no_changes()) << reload_summary(plan);
}

TEST(PlanReload, CertificatesAreReloadedOnlyWithAnNtsKeServer) {
  EXPECT_TRUE(plan_reload(parse(kTwoSources + kServing), parse(kTwoSources + kServing)).reload_certificates);
  EXPECT_FALSE(plan_reload(parse(kTwoSources), parse(kTwoSources)).reload_certificates);
}

TEST(PlanReload, NewSourceIsAddedAndTheOthersKept) {
  const DaemonConfig running = parse(kTwoSources);
  const ReloadPlan plan = plan_reload(running, parse(kTwoSources + "[[source]]\naddress = \"b.example.net\"\n"));
  ASSERT_EQ(plan.add.size(), 1u);
  EXPECT_EQ(plan.add[0].address, "b.example.net");
  EXPECT_THAT(plan.remove, IsEmpty());
  EXPECT_THAT(plan.restart_needed, IsEmpty());
  EXPECT_EQ(reload_summary(plan), "reloaded: +1 source");
}

TEST(PlanReload, SourceLeftOutOfTheFileIsRemoved) {
  const DaemonConfig running = parse(kTwoSources);
  const ReloadPlan plan = plan_reload(running, parse("[[source]]\naddress = \"10.0.0.1:123\"\nnts = false\n"));
  EXPECT_THAT(plan.add, IsEmpty());
  EXPECT_THAT(plan.remove, ElementsAre(0u));  // a.example.net, the first of the running ones
  EXPECT_EQ(reload_summary(plan), "reloaded: -1 source");
}

TEST(PlanReload, ChangedSourceIsRemovedAndAddedAgain) {
  const DaemonConfig running = parse(kTwoSources);
  const ReloadPlan plan = plan_reload(running, parse(R"(
[[source]]
address = "a.example.net"
iburst = true
[[source]]
address = "10.0.0.1:123"
nts = false
)"));
  EXPECT_THAT(plan.remove, ElementsAre(0u));
  ASSERT_EQ(plan.add.size(), 1u);
  EXPECT_EQ(plan.add[0].address, "a.example.net");
  EXPECT_TRUE(plan.add[0].iburst);
}

TEST(PlanReload, EveryOptionOfASourceCounts) {
  SourceConfig base;
  base.address = "a.example.net";
  EXPECT_TRUE(same_source(base, base));
  SourceConfig moved = base;
  moved.line = 42;
  EXPECT_TRUE(same_source(base, moved));
  auto differs = [&](auto change) {
    SourceConfig other = base;
    change(other);
    return !same_source(base, other);
  };
  EXPECT_TRUE(differs([](SourceConfig& s) { s.address = "b.example.net"; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.nts = false; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.ca = "/ca.pem"; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.aeads = {15}; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.minpoll = 2; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.maxpoll = 12; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.iburst = true; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.xleave = true; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.asymmetry = 20e-6; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.max_asymmetry = 0.1; }));
  EXPECT_TRUE(differs([](SourceConfig& s) { s.pool_member = 2; }));
}

TEST(PlanReload, SameServerListedTwiceIsMatchedOncePerEntry) {
  const std::string one = "[[source]]\naddress = \"a.example.net\"\n";
  const DaemonConfig running = parse(one + one);
  EXPECT_TRUE(plan_reload(running, parse(one + one)).no_changes());
  const ReloadPlan fewer = plan_reload(running, parse(one));
  EXPECT_THAT(fewer.add, IsEmpty());
  EXPECT_THAT(fewer.remove, ElementsAre(1u));
  const ReloadPlan more = plan_reload(parse(one), parse(one + one));
  EXPECT_EQ(more.add.size(), 1u);
  EXPECT_THAT(more.remove, IsEmpty());
}

TEST(PlanReload, LogLevelChangeIsLive) {
  const DaemonConfig running = parse(kTwoSources);
  DaemonConfig next = running;
  next.logging.level = "debug";
  const ReloadPlan plan = plan_reload(running, next);
  EXPECT_EQ(plan.log_level, "debug");
  EXPECT_THAT(plan.restart_needed, IsEmpty());
  EXPECT_EQ(reload_summary(plan), "reloaded: level debug");
}

TEST(PlanReload, SettingsBoundAtStartNeedARestart) {
  const DaemonConfig running = parse(kTwoSources + kServing + R"(
[[interface]]
name = "eth0"
[metrics]
listen = "127.0.0.1:9100"
)");
  const ReloadPlan plan = plan_reload(running, parse("[logging]\nlevel = \"info\"\ntarget = \"journald\"\n" + kSources + R"(
[daemon]
user = "kairos"
[server]
listen = ["127.0.0.1:1123"]
[nts-ke-server]
listen = ["127.0.0.1:4460"]
certificate = "/etc/kairos/other.pem"
private-key = "/etc/kairos/key.pem"
[[interface]]
name = "eth0"
hw-timestamping = "off"
[[interface]]
name = "eth1"
[clock.system]
step = "never"
[control]
socket = "/run/other/control.sock"
[shm]
path = "/run/other/time.shm"
)"));
  EXPECT_THAT(plan.restart_needed,
              ElementsAre("daemon.user", "logging.target", "server.listen", "nts-ke-server.certificate",
                          "interface.eth0.hw-timestamping", "interface.eth1", "clock.system.step", "control.socket",
                          "shm.path", "metrics"));
  // None of it touches the sources or the level.
  EXPECT_THAT(plan.add, IsEmpty());
  EXPECT_THAT(plan.remove, IsEmpty());
  EXPECT_FALSE(plan.log_level);
  EXPECT_EQ(reload_summary(plan), "reloaded: 10 keys kept until a restart");
}

TEST(PlanReload, ServerAddedOrRemovedNeedsARestart) {
  EXPECT_THAT(plan_reload(parse(kTwoSources), parse(kTwoSources + "[server]\n")).restart_needed, ElementsAre("server"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + "[server]\n"), parse(kTwoSources)).restart_needed, ElementsAre("server"));
  DaemonConfig steering = parse(kTwoSources);
  steering.steer = true;
  EXPECT_THAT(plan_reload(parse(kTwoSources), steering).restart_needed, ElementsAre("daemon.steer"));
}

TEST(PlanReload, SummaryNamesEveryLiveChange) {
  const DaemonConfig running = parse(kTwoSources);
  const ReloadPlan plan = plan_reload(running, parse(R"(
[logging]
level = "debug"
[[source]]
address = "10.0.0.1:123"
nts = false
[[source]]
address = "b.example.net"
)"));
  EXPECT_EQ(reload_summary(plan), "reloaded: +1 source, -1 source, level debug");
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

TEST(PlanReload, RefclockChangesNeedARestart) {
  const std::string gm = "[[refclock]]\nphc = \"/dev/ptp0\"\nname = \"gm\"\n";
  EXPECT_THAT(plan_reload(parse(kTwoSources), parse(kTwoSources + gm)).restart_needed, ElementsAre("refclock.gm"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + gm), parse(kTwoSources)).restart_needed, ElementsAre("refclock.gm"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + gm), parse(kTwoSources + gm + "timescale = \"utc\"\n")).restart_needed,
              ElementsAre("refclock.gm.timescale"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + gm), parse(kTwoSources + gm)).restart_needed, IsEmpty());
}

TEST(PlanReload, PtpPortChangesNeedARestart) {
  const std::string port = "[[ptp]]\ninterface = \"eth0\"\n";
  EXPECT_THAT(plan_reload(parse(kTwoSources), parse(kTwoSources + port)).restart_needed, ElementsAre("ptp.ptp:eth0"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + port), parse(kTwoSources)).restart_needed, ElementsAre("ptp.ptp:eth0"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + port), parse(kTwoSources + port + "domain = 4\n")).restart_needed,
              ElementsAre("ptp.ptp:eth0.domain"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + port), parse(kTwoSources + port + "transport = \"l2\"\n")).restart_needed,
              ElementsAre("ptp.ptp:eth0.transport"));
  EXPECT_THAT(plan_reload(parse(kTwoSources + port), parse(kTwoSources + port)).restart_needed, IsEmpty());
}

}  // namespace
}  // namespace kairos
