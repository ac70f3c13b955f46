#include "agents/internal/unicode.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <vector>

#include "agents/internal/unicode_tables.h"
#include "core/text.h"

namespace turnwise::tokenizer_internal {
namespace {

constexpr uint32_t kMaxCodePoint = 0x110000;

// One byte of flags per code point (1.1 MB), built once: the pre-tokenizer looks up every
// character of every prompt, so this must be a plain array index.
const uint8_t* FlagTable() {
  static const std::unique_ptr<uint8_t[]> table = [] {
    auto t = std::make_unique<uint8_t[]>(kMaxCodePoint);
    std::fill(t.get(), t.get() + kMaxCodePoint, 0);
    auto mark = [&](const CodeRange* ranges, size_t n, uint8_t flag) {
      for (size_t i = 0; i < n; ++i) {
        for (uint32_t cp = ranges[i].first; cp <= ranges[i].last; ++cp) t[cp] |= flag;
      }
    };
    mark(kLetterRanges, kLetterRangesSize, kLetter);
    mark(kNumberRanges, kNumberRangesSize, kNumber);
    mark(kWhiteSpaceRanges, kWhiteSpaceRangesSize, kWhiteSpace);
    mark(kNfcQuickCheckNotYesRanges, kNfcQuickCheckNotYesRangesSize, kNfcUnstable);
    for (size_t i = 0; i < kCombiningClassesSize; ++i) {
      t[kCombiningClasses[i].code_point] |= kNfcUnstable;
    }
    return t;
  }();
  return table.get();
}

struct NfcData {
  std::unordered_map<uint32_t, uint8_t> ccc;
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> decomposition;
  std::unordered_map<uint64_t, uint32_t> composition;
};

const NfcData& Nfc() {
  static const NfcData data = [] {
    NfcData d;
    for (size_t i = 0; i < kCombiningClassesSize; ++i) {
      d.ccc[kCombiningClasses[i].code_point] = kCombiningClasses[i].ccc;
    }
    for (size_t i = 0; i < kDecompositionsSize; ++i) {
      d.decomposition[kDecompositions[i].code_point] = {kDecompositions[i].first,
                                                        kDecompositions[i].second};
    }
    for (size_t i = 0; i < kCompositionsSize; ++i) {
      d.composition[(uint64_t{kCompositions[i].first} << 32) | kCompositions[i].second] =
          kCompositions[i].composite;
    }
    return d;
  }();
  return data;
}

// Hangul syllables compose and decompose algorithmically (Unicode ch. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t CombiningClassOf(const NfcData& d, uint32_t cp) {
  if (cp >= kMaxCodePoint) return 0;
  auto it = d.ccc.find(cp);
  return it == d.ccc.end() ? 0 : it->second;
}

void Decompose(const NfcData& d, uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  auto it = d.decomposition.find(cp);
  if (it == d.decomposition.end()) {
    out->push_back(cp);
    return;
  }
  Decompose(d, it->second.first, out);
  if (it->second.second != 0) Decompose(d, it->second.second, out);
}

// Returns the primary composite of (first, second), or 0 when there is none.
uint32_t Compose(const NfcData& d, uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  if (first >= kMaxCodePoint || second >= kMaxCodePoint) return 0;
  auto it = d.composition.find((uint64_t{first} << 32) | second);
  return it == d.composition.end() ? 0 : it->second;
}

}  // namespace

uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t* length) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = s[pos];
  *length = 1;
  if (b0 < 0x80) return b0;
  auto cont = [&](size_t k) { return pos + k < n && (s[pos + k] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return kInvalidByteBase + b0;
    *length = 2;
    return ((b0 & 0x1Fu) << 6) | (s[pos + 1] & 0x3Fu);
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return kInvalidByteBase + b0;
    uint32_t cp = ((b0 & 0x0Fu) << 12) | ((s[pos + 1] & 0x3Fu) << 6) | (s[pos + 2] & 0x3Fu);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalidByteBase + b0;
    *length = 3;
    return cp;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return kInvalidByteBase + b0;
    uint32_t cp = ((b0 & 0x07u) << 18) | ((s[pos + 1] & 0x3Fu) << 12) |
                  ((s[pos + 2] & 0x3Fu) << 6) | (s[pos + 3] & 0x3Fu);
    if (cp < 0x10000 || cp >= kMaxCodePoint) return kInvalidByteBase + b0;
    *length = 4;
    return cp;
  }
  return kInvalidByteBase + b0;
}

void AppendUnit(uint32_t cp, std::string* out) {
  if (cp >= kInvalidByteBase) {
    out->push_back(static_cast<char>(cp - kInvalidByteBase));
  } else {
    AppendUtf8(cp, out);
  }
}

uint8_t CharFlags(uint32_t code_point) {
  return code_point < kMaxCodePoint ? FlagTable()[code_point] : 0;
}

bool ToNfc(std::string_view text, std::string* out) {
  const uint8_t* flags = FlagTable();
  bool stable = true;
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {  // ASCII is always NFC-stable
      ++pos;
      continue;
    }
    size_t len;
    uint32_t cp = DecodeUtf8(text, pos, &len);
    pos += len;
    if (cp < kMaxCodePoint && (flags[cp] & kNfcUnstable)) {
      stable = false;
      break;
    }
  }
  if (stable) return false;

  const NfcData& d = Nfc();
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len;
    uint32_t cp = DecodeUtf8(text, pos, &len);
    pos += len;
    if (cp >= kMaxCodePoint) {
      cps.push_back(cp);
    } else {
      Decompose(d, cp, &cps);
    }
  }
  // Canonical ordering: stable sort of every run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (CombiningClassOf(d, cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && CombiningClassOf(d, cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j, [&](uint32_t a, uint32_t b) {
      return CombiningClassOf(d, a) < CombiningClassOf(d, b);
    });
    i = j;
  }
  // Canonical composition: a character combines with the last starter unless blocked by an
  // intervening character of equal or higher class (or any starter).
  std::vector<uint32_t> result;
  result.reserve(cps.size());
  long starter = -1;    // index in `result` of the last starter, -1 before the first one
  int last_class = -1;  // class of the last character after that starter; -1 when none
  for (uint32_t cp : cps) {
    const int cls = CombiningClassOf(d, cp);
    if (starter >= 0 && (last_class == -1 || last_class < cls)) {
      uint32_t composite = Compose(d, result[starter], cp);
      if (composite != 0) {
        result[starter] = composite;
        continue;
      }
    }
    if (cls == 0) {
      starter = static_cast<long>(result.size());
      last_class = -1;
    } else {
      last_class = cls;
    }
    result.push_back(cp);
  }
  out->clear();
  out->reserve(text.size() + 8);
  for (uint32_t cp : result) AppendUnit(cp, out);
  return true;
}

std::string Utf8Lossy(std::string_view bytes) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    const unsigned char b0 = s[i];
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    // Expected length and the allowed range of the second byte (Unicode Table 3-7).
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k <= need; ++k) {
      if (i + k >= n) break;
      const unsigned char b = s[i + k];
      const unsigned char lower = k == 1 ? lo : 0x80, upper = k == 1 ? hi : 0xBF;
      if (b < lower || b > upper) break;
    }
    if (k == need + 1) {
      out.append(bytes.substr(i, need + 1));
      i += need + 1;
    } else {
      out += kReplacement;  // the maximal subpart s[i, i+k) becomes one replacement character
      i += k;
    }
  }
  return out;
}

}  // namespace turnwise::tokenizer_internal
