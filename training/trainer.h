// The multi-turn RL trainer: `turnwise train --config FILE [--set k=v …] [--resume RUN_DIR]`.
//
// Each iteration: rollout (RolloutEngine: G episodes per task, continuous batching, every
// episode to the store) → per-step training rows (prompt with last-k history + the sampled
// response tokens: token-in/token-out) → old log-probs recomputed (and reference log-probs when
// KL is on) → advantages (any estimator of training/advantages, parts stored per turn) → PPO
// epochs over minibatches with gradient accumulation (clipped surrogate, dual clip, the four
// aggregations, KL k1/k2/k3, entropy bonus) → AdamW with clipping and the LR schedule →
// metrics to the store → evaluation on held-out splits → checkpoint.
//
// A run directory holds config.json and checkpoints/iter_NNNNNN/ (HF-layout model folder with
// tokenizer.json, optimizer.pt, trainer_state.json). `--resume RUN_DIR` continues from the
// latest checkpoint; every random choice derives from (seed, iteration), so on CPU a resumed run
// reproduces the metrics of an uninterrupted one.
#ifndef TURNWISE_TRAINING_TRAINER_H_
#define TURNWISE_TRAINING_TRAINER_H_

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/json.h"

namespace turnwise {

// Every key of a train config with its default and help (see configs/*.json, docs/training.md).
// The `algorithm.*` keys carry no defaults here (their help states them): a method preset fills
// the keys the user left out, and only then do defaults apply (ResolveTrainConfig). Validate a
// user's file with this schema; run it through ResolveTrainConfig before reading algorithm keys.
const ConfigSchema& TrainConfigSchema();

// The complete config a run uses: `config` validated, the method preset of `algorithm.preset`
// (a name in configs/methods — also searched in $TURNWISE_METHODS_DIR and the source tree — or a
// path to a .json file holding {"algorithm": {...}}) merged UNDER the user's keys, then the
// defaults, some of which depend on the loss (loop: rollout-mean-fixed aggregation; gspo:
// seq-mean-token-mean, ε 3e-4/4e-4). Merging is key by key, except that a block with a different
// "name" (advantage, loss, schedule) and the regularizers list replace the preset's whole.
// Throws ConfigError naming the key path for an unknown key, a bad value, an unknown preset, or
// a combination that cannot work (e.g. gspo with a per-token aggregation, the seeupo schedule
// with a non-group-relative advantage, the same regulariser twice, an option of another loss).
Json ResolveTrainConfig(const Json& config);

struct TrainResult {
  int64_t run_id = 0;
  std::string run_dir;
  std::string db;
  int64_t iterations_done = 0;
  // Greedy evaluation before the first and after the last iteration: split -> EvalResult JSON.
  Json before = Json::object();
  Json after = Json::object();
  // Per-iteration metrics (name -> value), in order.
  std::vector<Json> metrics;
};

struct TrainOptions {
  std::string resume_dir;  // non-empty: continue this run directory
  // Stops after this many iterations of this invocation (tests of resume; 0 = no limit).
  int64_t stop_after = 0;
  bool quiet = false;      // no progress lines
};

// Validates `config` (ConfigError naming the key path), trains, returns the summary. Progress
// goes to `log`.
TrainResult Train(const Json& config, const TrainOptions& options, std::ostream& log);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_TRAINER_H_
