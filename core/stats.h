// Small statistics over samples: the one median every benchmark reports, and the binomial
// standard error every success rate is quoted with.
#ifndef TURNWISE_CORE_STATS_H_
#define TURNWISE_CORE_STATS_H_

#include <cstdint>
#include <vector>

namespace turnwise {

// The median (the mean of the middle two for an even count); 0 for no samples.
double Median(std::vector<double> samples);

// sqrt(p (1 - p) / n): the standard error of a success rate p measured over n episodes; 0 for n <= 0.
double BinomialStandardError(double rate, int64_t n);

}  // namespace turnwise

#endif  // TURNWISE_CORE_STATS_H_
