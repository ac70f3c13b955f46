#include "envs/internal/json_scan.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/text.h"

namespace turnwise::envs_internal {
namespace {

constexpr int kMaxDepth = 128;  // deeper values are declined (nlohmann has no limit)

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one (no overlong forms, no
// surrogates, nothing above U+10FFFF — what nlohmann's lexer accepts).
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xC2 && c <= 0xDF   ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads the four hex digits at s[i..i+4).
bool Hex4(std::string_view s, size_t i, uint32_t* out) {
  if (i + 4 > s.size()) return false;
  uint32_t v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    uint32_t d = c >= '0' && c <= '9'   ? static_cast<uint32_t>(c - '0')
                 : c >= 'a' && c <= 'f' ? static_cast<uint32_t>(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? static_cast<uint32_t>(c - 'A' + 10)
                                        : 16u;
    if (d == 16) return false;
    v = v * 16 + d;
  }
  *out = v;
  return true;
}

// The end of the run of plain characters (printable ASCII but '"' and '\\') from s[i], found
// 8 bytes at a time.
size_t PlainRunEnd(std::string_view s, size_t i) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  while (i + 8 <= s.size()) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
    // A byte's high bit ends up set when it is < 0x20, '"', '\\' or non-ASCII.
    uint64_t special = ((w - kOnes * 0x20) | (quote - kOnes) | (backslash - kOnes)) & ~w & kHigh;
    if ((special | (w & kHigh)) != 0) break;
    i += 8;
  }
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
    ++i;
  }
  return i;
}

// Scans the string literal at s[*pos] (the opening quote), decoding it into *out when given.
bool ScanString(std::string_view s, size_t* pos, std::string* out) {
  size_t i = *pos;
  if (i >= s.size() || s[i] != '"') return false;
  ++i;
  // The common literal has no escapes and no UTF-8: take it in one piece.
  const size_t start = i;
  i = PlainRunEnd(s, i);
  if (i < s.size() && s[i] == '"') {
    if (out) out->assign(s.data() + start, i - start);
    *pos = i + 1;
    return true;
  }
  if (out) out->assign(s.data() + start, i - start);
  for (;;) {
    size_t run = i;
    i = PlainRunEnd(s, i);
    if (out) out->append(s.data() + run, i - run);
    if (i >= s.size()) return false;
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      *pos = i + 1;
      return true;
    }
    if (c < 0x20) return false;
    if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n == 0) return false;
      if (out) out->append(s.data() + i, n);
      i += n;
      continue;
    }
    if (++i >= s.size()) return false;  // after the backslash
    char e = s[i++];
    char plain = e == '"'    ? '"'
                 : e == '\\' ? '\\'
                 : e == '/'  ? '/'
                 : e == 'b'  ? '\b'
                 : e == 'f'  ? '\f'
                 : e == 'n'  ? '\n'
                 : e == 'r'  ? '\r'
                 : e == 't'  ? '\t'
                             : 0;
    if (plain != 0) {
      if (out) out->push_back(plain);
      continue;
    }
    if (e != 'u') return false;
    uint32_t cp;
    if (!Hex4(s, i, &cp)) return false;
    i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate needs its low one
      uint32_t low;
      if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u' || !Hex4(s, i + 2, &low) ||
          low < 0xDC00 || low > 0xDFFF) {
        return false;
      }
      i += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return false;
    }
    if (out) AppendUtf8(cp, out);
  }
}

}  // namespace

void JsonScanner::SkipSpace() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
    ++pos_;
  }
}

char JsonScanner::Peek() {
  SkipSpace();
  return pos_ < text_.size() ? text_[pos_] : 0;
}

bool JsonScanner::Consume(char c) {
  if (Peek() != c || c == 0) return false;
  ++pos_;
  return true;
}

bool JsonScanner::AtEnd() {
  SkipSpace();
  return pos_ == text_.size();
}

bool JsonScanner::String(std::string* out) {
  SkipSpace();
  return ScanString(text_, &pos_, out);
}

bool JsonScanner::Literal(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) return false;
  pos_ += word.size();
  return true;
}

bool JsonScanner::ScanNumber(bool* integer) {
  *integer = true;
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  if (pos_ >= text_.size()) return false;
  if (text_[pos_] == '0') {
    ++pos_;
  } else if (IsDigit(text_[pos_])) {
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  } else {
    return false;
  }
  if (pos_ < text_.size() && text_[pos_] == '.') {
    *integer = false;
    ++pos_;
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return false;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    *integer = false;
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return false;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  }
  return true;
}

bool JsonScanner::Number(Json* out) {
  SkipSpace();
  const size_t start = pos_;
  bool integer;
  if (!ScanNumber(&integer)) return false;
  const char* first = text_.data() + start;
  const char* last = text_.data() + pos_;
  if (integer && *first == '-') {
    int64_t v;
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last) return false;
    *out = v;
  } else if (integer) {
    uint64_t v;
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last) return false;
    *out = v;
  } else {
    double v;
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last || !std::isfinite(v)) return false;
    *out = v;
  }
  return true;
}

bool JsonScanner::SkipValue(std::string_view* span) {
  SkipSpace();
  const size_t start = pos_;
  if (!SkipValueAt(0)) return false;
  if (span) *span = text_.substr(start, pos_ - start);
  return true;
}

bool JsonScanner::SkipValueAt(int depth) {
  if (depth > kMaxDepth) return false;
  switch (Peek()) {
    case '"':
      return ScanString(text_, &pos_, nullptr);
    case 't':
      return Literal("true");
    case 'f':
      return Literal("false");
    case 'n':
      return Literal("null");
    case '{':
      ++pos_;
      if (Consume('}')) return true;
      do {
        SkipSpace();
        if (!ScanString(text_, &pos_, nullptr) || !Consume(':') || !SkipValueAt(depth + 1)) {
          return false;
        }
      } while (Consume(','));
      return Consume('}');
    case '[':
      ++pos_;
      if (Consume(']')) return true;
      do {
        if (!SkipValueAt(depth + 1)) return false;
      } while (Consume(','));
      return Consume(']');
    default: {
      bool integer;
      return ScanNumber(&integer);
    }
  }
}

bool JsonScanner::Value(Json* out) {
  switch (Peek()) {
    case '"': {
      std::string s;
      if (!String(&s)) return false;
      *out = std::move(s);
      return true;
    }
    case 't':
    case 'f': {
      const bool value = text_[pos_] == 't';
      if (!Literal(value ? "true" : "false")) return false;
      *out = value;
      return true;
    }
    case 'n':
      if (!Literal("null")) return false;
      *out = nullptr;
      return true;
    case '{':
    case '[': {
      std::string_view span;
      if (!SkipValue(&span)) return false;
      *out = Json::parse(span, nullptr, /*allow_exceptions=*/false);
      return !out->is_discarded();
    }
    default:
      return Number(out);
  }
}

}  // namespace turnwise::envs_internal
