#include "daemon/config.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

TEST(Config, ParsesTheDocumentedExample) {
  auto config = parse_config(R"(
[daemon]
steer = false                 # observe only: measure, never adjust a clock
state-dir = "/var/lib/kairos"
[[source]]
address = "time.example.net"  # host[:port]
nts = true
ca = "/path/to/ca.pem"        # optional extra trust anchor
minpoll = 4
maxpoll = 10
iburst = true
[[source]]
address = "10.0.0.1:123"
nts = false
)",
                             "kairos.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->steer);
  EXPECT_EQ(config->state_dir, "/var/lib/kairos");
  ASSERT_EQ(config->sources.size(), 2u);
  EXPECT_EQ(config->sources[0].address, "time.example.net");
  EXPECT_TRUE(config->sources[0].nts);
  EXPECT_EQ(config->sources[0].ca, "/path/to/ca.pem");
  EXPECT_EQ(config->sources[0].minpoll, 4);
  EXPECT_EQ(config->sources[0].maxpoll, 10);
  EXPECT_TRUE(config->sources[0].iburst);
  EXPECT_FALSE(config->sources[1].nts);
  EXPECT_FALSE(config->sources[1].iburst);
  EXPECT_EQ(config->sources[1].minpoll, 6);  // defaults, as chrony's
  EXPECT_EQ(config->sources[1].maxpoll, 10);
}

TEST(Config, EveryProblemIsReportedWithItsLine) {
  auto config = parse_config(R"([daemon]
steer = "yes"
colour = 3
[[source]]
address = "a.example"
minpoll = 12
maxpoll = 6
[[source]]
nts = 1
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:2: 'steer' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:3: unknown key 'colour' in [daemon]"), std::string::npos) << m;
  EXPECT_NE(m.find("'minpoll' is larger than 'maxpoll'"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:9: 'nts' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("needs a non-empty 'address'"), std::string::npos) << m;
}

TEST(Config, SyntaxErrorNamesTheLine) {
  auto config = parse_config("[daemon]\nsteer = \n", "broken.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message.rfind("broken.toml:2: ", 0), 0u) << config.error().message;
}

TEST(Config, OutOfRangePollAndRelativeStateDirAreRejected) {
  auto config = parse_config("[daemon]\nstate-dir = \"var/lib\"\n[[source]]\naddress = \"x\"\nmaxpoll = 40\n", "c");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("absolute path"), std::string::npos);
  EXPECT_NE(config.error().message.find("'maxpoll' must be between -6 and 17"), std::string::npos);
}

TEST(Config, AeadPreferenceIsReadAndChecked) {
  auto config = parse_config("[[source]]\naddress = \"x\"\naead = [15, 17]\n", "c");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->sources[0].aeads, (std::vector<std::uint16_t>{15, 17}));
  auto bad = parse_config("[[source]]\naddress = \"x\"\naead = [30]\n", "c");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("c:3: 'aead' must be"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(parse_config("[[source]]\naddress = \"x\"\naead = []\n", "c"));
}

TEST(Config, NoSourceIsAnError) {
  auto config = parse_config("[daemon]\nsteer = false\n", "c");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("no [[source]]"), std::string::npos);
}

TEST(Config, UnknownTopLevelTableIsRejected) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n[clocks]\n", "c");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("unknown key 'clocks'"), std::string::npos);
}

TEST(Config, ParsesTheServerExampleFromTheIssue) {
  auto config = parse_config(R"(
[server]
listen = ["0.0.0.0:123", "[::]:123"]
workers = 2
local-stratum = 1            # optional: serve own clock as stratum N (labs, demos)
rate-limit = { interval = 2, burst = 8 }
[nts-ke-server]
listen = ["0.0.0.0:4460"]
certificate = "/etc/kairos/fullchain.pem"
private-key = "/etc/kairos/key.pem"
key-seed = "/etc/kairos/cookie-seed"   # optional, fleet-wide
ntp-server = "ntp1.example.net"        # optional Server Negotiation record
ntp-port = 123
)",
                             "kairos.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->sources.empty());
  ASSERT_TRUE(config->server);
  EXPECT_EQ(config->server->listen, (std::vector<std::string>{"0.0.0.0:123", "[::]:123"}));
  EXPECT_EQ(config->server->workers, 2u);
  EXPECT_EQ(config->server->local_stratum, 1);
  ASSERT_TRUE(config->server->rate_limit);
  EXPECT_EQ(config->server->rate_limit->interval, 2.0);
  EXPECT_EQ(config->server->rate_limit->burst, 8u);
  ASSERT_TRUE(config->ke_server);
  EXPECT_EQ(config->ke_server->listen, (std::vector<std::string>{"0.0.0.0:4460"}));
  EXPECT_EQ(config->ke_server->certificate, "/etc/kairos/fullchain.pem");
  EXPECT_EQ(config->ke_server->private_key, "/etc/kairos/key.pem");
  EXPECT_EQ(config->ke_server->key_seed, "/etc/kairos/cookie-seed");
  EXPECT_EQ(config->ke_server->ntp_server, "ntp1.example.net");
  EXPECT_EQ(config->ke_server->ntp_port, 123);
  EXPECT_EQ(config->ke_server->aeads, (std::vector<std::uint16_t>{15, 16, 17}));
  EXPECT_EQ(config->ke_server->keys, KeyRingConfig{});
}

TEST(Config, ServerDefaultsAreSafe) {
  auto config = parse_config("[server]\n", "k.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->server->workers.has_value());  // one per core
  EXPECT_FALSE(config->server->local_stratum);
  ASSERT_TRUE(config->server->rate_limit);  // on unless turned off
  EXPECT_FALSE(config->ke_server);
}

TEST(Config, RateLimitCanBeTurnedOffButNotOnWithoutValues) {
  auto off = parse_config("[server]\nrate-limit = false\n", "k.toml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->server->rate_limit);
  auto on = parse_config("[server]\nrate-limit = true\n", "k.toml");
  ASSERT_FALSE(on);
  EXPECT_NE(on.error().message.find("k.toml:2:"), std::string::npos) << on.error().message;
  auto bad = parse_config("[server]\nrate-limit = { interval = 0, burst = 0, leak = 1 }\n", "k.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("'interval'"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("'burst'"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("unknown key 'leak'"), std::string::npos) << bad.error().message;
}

TEST(Config, ServerProblemsAreReportedWithTheirLines) {
  auto config = parse_config(R"([server]
listen = ["127.0.0.1"]
workers = -1
local-stratum = 16
[nts-ke-server]
listen = []
key-rotation-interval = 5
old-keys = 1000
ntp-server = "bad name!"
aead = [15, 15]
timeout = 0
)",
                             "k.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  for (const char* expected : {"k.toml:2:", "k.toml:3:", "k.toml:4:", "k.toml:6:", "k.toml:7:", "k.toml:8:",
                               "k.toml:9:", "k.toml:10:", "k.toml:11:", "needs 'certificate'", "needs 'private-key'"}) {
    EXPECT_NE(m.find(expected), std::string::npos) << expected << " missing in:\n" << m;
  }
}

TEST(Config, KeServerAloneMustNameItsNtpServers) {
  auto config = parse_config("[nts-ke-server]\ncertificate = \"c\"\nprivate-key = \"k\"\n[[source]]\naddress = \"a\"\n",
                             "k.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("needs 'ntp-server'"), std::string::npos) << config.error().message;
}

TEST(Config, KeServerWorkersDefaultToOnePerCpuAndAreBounded) {
  const std::string head = "[server]\n[nts-ke-server]\ncertificate = \"c\"\nprivate-key = \"k\"\n";
  auto defaults = parse_config(head, "k.toml");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->ke_server->workers.has_value());  // one per CPU the process may use
  auto two = parse_config(head + "workers = 2\n", "k.toml");
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(two->ke_server->workers, 2u);
  auto loop = parse_config(head + "workers = 0\n", "k.toml");
  ASSERT_TRUE(loop) << loop.error().message;
  EXPECT_EQ(loop->ke_server->workers, 0u);
  for (const char* bad : {"workers = -1\n", "workers = 257\n", "workers = \"all\"\n"}) {
    auto refused = parse_config(head + bad, "k.toml");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("k.toml:5:"), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find("'workers'"), std::string::npos) << refused.error().message;
  }
}

TEST(Config, NtpOnlyFleetMemberTakesTheSeedInServer) {
  auto config = parse_config("[server]\nkey-seed = \"/etc/kairos/seed\"\nkey-rotation-interval = 3600\n", "k.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->has_cookie_keys());
  EXPECT_EQ(config->cookie_key_seed(), "/etc/kairos/seed");
  EXPECT_EQ(config->cookie_key_schedule().rotation_interval, 3600u);
  auto both = parse_config(
      "[server]\nkey-seed = \"/s\"\n[nts-ke-server]\ncertificate = \"c\"\nprivate-key = \"k\"\n", "k.toml");
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("k.toml:2: 'key-seed' belongs in [nts-ke-server]"), std::string::npos)
      << both.error().message;
  auto plain = parse_config("[server]\n", "k.toml");
  EXPECT_FALSE(plain->has_cookie_keys());
}

TEST(Config, MissingFileIsAClearError) {
  auto config = load_config("/nonexistent/kairos.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("/nonexistent/kairos.toml"), std::string::npos) << config.error().message;
}


TEST(ConfigTopology, ParsesThePhcDiscipliningHostOfTheIssue) {
  auto config = parse_config(R"(
[[source]]
address = "time.example.net"
[[interface]]
name = "eth0"
hw-timestamping = "auto"   # auto | on | check | off
discipline-phc = true       # NTS/NTP via this NIC disciplines its PHC
rx-compensation = 20e-9
[[interface]]
name = "eth1"
hw-timestamping = "check"
phc-follows-system = true
[clock.system]
follow = "eth0"             # system clock follows that PHC via cross-timestamps
step = "never"
step-threshold = 0.5
)",
                             "host.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->interfaces.size(), 2u);
  EXPECT_EQ(config->interfaces[0].name, "eth0");
  EXPECT_EQ(config->interfaces[0].hw_timestamping, HwTimestampingMode::kAuto);
  EXPECT_TRUE(config->interfaces[0].discipline_phc);
  EXPECT_DOUBLE_EQ(config->interfaces[0].rx_compensation, 20e-9);
  EXPECT_EQ(config->interfaces[1].hw_timestamping, HwTimestampingMode::kCheck);
  EXPECT_TRUE(config->interfaces[1].phc_follows_system);
  EXPECT_EQ(config->system_clock.follow, "eth0");
  EXPECT_EQ(config->system_clock.step, "never");
  EXPECT_DOUBLE_EQ(config->system_clock.step_threshold, 0.5);
  EXPECT_EQ(config->interface("eth1"), &config->interfaces[1]);
  EXPECT_EQ(config->interface("eth9"), nullptr);
}

TEST(ConfigTopology, DefaultsAreSoftwareFriendly) {
  auto config = parse_config("[[source]]\naddress = \"a\"\n[[interface]]\nname = \"lo\"\n", "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->interfaces[0].hw_timestamping, HwTimestampingMode::kAuto);
  EXPECT_FALSE(config->interfaces[0].discipline_phc);
  EXPECT_FALSE(config->system_clock.follow);
  EXPECT_EQ(config->system_clock.step, "start-only");
}

TEST(ConfigTopology, InconsistentTopologyIsRejectedWithLines) {
  auto config = parse_config(R"([[source]]
address = "a"
[[interface]]
name = "eth0"
hw-timestamping = "sometimes"
discipline-phc = true
phc-follows-system = true
[[interface]]
name = "eth0"
[[interface]]
name = "this-name-is-far-too-long"
hw-timestamping = "off"
discipline-phc = true
rx-compensation = 1.0
[clock.system]
follow = "eth7"
step = "maybe"
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:5: 'hw-timestamping' is \"auto\", \"on\", \"check\" or \"off\""), std::string::npos) << m;
  EXPECT_NE(m.find("either is disciplined by NTP"), std::string::npos) << m;
  EXPECT_NE(m.find("interface 'eth0' is configured twice"), std::string::npos) << m;
  EXPECT_NE(m.find("needs a 'name' of 1 to 15 characters"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:13: 'discipline-phc' needs hardware timestamps"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:14: 'rx-compensation' must be a number between"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:16: [clock.system] follows 'eth7', which is not an [[interface]]"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:17: 'step' is"), std::string::npos) << m;
}

TEST(ConfigTopology, FollowingAPhcThatIsNotDisciplinedIsRejected) {
  auto config = parse_config("[[source]]\naddress = \"a\"\n[[interface]]\nname = \"eth0\"\n[clock.system]\nfollow = \"eth0\"\n",
                             "t.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("t.toml:6: [clock.system] follows 'eth0', whose PHC is not disciplined"),
            std::string::npos)
      << config.error().message;
}


TEST(ConfigInterleaved, XleaveIsOffUnlessASourceAsks) {
  auto config = parse_config(R"([[source]]
address = "a.example"
xleave = true
[[source]]
address = "b.example"
nts = true
xleave = false
[[source]]
address = "c.example"
)",
                             "x.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->sources.size(), 3u);
  EXPECT_TRUE(config->sources[0].xleave);
  EXPECT_FALSE(config->sources[1].xleave);
  EXPECT_TRUE(config->sources[1].nts);
  EXPECT_FALSE(config->sources[2].xleave);  // default: basic mode, a fresh port per request
}

TEST(ConfigSourcePath, CalibratedAsymmetryIsRead) {
  auto config = parse_config(R"([[source]]
address = "a.example"
asymmetry = -25e-6
max-asymmetry = 0.1
[[source]]
address = "b.example"
)",
                             "x.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_DOUBLE_EQ(config->sources[0].asymmetry, -25e-6);
  EXPECT_DOUBLE_EQ(config->sources[0].max_asymmetry, 0.1);
  // Without them nothing is assumed about the path: all of half the round trip counts.
  EXPECT_EQ(config->sources[1].asymmetry, 0);
  EXPECT_EQ(config->sources[1].max_asymmetry, 1.0);
}

TEST(ConfigSourcePath, OutOfRangeAsymmetryIsRejectedWithItsLine) {
  auto config = parse_config(R"([[source]]
address = "a.example"
asymmetry = 2
max-asymmetry = 1.5
[[source]]
address = "b.example"
max-asymmetry = -0.1
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:3: 'asymmetry' must be a number between -1 and 1"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:4: 'max-asymmetry' must be a number between 0 and 1"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:7: 'max-asymmetry' must be a number between 0 and 1"), std::string::npos) << m;
}

TEST(ConfigInterleaved, ServerAnswersInterleavedUnlessTurnedOff) {
  auto by_default = parse_config("[server]\nlisten = [\"127.0.0.1:123\"]\n", "x.toml");
  ASSERT_TRUE(by_default) << by_default.error().message;
  EXPECT_TRUE(by_default->server->interleaved);
  auto off = parse_config("[server]\ninterleaved = false\n", "x.toml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->server->interleaved);
  auto on = parse_config("[server]\ninterleaved = true\n", "x.toml");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->server->interleaved);
}

TEST(ConfigInterleaved, WrongTypesAreRejectedWithTheirLines) {
  auto config = parse_config(R"([[source]]
address = "a.example"
xleave = "yes"
[[source]]
address = "b.example"
xleave = 1
[server]
interleaved = "on"
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:3: 'xleave' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:6: 'xleave' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:8: 'interleaved' must be true or false"), std::string::npos) << m;
  auto zero = parse_config("[server]\ninterleaved = 0\n", "z.toml");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("z.toml:2: 'interleaved' must be true or false"), std::string::npos)
      << zero.error().message;
}

TEST(ConfigServer, MaxWaitIsSecondsFromZeroToOne) {
  auto by_default = parse_config("[server]\n", "w.toml");
  ASSERT_TRUE(by_default) << by_default.error().message;
  EXPECT_DOUBLE_EQ(by_default->server->max_wait, 0.005);
  auto off = parse_config("[server]\nmax-wait = 0\n", "w.toml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->server->max_wait, 0.0);
  auto set = parse_config("[server]\nmax-wait = 0.002\n", "w.toml");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_DOUBLE_EQ(set->server->max_wait, 0.002);
  for (const char* bad : {"-0.001", "1.5", "\"5ms\"", "nan"}) {
    auto config = parse_config(std::string("[server]\nlisten = [\"127.0.0.1:123\"]\nmax-wait = ") + bad + "\n", "w.toml");
    ASSERT_FALSE(config) << bad;
    EXPECT_NE(config.error().message.find("w.toml:3: 'max-wait' must be a number of seconds from 0 (never drop) to 1"),
              std::string::npos)
        << config.error().message;
  }
}

TEST(ConfigInterleaved, EachTableTakesOnlyItsOwnName) {
  // chrony's word is `xleave` on a source; the server's switch is `interleaved`. The other word in
  // the wrong table is a mistake to report, not a setting to ignore silently.
  auto config = parse_config(R"([[source]]
address = "a.example"
interleaved = true
[server]
xleave = true
)",
                             "mix.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("mix.toml:3: unknown key 'interleaved' in [[source]]"), std::string::npos) << m;
  EXPECT_NE(m.find("mix.toml:5: unknown key 'xleave' in [server]"), std::string::npos) << m;
}

TEST(ConfigControl, SocketIsOnByDefaultAtTheRunPath) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n", "c");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->control.enabled);
  EXPECT_EQ(config->control.socket, "/run/kairos/control.sock");
  EXPECT_EQ(config->control.mode, 0660u);
  EXPECT_FALSE(config->control.group);
}

TEST(ConfigControl, SocketGroupModeAndSwitchAreRead) {
  auto config = parse_config(R"([[source]]
address = "x"
[control]
socket = "/tmp/k/ctl.sock"
group = "kairos-adm"
mode = "0640"
enabled = false
)",
                             "c");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->control.enabled);
  EXPECT_EQ(config->control.socket, "/tmp/k/ctl.sock");
  EXPECT_EQ(config->control.group, "kairos-adm");
  EXPECT_EQ(config->control.mode, 0640u);
}

TEST(ConfigControl, BadValuesAreRejectedWithTheirLines) {
  auto config = parse_config(R"([[source]]
address = "x"
[control]
socket = "run/control.sock"
group = "wheel;rm"
mode = "0960"
enabled = "yes"
port = 3
)",
                             "ctl.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("ctl.toml:4: 'socket' must be an absolute file path"), std::string::npos) << m;
  EXPECT_NE(m.find("ctl.toml:5: 'group' must be a group name"), std::string::npos) << m;
  EXPECT_NE(m.find("ctl.toml:6: 'mode' must be octal permission bits"), std::string::npos) << m;
  EXPECT_NE(m.find("ctl.toml:7: 'enabled' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("ctl.toml:8: unknown key 'port' in [control]"), std::string::npos) << m;
}

TEST(ConfigControl, ModeWithoutOwnerReadWriteAndOverlongPathAreRejected) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n[control]\nmode = \"0060\"\nsocket = \"/" +
                                 std::string(120, 'a') + "\"\n",
                             "c");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("c:4: 'mode'"), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("c:5: 'socket'"), std::string::npos) << config.error().message;
  auto number = parse_config("[[source]]\naddress = \"x\"\n[control]\nmode = 432\n", "c");
  ASSERT_FALSE(number);
  EXPECT_NE(number.error().message.find("'mode' must be a string of octal digits"), std::string::npos);
}

TEST(ConfigShm, TimePageIsOnByDefault) {
  auto config = parse_config("[[source]]\naddress = \"a\"\n", "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->shm.enabled);
  EXPECT_EQ(config->shm.path, "/run/kairos/time.shm");
  EXPECT_DOUBLE_EQ(config->shm.max_drift, 1e-6);
}

TEST(ConfigShm, ReadsPathEnabledAndMaxDrift) {
  auto config = parse_config(R"([[source]]
address = "a"
[shm]
enabled = false
path = "/run/other/page"
max-drift = 5e-6
)",
                             "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->shm.enabled);
  EXPECT_EQ(config->shm.path, "/run/other/page");
  EXPECT_DOUBLE_EQ(config->shm.max_drift, 5e-6);
}

TEST(ConfigShm, UnknownKeysAndBadValuesAreRejected) {
  auto config = parse_config(R"([[source]]
address = "a"
[shm]
file = "/run/x"
path = "relative/page"
max-drift = -1
enabled = "yes"
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:4: unknown key 'file' in [shm]"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:5: 'path' must be an absolute file path"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:6: 'max-drift' must be a number between 0 and 0.001"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:7: 'enabled' must be true or false"), std::string::npos) << m;
}

TEST(ConfigService, UserSeccompAndLoggingAreRead) {
  auto config = parse_config(R"([daemon]
user = "kairos"
seccomp = true
[logging]
target = "journald"
level = "debug"
[server]
)",
                             "svc.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->user, "kairos");
  EXPECT_TRUE(config->seccomp);
  EXPECT_EQ(config->logging.target, "journald");
  EXPECT_EQ(config->logging.level, "debug");
}

TEST(ConfigService, DefaultsStayAsStartedWithoutSeccompOnStderr) {
  auto config = parse_config("[server]\n", "d.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->user);
  EXPECT_FALSE(config->seccomp);
  EXPECT_EQ(config->logging.target, "stderr");
  EXPECT_EQ(config->logging.level, "info");
}

TEST(ConfigService, ServiceProblemsAreReportedWithTheirLines) {
  auto config = parse_config(R"([daemon]
user = "0"
seccomp = "yes"
[logging]
target = "file"
level = "verbose"
colour = true
[server]
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:2: 'user' must be a user name"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:3: 'seccomp' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:5: 'target' is \"stderr\", \"journald\" or \"syslog\""), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:6: 'level' is \"debug\""), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:7: unknown key 'colour' in [logging]"), std::string::npos) << m;
  auto empty = parse_config("[daemon]\nuser = \"\"\n[server]\n", "e.toml");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("e.toml:2: 'user' must be a user name"), std::string::npos)
      << empty.error().message;
}

TEST(ConfigInterface, DiscipliningAPhcNeedsTheSystemClockToFollowIt) {
  auto config = parse_config(R"([[source]]
address = "x"
[[interface]]
name = "eth0"
discipline-phc = true
)",
                             "phc.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("phc.toml:3: [[interface]] eth0 disciplines its PHC"), std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("follow = \"eth0\""), std::string::npos) << config.error().message;
  auto following = parse_config(R"([[source]]
address = "x"
[[interface]]
name = "eth0"
discipline-phc = true
[clock.system]
follow = "eth0"
)",
                                "phc.toml");
  EXPECT_TRUE(following) << following.error().message;
}

TEST(ConfigMetrics, NoSectionMeansNoEndpoint) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n", "c");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->metrics);
}

TEST(ConfigMetrics, ListenAddressIsReadWithItsLine) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n[metrics]\nlisten = \"[::1]:9123\"\n", "c");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->metrics);
  EXPECT_EQ(config->metrics->listen, "[::1]:9123");
  EXPECT_EQ(config->metrics->line, 3u);
}

TEST(ConfigMetrics, MissingPortListAndUnknownKeysAreRejected) {
  auto no_port = parse_config("[[source]]\naddress = \"x\"\n[metrics]\nlisten = \"127.0.0.1\"\n", "m.toml");
  ASSERT_FALSE(no_port);
  EXPECT_NE(no_port.error().message.find("m.toml:4: 'listen' is one \"address:port\" string"), std::string::npos)
      << no_port.error().message;
  auto list = parse_config("[[source]]\naddress = \"x\"\n[metrics]\nlisten = [\"127.0.0.1:9123\"]\n", "m.toml");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("m.toml:4: 'listen' is one"), std::string::npos) << list.error().message;
  auto unknown = parse_config("[[source]]\naddress = \"x\"\n[metrics]\nlisten = \"127.0.0.1:9123\"\npath = \"/m\"\n",
                              "m.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("m.toml:5: unknown key 'path' in [metrics]"), std::string::npos)
      << unknown.error().message;
  auto empty = parse_config("[[source]]\naddress = \"x\"\n[metrics]\n", "m.toml");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("m.toml:3: [metrics] needs 'listen"), std::string::npos)
      << empty.error().message;
}


// A NIC ptp4l owns ("check") with kairosd disciplining its PHC: two servos on one clock.
TEST(ConfigTopology, CheckWithDisciplinePhcIsRefused) {
  auto config = parse_config(R"([[source]]
address = "time.example.net"
[[interface]]
name = "eth0"
hw-timestamping = "check"
discipline-phc = true
[clock.system]
follow = "eth0"
)",
                             "shared.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("shared.toml:6: 'discipline-phc' with hw-timestamping \"check\""),
            std::string::npos)
      << config.error().message;
  // Without discipline-phc: the direct path, only reading the PHC.
  auto direct = parse_config("[[source]]\naddress = \"x\"\n[[interface]]\nname = \"eth0\"\nhw-timestamping = \"check\"\n",
                             "direct.toml");
  EXPECT_TRUE(direct) << direct.error().message;
}


// Issue 21 item 5: `pool = "name"` is max-sources members of one name, each its own source.
TEST(Config, APoolIsReadAsItsMembers) {
  auto config = parse_config(R"([[source]]
pool = "pool.example.net"
nts = false
max-sources = 3
iburst = true
[[source]]
pool = "nts.pool.example"
)",
                             "pool.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->sources.size(), 3u + 4u);  // the default max-sources is chrony's 4
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(config->sources[k].address, "pool.example.net");
    EXPECT_EQ(config->sources[k].pool_member, k + 1);
    EXPECT_FALSE(config->sources[k].nts);
    EXPECT_TRUE(config->sources[k].iburst);
  }
  EXPECT_EQ(source_name(config->sources[2]), "pool.example.net#3");
  EXPECT_EQ(source_name(config->sources[6]), "nts.pool.example#4");
  EXPECT_TRUE(config->sources[6].nts);
}

TEST(Config, PoolMistakesAreNamed) {
  auto config = parse_config(R"([[source]]
address = "a.example"
pool = "b.example"
[[source]]
address = "c.example"
max-sources = 2
[[source]]
pool = "d.example"
max-sources = 40
)",
                             "pool.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("pool.toml:3: [[source]] takes 'address' or 'pool', not both"), std::string::npos) << m;
  EXPECT_NE(m.find("pool.toml:6: 'max-sources' only applies to a 'pool'"), std::string::npos) << m;
  EXPECT_NE(m.find("pool.toml:9:"), std::string::npos) << m;
}


// Issue 21 item 6: a NIC shared with ptp4l — kairosd may discipline a vclock of its own.
TEST(Config, PhcVclockLetsKairosdDisciplineItsOwnClockOnANicPtp4lConfigures) {
  auto config = parse_config(R"([[interface]]
name = "eth0"
hw-timestamping = "check"
discipline-phc = true
phc-vclock = 3
[clock.system]
follow = "eth0"
[[source]]
address = "ntp1.example.net"
)",
                             "vclock.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->interfaces[0].phc_vclock, 3);
}

TEST(Config, PhcVclockMistakesAreNamed) {
  auto config = parse_config(R"([[interface]]
name = "eth0"
hw-timestamping = "off"
phc-vclock = 1
[[interface]]
name = "eth1"
phc-vclock = 2
[[interface]]
name = "eth2"
hw-timestamping = "check"
discipline-phc = true
)",
                             "vclock.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("vclock.toml:4: 'phc-vclock' binds hardware stamps"), std::string::npos) << m;
  EXPECT_NE(m.find("vclock.toml:7: 'phc-vclock' on more than one interface"), std::string::npos) << m;
  EXPECT_NE(m.find("vclock.toml:11: 'discipline-phc' with hw-timestamping \"check\""), std::string::npos) << m;
}

TEST(ConfigLeap, LeapSecondsListDefaultsToTheSystemFileAndCanBeOff) {
  auto unset = parse_config("[[source]]\naddress = \"x\"\n", "c.toml");
  ASSERT_TRUE(unset);
  EXPECT_FALSE(unset->system_clock.leap_seconds_list.has_value());
  auto off = parse_config("[[source]]\naddress = \"x\"\n[clock.system]\nleap-seconds-list = \"\"\n", "c.toml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->system_clock.leap_seconds_list, "");
  auto path = parse_config("[[source]]\naddress = \"x\"\n[clock.system]\nleap-seconds-list = \"/etc/leap.list\"\n", "c.toml");
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_EQ(path->system_clock.leap_seconds_list, "/etc/leap.list");
}

TEST(ConfigLeap, BadLeapKeysAreNamedWithTheirLine) {
  auto config = parse_config(R"([[source]]
address = "x"
[clock.system]
leap-seconds-list = "leap.list"
[server]
leap-smear = "quadratic"
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:4: 'leap-seconds-list' is an absolute path"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:6: 'leap-smear' is \"none\" or \"linear-24h\""), std::string::npos) << m;
}

TEST(ConfigLeap, LeapSmearIsOffUnlessAsked) {
  auto plain = parse_config("[server]\n", "c.toml");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->server->leap_smear, "none");
  auto smear = parse_config("[server]\nleap-smear = \"linear-24h\"\n", "c.toml");
  ASSERT_TRUE(smear) << smear.error().message;
  EXPECT_EQ(smear->server->leap_smear, "linear-24h");
}

TEST(ConfigEvidence, NoSectionMeansNoLogAndTheSectionAloneTurnsItOn) {
  auto none = parse_config("[[source]]\naddress = \"x\"\n", "c");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->evidence);
  auto on = parse_config("[daemon]\nstate-dir = \"/s\"\n[[source]]\naddress = \"x\"\n[evidence]\n", "c");
  ASSERT_TRUE(on) << on.error().message;
  ASSERT_TRUE(on->evidence);
  EXPECT_TRUE(on->evidence->enabled);
  EXPECT_EQ(on->evidence_dir(), "/s/evidence");
  EXPECT_EQ(on->evidence->tiers, (std::vector<double>{100e-6, 1e-3}));
  EXPECT_EQ(on->evidence->interval, 1);
  EXPECT_EQ(on->evidence->retain_days, 0);
}

TEST(ConfigEvidence, KeysAreReadAndBadValuesNamedWithTheirLine) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n[evidence]\npath = \"/var/log/kairos\"\nenabled = false\n"
                             "interval = 0.5\nretain-days = 2000\ntiers = [50e-6, 1e-3, 0.05]\n",
                             "c");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->evidence_dir(), "/var/log/kairos");
  EXPECT_FALSE(config->evidence->enabled);
  EXPECT_EQ(config->evidence->interval, 0.5);
  EXPECT_EQ(config->evidence->retain_days, 2000);
  EXPECT_EQ(config->evidence->tiers, (std::vector<double>{50e-6, 1e-3, 0.05}));
  for (const auto& [line, expected] :
       {std::pair{"path = \"relative\"", "e.toml:4: 'path' must be an absolute directory path"},
        std::pair{"interval = 0.0005", "e.toml:4: 'interval' must be a number between 0.01 and 3600"},
        std::pair{"interval = 1.0005", "e.toml:4: 'interval' must be a whole number of milliseconds"},
        std::pair{"retain-days = -1", "e.toml:4: 'retain-days' must be between 0 and 36500"},
        std::pair{"tiers = [1e-3, 100e-6]", "e.toml:4: 'tiers' must be a list of ascending seconds"},
        std::pair{"tiers = [\"100us\"]", "e.toml:4: 'tiers' must be a list of ascending seconds"},
        std::pair{"hook = \"/bin/true\"", "e.toml:4: unknown key 'hook' in [evidence]"}}) {
    auto bad = parse_config(std::string("[[source]]\naddress = \"x\"\n[evidence]\n") + line + "\n", "e.toml");
    ASSERT_FALSE(bad) << line;
    EXPECT_NE(bad.error().message.find(expected), std::string::npos) << bad.error().message;
  }
}


TEST(ConfigSelection, PreferNoselectAndMaxDistanceAreRead) {
  auto config = parse_config(R"([[source]]
address = "a"
prefer = true
max-distance = 0.5
[[source]]
address = "b"
noselect = true
[clock.system]
max-distance = 1.5
max-drift = 100
)",
                             "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->sources.size(), 2u);
  EXPECT_TRUE(config->sources[0].prefer);
  EXPECT_FALSE(config->sources[0].noselect);
  EXPECT_EQ(config->sources[0].max_distance, 0.5);
  EXPECT_TRUE(config->sources[1].noselect);
  EXPECT_FALSE(config->sources[1].prefer);
  EXPECT_FALSE(config->sources[1].max_distance);
  EXPECT_DOUBLE_EQ(config->system_clock.max_distance, 1.5);
  EXPECT_DOUBLE_EQ(config->system_clock.max_drift_ppm, 100);
}

TEST(ConfigSelection, DefaultsAreChronys) {
  auto config = parse_config("[[source]]\naddress = \"a\"\n", "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_DOUBLE_EQ(config->system_clock.max_distance, 3);
  EXPECT_DOUBLE_EQ(config->system_clock.max_drift_ppm, 500);
  EXPECT_FALSE(config->sources[0].prefer);
  EXPECT_FALSE(config->sources[0].noselect);
}

TEST(ConfigSelection, BadValuesAreRejectedWithTheirLines) {
  auto config = parse_config(R"([[source]]
address = "a"
prefer = "yes"
noselect = 1
max-distance = 0
[[source]]
address = "b"
noselect = true
require = true
[clock.system]
max-distance = 20
max-drift = 0.5
)",
                             "bad.toml");
  ASSERT_FALSE(config);
  const std::string& m = config.error().message;
  EXPECT_NE(m.find("bad.toml:3: 'prefer' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:4: 'noselect' must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:5: 'max-distance' must be a number between"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:9: 'require' has no meaning for a 'noselect' source"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:11: 'max-distance' must be a number between"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:12: 'max-drift' must be a number between 1 and 100000"), std::string::npos) << m;
}

// Two keys named max-drift, each in its own section with its own unit: neither takes the other's.
TEST(ConfigSelection, ClockMaxDriftIsNotTheShmOne) {
  auto config = parse_config(R"([[source]]
address = "a"
[clock.system]
max-drift = 1000
[shm]
max-drift = 2e-6
)",
                             "t.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_DOUBLE_EQ(config->system_clock.max_drift_ppm, 1000);
  EXPECT_DOUBLE_EQ(config->shm.max_drift, 2e-6);
  auto wrong = parse_config("[[source]]\naddress = \"a\"\n[shm]\nmax-drift = 500\n", "t.toml");
  EXPECT_FALSE(wrong) << "[shm] max-drift is s/s, at most 0.001";
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

TEST(Config, RefclockIsReadWithItsDefaults) {
  auto config = parse_config("[[source]]\naddress = \"nts.example\"\n[[refclock]]\nphc = \"/dev/ptp1\"\n"
                             "[[refclock]]\ninterface = \"eth0\"\ntimescale = \"utc\"\npoll = 2\nname = \"gm\"\n"
                             "max-error = 5e-6\nprefer = false\nrequire-agreement = true\n",
                             "c");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->refclocks.size(), 2u);
  const RefclockConfig& a = config->refclocks[0];
  EXPECT_EQ(a.phc, "/dev/ptp1");
  EXPECT_EQ(a.name, "/dev/ptp1");
  EXPECT_TRUE(a.tai);  // as ptp4l keeps PHCs
  EXPECT_EQ(a.poll, 0);
  EXPECT_DOUBLE_EQ(a.max_error, 1e-6);
  EXPECT_TRUE(a.prefer);
  EXPECT_FALSE(a.require_agreement);
  const RefclockConfig& b = config->refclocks[1];
  EXPECT_EQ(b.interface, "eth0");
  EXPECT_EQ(b.name, "gm");
  EXPECT_FALSE(b.tai);
  EXPECT_EQ(b.poll, 2);
  EXPECT_DOUBLE_EQ(b.max_error, 5e-6);
  EXPECT_FALSE(b.prefer);
  EXPECT_TRUE(b.require_agreement);
  // A refclock alone is something to do.
  EXPECT_TRUE(parse_config("[[refclock]]\nphc = \"/dev/ptp0\"\n", "c"));
}

TEST(Config, RefclockProblemsNameTheirLine) {
  auto expect_problem = [](const std::string& text, const std::string& what) {
    auto config = parse_config(text, "r.toml");
    ASSERT_FALSE(config) << text;
    EXPECT_NE(config.error().message.find(what), std::string::npos) << config.error().message;
  };
  expect_problem("[[refclock]]\nname = \"x\"\n", "r.toml:1: [[refclock]] needs 'phc");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\ninterface = \"eth0\"\n", "r.toml:1: [[refclock]] names its PHC by");
  expect_problem("[[refclock]]\nphc = \"ptp0\"\n", "r.toml:2: 'phc' is a PHC's device path");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\ntimescale = \"gps\"\n", "r.toml:3: 'timescale' is");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\npoll = 11\n", "r.toml:3: 'poll'");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\nmax-error = -1\n", "r.toml:3: 'max-error'");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\ndelay = 1\n", "unknown key 'delay' in [[refclock]]");
  expect_problem("[[refclock]]\nphc = \"/dev/ptp0\"\n[[refclock]]\nphc = \"/dev/ptp0\"\n", "configured twice");
  expect_problem("[[source]]\naddress = \"x\"\nnts = false\n[[refclock]]\nphc = \"/dev/ptp0\"\nrequire-agreement = true\n",
                 "r.toml:4: [[refclock]] '/dev/ptp0' has require-agreement, but no [[source]] uses NTS");
  expect_problem("[[interface]]\nname = \"eth0\"\ndiscipline-phc = true\n[clock.system]\nfollow = \"eth0\"\n"
                 "[[refclock]]\nphc = \"/dev/ptp0\"\n",
                 "r.toml:6: [[refclock]] is a source of the system clock, which follows a PHC");
  expect_problem("refclock = 1\n", "[[refclock]] tables");
}

TEST(Config, FollowWithoutDisciplinePointsToRefclock) {
  auto config = parse_config("[[source]]\naddress = \"x\"\n[[interface]]\nname = \"eth0\"\n[clock.system]\nfollow = \"eth0\"\n", "c");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("[[refclock]] interface = \"eth0\""), std::string::npos) << config.error().message;
}

TEST(Config, PtpPortIsReadWithItsDefaults) {
  auto config = parse_config("[[source]]\naddress = \"nts.example\"\n[[ptp]]\ninterface = \"eth0\"\n"
                             "[[ptp]]\ninterface = \"eth1\"\ndomain = 24\nunicast-masters = [\"192.0.2.1\", \"192.0.2.2\"]\n"
                             "timescale = \"tai\"\nname = \"gm\"\nmax-error = 5e-6\nprefer = false\nrequire-agreement = true\n",
                             "c");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->ptp.size(), 2u);
  const PtpConfig& a = config->ptp[0];
  EXPECT_EQ(a.interface, "eth0");
  EXPECT_EQ(a.name, "ptp:eth0");
  EXPECT_EQ(a.domain, 0);
  EXPECT_TRUE(a.unicast_masters.empty());  // multicast, the default profile
  EXPECT_EQ(a.timescale, "auto");
  EXPECT_DOUBLE_EQ(a.max_error, 1e-6);
  EXPECT_TRUE(a.prefer);
  EXPECT_FALSE(a.require_agreement);
  const PtpConfig& b = config->ptp[1];
  EXPECT_EQ(b.name, "gm");
  EXPECT_EQ(b.domain, 24);
  EXPECT_EQ(b.unicast_masters, (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(b.timescale, "tai");
  EXPECT_DOUBLE_EQ(b.max_error, 5e-6);
  EXPECT_FALSE(b.prefer);
  EXPECT_TRUE(b.require_agreement);
  // A PTP port alone is something to do.
  EXPECT_TRUE(parse_config("[[ptp]]\ninterface = \"eth0\"\n", "c"));
}

// Issue 23: PTP over UDPv6 (Annex D) and Ethernet (Annex E); each transport's unicast masters are
// its own kind of address, and two transports may share a NIC and domain.
TEST(Config, PtpTransportIsReadAndItsMastersChecked) {
  auto config = parse_config("[[ptp]]\ninterface = \"eth0\"\n"
                             "[[ptp]]\ninterface = \"eth0\"\nname = \"v6\"\ntransport = \"udpv6\"\n"
                             "unicast-masters = [\"2001:db8::1\", \"fe80::2\"]\n"
                             "[[ptp]]\ninterface = \"eth0\"\nname = \"l2\"\ntransport = \"l2\"\n"
                             "unicast-masters = [\"02:00:5E:10:00:01\", \"02-00-5e-10-00-02\"]\n",
                             "c");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->ptp.size(), 3u);
  EXPECT_EQ(config->ptp[0].transport, "udpv4");
  EXPECT_EQ(config->ptp[1].transport, "udpv6");
  EXPECT_EQ(config->ptp[1].unicast_masters, (std::vector<std::string>{"2001:db8::1", "fe80::2"}));
  EXPECT_EQ(config->ptp[2].transport, "l2");
  EXPECT_EQ(config->ptp[2].unicast_masters.size(), 2u);

  auto expect_problem = [](const std::string& text, const std::string& what) {
    auto bad = parse_config(text, "t.toml");
    ASSERT_FALSE(bad) << text;
    EXPECT_NE(bad.error().message.find(what), std::string::npos) << bad.error().message;
  };
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = \"udpv6\"\nunicast-masters = [\"192.0.2.1\"]\n",
                 "t.toml:4: 'unicast-masters' over transport \"udpv6\" holds addresses, each an IPv6 address");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\nunicast-masters = [\"2001:db8::1\"]\n",
                 "t.toml:3: 'unicast-masters' over transport \"udpv4\" holds addresses, each an IPv4 address");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = \"l2\"\nunicast-masters = [\"02:00:5e:10:00\"]\n",
                 "t.toml:4: 'unicast-masters' over transport \"l2\" holds addresses, each a MAC address");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = \"l2\"\nunicast-masters = [\"192.0.2.1\"]\n",
                 "each a MAC address");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = \"l2\"\n[[ptp]]\ninterface = \"eth0\"\n"
                 "transport = \"l2\"\nname = \"other\"\n",
                 "t.toml:4: [[ptp]] on eth0 in domain 0 over l2 is configured twice");
}

TEST(Config, PtpProblemsNameTheirLine) {
  auto expect_problem = [](const std::string& text, const std::string& what) {
    auto config = parse_config(text, "p.toml");
    ASSERT_FALSE(config) << text;
    EXPECT_NE(config.error().message.find(what), std::string::npos) << config.error().message;
  };
  expect_problem("[[ptp]]\ndomain = 1\n", "p.toml:1: [[ptp]] needs 'interface");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ndomain = 256\n", "p.toml:3: 'domain'");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\nunicast-masters = [\"gm.example\"]\n",
                 "p.toml:3: 'unicast-masters' over transport \"udpv4\" holds addresses, each an IPv4 address");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\nunicast-masters = \"192.0.2.1\"\n", "p.toml:3: 'unicast-masters' must be an array");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntimescale = \"gps\"\n", "p.toml:3: 'timescale' is");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\nmax-error = 2\n", "p.toml:3: 'max-error'");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = \"udp\"\n", "p.toml:3: 'transport' is \"udpv4\"");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\ntransport = 4\n", "p.toml:3: 'transport'");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\n[[ptp]]\ninterface = \"eth0\"\nname = \"other\"\n",
                 "one port per NIC, domain and transport");
  expect_problem("[[ptp]]\ninterface = \"eth0\"\nrequire-agreement = true\n", "nothing could ever confirm it");
  expect_problem("ptp = 1\n", "PTP ports are written as [[ptp]] tables");
}

// Issue 23 item 2: with the system clock following a PHC, a PTP port is a source of that PHC, so
// it must stamp on its NIC in hardware and discipline it (ptp4l + phc2sys's roles); kernel stamps
// would measure the system clock, which takes no sources then.
TEST(Config, PtpBesideAFollowedPhcMustDisciplineItsNicsPhc) {
  const std::string nic = "[[interface]]\nname = \"eth0\"\nhw-timestamping = \"on\"\ndiscipline-phc = true\n"
                          "[clock.system]\nfollow = \"eth0\"\n";
  auto ok = parse_config(nic + "[[ptp]]\ninterface = \"eth0\"\n", "f.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  auto other = parse_config(nic + "[[ptp]]\ninterface = \"eth1\"\n", "f.toml");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("f.toml:7: [[ptp]] on eth1: the system clock follows a PHC"), std::string::npos)
      << other.error().message;
  auto software = parse_config(
      "[[interface]]\nname = \"eth0\"\nhw-timestamping = \"off\"\n[clock.system]\nfollow = \"eth1\"\n"
      "[[interface]]\nname = \"eth1\"\ndiscipline-phc = true\n[[ptp]]\ninterface = \"eth0\"\n",
      "f.toml");
  ASSERT_FALSE(software);
  EXPECT_NE(software.error().message.find("[[ptp]] on eth0: the system clock follows"), std::string::npos)
      << software.error().message;
}

}  // namespace
}  // namespace kairos
