// Method preset files parsed as the web API and `turnwise advantages` read them: the leading
// comment, its first sentence, the algorithm block, and malformed files refused with the reason.
#include "web/method_presets.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace turnwise {
namespace {

TEST(MethodPreset, CommentFirstSentenceAndAlgorithmBlock) {
  MethodPreset p =
      ParseMethodPreset("toy",
                        "// Toy (docs/methods.md; arXiv 2402.03300): a test method, γ = 0.95\n"
                        "//   over two lines. A second sentence.\n"
                        "//\n"
                        "{\"algorithm\": {\"advantage\": {\"name\": \"grpo\"}}} // tail\n");
  EXPECT_EQ(p.name, "toy");
  EXPECT_EQ(p.description,
            "Toy (docs/methods.md; arXiv 2402.03300): a test method, γ = 0.95 over two lines.");
  EXPECT_EQ(p.comment,
            "Toy (docs/methods.md; arXiv 2402.03300): a test method, γ = 0.95\n  over two lines. "
            "A second sentence.\n");
  EXPECT_EQ(p.algorithm, Json::parse(R"({"advantage": {"name": "grpo"}})"));
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.ToJson()["algorithm"]["advantage"]["name"], "grpo");
}

TEST(MethodPreset, WithoutACommentTheDescriptionIsEmpty) {
  MethodPreset p = ParseMethodPreset("bare", R"({"algorithm": {}})");
  EXPECT_EQ(p.description, "");
  EXPECT_EQ(p.comment, "");
  EXPECT_EQ(p.algorithm, Json::object());
}

TEST(MethodPreset, MalformedFilesAreRefusedWithTheReason) {
  try {
    ParseMethodPreset("broken", "// x\n{\"algorithm\": {\"loss\": }}");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("method preset 'broken'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  for (const char* text : {R"({"advantage": {}})", R"({"algorithm": 1})",
                           R"({"algorithm": {}, "rollout": {}})", "[]"}) {
    EXPECT_THROW(ParseMethodPreset("shape", text), InvalidArgument) << text;
  }
}

TEST(MethodPreset, EmbeddedPresetsAreSortedAndParse) {
  const auto& presets = EmbeddedMethodPresets();
  ASSERT_FALSE(presets.empty());
  for (size_t i = 0; i < presets.size(); ++i) {
    EXPECT_TRUE(presets[i].error.empty()) << presets[i].name << ": " << presets[i].error;
    if (i > 0) {
      EXPECT_LT(presets[i - 1].name, presets[i].name);
    }
  }
  ASSERT_NE(FindEmbeddedMethodPreset("gigpo"), nullptr);
  EXPECT_EQ(FindEmbeddedMethodPreset("gigpo")->algorithm["advantage"]["name"], "gigpo");
  EXPECT_EQ(FindEmbeddedMethodPreset("nope"), nullptr);
}

}  // namespace
}  // namespace turnwise
