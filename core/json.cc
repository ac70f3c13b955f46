#include "core/json.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace turnwise {

std::string DumpJson(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], 0 when it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c == 0xE0) lo = 0xA0;            // no overlong 3-byte forms
  if (c == 0xED) hi = 0x9F;            // no surrogates
  if (c == 0xF0) lo = 0x90;            // no overlong 4-byte forms
  if (c == 0xF4) hi = 0x8F;            // nothing above U+10FFFF
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    // Copy runs of plain ASCII at once, found 8 bytes at a time: a word passes when none of its
    // bytes is a control character, '"', '\\' or non-ASCII.
    size_t j = i;
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    while (j + 8 <= text.size()) {
      uint64_t w;
      std::memcpy(&w, text.data() + j, 8);
      uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
      uint64_t special = (w - kOnes * 0x20) | (quote - kOnes) | (backslash - kOnes);
      special &= ~w & kHigh;  // high bit of a byte set here: that byte is < 0x20, '"' or '\\'
      if ((special | (w & kHigh)) != 0) break;
      j += 8;
    }
    while (j < text.size()) {
      auto c = static_cast<unsigned char>(text[j]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++j;
    }
    out->append(text.data() + i, j - i);
    if (j == text.size()) break;
    i = j;
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(text, i);
      if (n == 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(text.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
    ++i;
  }
  out->push_back('"');
}

void AppendJsonNumber(std::string* out, double value) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  std::string_view written(buf, static_cast<size_t>(end - buf));
  out->append(written);
  if (written.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

Json ParseJson(std::string_view text, std::string_view source) {
  try {
    return Json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/true,
                       /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at line 3,
    // column 5: ..."; drop the bracketed id, keep the position and the reason.
    std::string msg = e.what();
    if (auto pos = msg.find("] "); pos != std::string::npos) msg = msg.substr(pos + 2);
    throw InvalidArgument(std::string(source) + ": malformed JSON: " + msg);
  }
}

Json ReadJsonFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InvalidArgument("'" + path + "' is a directory, not a JSON file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError("cannot read '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw IoError("cannot read '" + path + "': read failed");
  return ParseJson(buf.str(), path);
}

std::string JsonTypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::null: return "null";
    default: return "value";
  }
}

}  // namespace turnwise
