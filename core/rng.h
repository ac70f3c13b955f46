// Seeded random numbers with independent streams, so that a whole run is reproducible from one
// seed and adding a consumer of randomness does not shift anybody else's numbers.
//
// Rng is xoshiro256** (Blackman & Vigna): 256-bit state, period 2^256-1, fast and statistically
// strong. Its state is seeded by running SplitMix64 from Mix(seed, stream), so Rng(s, a) and
// Rng(s, b) for a != b are independent streams. RngStreams names streams by string
// ("rollout", "sampler", "env/3"), hashed with StableHash64.
//
// An Rng is a value type, not thread-safe: give each thread its own stream. State() and
// SetState() save and restore it exactly (checkpoints and resume).
#ifndef TURNWISE_CORE_RNG_H_
#define TURNWISE_CORE_RNG_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnwise {

class Rng {
 public:
  using result_type = uint64_t;  // usable with <random> distributions and std::shuffle

  explicit Rng(uint64_t seed = 0, uint64_t stream = 0);

  uint64_t Next();
  uint64_t operator()() { return Next(); }
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }

  // Uniform integer in [0, n), without modulo bias. n must be >= 1.
  uint64_t Uniform(uint64_t n);
  // Uniform integer in [lo, hi], inclusive.
  int64_t UniformInt(int64_t lo, int64_t hi);
  // Uniform double in [0, 1) with 53 random bits.
  double UniformDouble();
  // Standard normal (Box–Muller; one value per call, no cached second value, so the state is
  // exactly the four words).
  double Normal();
  // True with probability p.
  bool Bernoulli(double p) { return UniformDouble() < p; }

  template <class T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(Uniform(i));
      std::swap(items[i - 1], items[j]);
    }
  }

  // Exact state, for checkpoints: 4 words, and as a 64-hex-digit string.
  std::array<uint64_t, 4> State() const { return s_; }
  void SetState(const std::array<uint64_t, 4>& state);
  std::string StateString() const;
  // Throws InvalidArgument for a string that is not 64 hex digits or an all-zero state.
  void SetStateString(std::string_view text);

 private:
  std::array<uint64_t, 4> s_;
};

// Derives named, independent streams from one root seed.
class RngStreams {
 public:
  explicit RngStreams(uint64_t seed) : seed_(seed) {}
  Rng Stream(std::string_view name) const;
  Rng Stream(std::string_view name, uint64_t index) const;
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
};

}  // namespace turnwise

#endif  // TURNWISE_CORE_RNG_H_
