#include <gtest/gtest.h>

#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

TEST(Text, SplitKeepsEmptyPieces) {
  EXPECT_EQ(Split("a..b", '.'), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Split("", '.'), (std::vector<std::string>{""}));
  EXPECT_EQ(Join({"x", "y", "z"}, ", "), "x, y, z");
}

TEST(Text, TrimRemovesOuterWhitespaceOnly) {
  EXPECT_EQ(Trim("  go to desk 1 \n"), "go to desk 1");
  EXPECT_EQ(Trim("   "), "");
}

TEST(Text, EditDistanceCountsEdits) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("lr", "lr"), 0u);
}

TEST(Text, NearestNameFindsTyposButNotStrangers) {
  std::vector<std::string> known = {"household", "shop", "searchqa"};
  EXPECT_EQ(NearestName("housheold", known).value_or(""), "household");
  EXPECT_FALSE(NearestName("mujoco_humanoid", known).has_value());
}

TEST(Text, UnknownNameMessageListsKnownNames) {
  std::string msg = UnknownNameMessage("env", "shopp", {"household", "shop"});
  EXPECT_EQ(msg, "unknown env 'shopp' (did you mean 'shop'?); known: household, shop");
}

TEST(Text, HumanFormats) {
  EXPECT_EQ(HumanDuration(5.25), "5.2s");
  EXPECT_EQ(HumanDuration(125), "2m05s");
  EXPECT_EQ(HumanDuration(3720), "1h02m");
  EXPECT_EQ(HumanCount(123456), "123.5k");
  EXPECT_EQ(HumanCount(2500000), "2.50M");
  EXPECT_EQ(HumanCount(0.5), "0.50");
}

}  // namespace
}  // namespace turnwise
