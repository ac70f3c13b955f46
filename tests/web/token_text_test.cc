// Token text from a byte-level tokenizer.json: the GPT-2 byte alphabet mapped back to bytes,
// added tokens verbatim, unknown ids as null.
#include "web/internal/token_text.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace turnwise::web_internal {
namespace {

Json Doc() {
  // "Ġ" is byte 0x20 (space), "Ċ" is 0x0A (newline); "Ã" + "©" are the bytes of "é".
  return {{"model",
           {{"type", "BPE"},
            {"vocab", {{"a", 0}, {"Ġhello", 1}, {"Ċ", 2}, {"Ã©", 3}, {"Ã", 4}, {"<tag>", 5}}}}},
          {"added_tokens", Json::array({{{"id", 9}, {"content", "<|endoftext|>"}}})}};
}

TEST(TokenText, MapsTheByteAlphabetBackToBytes) {
  TokenText t = TokenText::FromJson(Doc(), "test");
  EXPECT_EQ(t.Decode(0), "a");
  EXPECT_EQ(t.Decode(1), " hello");
  EXPECT_EQ(t.Decode(2), "\n");
  EXPECT_EQ(t.Decode(3), "\xC3\xA9");  // é
  EXPECT_EQ(t.Decode(5), "<tag>");     // markup is text like any other
  EXPECT_EQ(t.Decode(9), "<|endoftext|>");
}

TEST(TokenText, UnknownIdsAreNull) {
  TokenText t = TokenText::FromJson(Doc(), "test");
  EXPECT_EQ(t.Decode(-7), std::nullopt);
  EXPECT_EQ(t.Decode(6), std::nullopt);  // a hole between the vocab and the added token
  EXPECT_EQ(t.Decode(151643), std::nullopt);
  EXPECT_EQ(t.DecodeAll({0, -1, 1}), Json::array({"a", nullptr, " hello"}));
}

TEST(TokenText, AFragmentOfACharacterDumpsAsReplacement) {
  TokenText t = TokenText::FromJson(Doc(), "test");
  EXPECT_EQ(t.Decode(4), "\xC3");  // half of é
  EXPECT_EQ(DumpJson(t.DecodeAll({4})), "[\"\xEF\xBF\xBD\"]");
}

TEST(TokenText, EveryByteRoundTrips) {
  // The 256 byte-alphabet characters, each a token whose id is its byte.
  Json vocab = Json::object();
  uint32_t shifted = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    uint32_t cp = printable ? b : 256 + shifted++;
    std::string utf8 = cp < 0x80 ? std::string(1, static_cast<char>(cp))
                                 : std::string{static_cast<char>(0xC0 | (cp >> 6)),
                                               static_cast<char>(0x80 | (cp & 0x3F))};
    vocab[utf8] = b;
  }
  TokenText t = TokenText::FromJson({{"model", {{"vocab", vocab}}}}, "bytes");
  for (int b = 0; b < 256; ++b) EXPECT_EQ(t.Decode(b), std::string(1, static_cast<char>(b))) << b;
}

TEST(TokenText, RejectsWhatIsNotATokenizer) {
  EXPECT_THROW(TokenText::FromJson(Json::object(), "x.json"), InvalidArgument);
  EXPECT_THROW(TokenText::FromJson({{"model", {{"vocab", {{"a", "zero"}}}}}}, "x.json"),
               InvalidArgument);
  EXPECT_THROW(TokenText::FromJson({{"model", {{"vocab", {{"a", -3}}}}}}, "x.json"),
               InvalidArgument);
  EXPECT_THROW(TokenText::FromFile("/nonexistent/tokenizer.json"), IoError);
}

}  // namespace
}  // namespace turnwise::web_internal
