#include "clock/selection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace kairos {
namespace {

using Indexes = std::vector<std::size_t>;

Candidate around(double offset, double distance) {
  Candidate c;
  c.low = offset - distance;
  c.high = offset + distance;
  return c;
}

Candidate span(double low, double high) {
  Candidate c;
  c.low = low;
  c.high = high;
  return c;
}

Candidate trusted(Candidate c) {
  c.trusted = true;
  return c;
}

Candidate required(Candidate c) {
  c.required = true;
  return c;
}

Candidate preferred(Candidate c) {
  c.preferred = true;
  return c;
}

Candidate announcing(Candidate c, Leap leap) {
  c.leap = leap;
  return c;
}

TEST(Selection, EmptyHasNoSources) {
  const Selection s = select_truechimers({});
  EXPECT_EQ(s.status, SelectionStatus::kNoSources);
  EXPECT_TRUE(s.truechimers.empty());
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, SingleSourceIsSelected) {
  const Selection s = select_truechimers({around(0.010, 0.002)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0}));
  EXPECT_TRUE(s.falsetickers.empty());
  EXPECT_DOUBLE_EQ(s.low, 0.008);
  EXPECT_DOUBLE_EQ(s.high, 0.012);
}

TEST(Selection, FewerThanMinSourcesSelectsNothing) {
  const std::vector<Candidate> two{around(0, 1), around(0.5, 1)};
  EXPECT_EQ(select_truechimers(two, 3).status, SelectionStatus::kNoSources);
  EXPECT_TRUE(select_truechimers(two, 3).truechimers.empty());
  EXPECT_EQ(select_truechimers(two, 2).status, SelectionStatus::kSelected);
}

TEST(Selection, MinSourcesCountsOnlyUsableCandidates) {
  const std::vector<Candidate> c{around(0, 1), around(0.5, 1),
                                 announcing(around(0.2, 1), Leap::kUnsynchronized)};
  EXPECT_EQ(select_truechimers(c, 3).status, SelectionStatus::kNoSources);
}

TEST(Selection, FalsetickerAmongThreeIsRejected) {
  const Selection s = select_truechimers({around(0.001, 0.005), around(5.0, 0.005), around(-0.002, 0.005)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 2}));
  EXPECT_EQ(s.falsetickers, (Indexes{1}));
  EXPECT_DOUBLE_EQ(s.low, -0.004);
  EXPECT_DOUBLE_EQ(s.high, 0.003);
}

TEST(Selection, TwoFalsetickersAmongFiveAreRejected) {
  const Selection s = select_truechimers(
      {around(0.0, 0.01), around(-3.0, 0.01), around(0.004, 0.01), around(2.0, 0.5), around(-0.003, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 2, 4}));
  EXPECT_EQ(s.falsetickers, (Indexes{1, 3}));
  EXPECT_DOUBLE_EQ(s.low, -0.006);
  EXPECT_DOUBLE_EQ(s.high, 0.007);
}

TEST(Selection, TwoDisagreeingSourcesHaveNoMajority) {
  const Selection s = select_truechimers({around(0, 0.01), around(1, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kNoMajority);
  EXPECT_TRUE(s.truechimers.empty());
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, FourSourcesSplitTwoAndTwoHaveNoMajority) {
  const Selection s =
      select_truechimers({around(0, 0.01), around(1, 0.01), around(0.005, 0.01), around(1.005, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kNoMajority);
  EXPECT_TRUE(s.truechimers.empty());
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, ThreeOfFiveIsAMajorityButTwoOfFiveIsNot) {
  EXPECT_EQ(select_truechimers({span(0, 1), span(0.5, 2), span(0.8, 3), span(10, 11), span(20, 21)}).status,
            SelectionStatus::kSelected);
  EXPECT_EQ(select_truechimers({span(0, 1), span(0.5, 2), span(5, 6), span(10, 11), span(20, 21)}).status,
            SelectionStatus::kNoMajority);
}

TEST(Selection, ChainOfOverlapsKeepsTheLargerPair) {
  // A overlaps B, B overlaps C, A and C do not: the pairs A+B and B+C tie at two; B+C share
  // the wider stretch, so A is the falseticker.
  const Selection s = select_truechimers({span(0, 2), span(1.5, 5), span(3, 6)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{1, 2}));
  EXPECT_EQ(s.falsetickers, (Indexes{0}));
  EXPECT_DOUBLE_EQ(s.low, 3);
  EXPECT_DOUBLE_EQ(s.high, 5);
}

TEST(Selection, EqualRegionsTieToTheLowest) {
  const Selection s = select_truechimers({span(0, 2), span(1, 4), span(3, 5)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
  EXPECT_EQ(s.falsetickers, (Indexes{2}));
  EXPECT_DOUBLE_EQ(s.low, 1);
  EXPECT_DOUBLE_EQ(s.high, 2);
}

TEST(Selection, TouchingEndpointsCountAsOverlap) {
  const Selection s = select_truechimers({span(0, 1), span(1, 2), span(5, 6)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
  EXPECT_EQ(s.falsetickers, (Indexes{2}));
  EXPECT_DOUBLE_EQ(s.low, 1);
  EXPECT_DOUBLE_EQ(s.high, 1);
}

TEST(Selection, NestedIntervalsAllAgree) {
  const Selection s = select_truechimers({span(-10, 10), span(-1, 1), span(0, 0.5)});
  EXPECT_EQ(s.truechimers, (Indexes{0, 1, 2}));
  EXPECT_DOUBLE_EQ(s.low, 0);
  EXPECT_DOUBLE_EQ(s.high, 0.5);
}

TEST(Selection, TrustedSourceWinsOverTwoAgreeingUntrusted) {
  const Selection s = select_truechimers({around(0, 0.01), trusted(around(1, 0.01)), around(0.002, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{1}));
  EXPECT_EQ(s.falsetickers, (Indexes{0, 2}));
  EXPECT_DOUBLE_EQ(s.low, 0.99);
  EXPECT_DOUBLE_EQ(s.high, 1.01);
}

TEST(Selection, TrustedSourceNeedsNoMajority) {
  const Selection s = select_truechimers({trusted(around(0, 0.01)), around(1, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0}));
  EXPECT_EQ(s.falsetickers, (Indexes{1}));
}

TEST(Selection, TrustedSourcePicksTheGroupItBelongsTo) {
  // Untrusted: three agree near 0, two near 1. The trusted one near 1 makes that the group.
  const Selection s = select_truechimers({around(0, 0.01), around(0.001, 0.01), around(-0.001, 0.01),
                                          around(1, 0.01), trusted(around(1.001, 0.01)), around(0.999, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{3, 4, 5}));
  EXPECT_EQ(s.falsetickers, (Indexes{0, 1, 2}));
}

TEST(Selection, AgreeingTrustedSourcesAreAllTruechimers) {
  // The densest stretch overall, [1, 2], holds five intervals but not trusted 5; the largest
  // group that holds both trusted sources has four.
  const Selection s = select_truechimers({trusted(span(0, 3)), span(1, 2), span(1, 2), span(1, 2), span(0.5, 2.5),
                                          trusted(span(2.2, 5)), span(2.1, 2.4)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 4, 5, 6}));
  EXPECT_EQ(s.falsetickers, (Indexes{1, 2, 3}));
  EXPECT_DOUBLE_EQ(s.low, 2.2);
  EXPECT_DOUBLE_EQ(s.high, 2.4);
}

TEST(Selection, DisagreeingTrustedSourcesFallBackToPlainRules) {
  // Trust cannot say which of two contradicting trusted sources is right: the majority decides.
  const Selection majority =
      select_truechimers({trusted(around(0, 0.01)), trusted(around(1, 0.01)), around(0.005, 0.01)});
  EXPECT_EQ(majority.status, SelectionStatus::kSelected);
  EXPECT_EQ(majority.truechimers, (Indexes{0, 2}));
  EXPECT_EQ(majority.falsetickers, (Indexes{1}));

  const Selection none = select_truechimers({trusted(around(0, 0.01)), trusted(around(1, 0.01))});
  EXPECT_EQ(none.status, SelectionStatus::kNoMajority);
  EXPECT_TRUE(none.truechimers.empty());
}

TEST(Selection, RequiredSourceOutsideTheGroupBlocksSelection) {
  const Selection s = select_truechimers({around(0, 0.01), around(0.002, 0.01), required(around(1, 0.01))});
  EXPECT_EQ(s.status, SelectionStatus::kNoRequiredSource);
  // Filled in anyway, so the caller can say who disagreed.
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
  EXPECT_EQ(s.falsetickers, (Indexes{2}));
}

TEST(Selection, RequiredSourceInTheGroupAllowsSelection) {
  const Selection s = select_truechimers({around(0, 0.01), required(around(0.002, 0.01)), around(1, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
}

TEST(Selection, UnsynchronizedRequiredSourceStillBlocksSelection) {
  const Selection s = select_truechimers(
      {around(0, 0.01), around(0.002, 0.01), required(announcing(around(0, 0.01), Leap::kUnsynchronized))});
  EXPECT_EQ(s.status, SelectionStatus::kNoRequiredSource);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, NoMajorityWinsOverMissingRequiredSource) {
  const Selection s = select_truechimers({around(0, 0.01), required(around(1, 0.01))});
  EXPECT_EQ(s.status, SelectionStatus::kNoMajority);
}

// chrony's prefer: a preferred truechimer alone steers; the others voted it in all the same.
TEST(Selection, PreferredTruechimerIsTheOnlyOneCombined) {
  const Selection s = select_truechimers({around(0, 0.01), preferred(around(0.002, 0.01)), around(0.001, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1, 2}));
  EXPECT_EQ(s.combined, (Indexes{1}));
}

TEST(Selection, WithoutAPreferredTruechimerAllTruechimersAreCombined) {
  const Selection plain = select_truechimers({around(0, 0.01), around(0.002, 0.01), around(1, 0.01)});
  EXPECT_EQ(plain.combined, (Indexes{0, 1}));
  // A preferred falseticker is no truechimer: it neither steers nor keeps the others from it.
  const Selection s = select_truechimers({around(0, 0.01), around(0.002, 0.01), preferred(around(1, 0.01))});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 1}));
  EXPECT_EQ(s.combined, (Indexes{0, 1}));
}

// Preference is no vote: two agreeing sources outvote a preferred one that disagrees.
TEST(Selection, PreferredSourceDoesNotOutvoteTheMajority) {
  const Selection s = select_truechimers({preferred(around(0, 0.01)), around(1, 0.01), around(1.002, 0.01)});
  EXPECT_EQ(s.truechimers, (Indexes{1, 2}));
  EXPECT_EQ(s.combined, (Indexes{1, 2}));
}

TEST(Selection, LeapAnnouncedByMajorityOfTruechimersIsTaken) {
  const Selection s = select_truechimers({announcing(around(0, 0.01), Leap::kInsert),
                                          announcing(around(0.001, 0.01), Leap::kInsert),
                                          around(-0.001, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.leap, Leap::kInsert);

  const Selection del = select_truechimers({announcing(around(0, 0.01), Leap::kDelete)});
  EXPECT_EQ(del.leap, Leap::kDelete);
}

TEST(Selection, LeapAnnouncedByMinorityIsIgnored) {
  const Selection s = select_truechimers(
      {announcing(around(0, 0.01), Leap::kInsert), around(0.001, 0.01), around(-0.001, 0.01)});
  EXPECT_EQ(s.leap, Leap::kNone);

  // Half is not more than half.
  const Selection half = select_truechimers({announcing(around(0, 0.01), Leap::kInsert), around(0.001, 0.01),
                                             around(-0.001, 0.01), announcing(around(0.002, 0.01), Leap::kInsert)});
  EXPECT_EQ(half.status, SelectionStatus::kSelected);
  EXPECT_EQ(half.leap, Leap::kNone);
}

TEST(Selection, LeapFromFalsetickersDoesNotCount) {
  const Selection s = select_truechimers({around(0, 0.01), around(0.001, 0.01), around(-0.001, 0.01),
                                          announcing(around(7, 0.01), Leap::kInsert),
                                          announcing(around(9, 0.01), Leap::kInsert)});
  EXPECT_EQ(s.truechimers, (Indexes{0, 1, 2}));
  EXPECT_EQ(s.leap, Leap::kNone);
}

TEST(Selection, UnsynchronizedCandidateIsSkipped) {
  // Counted, the unsynchronized one would make 2 of 4 (no majority); skipped, 2 of 3 is one.
  const Selection s = select_truechimers({around(0, 0.01), announcing(around(9, 0.01), Leap::kUnsynchronized),
                                          around(0.002, 0.01), around(5, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 2}));
  EXPECT_EQ(s.falsetickers, (Indexes{3}));
}

TEST(Selection, NanIntervalIsSkipped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Selection s = select_truechimers({span(nan, 1), around(0, 0.01), span(0, nan), around(0.001, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{1, 3}));
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, ReversedIntervalIsSkipped) {
  const Selection s = select_truechimers({span(1, -1), around(0, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{1}));
  EXPECT_TRUE(s.falsetickers.empty());
}

TEST(Selection, OnlyUnusableCandidatesHaveNoSources) {
  const Selection s =
      select_truechimers({span(1, -1), announcing(around(0, 1), Leap::kUnsynchronized)});
  EXPECT_EQ(s.status, SelectionStatus::kNoSources);
}

TEST(Selection, UnboundedIntervalAgreesWithEveryone) {
  const double inf = std::numeric_limits<double>::infinity();
  const Selection s = select_truechimers({span(-inf, inf), around(3, 0.01), around(-3, 0.01)});
  EXPECT_EQ(s.status, SelectionStatus::kSelected);
  EXPECT_EQ(s.truechimers, (Indexes{0, 2}));  // both pairs tie in width; the lower wins
  EXPECT_EQ(s.falsetickers, (Indexes{1}));
}

TEST(Selection, StatusHasReadableNames) {
  EXPECT_EQ(std::string(to_string(SelectionStatus::kSelected)), "selected");
  EXPECT_EQ(std::string(to_string(SelectionStatus::kNoSources)), "no-sources");
  EXPECT_EQ(std::string(to_string(SelectionStatus::kNoMajority)), "no-majority");
  EXPECT_EQ(std::string(to_string(SelectionStatus::kNoRequiredSource)), "no-required-source");
}

// Brute force over all pairs of endpoints: the largest number of intervals that hold a common
// stretch [a, b], and the widest (then lowest) such stretch. Slow and obviously right.
struct Oracle {
  std::size_t count = 0;
  double low = 0;
  double high = 0;
};

Oracle brute_force(const std::vector<Candidate>& c) {
  Oracle best;
  bool found = false;
  for (const Candidate& from : c) {
    for (const Candidate& to : c) {
      const double a = from.low;
      const double b = to.high;
      if (a > b) continue;
      const auto count = static_cast<std::size_t>(
          std::count_if(c.begin(), c.end(), [&](const Candidate& x) { return x.low <= a && x.high >= b; }));
      const bool better = !found || count > best.count ||
                          (count == best.count && (b - a > best.high - best.low ||
                                                   (b - a == best.high - best.low && a < best.low)));
      if (better) {
        best = {count, a, b};
        found = true;
      }
    }
  }
  return best;
}

TEST(Selection, RandomSetsMatchBruteForce) {
  std::mt19937 rng(51205);
  // Endpoints on a coarse grid so ties, touching ends and single points happen often.
  std::uniform_int_distribution<int> centre(-20, 20);
  std::uniform_int_distribution<int> half_width(0, 6);
  std::uniform_int_distribution<std::size_t> size(1, 9);
  for (int round = 0; round < 1000; ++round) {
    std::vector<Candidate> c(size(rng));
    for (Candidate& x : c) x = around(centre(rng) * 0.5, half_width(rng) * 0.5);
    const Selection s = select_truechimers(c);
    const Oracle o = brute_force(c);
    SCOPED_TRACE("round " + std::to_string(round));

    if (o.count * 2 <= c.size()) {
      EXPECT_EQ(s.status, SelectionStatus::kNoMajority);
      EXPECT_TRUE(s.truechimers.empty());
      EXPECT_TRUE(s.falsetickers.empty());
      continue;
    }
    ASSERT_EQ(s.status, SelectionStatus::kSelected);
    EXPECT_EQ(s.truechimers.size(), o.count);
    EXPECT_EQ(s.low, o.low);
    EXPECT_EQ(s.high, o.high);
    EXPECT_EQ(s.truechimers.size() + s.falsetickers.size(), c.size());
    EXPECT_TRUE(std::is_sorted(s.truechimers.begin(), s.truechimers.end()));
    EXPECT_TRUE(std::is_sorted(s.falsetickers.begin(), s.falsetickers.end()));
    for (std::size_t i : s.truechimers) {
      EXPECT_LE(c[i].low, s.low);
      EXPECT_GE(c[i].high, s.high);
    }
    for (std::size_t i : s.falsetickers) {
      EXPECT_TRUE(c[i].low > s.low || c[i].high < s.high);
    }
  }
}

TEST(Selection, RandomSetsKeepAgreeingTrustedSources) {
  std::mt19937 rng(8086);
  std::uniform_int_distribution<int> centre(-20, 20);
  std::uniform_int_distribution<int> half_width(0, 6);
  std::uniform_int_distribution<std::size_t> size(1, 9);
  std::bernoulli_distribution is_trusted(0.2);
  for (int round = 0; round < 1000; ++round) {
    std::vector<Candidate> c(size(rng));
    for (Candidate& x : c) {
      x = around(centre(rng) * 0.5, half_width(rng) * 0.5);
      x.trusted = is_trusted(rng);
    }
    double low = -std::numeric_limits<double>::infinity();
    double high = std::numeric_limits<double>::infinity();
    bool any_trusted = false;
    for (const Candidate& x : c) {
      if (!x.trusted) continue;
      any_trusted = true;
      low = std::max(low, x.low);
      high = std::min(high, x.high);
    }
    if (!any_trusted || low > high) continue;
    SCOPED_TRACE("round " + std::to_string(round));

    const Selection s = select_truechimers(c);
    ASSERT_EQ(s.status, SelectionStatus::kSelected);
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (c[i].trusted) {
        EXPECT_TRUE(std::ranges::binary_search(s.truechimers, i)) << i;
      }
    }
    // No larger group holds every trusted source: brute force inside the trusted intersection.
    std::vector<Candidate> clipped;
    for (const Candidate& x : c) {
      const Candidate inside = span(std::max(x.low, low), std::min(x.high, high));
      if (inside.low <= inside.high) clipped.push_back(inside);
    }
    const Oracle o = brute_force(clipped);
    EXPECT_EQ(s.truechimers.size(), o.count);
    EXPECT_EQ(s.low, o.low);
    EXPECT_EQ(s.high, o.high);
  }
}

}  // namespace
}  // namespace kairos
