#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"

namespace turnwise {
namespace {

TEST(Hash, Fnv1aMatchesPublishedVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Hash, Mix64IsSplitMix64Output) {
  // First output of SplitMix64 seeded with 0 is Mix64(golden gamma).
  EXPECT_EQ(Mix64(0x9e3779b97f4a7c15ULL), 0xe220a8397b1dcdafULL);
}

TEST(Hash, StableHashIsFnvThenMix) {
  EXPECT_EQ(StableHash64("You arrive at countertop 1."),
            Mix64(Fnv1a64("You arrive at countertop 1.")));
  EXPECT_NE(StableHash64("drawer 1"), StableHash64("drawer 2"));
}

TEST(Hash, CombineIsOrderDependent) {
  EXPECT_NE(HashCombine(1, 2), HashCombine(2, 1));
  EXPECT_EQ(HashCombine(7, 9), HashCombine(7, 9));
}

TEST(Rng, XoshiroMatchesReferenceSequence) {
  Rng rng;
  rng.SetState({1, 2, 3, 4});
  EXPECT_EQ(rng.Next(), 11520u);
  EXPECT_EQ(rng.Next(), 0u);
  EXPECT_EQ(rng.Next(), 1509978240u);
  EXPECT_EQ(rng.Next(), 1215971899390074240u);
}

TEST(Rng, SameSeedSameSequenceDifferentStreamsDiffer) {
  Rng a(42, 0), b(42, 0), c(42, 1), d(43, 0);
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
  }
  Rng a2(42, 0);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a2.Next();
    same_c += x == c.Next();
    same_d += x == d.Next();
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
}

TEST(Rng, NamedStreamsAreIndependentOfEachOther) {
  RngStreams streams(7);
  Rng rollout = streams.Stream("rollout");
  Rng again = streams.Stream("rollout");
  Rng sampler = streams.Stream("sampler");
  EXPECT_EQ(rollout.Next(), again.Next());
  EXPECT_NE(streams.Stream("env", 0).Next(), streams.Stream("env", 1).Next());
  EXPECT_NE(streams.Stream("rollout").Next(), sampler.Next());
}

TEST(Rng, UniformIsUnbiasedAndInRange) {
  Rng rng(1);
  std::map<uint64_t, int> counts;
  const int n = 60000;
  for (int i = 0; i < n; ++i) {
    uint64_t v = rng.Uniform(6);
    ASSERT_LT(v, 6u);
    counts[v]++;
  }
  for (auto& [v, c] : counts) {
    // Expected 10000 each; 5 sigma is ~456.
    EXPECT_NEAR(c, 10000, 456) << "value " << v;
  }
  for (int i = 0; i < 1000; ++i) {
    int64_t x = rng.UniformInt(-3, 3);
    EXPECT_GE(x, -3);
    EXPECT_LE(x, 3);
    double u = rng.UniformDouble();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(Rng, NormalHasUnitMoments) {
  Rng rng(3);
  double sum = 0, sum2 = 0;
  const int n = 50000;
  for (int i = 0; i < n; ++i) {
    double x = rng.Normal();
    sum += x;
    sum2 += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(sum2 / n, 1.0, 0.03);
}

TEST(Rng, StateRoundTripResumesExactly) {
  Rng rng(99);
  for (int i = 0; i < 17; ++i) rng.Next();
  std::string saved = rng.StateString();
  EXPECT_EQ(saved.size(), 64u);
  std::vector<uint64_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(rng.Next());
  Rng restored;
  restored.SetStateString(saved);
  for (uint64_t e : expected) EXPECT_EQ(restored.Next(), e);
}

TEST(Rng, BadStateStringIsRejectedWithReason) {
  Rng rng;
  try {
    rng.SetStateString("abc");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("64 hex digits"), std::string::npos);
  }
  EXPECT_THROW(rng.SetStateString(std::string(63, '0') + "g"), InvalidArgument);
  EXPECT_THROW(rng.SetStateString(std::string(64, '0')), InvalidArgument);
}

TEST(Rng, ShuffleIsAPermutationAndSeeded) {
  std::vector<int> a(50), b;
  for (int i = 0; i < 50; ++i) a[i] = i;
  b = a;
  Rng r1(5), r2(5);
  r1.Shuffle(a);
  r2.Shuffle(b);
  EXPECT_EQ(a, b);
  std::set<int> s(a.begin(), a.end());
  EXPECT_EQ(s.size(), 50u);
  std::vector<int> sorted(50);
  for (int i = 0; i < 50; ++i) sorted[i] = i;
  EXPECT_NE(a, sorted);
}

}  // namespace
}  // namespace turnwise
