#include "core/stats.h"

#include <gtest/gtest.h>

namespace turnwise {
namespace {

TEST(Stats, MedianOfOddAndEvenCounts) {
  EXPECT_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(Median({}), 0.0);
}

TEST(Stats, BinomialStandardErrorOfARate) {
  EXPECT_NEAR(BinomialStandardError(0.3, 200), 0.0324037, 1e-6);  // sqrt(0.21 / 200)
  EXPECT_EQ(BinomialStandardError(0.5, 0), 0.0);
}

// Mean and standard error of three seeds' values, by hand: mean 0.3, deviations -0.1, 0, 0.1,
// sample variance 0.02 / 2 = 0.01, SE = sqrt(0.01 / 3).
TEST(Stats, MeanWithStandardErrorOfSeeds) {
  const MeanAndError m = MeanWithStandardError({0.2, 0.3, 0.4});
  EXPECT_NEAR(m.mean, 0.3, 1e-12);
  EXPECT_NEAR(m.standard_error, 0.0577350, 1e-6);
  const MeanAndError one = MeanWithStandardError({0.7});
  EXPECT_EQ(one.mean, 0.7);
  EXPECT_EQ(one.standard_error, 0.0);
  EXPECT_EQ(MeanWithStandardError({}).mean, 0.0);
}

}  // namespace
}  // namespace turnwise
