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
  EXPECT_EQ(config->sources[1].minpoll, 4);  // defaults
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

TEST(Config, MissingFileIsAClearError) {
  auto config = load_config("/nonexistent/kairos.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("/nonexistent/kairos.toml"), std::string::npos) << config.error().message;
}

}  // namespace
}  // namespace kairos
