// Small statistics over samples: the one median every benchmark reports, the binomial standard
// error every success rate is quoted with, and the mean ± standard error of a few seeds' values.
#ifndef TURNWISE_CORE_STATS_H_
#define TURNWISE_CORE_STATS_H_

#include <cstdint>
#include <vector>

namespace turnwise {

// The median (the mean of the middle two for an even count); 0 for no samples.
double Median(std::vector<double> samples);

// sqrt(p (1 - p) / n): the standard error of a success rate p measured over n episodes; 0 for n <= 0.
double BinomialStandardError(double rate, int64_t n);

struct MeanAndError {
  double mean = 0;
  double standard_error = 0;  // sample std (n - 1) / sqrt(n); 0 for fewer than two samples
};
// The mean of `samples` and its standard error; {0, 0} for no samples.
MeanAndError MeanWithStandardError(const std::vector<double>& samples);

}  // namespace turnwise

#endif  // TURNWISE_CORE_STATS_H_
