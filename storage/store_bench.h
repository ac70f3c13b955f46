// `turnwise bench store`: how fast the trajectory store takes turns.
//
// Writes the same synthetic episodes three ways, in one process run, and prints turns/s and
// ratios: (a) StoreWriter (writer thread, batched transactions), timed until every turn is
// committed and again until every turn is also full-text indexed; (b) one transaction per turn
// on the same tables, no full-text index (what a naive logger does); (c) appending JSONL lines
// to a file (what most peers do). Each variant is timed `repeats` times; medians are reported.
#ifndef TURNWISE_STORAGE_STORE_BENCH_H_
#define TURNWISE_STORAGE_STORE_BENCH_H_

#include <cstdint>
#include <iosfwd>
#include <string>

namespace turnwise {

struct StoreBenchOptions {
  int64_t episodes = 10000;          // for (a) and (c)
  int64_t turns_per_episode = 10;
  int64_t tokens_per_turn = 16;      // size of token/log-prob/entropy arrays per turn
  int64_t per_turn_episodes = 100;   // (b) is slow: fewer episodes, rate extrapolated per turn
  int repeats = 5;
  std::string dir;                   // scratch directory; empty = a fresh temp dir
};

struct StoreBenchResult {
  double batched_turns_per_s = 0;          // committed: durable, visible to every filter
  double batched_indexed_turns_per_s = 0;  // committed and in the full-text index
  double per_turn_tx_turns_per_s = 0;
  double jsonl_turns_per_s = 0;
};

// Runs the benchmark, prints a table to `out`, returns the medians.
StoreBenchResult RunStoreBench(const StoreBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_STORAGE_STORE_BENCH_H_
