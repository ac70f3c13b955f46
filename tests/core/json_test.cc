// The direct JSON writers agree with nlohmann's serializer (DumpJson), byte for byte on valid
// text, and stay valid JSON on invalid UTF-8.
#include <gtest/gtest.h>

#include <limits>

#include "core/json.h"

namespace turnwise {
namespace {

std::string Written(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(Json, AppendJsonStringMatchesDumpJsonOnValidText) {
  const std::vector<std::string> cases = {
      "",
      "plain ascii",
      "quote \" backslash \\ slash /",
      "controls \b\f\n\r\t and \x01\x1f\x7f",
      "You arrive at countertop 1. On the countertop 1, you see a apple 1.",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
      std::string("nul \0 inside", 12),
  };
  for (const auto& s : cases) EXPECT_EQ(Written(s), DumpJson(Json(s))) << s;
}

TEST(Json, AppendJsonStringReplacesInvalidUtf8AndStaysParseable) {
  const std::vector<std::string> cases = {"\xff", "ab\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "x\x80y"};
  for (const auto& s : cases) {
    std::string w = Written(s);
    Json back = Json::parse(w, nullptr, false);
    ASSERT_FALSE(back.is_discarded()) << w;
    EXPECT_NE(back.get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << w;
  }
  EXPECT_EQ(Json::parse(Written("x\x80y")).get<std::string>(), "x\xef\xbf\xbdy");
}

TEST(Json, AppendJsonNumberRoundTripsAndKeepsFloatsFloats) {
  auto w = [](double v) {
    std::string out;
    AppendJsonNumber(&out, v);
    return out;
  };
  EXPECT_EQ(w(10.0), "10.0");
  EXPECT_EQ(w(0.0), "0.0");
  EXPECT_EQ(w(-2.5), "-2.5");
  EXPECT_EQ(w(0.1), "0.1");
  EXPECT_EQ(w(1e-7), "1e-07");
  EXPECT_EQ(w(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(w(std::numeric_limits<double>::infinity()), "null");
  for (double v : {0.1, 1.0 / 3.0, 123456.789, -1e300, 5e-324}) {
    EXPECT_EQ(Json::parse(w(v)).get<double>(), v);
  }
}

}  // namespace
}  // namespace turnwise
