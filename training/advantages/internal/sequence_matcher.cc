#include "training/advantages/internal/sequence_matcher.h"

#include <iterator>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace turnwise::advantages_internal {

std::u32string DecodeUtf8Lossless(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int extra = -1;
    char32_t cp = 0;
    if (c < 0x80) {
      extra = 0;
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    }
    bool ok = extra >= 0 && i + static_cast<size_t>(extra) < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF as Python's decoder does.
    if (ok && ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (ok) {
      out.push_back(cp);
      i += static_cast<size_t>(extra) + 1;
    } else {
      // Like Python's surrogateescape: the byte stands for itself and matches only itself.
      out.push_back(0xDC00 + c);
      i += 1;
    }
  }
  return out;
}

namespace {

class Matcher {
 public:
  Matcher(const std::u32string& a, const std::u32string& b) : a_(a), b_(b) {
    const int lb = static_cast<int>(b_.size());
    for (int j = 0; j < lb; ++j) b2j_[b_[j]].push_back(j);
    if (lb >= 200) {
      const size_t ntest = static_cast<size_t>(lb / 100 + 1);
      for (auto it = b2j_.begin(); it != b2j_.end();) {
        it = it->second.size() > ntest ? b2j_.erase(it) : std::next(it);
      }
    }
    prev_.assign(b_.size() + 1, 0);
    cur_.assign(b_.size() + 1, 0);
  }

  // Total size of difflib's matching blocks.
  size_t Matches() {
    size_t total = 0;
    std::vector<std::tuple<int, int, int, int>> queue = {
        {0, static_cast<int>(a_.size()), 0, static_cast<int>(b_.size())}};
    while (!queue.empty()) {
      auto [alo, ahi, blo, bhi] = queue.back();
      queue.pop_back();
      auto [i, j, k] = FindLongestMatch(alo, ahi, blo, bhi);
      if (k == 0) continue;
      total += static_cast<size_t>(k);
      if (alo < i && blo < j) queue.emplace_back(alo, i, blo, j);
      if (i + k < ahi && j + k < bhi) queue.emplace_back(i + k, ahi, j + k, bhi);
    }
    return total;
  }

 private:
  // difflib's find_longest_match with no junk function: the earliest longest block among the
  // seeds in b2j, then extended over equal (possibly popular) elements on both sides.
  std::tuple<int, int, int> FindLongestMatch(int alo, int ahi, int blo, int bhi) {
    int besti = alo, bestj = blo, bestsize = 0;
    // prev_[j] = length of the match ending at a[i-1], b[j] (0 when not set in that round).
    prev_touched_.clear();
    for (int i = alo; i < ahi; ++i) {
      cur_touched_.clear();
      auto found = b2j_.find(a_[i]);
      if (found != b2j_.end()) {
        for (int j : found->second) {
          if (j < blo) continue;
          if (j >= bhi) break;
          const int k = (j > 0 ? prev_[j - 1] : 0) + 1;
          cur_[j] = k;
          cur_touched_.push_back(j);
          if (k > bestsize) {
            besti = i - k + 1;
            bestj = j - k + 1;
            bestsize = k;
          }
        }
      }
      for (int j : prev_touched_) prev_[j] = 0;
      std::swap(prev_, cur_);
      std::swap(prev_touched_, cur_touched_);
    }
    for (int j : prev_touched_) prev_[j] = 0;
    prev_touched_.clear();

    while (besti > alo && bestj > blo && a_[besti - 1] == b_[bestj - 1]) {
      --besti;
      --bestj;
      ++bestsize;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi &&
           a_[besti + bestsize] == b_[bestj + bestsize]) {
      ++bestsize;
    }
    return {besti, bestj, bestsize};
  }

  const std::u32string& a_;
  const std::u32string& b_;
  std::unordered_map<char32_t, std::vector<int>> b2j_;
  std::vector<int> prev_, cur_;
  std::vector<int> prev_touched_, cur_touched_;
};

}  // namespace

double SequenceMatcherRatio(std::string_view a, std::string_view b) {
  const std::u32string ua = DecodeUtf8Lossless(a);
  const std::u32string ub = DecodeUtf8Lossless(b);
  const size_t length = ua.size() + ub.size();
  if (length == 0) return 1.0;
  Matcher matcher(ua, ub);
  return 2.0 * static_cast<double>(matcher.Matches()) / static_cast<double>(length);
}

}  // namespace turnwise::advantages_internal
