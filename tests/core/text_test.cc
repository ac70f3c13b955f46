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

TEST(Text, AppendUtf8WritesOneToFourBytes) {
  std::string out;
  for (uint32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u,
                      0x10FFFFu}) {
    AppendUtf8(cp, &out);
  }
  // $, ¢, €, 𐍈 (Wikipedia's UTF-8 examples), then the boundaries of each length.
  EXPECT_EQ(out,
            "\x24" "\xC2\xA2" "\xE2\x82\xAC" "\xF0\x90\x8D\x88" "\x7F" "\xC2\x80" "\xDF\xBF"
            "\xE0\xA0\x80" "\xEF\xBF\xBF" "\xF0\x90\x80\x80" "\xF4\x8F\xBF\xBF");
}

}  // namespace
}  // namespace turnwise
