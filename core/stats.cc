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

MeanAndError MeanWithStandardError(const std::vector<double>& samples) {
  MeanAndError out;
  if (samples.empty()) return out;
  const double n = static_cast<double>(samples.size());
  for (double v : samples) out.mean += v / n;
  if (samples.size() < 2) return out;
  double squares = 0;
  for (double v : samples) squares += (v - out.mean) * (v - out.mean);
  out.standard_error = std::sqrt(squares / (n - 1) / n);
  return out;
}

}  // namespace turnwise
