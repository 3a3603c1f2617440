// Issue 21 item 5: a name with several addresses is used until one answers; a pool's members each
// take another address of the name, and give up unreachable ones and falsetickers.
#include "daemon/address_choice.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "daemon/association.hpp"
#include "daemon/config.hpp"
#include "daemon/ntp_server.hpp"
#include "daemon/resolver.hpp"
#include "daemon/time_service.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;

SocketAddress at(const char* ip, std::uint16_t port) { return resolve(ip, port, SOCK_DGRAM).value().front(); }

TEST(AddressChoice, TakesTheFirstAddressAndGivesItUpAfterMissesWhenThereIsAnother) {
  AddressChoice choice;
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  ASSERT_EQ(choice.choose(two)->to_string(), "192.0.2.1:123");
  for (int i = 1; i < AddressChoice::kGiveUpAfter; ++i) EXPECT_FALSE(choice.unanswered());
  EXPECT_TRUE(choice.unanswered());
  choice.give_up();
  // Looked up again: the same answer, and the other address is taken.
  EXPECT_EQ(choice.choose(two)->to_string(), "192.0.2.2:123");
}

TEST(AddressChoice, ARetryThatLooksTheNameUpAgainKeepsTheMisses) {
  AddressChoice choice;
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  choice.choose(two);
  for (int i = 1; i < AddressChoice::kGiveUpAfter; ++i) {
    EXPECT_FALSE(choice.unanswered());
    EXPECT_EQ(choice.choose(two)->to_string(), "192.0.2.1:123");
  }
  EXPECT_TRUE(choice.unanswered());
}

TEST(AddressChoice, AnAnswerResetsTheMisses) {
  AddressChoice choice;
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  choice.choose(two);
  for (int round = 0; round < 5; ++round) {
    for (int i = 1; i < AddressChoice::kGiveUpAfter; ++i) EXPECT_FALSE(choice.unanswered());
    choice.answered();
  }
}

TEST(AddressChoice, ALoneAddressIsNeverGivenUp) {
  AddressChoice choice;
  choice.choose({at("192.0.2.1", 123)});
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(choice.unanswered());
}

TEST(AddressChoice, WhenEveryAddressWasGivenUpTheFirstIsTriedAgain) {
  AddressChoice choice;
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  choice.choose(two);
  choice.give_up();
  choice.choose(two);
  choice.give_up();
  EXPECT_EQ(choice.choose(two)->to_string(), "192.0.2.1:123");
}

TEST(AddressChoice, PoolMembersTakeDifferentAddressesAndWaitWhenNoneIsLeft) {
  auto claims = std::make_shared<AddressClaims>();
  AddressChoice first(claims, true), second(claims, true), third(claims, true);
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  EXPECT_EQ(first.choose(two)->to_string(), "192.0.2.1:123");
  EXPECT_EQ(second.choose(two)->to_string(), "192.0.2.2:123");
  EXPECT_FALSE(third.choose(two));  // the pool has fewer servers than members
  {
    AddressChoice gone(claims, true);  // a member removed (SIGHUP) releases its address
  }
  first.give_up();
  EXPECT_EQ(third.choose(two)->to_string(), "192.0.2.1:123");
}

TEST(AddressChoice, APoolMemberLeftOutBySelectionIsReplacedALoneSourceIsNot) {
  auto claims = std::make_shared<AddressClaims>();
  AddressChoice member(claims, true);
  AddressChoice lone;
  const std::vector<SocketAddress> three{at("192.0.2.1", 123), at("192.0.2.2", 123), at("192.0.2.3", 123)};
  member.choose(three);
  lone.choose(three);
  bool replace = false;
  for (int i = 0; i < AddressChoice::kFalsetickerAfter - 1; ++i) replace |= member.selected(false);
  EXPECT_FALSE(replace);
  EXPECT_FALSE(member.selected(true));  // taken once: the run starts again
  for (int i = 0; i < AddressChoice::kFalsetickerAfter - 1; ++i) EXPECT_FALSE(member.selected(false));
  EXPECT_TRUE(member.selected(false));
  for (int i = 0; i < 3 * AddressChoice::kFalsetickerAfter; ++i) EXPECT_FALSE(lone.selected(false));
}

TEST(AddressChoice, TheListOfGivenUpAddressesIsBounded) {
  AddressClaims claims;
  for (int i = 0; i < 1000; ++i) claims.give_up("192.0.2.1:" + std::to_string(i));
  EXPECT_FALSE(claims.given_up("192.0.2.1:0"));
  EXPECT_TRUE(claims.given_up("192.0.2.1:999"));
}

// End to end on loopback: a name whose first address has no server behind it (each request is
// refused, or times out). The association gives it up after its misses, looks the name up again
// and gets samples from the second.
TEST(AddressChoice, ASourceMovesOnToTheAddressThatAnswers) {
  NtpServerConfig server_config;
  server_config.listen = {"127.0.0.1:13791"};
  server_config.workers = 1;
  server_config.rate_limit.reset();
  auto server = NtpServer::start(server_config, local_clock_state(1, realtime_ntp_now(), -20), nullptr);
  ASSERT_TRUE(server) << server.error().message;

  EventLoop loop = EventLoop::create().value();
  int lookups = 0;
  ResolverOptions options;
  options.lookup = [&lookups](const std::string& host, std::uint16_t, int) -> Result<std::vector<SocketAddress>> {
    ++lookups;
    if (host != "two.test") return fail("unknown name " + host);
    return std::vector<SocketAddress>{at("127.0.0.1", 13790), at("127.0.0.1", 13791)};  // nobody on 13790
  };
  auto resolver = Resolver::start(loop, options).value();
  SourceConfig source;
  source.address = "two.test:123";
  source.nts = false;
  source.minpoll = source.maxpoll = -4;
  std::string answered_from;
  Association association(loop, *resolver, source, [&](const Association& a, const NtpExchangeResult&) {
    answered_from = a.ntp_address();
    loop.stop();
    return std::optional<PollFeedback>();
  });
  loop.add_timer(20s, [&] { loop.stop(); });
  association.start();
  ASSERT_TRUE(loop.run());
  EXPECT_EQ(answered_from, "127.0.0.1:13791");
  EXPECT_GE(lookups, 2);
}

}  // namespace
}  // namespace kairos
