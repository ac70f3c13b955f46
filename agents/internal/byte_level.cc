#include "agents/internal/byte_level.h"

#include <array>

#include "agents/internal/unicode.h"

namespace turnwise::tokenizer_internal {
namespace {

struct Tables {
  std::array<std::string, 256> to_char;
  std::array<int, 512> from_code_point;  // code point -> byte, -1 if unmapped
};

// Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') keep their code point; the other 68
// bytes take U+0100, U+0101, ... in increasing byte order.
const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.from_code_point.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      AppendUnit(cp, &t.to_char[b]);
      t.from_code_point[cp] = b;
    }
    return t;
  }();
  return tables;
}

}  // namespace

const std::string& ByteLevelChar(unsigned char byte) { return GetTables().to_char[byte]; }

std::string BytesToByteLevel(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.to_char[static_cast<unsigned char>(c)];
  return out;
}

std::optional<std::string> ByteLevelToBytes(std::string_view token) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(token.size());
  for (size_t pos = 0; pos < token.size();) {
    size_t len;
    const uint32_t cp = DecodeUtf8(token, pos, &len);
    pos += len;
    if (cp >= t.from_code_point.size() || t.from_code_point[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.from_code_point[cp]));
  }
  return out;
}

}  // namespace turnwise::tokenizer_internal
