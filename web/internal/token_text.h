// Token text for the replay view: the text of each generated token, from a Hugging Face
// byte-level BPE `tokenizer.json` (the format turnwise::Tokenizer reads and writes).
//
// The web module must not link the model code (agents/ is a LibTorch library), and the replay
// only needs id -> text, never encoding, so this is a decoder alone: model.vocab and
// added_tokens, with the byte-level alphabet (GPT-2's bytes_to_unicode) mapped back to bytes.
// A token whose bytes are a fragment of a multi-byte UTF-8 character yields those raw bytes;
// DumpJson replaces invalid sequences by U+FFFD, so such a token shows as "�".
#ifndef TURNWISE_WEB_INTERNAL_TOKEN_TEXT_H_
#define TURNWISE_WEB_INTERNAL_TOKEN_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace turnwise::web_internal {

class TokenText {
 public:
  // Reads `path`. Throws IoError when it cannot be read, InvalidArgument naming the path when
  // it is not a tokenizer.json with an object model.vocab.
  static TokenText FromFile(const std::string& path);
  static TokenText FromJson(const Json& document, const std::string& source);

  // The bytes of one token; nullopt for an id outside the vocabulary (negative, too large, or
  // a hole in the id range).
  std::optional<std::string> Decode(int64_t id) const;
  // Decode() of each id, as JSON: a string per known id, null per unknown one.
  Json DecodeAll(const std::vector<int32_t>& ids) const;

  size_t size() const { return pieces_.size(); }

 private:
  std::vector<std::optional<std::string>> pieces_;  // indexed by id, already bytes
};

}  // namespace turnwise::web_internal

#endif  // TURNWISE_WEB_INTERNAL_TOKEN_TEXT_H_
