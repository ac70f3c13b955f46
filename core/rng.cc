#include "core/rng.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/hash.h"

namespace turnwise {
namespace {

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed, uint64_t stream) {
  // SplitMix64 sequence from a point that depends on both seed and stream.
  uint64_t x = HashCombine(seed, stream);
  for (auto& word : s_) {
    x += 0x9e3779b97f4a7c15ULL;
    word = Mix64(x);
  }
  if (s_[0] == 0 && s_[1] == 0 && s_[2] == 0 && s_[3] == 0) s_[0] = 1;  // never all-zero
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t Rng::Uniform(uint64_t n) {
  TURNWISE_CHECK(n >= 1);
  // Rejection sampling on the top of the range removes modulo bias.
  const uint64_t limit = max() - max() % n;
  uint64_t x;
  do {
    x = Next();
  } while (x >= limit);
  return x % n;
}

int64_t Rng::UniformInt(int64_t lo, int64_t hi) {
  TURNWISE_CHECK(lo <= hi);
  uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == max()) return static_cast<int64_t>(Next());
  return lo + static_cast<int64_t>(Uniform(span + 1));
}

double Rng::UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

double Rng::Normal() {
  double u1 = UniformDouble();
  double u2 = UniformDouble();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void Rng::SetState(const std::array<uint64_t, 4>& state) {
  if (state[0] == 0 && state[1] == 0 && state[2] == 0 && state[3] == 0) {
    throw InvalidArgument("rng state must not be all zero");
  }
  s_ = state;
}

std::string Rng::StateString() const {
  char buf[65];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx%016llx%016llx",
                static_cast<unsigned long long>(s_[0]), static_cast<unsigned long long>(s_[1]),
                static_cast<unsigned long long>(s_[2]), static_cast<unsigned long long>(s_[3]));
  return buf;
}

void Rng::SetStateString(std::string_view text) {
  if (text.size() != 64) {
    throw InvalidArgument("rng state must be 64 hex digits, got " + std::to_string(text.size()) +
                          " characters");
  }
  std::array<uint64_t, 4> state{};
  for (size_t w = 0; w < 4; ++w) {
    uint64_t v = 0;
    for (size_t i = 0; i < 16; ++i) {
      char c = text[w * 16 + i];
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) throw InvalidArgument("rng state has a non-hex character '" + std::string(1, c) + "'");
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    state[w] = v;
  }
  SetState(state);
}

Rng RngStreams::Stream(std::string_view name) const { return Rng(seed_, StableHash64(name)); }

Rng RngStreams::Stream(std::string_view name, uint64_t index) const {
  return Rng(seed_, HashCombine(StableHash64(name), index));
}

}  // namespace turnwise
