#include "daemon/toml_check.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "daemon/config.hpp"

namespace kairos {
namespace {

toml::table parsed(std::string_view text) {
  TomlProblems problems("t", TomlProblems::Style::kCompiler);
  auto table = parse_toml(text, "t", problems);
  EXPECT_TRUE(table) << problems.text();
  if (!table) return {};
  return std::move(*table);  // a copy would lose the nodes' lines (toml++ copies no source)
}

TEST(TomlProblems, CompilerStyleKeepsTheOrderFound) {
  TomlProblems problems("k.toml", TomlProblems::Style::kCompiler);
  problems.add(std::size_t{7}, "late");
  problems.add(std::size_t{2}, "early");
  EXPECT_EQ(problems.text(), "k.toml:7: late\nk.toml:2: early");
}

TEST(TomlProblems, ProseStyleSortsByLineWithTheWholeFileLast) {
  TomlProblems problems("lan.toml", TomlProblems::Style::kProse);
  problems.add(std::size_t{0}, "about everything");
  problems.add(std::size_t{9}, "second");
  problems.add(std::size_t{3}, "first");
  EXPECT_EQ(problems.text(), "lan.toml: line 3: first\nlan.toml: line 9: second\nlan.toml: about everything");
}

// A syntax error is somewhere on its line: the column says where the parser gave up (here the
// end of the line, where 'tru' should have been 'true').
TEST(TomlProblems, ParseErrorNamesLineAndColumn) {
  TomlProblems problems("k.toml", TomlProblems::Style::kCompiler);
  EXPECT_FALSE(parse_toml("[daemon]\nsteer = tru\n", "k.toml", problems));
  const std::string text = problems.text();
  EXPECT_EQ(text.rfind("k.toml:2: ", 0), 0u) << text;
  EXPECT_NE(text.find("(column 12)"), std::string::npos) << text;
}

// kairos.toml says where a syntax error is the same way.
TEST(TomlProblems, ConfigSyntaxErrorNamesTheColumn) {
  auto config = parse_config("[daemon]\nsteer = tru\n", "broken.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message.rfind("broken.toml:2: ", 0), 0u) << config.error().message;
  EXPECT_NE(config.error().message.find("(column 12)"), std::string::npos) << config.error().message;
}

TEST(RejectUnknownKeys, NamesEachUnknownKeyAtItsLine) {
  const toml::table t = parsed("a = 1\ncolour = 2\n[extra]\nb = 1\n");
  TomlProblems keys("k", TomlProblems::Style::kCompiler);
  reject_unknown_keys(t, {"a"}, "[daemon]", keys);
  EXPECT_EQ(keys.text(), "k:2: unknown key 'colour' in [daemon]\nk:3: unknown key 'extra' in [daemon]");
  TomlProblems tables("k", TomlProblems::Style::kProse);
  reject_unknown_keys(t, {"a", "colour"}, "the top level", tables, UnknownTables::kAsTables);
  EXPECT_EQ(tables.text(), "k: line 3: unknown table 'extra' in the top level");
}

TEST(TomlNumber, IntegersAndFloatsAreNumbersNothingElseIs) {
  const toml::table t = parsed("i = 16\nf = 0.25\ns = \"16\"\nb = true\n");
  EXPECT_EQ(toml_number(*t.get("i")), 16.0);
  EXPECT_EQ(toml_number(*t.get("f")), 0.25);
  EXPECT_FALSE(toml_number(*t.get("s")));
  EXPECT_FALSE(toml_number(*t.get("b")));
}

TEST(NumberRange, ClosedAndOpenEndsAndNeverNanOrInfinity) {
  const NumberRange probability{.low = 0, .high = 1};
  EXPECT_TRUE(probability.contains(0));
  EXPECT_TRUE(probability.contains(1));
  EXPECT_FALSE(probability.contains(1.0000001));
  EXPECT_FALSE(probability.contains(std::nan("")));
  const NumberRange positive{.low = 0, .low_open = true};
  EXPECT_FALSE(positive.contains(0));
  EXPECT_TRUE(positive.contains(1e-300));
  EXPECT_FALSE(positive.contains(std::numeric_limits<double>::infinity()));
}

}  // namespace
}  // namespace kairos
