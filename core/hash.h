// Stable 64-bit hashing for anchor keys and stream derivation.
//
// "Stable" means the value depends only on the bytes: the same on every platform, build and run
// (unlike std::hash), so hashes can be stored in the database and compared across runs.
// StableHash64 = FNV-1a 64 of the bytes followed by a 64-bit avalanche finaliser (the one of
// SplitMix64), which spreads FNV's weak low bits. Not cryptographic.
#ifndef TURNWISE_CORE_HASH_H_
#define TURNWISE_CORE_HASH_H_

#include <cstdint>
#include <string_view>

namespace turnwise {

// Plain FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
uint64_t Fnv1a64(std::string_view bytes);

// The SplitMix64 output function: a bijective 64-bit mixer.
uint64_t Mix64(uint64_t x);

// Fnv1a64 followed by Mix64. The anchor-key hash stored with every turn.
uint64_t StableHash64(std::string_view bytes);

// Combines two hashes order-dependently (for hashing tuples such as (seed, stream name)).
uint64_t HashCombine(uint64_t a, uint64_t b);

}  // namespace turnwise

#endif  // TURNWISE_CORE_HASH_H_
