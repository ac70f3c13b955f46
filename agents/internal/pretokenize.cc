#include "agents/internal/pretokenize.h"

#include <cstdint>

#include "agents/internal/unicode.h"

namespace turnwise::tokenizer_internal {
namespace {

// The text decoded once: code points, their flags and byte offsets (offset[n] = text size).
struct Decoded {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<size_t> offset;

  void Fill(std::string_view text) {
    cp.clear();
    flags.clear();
    offset.clear();
    for (size_t pos = 0; pos < text.size();) {
      size_t len;
      uint32_t c = DecodeUtf8(text, pos, &len);
      cp.push_back(c);
      flags.push_back(CharFlags(c));
      offset.push_back(pos);
      pos += len;
    }
    offset.push_back(text.size());
  }
};

constexpr uint8_t kLetterOrNumberOrSpace = kLetter | kNumber | kWhiteSpace;

class Matcher {
 public:
  explicit Matcher(const Decoded& d) : d_(d), n_(d.cp.size()) {}

  bool Is(size_t i, uint8_t flag) const { return i < n_ && (d_.flags[i] & flag); }
  // [^\s\p{L}\p{N}]
  bool IsOther(size_t i) const { return i < n_ && !(d_.flags[i] & kLetterOrNumberOrSpace); }
  bool IsCrLf(size_t i) const { return i < n_ && (d_.cp[i] == '\r' || d_.cp[i] == '\n'); }
  uint32_t At(size_t i) const { return i < n_ ? d_.cp[i] : 0; }

  size_t RunOf(size_t i, uint8_t flag) const {
    while (Is(i, flag)) ++i;
    return i;
  }
  size_t RunOfOther(size_t i) const {
    while (IsOther(i)) ++i;
    return i;
  }

  // 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII-case-insensitive; returns the end or 0.
  size_t Contraction(size_t i, bool ignore_case) const {
    if (At(i) != '\'') return 0;
    auto fold = [&](uint32_t c) -> uint32_t {
      return ignore_case && c >= 'A' && c <= 'Z' ? c + 32 : c;
    };
    const uint32_t c1 = fold(At(i + 1)), c2 = fold(At(i + 2));
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
      return i + 3;
    }
    return 0;
  }

  // \s+(?!\S)|\s+ at a whitespace character: a whitespace run followed by a non-space gives
  // back its last character (so " word" keeps its space) unless it is only one long.
  size_t TrailingSpaceRun(size_t i) const {
    const size_t end = RunOf(i, kWhiteSpace);
    if (end == n_ || end - i == 1) return end;
    return end - 1;
  }

  size_t Gpt2(size_t i) const {
    if (size_t end = Contraction(i, /*ignore_case=*/false)) return end;
    const size_t j = At(i) == ' ' ? i + 1 : i;  // the optional leading space
    if (Is(j, kLetter)) return RunOf(j, kLetter);
    if (Is(j, kNumber)) return RunOf(j, kNumber);
    if (IsOther(j)) return RunOfOther(j);
    return TrailingSpaceRun(i);
  }

  size_t Qwen2(size_t i) const {
    if (size_t end = Contraction(i, /*ignore_case=*/true)) return end;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!IsCrLf(i) && !Is(i, kLetter | kNumber) && Is(i + 1, kLetter)) {
      return RunOf(i + 1, kLetter);
    }
    if (Is(i, kLetter)) return RunOf(i, kLetter);
    // \p{N}
    if (Is(i, kNumber)) return i + 1;
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const size_t j = At(i) == ' ' ? i + 1 : i;
    if (IsOther(j)) {
      size_t end = RunOfOther(j);
      while (IsCrLf(end)) ++end;
      return end;
    }
    // \s*[\r\n]+ : the whitespace run up to and including its last line break.
    const size_t run_end = RunOf(i, kWhiteSpace);
    for (size_t k = run_end; k > i; --k) {
      if (IsCrLf(k - 1)) return k;
    }
    return TrailingSpaceRun(i);
  }

 private:
  const Decoded& d_;
  const size_t n_;
};

}  // namespace

void SplitByPattern(PatternKind kind, std::string_view text,
                    std::vector<std::pair<size_t, size_t>>* pieces) {
  thread_local Decoded decoded;
  decoded.Fill(text);
  Matcher m(decoded);
  const size_t n = decoded.cp.size();
  for (size_t i = 0; i < n;) {
    size_t end = kind == PatternKind::kGpt2 ? m.Gpt2(i) : m.Qwen2(i);
    if (end <= i) end = i + 1;  // every character matches some alternative; never stall
    pieces->emplace_back(decoded.offset[i], decoded.offset[end]);
    i = end;
  }
}

}  // namespace turnwise::tokenizer_internal
