// `turnwise bench layout`: what the episode layout saves. The same model plays the same tasks
// with rollout.layout "steps" (verl-agent: a fresh prompt with the last k turns every turn) and
// "episode" (one growing sequence, KV cache carried), and each layout's rows then go through one
// forward and backward pass as the learner runs them (training/internal/training_rows). Reported
// per layout: rollout generated tokens/s, update trained (response) tokens/s, context tokens
// the model read per trained token; the ratios episode / steps, measured in the same run.
#ifndef TURNWISE_TRAINING_LAYOUT_BENCH_H_
#define TURNWISE_TRAINING_LAYOUT_BENCH_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/json.h"

namespace turnwise {

struct LayoutBenchOptions {
  std::string model;          // HF-layout checkpoint folder (required)
  std::string env = "household";
  Json env_config = Json::object();
  int groups = 4;
  int group_size = 4;
  int max_turns = 20;         // household-length episodes
  int64_t max_new_tokens = 40;
  int history_length = 2;     // the steps layout's history (verl-agent's default)
  int64_t micro_batch_rows = 32;
  int threads = 2;
  int repeats = 3;
};

void RunLayoutBench(const LayoutBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_LAYOUT_BENCH_H_
