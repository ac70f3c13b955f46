// `turnwise bench model`: throughput of the policy model, each number next to a baseline
// measured in the same run (never against a stored number):
//
//  (a) decode: tokens/s of Generate() with the KV cache vs full recomputation per step, at
//      several batch sizes, for a small model (prompt of `prompt_tokens` random ids, exactly
//      `new_tokens` sampled at temperature 1, prefill included in the time);
//  (b) train: tokens/s of one SFT-like step (forward, cross-entropy on the response half,
//      backward, AdamW) in Turnwise vs the same model and step in Python PyTorch
//      (tests/agents/reference/train_step_bench.py run by `python`), same intra-op threads;
//  (c) the achieved FLOP/s of that step (6 x matmul params x tokens + the attention term) as a
//      fraction of the FLOP/s of a large float32 matrix multiply timed in the same run.
//
// Timings are medians over `repeats` runs after one warm-up (the matmul peak: the best run). The
// process's intra-op thread count is set to `threads` (and restored). Output is human-readable
// lines on `out`.
#ifndef TURNWISE_AGENTS_MODEL_BENCH_H_
#define TURNWISE_AGENTS_MODEL_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace turnwise {

struct ModelBenchOptions {
  std::string preset = "small";  // ModelConfig::Preset name
  int64_t vocab_size = 8192;
  int threads = 2;
  int repeats = 5;
  // (a)
  std::vector<int64_t> decode_batches = {1, 16, 64};
  int64_t prompt_tokens = 64;
  int64_t new_tokens = 32;
  int no_cache_repeats = 3;  // the uncached path is slow at large batches
  // (b), (c)
  int64_t train_batch = 8;
  int64_t train_tokens = 256;  // sequence length; the last half is the "response"
  int train_rounds = 3;        // Turnwise and Python alternate, to share the machine's noise
  int64_t matmul_size = 2048;  // n of the n x n x n peak-FLOP/s matmul
  // Python baseline; empty python disables it. An empty script path means the script next to
  // this source tree (found via the build's source path), then ./tests/agents/reference/.
  std::string python = "/usr/bin/python3";
  std::string python_script;
};

// Runs the benchmark; returns 0 on success, 1 when a required part failed (the message is on
// `out`). A missing Python baseline is reported and does not fail the run.
int RunModelBench(const ModelBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_MODEL_BENCH_H_
