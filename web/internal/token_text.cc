#include "web/internal/token_text.h"

#include <array>
#include <unordered_map>

#include "core/error.h"

namespace turnwise::web_internal {
namespace {

// GPT-2's bytes_to_unicode, inverted: the code point that stands for each byte in a byte-level
// vocabulary -> that byte. Printable Latin-1 bytes stand for themselves; the other 68 bytes are
// shifted to U+0100.. in byte order.
const std::unordered_map<uint32_t, uint8_t>& ByteOfCodePoint() {
  static const auto* const kMap = [] {
    auto* map = new std::unordered_map<uint32_t, uint8_t>();
    uint32_t shifted = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      (*map)[printable ? b : 256 + shifted++] = static_cast<uint8_t>(b);
    }
    return map;
  }();
  return *kMap;
}

// Decodes one UTF-8 code point at `i`; returns false on a malformed sequence.
bool NextCodePoint(const std::string& s, size_t& i, uint32_t& cp, size_t& len) {
  auto c = static_cast<unsigned char>(s[i]);
  len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return false;
  cp = len == 1 ? c : c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return true;
}

// A vocabulary token's bytes: each byte-alphabet code point becomes its byte; anything else
// (a token outside the alphabet) stays as its own UTF-8, as the Hugging Face decoder does.
std::string TokenBytes(const std::string& token) {
  const auto& map = ByteOfCodePoint();
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    uint32_t cp = 0;
    size_t len = 0;
    if (!NextCodePoint(token, i, cp, len)) {
      out.push_back(token[i++]);
      continue;
    }
    auto it = map.find(cp);
    if (it != map.end()) {
      out.push_back(static_cast<char>(it->second));
    } else {
      out.append(token, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace

TokenText TokenText::FromFile(const std::string& path) {
  return FromJson(ReadJsonFile(path), path);
}

TokenText TokenText::FromJson(const Json& doc, const std::string& source) {
  if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object() ||
      !doc["model"].contains("vocab") || !doc["model"]["vocab"].is_object()) {
    throw InvalidArgument(source + ": not a tokenizer.json (expected an object model.vocab)");
  }
  TokenText t;
  auto put = [&](int64_t id, std::string text) {
    // Ids beyond a few million are not a real vocabulary; refuse rather than allocate.
    if (id < 0 || id > 16'000'000) {
      throw InvalidArgument(source + ": token id " + std::to_string(id) + " out of range");
    }
    if (static_cast<size_t>(id) >= t.pieces_.size()) t.pieces_.resize(id + 1);
    t.pieces_[id] = std::move(text);
  };
  for (const auto& [token, id] : doc["model"]["vocab"].items()) {
    if (!id.is_number_integer()) {
      throw InvalidArgument(source + ": model.vocab[\"" + token + "\"] is not an integer id");
    }
    put(id.get<int64_t>(), TokenBytes(token));
  }
  if (doc.contains("added_tokens") && doc["added_tokens"].is_array()) {
    for (const auto& added : doc["added_tokens"]) {
      if (!added.is_object() || !added.contains("id") || !added.contains("content")) continue;
      if (!added["id"].is_number_integer() || !added["content"].is_string()) continue;
      put(added["id"].get<int64_t>(), added["content"].get<std::string>());  // verbatim
    }
  }
  return t;
}

std::optional<std::string> TokenText::Decode(int64_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return std::nullopt;
  return pieces_[id];
}

Json TokenText::DecodeAll(const std::vector<int32_t>& ids) const {
  Json out = Json::array();
  for (int32_t id : ids) {
    auto text = Decode(id);
    out.push_back(text ? Json(*text) : Json());
  }
  return out;
}

}  // namespace turnwise::web_internal
