#include "core/stats.h"

#include <algorithm>
#include <cmath>

namespace turnwise {

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double BinomialStandardError(double rate, int64_t n) {
  if (n <= 0) return 0.0;
  return std::sqrt(std::max(0.0, rate * (1.0 - rate)) / static_cast<double>(n));
}

}  // namespace turnwise
