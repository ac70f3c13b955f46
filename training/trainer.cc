#include "training/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "agents/generation.h"
#include "agents/lm_policy.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "core/text.h"
#include "envs/registry.h"
#include "storage/store.h"
#include "training/advantages/advantage.h"
#include "training/advantages/method_preset.h"
#include "training/evaluate.h"
#include "training/internal/training_rows.h"
#include "training/advantages/seeupo.h"
#include "training/losses.h"
#include "training/regularizers.h"
#include "training/rollout.h"
#include "training/schedules.h"
#include "training/sft.h"

namespace turnwise {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string Fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

ConfigSchema BuildSchema(bool algorithm_defaults) {
  ConfigSchema s;
  s.Add("name", FieldType::kString, "run", "run name (the run directory is output.dir/<name>)");
  s.Add({.path = "seed", .type = FieldType::kInt, .default_value = 1, .help = "seed of every random choice", .min = 0});
  s.Add("output.dir", FieldType::kString, "runs", "parent of the run directory");
  s.Add("output.db", FieldType::kString, "runs/turnwise.db", "SQLite trajectory store");
  s.Add("env.name", FieldType::kString, "household", "registered environment");
  s.Add("env.config", FieldType::kOpen, Json::object(), "environment config (or {\"remote\": {...}})");
  s.Add("env.train_split", FieldType::kString, "train", "split the rollouts play");
  s.Add("model.checkpoint", FieldType::kString, "", "HF-layout folder to start from (or give warm_start)");
  s.Add("warm_start", FieldType::kOpen, Json(),
        "an SFT config (training/sft.h) run first when model.checkpoint is empty; its final checkpoint starts RL");
  s.Add({.path = "model.threads", .type = FieldType::kInt, .default_value = 2, .help = "LibTorch intra-op threads",
         .min = 1, .max = 256});
  s.Add({.path = "rollout.groups", .type = FieldType::kInt, .default_value = 8, .help = "tasks per iteration", .min = 1});
  s.Add({.path = "rollout.group_size", .type = FieldType::kInt, .default_value = 8, .help = "episodes per task (G)",
         .min = 1});
  s.Add({.path = "rollout.max_turns", .type = FieldType::kInt, .default_value = 30, .help = "turn limit per episode",
         .min = 1});
  s.Add({.path = "rollout.max_active", .type = FieldType::kInt, .default_value = 64,
         .help = "episodes in flight (generation batch)", .min = 1});
  s.Add({.path = "rollout.env_threads", .type = FieldType::kInt, .default_value = 1, .help = "EnvPool worker threads",
         .min = 1});
  s.Add("rollout.synchronous", FieldType::kBool, false, "lock-step loop instead of continuous batching");
  s.Add({.path = "rollout.temperature", .type = FieldType::kNumber, .default_value = 1.0, .help = "sampling temperature",
         .min = 0.0});
  s.Add({.path = "rollout.top_p", .type = FieldType::kNumber, .default_value = 1.0, .help = "nucleus mass", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "rollout.top_k", .type = FieldType::kInt, .default_value = 0, .help = "top-k (0 off)", .min = 0});
  s.Add({.path = "rollout.max_new_tokens", .type = FieldType::kInt, .default_value = 48, .help = "tokens per turn",
         .min = 1});
  s.Add({.path = "rollout.history_length", .type = FieldType::kInt, .default_value = 2,
         .help = "turns of history in the prompt (-1 all)", .min = -1});
  s.Add({.path = "rollout.layout", .type = FieldType::kString, .default_value = "steps",
         .help = "training rows: steps (a prompt per turn with the last k turns, verl-agent) or episode (one "
                 "growing sequence per episode, KV cache carried across turns, loss on the agent's tokens)",
         .choices = {"steps", "episode"}});
  s.Add({.path = "rollout.max_context_tokens", .type = FieldType::kInt, .default_value = 0,
         .help = "episode layout: the longest episode sequence; a turn that would pass it ends the episode as "
                 "truncated (info.truncated_by = context_limit). 0 = the model's max_position_embeddings",
         .min = 0});
  s.Add({.path = "rollout.restate_task", .type = FieldType::kBool, .default_value = false,
         .help = "repeat the task after the admissible actions (match the warm start's prompt.restate_task)"});
  s.Add({.path = "rollout.compact_prompt", .type = FieldType::kBool, .default_value = false,
         .help = "the observation and admissible actions only, no system message (match the warm start's "
                 "prompt.compact)"});
  // The algorithm block. In the public schema (what `--set` and the CLI validate against) these
  // keys have no defaults, so that a method preset can fill the keys the user left out; the
  // defaults are applied after the preset is merged (ResolveTrainConfig).
  auto alg = [&](FieldSpec f) {
    if (!algorithm_defaults && !f.default_value.is_null()) {
      f.help += " (default " + DumpJson(f.default_value) + ")";
      f.default_value = Json();
    }
    s.Add(std::move(f));
  };
  alg({.path = "algorithm.preset", .type = FieldType::kString, .default_value = "",
       .help = "a method preset merged under this config: a name in configs/methods or a .json path"});
  alg({.path = "algorithm.advantage.name", .type = FieldType::kString, .default_value = "grpo",
       .help = "advantage estimator (see docs/methods.md)"});
  alg({.path = "algorithm.advantage.config", .type = FieldType::kOpen, .default_value = Json::object(),
       .help = "the estimator's own keys"});
  alg({.path = "algorithm.invalid_action_penalty", .type = FieldType::kNumber, .default_value = 0.1,
       .help = "subtracted from an invalid turn's score (verl-agent)", .min = 0.0});
  alg({.path = "algorithm.invalid_turn_advantage", .type = FieldType::kString, .default_value = "as_estimated",
       .help = "as_estimated: an invalid turn keeps the estimator's advantage (verl-agent); non_positive: it is "
               "capped at 0, so a winning episode does not reinforce its malformed turns",
       .choices = {"as_estimated", "non_positive"}});
  alg({.path = "algorithm.loss.name", .type = FieldType::kString, .default_value = "ppo",
       .help = "policy loss: ppo (token clip), loop (clip [1/(1+ε), 1+ε]), gspo (sequence ratio), reinforce",
       .choices = {"ppo", "loop", "gspo", "reinforce"}});
  alg({.path = "algorithm.loss.clip_low", .type = FieldType::kNumber, .default_value = 0.2,
       .help = "ε_low (ppo; gspo default 3e-4)", .min = 0.0, .max = 1.0});
  alg({.path = "algorithm.loss.clip_high", .type = FieldType::kNumber, .default_value = 0.2,
       .help = "ε_high (ppo; gspo default 4e-4)", .min = 0.0});
  alg({.path = "algorithm.loss.dual_clip_c", .type = FieldType::kNumber, .default_value = 3.0,
       .help = "ppo: dual-clip cap c for A < 0 (<= 1 off)"});
  alg({.path = "algorithm.loss.epsilon", .type = FieldType::kNumber, .default_value = 0.1,
       .help = "loop: ε of the clip interval [1/(1+ε), 1+ε]", .min = 0.0});
  alg({.path = "algorithm.loss.importance_ratio", .type = FieldType::kBool, .default_value = false,
       .help = "reinforce: −A·ρ (unclipped) instead of −A·log π"});
  {
    std::vector<std::string> choices = AggregationNames();
    alg({.path = "algorithm.loss.aggregation", .type = FieldType::kString, .default_value = "token-mean",
         .help = "loss aggregation (loop: rollout-mean-fixed, gspo: seq-mean-token-mean)", .choices = choices});
  }
  alg({.path = "algorithm.loss.high_kl_threshold", .type = FieldType::kNumber, .default_value = 0.0,
       .help = "skip the optimizer step and end the iteration's update when |mean over the minibatch's "
               "episodes of the summed token log-ratio| exceeds this (LOOP's code: 20; 0 off)",
       .min = 0.0});
  alg({.path = "algorithm.loss.rollouts_per_minibatch", .type = FieldType::kInt, .default_value = 0,
       .help = "rollout-mean-fixed: rollouts per minibatch and the fixed denominator (0: episodes per iteration / "
               "train.minibatches)",
       .min = 0});
  alg({.path = "algorithm.kl.coef", .type = FieldType::kNumber, .default_value = 0.0,
       .help = "KL-to-reference loss weight (0 off; or a kl regularizer)", .min = 0.0});
  alg({.path = "algorithm.kl.estimator", .type = FieldType::kString, .default_value = "k3",
       .help = "k1, k2, k3 (low_var_kl) or k3+", .choices = {"k1", "k2", "k3", "k3+", "low_var_kl"}});
  alg({.path = "algorithm.entropy_coef", .type = FieldType::kNumber, .default_value = 0.0,
       .help = "entropy bonus weight (or an entropy regularizer)", .min = 0.0});
  alg({.path = "algorithm.regularizers", .type = FieldType::kArray, .default_value = Json::array(),
       .help = "terms added to the loss: [{\"name\": \"epo\"|\"llds\"|\"kl\"|\"entropy\", ...options}]"});
  alg({.path = "algorithm.schedule", .type = FieldType::kOpen, .default_value = Json{{"name", "none"}},
       .help = "{\"name\": \"none\"|\"seeupo\"|\"dynamic_sampling\", ...options}"});
  alg({.path = "algorithm.filter_zero_advantage", .type = FieldType::kBool, .default_value = false,
       .help = "drop rows with |A| < zero_advantage_threshold (LOOP)"});
  alg({.path = "algorithm.zero_advantage_threshold", .type = FieldType::kNumber, .default_value = 0.01,
       .help = "LOOP's abs_adv_threshold", .min = 0.0});
  alg({.path = "algorithm.overlong.buffer", .type = FieldType::kInt, .default_value = 0,
       .help = "DAPO overlong shaping: buffer length L_cache in tokens (0 off)", .min = 0});
  alg({.path = "algorithm.overlong.max_length", .type = FieldType::kInt, .default_value = 0,
       .help = "DAPO overlong shaping: L_max per turn (0: rollout.max_new_tokens)", .min = 0});
  alg({.path = "algorithm.overlong.penalty_factor", .type = FieldType::kNumber, .default_value = 1.0,
       .help = "DAPO overlong shaping: penalty at L_max", .min = 0.0});
  s.Add({.path = "optim.lr", .type = FieldType::kNumber, .default_value = 1e-5, .help = "AdamW learning rate",
         .min = 0.0});
  s.Add({.path = "optim.weight_decay", .type = FieldType::kNumber, .default_value = 0.0, .help = "AdamW weight decay",
         .min = 0.0});
  s.Add({.path = "optim.beta1", .type = FieldType::kNumber, .default_value = 0.9, .help = "AdamW β1", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "optim.beta2", .type = FieldType::kNumber, .default_value = 0.999, .help = "AdamW β2", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "optim.eps", .type = FieldType::kNumber, .default_value = 1e-8,
         .help = "AdamW ε, added to the root of the second moment (larger: smaller steps for weights with tiny gradients)",
         .min = 0.0});
  s.Add({.path = "optim.grad_clip", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "max global gradient norm (0 off)", .min = 0.0});
  s.Add({.path = "optim.schedule", .type = FieldType::kString, .default_value = "constant",
         .help = "constant or cosine (after warm-up)", .choices = {"constant", "cosine"}});
  s.Add({.path = "optim.warmup_iters", .type = FieldType::kInt, .default_value = 0, .help = "linear warm-up iterations",
         .min = 0});
  s.Add({.path = "optim.min_lr_ratio", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "cosine floor as a fraction of lr", .min = 0.0, .max = 1.0});
  s.Add({.path = "train.iterations", .type = FieldType::kInt, .default_value = 10, .help = "RL iterations", .min = 0});
  s.Add({.path = "train.ppo_epochs", .type = FieldType::kInt, .default_value = 1, .help = "passes over each batch",
         .min = 1});
  s.Add({.path = "train.minibatches", .type = FieldType::kInt, .default_value = 1,
         .help = "optimizer steps per epoch", .min = 1});
  s.Add({.path = "train.micro_batch_rows", .type = FieldType::kInt, .default_value = 16,
         .help = "rows per forward/backward (gradient accumulation)", .min = 1});
  s.Add({.path = "train.skip_zero_advantage_rows", .type = FieldType::kBool, .default_value = true,
         .help = "do not run rows whose advantage is exactly 0 through the model when no regulariser is on "
                 "(they add nothing to the loss; every denominator still counts them)"});
  s.Add({.path = "eval.every", .type = FieldType::kInt, .default_value = 0,
         .help = "evaluate every N iterations (0: before and after only)", .min = 0});
  s.Add({.path = "eval.episodes", .type = FieldType::kInt, .default_value = 40, .help = "episodes per split", .min = 0});
  s.Add("eval.splits", FieldType::kArray, Json::array({"valid_seen"}), "held-out splits (greedy decoding)");
  s.Add({.path = "eval.max_turns", .type = FieldType::kInt, .default_value = 30, .help = "turn limit in evaluation",
         .min = 1});
  s.Add("eval.before", FieldType::kBool, true, "evaluate the starting model");
  s.Add({.path = "eval.temperature", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "0: greedy decoding; > 0: sampled at this temperature", .min = 0.0});
  s.Add({.path = "checkpoint.every", .type = FieldType::kInt, .default_value = 5,
         .help = "checkpoint every N iterations (and at the end)", .min = 1});
  return s;
}

using Row = TrainingRow;

std::string IterDir(const std::string& run_dir, int64_t it) {
  std::ostringstream s;
  s << run_dir << "/checkpoints/iter_" << std::setw(6) << std::setfill('0') << it;
  return s.str();
}

std::string LatestCheckpoint(const std::string& run_dir) {
  std::string best;
  fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(dir)) return best;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory() || !fs::exists(e.path() / "trainer_state.json")) continue;
    std::string p = e.path().string();
    if (p > best) best = p;
  }
  return best;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw IoError("cannot write '" + path + "'");
}

// Per-token tensors of a set of rows, right-padded to the longest response.
at::Tensor PadFloats(const std::vector<const std::vector<float>*>& rows, int64_t width) {
  at::Tensor t = torch::zeros({static_cast<int64_t>(rows.size()), width}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i]->size() && static_cast<int64_t>(j) < width; ++j) {
      a[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = (*rows[i])[j];
    }
  }
  return t;
}

// Teacher-forced log-probs of the responses of `which` (no grad), chunk by chunk (the
// scorer's chunks: similar lengths, or whole episodes), into old or reference log-probs.
void ScoreRows(TransformerLMImpl& model, std::vector<Row>& rows, std::vector<size_t> which, int64_t micro,
               bool reference, const RowScorer& scorer) {
  torch::NoGradGuard no_grad;
  for (const std::vector<size_t>& chunk : scorer.Chunks(rows, std::move(which), static_cast<size_t>(micro))) {
    TokenScores s = scorer.Score(model, rows, chunk);
    at::Tensor lp = s.logprobs.to(torch::kFloat32).contiguous();
    auto a = lp.accessor<float, 2>();
    for (size_t k = 0; k < chunk.size(); ++k) {
      Row& row = rows[chunk[k]];
      std::vector<float>& out = reference ? row.ref_logprobs : row.old_logprobs;
      out.resize(row.response.size());
      for (size_t j = 0; j < out.size(); ++j) out[j] = a[static_cast<int64_t>(k)][static_cast<int64_t>(j)];
    }
  }
}

// The update settings fixed for a run.
struct UpdateSetup {
  std::string loss;  // ppo | loop | gspo | reinforce
  LossAggregation aggregation = LossAggregation::kTokenMean;
  PpoClipOptions clip;
  GspoOptions gspo;
  double loop_epsilon = 0.1;
  bool importance_ratio = false;
  double rollouts_per_minibatch = 0;  // rollout-mean-fixed: chunk size and denominator
  bool whole_trajectories = false;    // batch by episode, not by row
  bool needs_reference = false;
  int64_t epochs = 1;
  int64_t minibatches = 1;
  size_t micro = 16;
  double max_grad_norm = 0;
  // Scores rows in the run's layout at the rollout's sampling temperature: every log-prob and
  // entropy of the update is of softmax(logits / temperature), the distribution the rollouts
  // sampled from (verl's actor does the same); 1 for greedy or untempered rollouts.
  const RowScorer* scorer = nullptr;
  // Rows whose advantage is exactly 0 add nothing to a policy-gradient loss (every loss here
  // multiplies by the advantage) when no regulariser is on: they stay in the minibatch layout,
  // so every denominator is unchanged, but are never run through the model. Not with
  // seq-mean-token-sum-norm, whose micro-batch share counts rows.
  bool skip_zero_advantage = false;
  // LOOP's guard: when |mean_k Σ_t log ρ_{k,t}| over the minibatch's episodes exceeds it, the
  // step is skipped and the iteration's update ends (0: off).
  double high_kl_threshold = 0.0;
};

struct UpdateTotals {
  double loss = 0, clip = 0, approx_kl = 0, grad_norm = 0;
  int64_t steps = 0, micro_batches = 0, skipped_rows = 0;
  bool high_kl_stop = false;           // the update ended early (UpdateSetup::high_kl_threshold)
  double trajectory_log_ratio = 0.0;   // mean over episodes of Σ_t log ρ, last minibatch checked
  std::map<std::string, double> terms;  // "<term>/<metric>": summed over minibatches
};

PolicyLoss ComputePolicyLoss(const UpdateSetup& u, const TokenScores& s, const at::Tensor& old,
                             const at::Tensor& adv) {
  if (u.loss == "loop") return LoopClipLoss(s.logprobs, old, adv, s.mask, u.loop_epsilon, u.aggregation);
  if (u.loss == "gspo") return GspoLoss(s.logprobs, old, adv, s.mask, u.gspo);
  if (u.loss == "reinforce") return ReinforceLoss(s.logprobs, old, adv, s.mask, u.importance_ratio, u.aggregation);
  return PpoClipLoss(s.logprobs, old, adv, s.mask, u.clip, u.aggregation);
}

// The warm start must train on the prompts the RL rollouts will show: its prompt keys against
// the rollout's (history only matters in the steps layout). Nothing converts between them, and a
// model trained on one prompt shape and run on another starts RL far below its SFT level.
void CheckWarmStartPrompt(const Json& warm_start, const Json& c) {
  Json sft;
  try {
    sft = SftConfigSchema().Validate(warm_start);
  } catch (const ConfigError& e) {
    throw e.Under("warm_start");
  }
  const Json& prompt = sft["prompt"];
  const Json& rollout = c["rollout"];
  auto differ = [&](const std::string& sft_key, const std::string& rollout_key) {
    if (prompt[sft_key] == rollout[rollout_key]) return;
    throw ConfigError("warm_start.prompt." + sft_key, "is " + prompt[sft_key].dump() + " but rollout." + rollout_key +
                                                          " is " + rollout[rollout_key].dump() +
                                                          ": the RL run must show the prompts the warm start trains on");
  };
  differ("layout", "layout");
  differ("compact", "compact_prompt");
  differ("restate_task", "restate_task");
  if (rollout["layout"] == "steps") differ("history_length", "history_length");
}

// How far the learner's log-probs of the sampled tokens (old_logprobs, scored before the first
// optimizer step) are from the ones the rollout sampled with: the same model and context give
// the same numbers up to float error, so a gap well above ~1e-4 means the learner is not scoring
// what was generated (verl logs the same check as rollout_probs_diff).
void AddSamplingGap(const std::vector<Row>& rows, std::vector<std::pair<std::string, double>>& m) {
  double sum = 0, largest = 0;
  int64_t n = 0;
  for (const Row& row : rows) {
    if (row.old_logprobs.size() != row.sampled_logprobs.size()) continue;
    for (size_t j = 0; j < row.old_logprobs.size(); ++j) {
      double gap = std::abs(static_cast<double>(row.old_logprobs[j]) - row.sampled_logprobs[j]);
      sum += gap;
      largest = std::max(largest, gap);
      ++n;
    }
  }
  if (n == 0) return;
  m.emplace_back("rollout/logprob_gap_mean", sum / static_cast<double>(n));
  m.emplace_back("rollout/logprob_gap_max", largest);
}

// `epochs` passes over the `active` rows, each split into minibatches (one optimizer step each)
// accumulated over micro-batches. `advantage[i]` is row i's advantage for this phase.
// Batching units are rows, or whole episodes when a term needs them; every random choice
// derives from (shuffle_seed, phase, epoch).
//
// Old log-probs: a row whose old_logprobs are still empty is met before the iteration's first
// optimizer step, i.e. with the parameters that generated it, so its old log-probs are its
// current ones, detached (the ratio is exactly 1, as it should be); `before_step` runs before
// every optimizer step and scores whatever rows are still missing. With one minibatch and one
// epoch nothing is scored twice.
void UpdatePhase(TransformerLMImpl& model, torch::optim::Optimizer& optimizer, const UpdateSetup& u,
                 std::vector<Row>& rows, const std::vector<size_t>& active, const std::vector<double>& advantage,
                 const std::vector<std::unique_ptr<Regularizer>>& terms, uint64_t shuffle_seed, uint64_t phase,
                 UpdateTotals& totals, const std::function<void()>& before_step) {
  std::vector<std::vector<size_t>> units;
  if (u.whole_trajectories) {
    std::map<int64_t, size_t> index;
    for (size_t r : active) {
      auto [it, fresh] = index.try_emplace(rows[r].trajectory, units.size());
      if (fresh) units.emplace_back();
      units[it->second].push_back(r);
    }
  } else {
    for (size_t r : active) units.push_back({r});
  }
  if (units.empty() || totals.high_kl_stop) return;
  for (int64_t epoch = 0; epoch < u.epochs; ++epoch) {
    std::vector<size_t> order(units.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    Rng shuffle(shuffle_seed, static_cast<uint64_t>(epoch) + (phase << 32));
    shuffle.Shuffle(order);
    size_t per_mini = u.rollouts_per_minibatch > 0
                          ? static_cast<size_t>(u.rollouts_per_minibatch)
                          : (order.size() + static_cast<size_t>(u.minibatches) - 1) / static_cast<size_t>(u.minibatches);
    for (size_t m0 = 0; m0 < order.size(); m0 += per_mini) {
      size_t m1 = std::min(order.size(), m0 + per_mini);
      // The minibatch's rows, its layout and its micro-batches (positions in mini_rows).
      std::vector<size_t> mini_rows;
      std::vector<std::vector<size_t>> micros;
      std::vector<size_t> current;
      // Units of similar length share a micro-batch (less padding); the loss does not depend
      // on how a minibatch is cut into micro-batches.
      std::vector<size_t> mini_order(order.begin() + static_cast<std::ptrdiff_t>(m0),
                                     order.begin() + static_cast<std::ptrdiff_t>(m1));
      auto unit_length = [&](size_t unit) {
        size_t longest = 0;
        for (size_t r : units[unit]) longest = std::max<size_t>(longest, u.scorer->ContextLength(rows[r]));
        return longest;
      };
      std::stable_sort(mini_order.begin(), mini_order.end(),
                       [&](size_t a, size_t b) { return unit_length(a) < unit_length(b); });
      for (size_t k : mini_order) {
        const std::vector<size_t>& unit = units[k];
        if (!current.empty() && current.size() + unit.size() > u.micro) {
          micros.push_back(std::move(current));
          current.clear();
        }
        for (size_t r : unit) {
          if (!(u.skip_zero_advantage && advantage[r] == 0.0)) current.push_back(mini_rows.size());
          else ++totals.skipped_rows;
          mini_rows.push_back(r);
        }
      }
      if (!current.empty()) micros.push_back(std::move(current));
      // A unit may have left `current` empty and pushed an empty micro-batch above.
      micros.erase(std::remove_if(micros.begin(), micros.end(), [](const auto& m) { return m.empty(); }),
                   micros.end());
      std::vector<MinibatchRow> layout_rows;
      for (size_t r : mini_rows) {
        layout_rows.push_back({.trajectory = rows[r].trajectory,
                               .turn = rows[r].turn,
                               .tokens = static_cast<int64_t>(rows[r].response.size()),
                               .advantage = advantage[r],
                               .last_turn = rows[r].last_turn});
      }
      const MinibatchLayout layout(std::move(layout_rows), u.rollouts_per_minibatch);

      optimizer.zero_grad();
      double mini_loss = 0;
      std::map<std::string, double> mini_terms;
      std::map<int64_t, double> log_ratio_sum;  // per episode, Σ over its tokens here of log ρ
      for (const std::vector<size_t>& members : micros) {
        std::vector<size_t> member_rows;
        std::vector<const std::vector<float>*> olds, refs;
        std::vector<float> adv;
        for (size_t p : members) {
          const Row& row = rows[mini_rows[p]];
          member_rows.push_back(mini_rows[p]);
          olds.push_back(&row.old_logprobs);
          refs.push_back(&row.ref_logprobs);
          adv.push_back(static_cast<float>(advantage[mini_rows[p]]));
        }
        TokenScores s = u.scorer->Score(model, rows, member_rows);
        int64_t width = s.logprobs.size(1);
        const bool track_kl = u.high_kl_threshold > 0;
        {
          at::Tensor now;
          for (size_t k = 0; k < members.size(); ++k) {
            Row& row = rows[mini_rows[members[k]]];
            if (!row.old_logprobs.empty() || row.response.empty()) continue;
            if (totals.steps > 0) throw FailedPrecondition("a row without old log-probs after an optimizer step");
            if (!now.defined()) now = s.logprobs.detach().to(torch::kFloat32).contiguous();
            auto a = now.accessor<float, 2>();
            row.old_logprobs.resize(row.response.size());
            for (size_t j = 0; j < row.response.size(); ++j) {
              row.old_logprobs[j] = a[static_cast<int64_t>(k)][static_cast<int64_t>(j)];
            }
          }
        }
        at::Tensor old = PadFloats(olds, width);
        if (track_kl) {
          at::Tensor sums = ((s.logprobs.detach() - old) * s.mask).sum(1).to(torch::kFloat64).contiguous();
          for (size_t k = 0; k < members.size(); ++k) {
            log_ratio_sum[rows[mini_rows[members[k]]].trajectory] += sums[static_cast<int64_t>(k)].item<double>();
          }
        }
        PolicyLoss pl = ComputePolicyLoss(u, s, old, torch::tensor(adv, torch::kFloat32));
        at::Tensor loss = AggregateShare(pl.per_token, s.mask, u.aggregation, layout, members);
        if (!terms.empty()) {
          RegularizerBatch b;
          b.logprobs = s.logprobs;
          b.old_logprobs = old;
          if (u.needs_reference) b.ref_logprobs = PadFloats(refs, width);
          b.entropies = s.entropies;
          b.mask = s.mask;
          b.layout = &layout;
          b.members = members;
          b.policy_aggregation = u.aggregation;
          for (const auto& term : terms) {
            RegularizerTerm t = term->Compute(b);
            loss = loss + t.loss;
            for (const auto& [k, v] : t.metrics) mini_terms[term->Name() + "/" + k] += v;
          }
        }
        loss.backward();
        mini_loss += loss.item<double>();
        totals.clip += pl.clip_fraction;
        totals.approx_kl += pl.approx_kl;
        ++totals.micro_batches;
      }
      if (u.high_kl_threshold > 0 && !log_ratio_sum.empty()) {
        double mean = 0;
        for (const auto& [trajectory, sum] : log_ratio_sum) mean += sum;
        mean /= static_cast<double>(log_ratio_sum.size());
        totals.trajectory_log_ratio = mean;
        if (std::abs(mean) > u.high_kl_threshold) {
          optimizer.zero_grad();
          totals.high_kl_stop = true;
          return;
        }
      }
      double norm = torch::nn::utils::clip_grad_norm_(
          model.parameters(), u.max_grad_norm > 0 ? u.max_grad_norm : std::numeric_limits<double>::infinity());
      before_step();
      optimizer.step();
      totals.grad_norm += norm;
      totals.loss += mini_loss;
      for (const auto& [k, v] : mini_terms) totals.terms[k] += v;
      ++totals.steps;
    }
  }
}

// Mean token log-ratio log π_now − log π_old of each of `which` (no grad): SeeUPO's sequence
// ratio of a turn just updated.
std::vector<double> MeanLogRatios(TransformerLMImpl& model, const std::vector<Row>& rows,
                                  const std::vector<size_t>& which, size_t micro, const RowScorer& scorer) {
  torch::NoGradGuard no_grad;
  std::map<size_t, double> by_row;
  for (const std::vector<size_t>& chunk : scorer.Chunks(rows, which, micro)) {
    std::vector<const std::vector<float>*> olds;
    for (size_t r : chunk) olds.push_back(&rows[r].old_logprobs);
    TokenScores s = scorer.Score(model, rows, chunk);
    at::Tensor old = PadFloats(olds, s.logprobs.size(1));
    at::Tensor mean = (((s.logprobs - old) * s.mask).sum(1) / s.mask.sum(1).clamp_min(1.0)).to(torch::kFloat64);
    for (size_t k = 0; k < chunk.size(); ++k) by_row[chunk[k]] = mean[static_cast<int64_t>(k)].item<double>();
  }
  std::vector<double> out;
  for (size_t r : which) out.push_back(by_row.at(r));
  return out;
}

double LearningRate(const Json& c, int64_t it) {
  double lr = c["optim"]["lr"].get<double>();
  int64_t warm = c["optim"]["warmup_iters"].get<int64_t>();
  int64_t total = c["train"]["iterations"].get<int64_t>();
  if (warm > 0 && it <= warm) return lr * static_cast<double>(it) / static_cast<double>(warm);
  if (c["optim"]["schedule"] == "cosine" && total > warm) {
    double progress = static_cast<double>(it - warm) / static_cast<double>(std::max<int64_t>(1, total - warm));
    double floor = c["optim"]["min_lr_ratio"].get<double>();
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
  }
  return lr;
}

// The episode layout's context limit must hold the first turn: its prompt and the response.
void CheckFirstPromptFits(const Json& c, LmPolicy& policy) {
  std::unique_ptr<Env> env = EnvRegistry::Make(c["env"]["name"], c["env"]["config"]);
  StepResult first = env->Reset({.seed = 0, .split = c["env"]["train_split"]});
  PolicyInput input;
  input.env_name = c["env"]["name"];
  input.task = ExtractTask(first.observation.text);
  input.step = &first;
  const int64_t needed = static_cast<int64_t>(BuildPromptTokens(policy.tokenizer(), input, policy.prompt_options()).size()) +
                         policy.options().max_new_tokens;
  const int64_t limit = policy.options().max_context_tokens > 0 ? policy.options().max_context_tokens
                                                                : policy.model().config().max_position_embeddings;
  if (needed > limit) {
    throw ConfigError("rollout.max_context_tokens",
                      "is " + std::to_string(limit) + " but the first turn alone needs " + std::to_string(needed) +
                          " tokens (its prompt and rollout.max_new_tokens)");
  }
}

Json EvalSplits(LmPolicy& policy, const Json& c, uint64_t seed, StoreWriter& writer, int64_t run_id, int64_t it,
                std::vector<std::pair<std::string, double>>* metrics) {
  Json out = Json::object();
  int64_t episodes = c["eval"]["episodes"].get<int64_t>();
  if (episodes == 0) return out;
  LmPolicyOptions sampling = policy.options();
  LmPolicyOptions greedy = sampling;
  greedy.temperature = c["eval"]["temperature"].get<double>();
  policy.set_options(greedy);
  for (const auto& split_json : c["eval"]["splits"]) {
    std::string split = split_json.get<std::string>();
    EvalResult r = EvaluatePolicy(policy, c["env"]["name"], c["env"]["config"], split, episodes,
                                  c["eval"]["max_turns"].get<int64_t>(), c["rollout"]["max_active"].get<int64_t>(),
                                  seed, [&](EpisodeRecord&& e) {
                                    e.run_id = run_id;
                                    e.iteration = it;
                                    e.group_id = "eval-" + split + "-" + std::to_string(it);
                                    e.info["eval"] = true;
                                    writer.AppendEpisode(std::move(e));
                                  });
    out[split] = r.ToJson();
    metrics->emplace_back("eval/" + split + "/success", r.success_rate);
    metrics->emplace_back("eval/" + split + "/return", r.mean_return);
    metrics->emplace_back("eval/" + split + "/length", r.mean_length);
    metrics->emplace_back("eval/" + split + "/invalid_rate", r.invalid_action_rate);
    for (const auto& [type, t] : r.by_task_type) {
      metrics->emplace_back("eval/" + split + "/success/" + type, t.success_rate());
    }
  }
  policy.set_options(sampling);
  return out;
}

const ConfigSchema& FullSchema() {
  static const ConfigSchema schema = BuildSchema(/*algorithm_defaults=*/true);
  return schema;
}

// ---- method presets and the algorithm block ----

ConfigSchema ScheduleSchema(const std::string& name) {
  ConfigSchema s;
  s.Add({.path = "name", .type = FieldType::kString, .default_value = "none", .help = "the schedule",
         .choices = {"none", "seeupo", "dynamic_sampling"}});
  if (name == "seeupo") {
    s.Add({.path = "clip_low", .type = FieldType::kNumber, .default_value = 0.2,
           .help = "ratio correction clip 1 - lo (adv_clip_ratio_low)", .min = 0.0, .max = 0.999});
    s.Add({.path = "clip_high", .type = FieldType::kNumber, .default_value = 0.2,
           .help = "ratio correction clip 1 + hi (adv_clip_ratio_high)", .min = 0.0});
  } else if (name == "dynamic_sampling") {
    s.Add({.path = "max_attempts", .type = FieldType::kInt, .default_value = 10,
           .help = "rollout rounds per iteration at most (max_num_gen_batches)", .min = 1});
    s.Add({.path = "metric", .type = FieldType::kString, .default_value = "return",
           .help = "a group is informative when this differs among its episodes", .choices = {"return", "success"}});
    s.Add({.path = "groups_per_attempt", .type = FieldType::kInt, .default_value = 0,
           .help = "tasks played per round (0: rollout.groups)", .min = 0});
  }
  return s;
}

// The preset's algorithm block (training/advantages/method_preset.h), validated. The last
// place searched is the configs/methods of the source tree this binary was built from
// (training/CMakeLists.txt defines it), so a name resolves wherever the trainer runs.
Json LoadPreset(const std::string& preset) {
  MethodPresetSearch search{.dirs = DefaultMethodPresetDirs()};
#ifdef TURNWISE_METHODS_SOURCE_DIR
  search.dirs.push_back(TURNWISE_METHODS_SOURCE_DIR);
#endif
  LoadedMethodPreset loaded = LoadMethodPreset(preset, search);
  try {
    TrainConfigSchema().Validate(Json{{"algorithm", loaded.algorithm}});
  } catch (const ConfigError& e) {
    throw ConfigError(e.key_path(), "in preset '" + loaded.source + "': " + e.detail());
  }
  return loaded.algorithm;
}

// The estimators whose advantage SeeUPO's ratio correction may scale: group-relative outcome
// (or GiGPO turn-level) advantages, the GRAE family of the paper.
bool SeeUpoCompatible(const std::string& estimator) {
  for (const char* n : {"seeupo", "grpo", "dr_grpo", "rloo", "loop", "gigpo", "empg"}) {
    if (estimator == n) return true;
  }
  return false;
}

std::vector<std::unique_ptr<Regularizer>> BuildRegularizers(const Json& c) {
  const Json& a = c["algorithm"];
  RegularizerContext ctx;
  ctx.total_steps = std::max<int64_t>(1, c["train"]["iterations"].get<int64_t>());
  ctx.max_turns = c["rollout"]["max_turns"].get<int>();
  std::vector<std::unique_ptr<Regularizer>> out;
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < a["regularizers"].size(); ++i) {
    const std::string where = "algorithm.regularizers[" + std::to_string(i) + "]";
    std::unique_ptr<Regularizer> r;
    try {
      r = MakeRegularizer(a["regularizers"][i], ctx);
    } catch (const ConfigError& e) {
      throw e.Under(where);
    }
    if (auto it = seen.find(r->Name()); it != seen.end()) {
      throw ConfigError(where + ".name", "'" + r->Name() + "' is already algorithm.regularizers[" +
                                             std::to_string(it->second) + "]; give each term once");
    }
    seen[r->Name()] = i;
    out.push_back(std::move(r));
  }
  const double kl_coef = a["kl"]["coef"].get<double>();
  if (kl_coef > 0) {
    if (seen.count("kl")) {
      throw ConfigError("algorithm.kl.coef", "the KL term is also algorithm.regularizers[" +
                                                 std::to_string(seen["kl"]) + "]; give it once");
    }
    out.push_back(std::make_unique<KlRegularizer>(kl_coef, ParseKlEstimator(a["kl"]["estimator"]), TermAggregation{}));
  }
  const double entropy_coef = a["entropy_coef"].get<double>();
  if (entropy_coef > 0) {
    if (seen.count("entropy")) {
      throw ConfigError("algorithm.entropy_coef", "the entropy bonus is also algorithm.regularizers[" +
                                                      std::to_string(seen["entropy"]) + "]; give it once");
    }
    out.push_back(std::make_unique<EntropyBonus>(entropy_coef, TermAggregation{}));
  }
  return out;
}

// Combinations that cannot mean what the user wants. `given` holds the keys the user or the
// preset wrote (empty on resume, where the stored config is complete and already checked).
void CheckAlgorithm(const Json& c, const Json& given) {
  const Json& a = c["algorithm"];
  auto is_given = [&](const char* path) { return FindPath(given, path) != nullptr; };
  const std::string loss = a["loss"]["name"];
  const std::string aggregation = a["loss"]["aggregation"];
  if (loss == "gspo" && aggregation != "seq-mean-token-mean") {
    throw ConfigError("algorithm.loss.aggregation",
                      "is '" + aggregation + "' but GSPO has one ratio per sequence; its loss is a mean over "
                      "sequences (seq-mean-token-mean, which verl forces)");
  }
  struct OnlyFor {
    const char* key;
    std::vector<std::string> losses;
    const char* why;
  };
  const std::vector<OnlyFor> only = {
      {"loss.clip_low", {"ppo", "gspo"}, "LOOP clips to [1/(1+ε), 1+ε] (set algorithm.loss.epsilon); REINFORCE does not clip"},
      {"loss.clip_high", {"ppo", "gspo"}, "LOOP clips to [1/(1+ε), 1+ε] (set algorithm.loss.epsilon); REINFORCE does not clip"},
      {"loss.dual_clip_c", {"ppo"}, "the dual clip belongs to the token PPO loss"},
      {"loss.epsilon", {"loop"}, "ε of the interval [1/(1+ε), 1+ε] belongs to the LOOP loss"},
      {"loss.importance_ratio", {"reinforce"}, "it selects the REINFORCE form"},
  };
  for (const auto& o : only) {
    if (is_given(o.key) && std::find(o.losses.begin(), o.losses.end(), loss) == o.losses.end()) {
      throw ConfigError(std::string("algorithm.") + o.key, "does not apply to algorithm.loss.name '" + loss + "': " + o.why);
    }
  }
  if (is_given("loss.rollouts_per_minibatch") && aggregation != "rollout-mean-fixed") {
    throw ConfigError("algorithm.loss.rollouts_per_minibatch",
                      "only applies to the rollout-mean-fixed aggregation (LOOP), not '" + aggregation + "'");
  }
  if (is_given("zero_advantage_threshold") && !a["filter_zero_advantage"].get<bool>()) {
    throw ConfigError("algorithm.zero_advantage_threshold", "has no effect without algorithm.filter_zero_advantage: true");
  }
  if ((is_given("overlong.max_length") || is_given("overlong.penalty_factor")) && a["overlong"]["buffer"] == 0) {
    throw ConfigError("algorithm.overlong.buffer", "is 0 (shaping off) but other algorithm.overlong keys are set");
  }
  const int64_t max_length = a["overlong"]["max_length"].get<int64_t>() > 0
                                 ? a["overlong"]["max_length"].get<int64_t>()
                                 : c["rollout"]["max_new_tokens"].get<int64_t>();
  if (a["overlong"]["buffer"].get<int64_t>() > max_length) {
    throw ConfigError("algorithm.overlong.buffer", "is longer than the maximum length " + std::to_string(max_length) +
                                                       " (algorithm.overlong.max_length or rollout.max_new_tokens)");
  }
  const std::string estimator = a["advantage"]["name"];
  const std::string schedule = a["schedule"]["name"];
  if (schedule == "seeupo" && !SeeUpoCompatible(estimator)) {
    throw ConfigError("algorithm.schedule.name",
                      "seeupo scales each turn's advantage by the ratios of the turns updated after it, which needs "
                      "a group-relative outcome or turn-level advantage (seeupo, grpo, dr_grpo, rloo, loop, gigpo, "
                      "empg); algorithm.advantage.name is '" + estimator + "'");
  }
  if (estimator == "seeupo" && schedule != "seeupo") {
    throw ConfigError("algorithm.advantage.name",
                      "the seeupo advantage is the first-updated turn's advantage of SeeUPO's sequential schedule; "
                      "set algorithm.schedule.name to seeupo (dr_grpo gives group-centred advantages updated at once)");
  }
  if (schedule == "dynamic_sampling" && estimator == "gae") {
    throw ConfigError("algorithm.schedule.name",
                      "dynamic_sampling drops groups without group-relative signal; 'gae' is not group-relative");
  }
  BuildRegularizers(c);
}

}  // namespace

namespace {

Json Resolve(const Json& raw, bool check_given) {
  Json user = TrainConfigSchema().Validate(raw);
  Json alg = user.contains("algorithm") ? user["algorithm"] : Json::object();
  const std::string preset = alg.value("preset", std::string());
  if (!preset.empty()) {
    alg = MergeMethodBlock(LoadPreset(preset), alg);
    alg["preset"] = preset;
  }
  const Json given = alg;
  // Defaults that depend on the loss.
  Json& loss = alg["loss"];
  if (!loss.is_object()) loss = Json::object();
  const std::string name = loss.value("name", std::string("ppo"));
  if (!loss.contains("aggregation")) {
    if (name == "loop") loss["aggregation"] = "rollout-mean-fixed";
    if (name == "gspo") loss["aggregation"] = "seq-mean-token-mean";
  }
  if (name == "gspo") {
    if (!loss.contains("clip_low")) loss["clip_low"] = GspoOptions{}.clip_low;
    if (!loss.contains("clip_high")) loss["clip_high"] = GspoOptions{}.clip_high;
  }
  user["algorithm"] = alg;
  Json c = FullSchema().Validate(user);
  Json& schedule = c["algorithm"]["schedule"];
  if (!schedule.contains("name")) schedule["name"] = "none";
  try {
    if (!schedule["name"].is_string()) throw ConfigError("name", "expected a string");
    schedule = ScheduleSchema(schedule["name"]).Validate(schedule);
  } catch (const ConfigError& e) {
    throw e.Under("algorithm.schedule");
  }
  CheckAlgorithm(c, check_given ? given : Json::object());
  return c;
}

}  // namespace

Json ResolveTrainConfig(const Json& raw) { return Resolve(raw, /*check_given=*/true); }

const ConfigSchema& TrainConfigSchema() {
  static const ConfigSchema schema = BuildSchema(/*algorithm_defaults=*/false);
  return schema;
}

namespace {

// algorithm.invalid_turn_advantage "non_positive": an invalid turn's advantage is capped at 0.
// In a group with one success every turn of the winning episode gets a large positive advantage;
// a malformed turn among them holds low-probability tokens, whose gradient is the largest of all,
// and larger steps then break the response format before the task is learnt. The capped value is
// recorded in the row's parts ("invalid_turn_capped_from") so the UI shows why it changed.
void CapInvalidTurnAdvantages(const std::vector<bool>& invalid, std::vector<RowAdvantage>& advantages) {
  for (size_t i = 0; i < invalid.size() && i < advantages.size(); ++i) {
    if (!invalid[i] || advantages[i].advantage <= 0.0) continue;
    advantages[i].Set("invalid_turn_capped_from", advantages[i].advantage);
    advantages[i].advantage = 0.0;
  }
}

}  // namespace

TrainResult Train(const Json& raw, const TrainOptions& options, std::ostream& log) {
  // ---- configuration and run directory ----
  Json c;
  std::string run_dir;
  std::string resume_from;
  if (!options.resume_dir.empty()) {
    run_dir = options.resume_dir;
    std::string config_path = run_dir + "/config.json";
    if (!fs::exists(config_path)) throw NotFound("--resume " + run_dir + ": no config.json (not a run directory)");
    c = Resolve(ReadJsonFile(config_path), /*check_given=*/false);
    resume_from = LatestCheckpoint(run_dir);
    if (resume_from.empty()) throw NotFound("--resume " + run_dir + ": no checkpoint to resume from");
  } else {
    c = ResolveTrainConfig(raw);
    bool warm = c.contains("warm_start") && c["warm_start"].is_object();
    if (c["model"]["checkpoint"].get<std::string>().empty() && !warm) {
      throw ConfigError("model.checkpoint",
                        "is required: an HF-layout model folder (turnwise sft or model init), or give warm_start");
    }
    run_dir = c["output"]["dir"].get<std::string>() + "/" + c["name"].get<std::string>();
    if (!LatestCheckpoint(run_dir).empty()) {
      throw FailedPrecondition("run directory " + run_dir + " already has checkpoints; use --resume " + run_dir +
                               " or another name");
    }
  }
  const int64_t groups = c["rollout"]["groups"].get<int64_t>();
  const int64_t group_size = c["rollout"]["group_size"].get<int64_t>();
  const int64_t iterations = c["train"]["iterations"].get<int64_t>();
  const int64_t micro = c["train"]["micro_batch_rows"].get<int64_t>();
  const int64_t minibatches = c["train"]["minibatches"].get<int64_t>();
  const uint64_t seed = c["seed"].get<uint64_t>();
  if (groups * group_size < minibatches) {
    throw ConfigError("train.minibatches", "is " + std::to_string(minibatches) + " but an iteration plays only " +
                                               std::to_string(groups * group_size) +
                                               " episodes (rollout.groups × rollout.group_size): a minibatch would be empty");
  }
  auto estimator = [&] {
    try {
      return MakeAdvantageEstimator(c["algorithm"]["advantage"]["name"], c["algorithm"]["advantage"]["config"]);
    } catch (const ConfigError& e) {
      throw e.Under(e.key_path().empty() ? "algorithm.advantage.name" : "algorithm.advantage.config");
    }
  }();
  const Json& algo = c["algorithm"];
  std::vector<std::unique_ptr<Regularizer>> terms = BuildRegularizers(c);
  UpdateSetup update;
  update.loss = algo["loss"]["name"];
  update.aggregation = ParseAggregation(algo["loss"]["aggregation"]);
  update.clip = {algo["loss"]["clip_low"].get<double>(), algo["loss"]["clip_high"].get<double>(),
                 algo["loss"]["dual_clip_c"].get<double>()};
  update.gspo = {algo["loss"]["clip_low"].get<double>(), algo["loss"]["clip_high"].get<double>()};
  update.loop_epsilon = algo["loss"]["epsilon"].get<double>();
  update.importance_ratio = algo["loss"]["importance_ratio"].get<bool>();
  update.high_kl_threshold = algo["loss"]["high_kl_threshold"].get<double>();
  if (update.aggregation == LossAggregation::kRolloutMeanFixed) {
    int64_t given = algo["loss"]["rollouts_per_minibatch"].get<int64_t>();
    update.rollouts_per_minibatch = static_cast<double>(
        given > 0 ? given : (groups * group_size + minibatches - 1) / minibatches);
    update.whole_trajectories = true;
  }
  for (const auto& t : terms) {
    update.needs_reference = update.needs_reference || t->NeedsReference();
    update.whole_trajectories = update.whole_trajectories || t->NeedsWholeTrajectories();
  }
  update.epochs = c["train"]["ppo_epochs"].get<int64_t>();
  update.minibatches = minibatches;
  update.micro = static_cast<size_t>(micro);
  update.max_grad_norm = c["optim"]["grad_clip"].get<double>();
  // The episode layout scores whole episodes: they are the batching units.
  const bool episode_layout = c["rollout"]["layout"] == "episode";
  if (episode_layout) update.whole_trajectories = true;
  std::vector<EpisodeTokens> episode_tokens;  // the iteration's episodes, by trajectory (episode layout)
  const double rollout_temperature = c["rollout"]["temperature"].get<double>();
  const RowScorer scorer(episode_layout, &episode_tokens, rollout_temperature > 0 ? rollout_temperature : 1.0);
  update.scorer = &scorer;
  const std::string schedule = algo["schedule"]["name"];
  update.skip_zero_advantage = c["train"]["skip_zero_advantage_rows"].get<bool>() && terms.empty() &&
                               update.aggregation != LossAggregation::kSeqMeanTokenSumNorm;
  const bool filter_zero = algo["filter_zero_advantage"].get<bool>();
  const double zero_threshold = algo["zero_advantage_threshold"].get<double>();
  const int64_t overlong_buffer = algo["overlong"]["buffer"].get<int64_t>();
  const int64_t overlong_max = algo["overlong"]["max_length"].get<int64_t>() > 0
                                   ? algo["overlong"]["max_length"].get<int64_t>()
                                   : c["rollout"]["max_new_tokens"].get<int64_t>();
  const double overlong_factor = algo["overlong"]["penalty_factor"].get<double>();
  if (!EnvRegistry::Has(c["env"]["name"])) {
    try {
      EnvRegistry::Make(c["env"]["name"]);
    } catch (const NotFound& e) {
      throw ConfigError("env.name", e.what());
    }
  }
  at::set_num_threads(c["model"]["threads"].get<int>());
  if (c["model"]["checkpoint"].get<std::string>().empty()) {
    // Warm start: supervised fine-tuning on expert demonstrations first (its own config).
    Json sft = c["warm_start"];
    sft["out_dir"] = run_dir + "/sft";
    CheckWarmStartPrompt(sft, c);
    if (!options.quiet) log << "turnwise train: warm start — SFT into " << run_dir << "/sft" << std::endl;
    SftResult warm;
    try {
      warm = RunSft(sft, log);
    } catch (const ConfigError& e) {
      throw e.Under("warm_start");
    }
    c["model"]["checkpoint"] = warm.final_checkpoint;
  }

  // ---- model, tokenizer, optimizer ----
  std::string start = resume_from.empty() ? c["model"]["checkpoint"].get<std::string>() : resume_from;
  TransformerLM model = LoadPretrained(start);
  auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::FromFile(start + "/tokenizer.json"));
  TransformerLM reference{nullptr};
  if (update.needs_reference) {
    reference = LoadPretrained(c["model"]["checkpoint"].get<std::string>());
    reference->eval();
    for (auto& p : reference->parameters()) p.set_requires_grad(false);
  }
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(c["optim"]["lr"].get<double>())
                                    .betas({c["optim"]["beta1"].get<double>(), c["optim"]["beta2"].get<double>()})
                                    .weight_decay(c["optim"]["weight_decay"].get<double>())
                                    .eps(c["optim"]["eps"].get<double>()));
  int64_t start_iter = 0;
  int64_t run_id = 0;
  if (!resume_from.empty()) {
    Json state = ReadJsonFile(resume_from + "/trainer_state.json");
    start_iter = state["iteration"].get<int64_t>();
    run_id = state["run_id"].get<int64_t>();
    torch::load(optimizer, resume_from + "/optimizer.pt");
    const Json saved = state.value("regularizers", Json::array());
    for (size_t i = 0; i < terms.size() && i < saved.size(); ++i) terms[i]->LoadState(saved[i]);
  }

  LmPolicyOptions lm;
  lm.temperature = c["rollout"]["temperature"].get<double>();
  lm.top_p = c["rollout"]["top_p"].get<double>();
  lm.top_k = c["rollout"]["top_k"].get<int64_t>();
  lm.max_new_tokens = c["rollout"]["max_new_tokens"].get<int64_t>();
  lm.history_length = c["rollout"]["history_length"].get<int>();
  lm.restate_task = c["rollout"]["restate_task"].get<bool>();
  lm.compact_prompt = c["rollout"]["compact_prompt"].get<bool>();
  lm.threads = c["model"]["threads"].get<int>();
  lm.seed = seed;
  lm.layout = c["rollout"]["layout"];
  lm.max_context_tokens = c["rollout"]["max_context_tokens"].get<int64_t>();
  if (lm.max_context_tokens > model->config().max_position_embeddings) {
    throw ConfigError("rollout.max_context_tokens",
                      "is " + std::to_string(lm.max_context_tokens) + " but the model reads at most " +
                          std::to_string(model->config().max_position_embeddings) + " positions");
  }
  LmPolicy policy(model.ptr(), tokenizer, lm);

  RolloutOptions ro;
  ro.env = c["env"]["name"];
  ro.env_config = c["env"]["config"];
  ro.split = c["env"]["train_split"];
  ro.group_size = static_cast<int>(group_size);
  ro.max_active = c["rollout"]["max_active"].get<int>();
  ro.env_threads = c["rollout"]["env_threads"].get<int>();
  ro.max_turns = c["rollout"]["max_turns"].get<int64_t>();
  ro.synchronous = c["rollout"]["synchronous"].get<bool>();
  RolloutEngine engine(ro);
  if (episode_layout) CheckFirstPromptFits(c, policy);

  // ---- store ----
  fs::create_directories(run_dir);
  std::string db = c["output"]["db"];
  if (fs::path(db).has_parent_path()) fs::create_directories(fs::path(db).parent_path());
  auto writer = StoreWriter::Open(db);
  if (run_id == 0) {
    RunRecord run;
    run.name = c["name"];
    run.env = c["env"]["name"];
    run.method = algo["preset"].get<std::string>().empty() ? algo["advantage"]["name"].get<std::string>()
                                                           : fs::path(algo["preset"].get<std::string>()).stem().string();
    run.seed = static_cast<int64_t>(seed);
    run.config = c;
    run_id = writer->CreateRun(run);
    WriteFile(run_dir + "/config.json", DumpJson(c, 2) + "\n");
  } else {
    writer->UpdateRunStatus(run_id, "running");
  }

  TrainResult result;
  result.run_id = run_id;
  result.run_dir = run_dir;
  result.db = db;
  auto term_states = [&] {
    Json states = Json::array();
    for (const auto& t : terms) states.push_back(t->State());
    return states;
  };
  auto say = [&](const std::string& line) {
    if (!options.quiet) log << line << std::endl;
  };
  say("turnwise train: run " + std::to_string(run_id) + " '" + c["name"].get<std::string>() + "' in " + run_dir +
      ", store " + db + (resume_from.empty() ? "" : ", resuming after iteration " + std::to_string(start_iter)));

  try {
    if (start_iter == 0 && c["eval"]["before"].get<bool>()) {
      std::vector<std::pair<std::string, double>> m;
      result.before = EvalSplits(policy, c, seed, *writer, run_id, 0, &m);
      writer->AppendMetrics(run_id, 0, m);
      for (auto& [k, v] : m) {
        if (k.rfind("/success") == k.size() - 8) say("  before: " + k + " = " + Fmt(v, 3));
      }
    }

    int64_t done_here = 0;
    for (int64_t it = start_iter + 1; it <= iterations; ++it) {
      auto t_iter = Clock::now();
      writer->BeginIteration(run_id, it);
      // ---- rollout (DAPO dynamic sampling: rounds until enough informative groups) ----
      std::vector<RolloutEpisode> episodes;
      std::vector<bool> trained;  // per episode: its group is in this iteration's batch
      RolloutStats rs;
      int64_t rounds = 0, zero_variance_groups = 0, kept_groups = 0;
      {
        const bool dynamic = schedule == "dynamic_sampling";
        const int64_t per_round = dynamic && algo["schedule"]["groups_per_attempt"].get<int64_t>() > 0
                                      ? algo["schedule"]["groups_per_attempt"].get<int64_t>()
                                      : groups;
        const int64_t max_rounds = dynamic ? algo["schedule"]["max_attempts"].get<int64_t>() : 1;
        const bool by_success = dynamic && algo["schedule"]["metric"] == "success";
        double act_batch_weight = 0;
        for (int64_t round = 0; round < max_rounds && kept_groups < groups; ++round) {
          const uint64_t round_seed = round == 0 ? seed : HashCombine(seed, 0x5a4d0000ULL + static_cast<uint64_t>(round));
          std::vector<RolloutTask> tasks = MakeTasks(ro.split, per_round, it, round_seed);
          if (round > 0) {
            for (size_t k = 0; k < tasks.size(); ++k) {
              tasks[k].group_id = "i" + std::to_string(it) + "-r" + std::to_string(round) + "-g" + std::to_string(k);
            }
          }
          std::vector<RolloutEpisode> played;
          RolloutStats r = engine.Run(policy, tasks, it, round_seed,
                                      [&](RolloutEpisode&& e) { played.push_back(std::move(e)); });
          ++rounds;
          rs.episodes += r.episodes;
          rs.aborted += r.aborted;
          rs.env_steps += r.env_steps;
          rs.generated_tokens += r.generated_tokens;
          rs.policy_calls += r.policy_calls;
          rs.seconds += r.seconds;
          rs.policy_seconds += r.policy_seconds;
          rs.env_wait_seconds += r.env_wait_seconds;
          act_batch_weight += r.mean_act_batch * static_cast<double>(r.policy_calls);
          std::set<std::string> keep;
          if (!dynamic) {
            for (const auto& t : tasks) keep.insert(t.group_id);
            kept_groups = groups;
          } else {
            std::vector<std::pair<std::string, double>> samples;
            std::set<std::string> has_episode;
            for (const auto& e : played) {
              if (e.record.status == EpisodeStatus::kAborted) continue;
              samples.emplace_back(e.record.group_id, by_success ? (e.record.success ? 1.0 : 0.0) : e.record.episode_return);
              has_episode.insert(e.record.group_id);
            }
            std::set<std::string> dead = ZeroVarianceGroups(samples);
            zero_variance_groups += static_cast<int64_t>(dead.size());
            for (const auto& t : tasks) {
              if (kept_groups < groups && has_episode.count(t.group_id) && !dead.count(t.group_id)) {
                keep.insert(t.group_id);
                ++kept_groups;
              }
            }
            for (auto& e : played) {
              if (!keep.count(e.record.group_id)) {
                e.record.info["dynamic_sampling"] = dead.count(e.record.group_id) ? "dropped: all outcomes equal"
                                                                                  : "dropped: batch full";
              }
            }
          }
          for (auto& e : played) {
            trained.push_back(keep.count(e.record.group_id) > 0);
            episodes.push_back(std::move(e));
          }
        }
        rs.mean_act_batch = rs.policy_calls > 0 ? act_batch_weight / static_cast<double>(rs.policy_calls) : 0;
      }
      // ---- advantages (DAPO overlong shaping on each turn's reward) ----
      auto t_adv = Clock::now();
      std::vector<AdvantageRow> adv_rows;
      std::vector<std::pair<size_t, size_t>> where;  // (episode, turn) of each advantage row
      double penalty = algo["invalid_action_penalty"].get<double>();
      IterationInfo info;
      info.step = it - 1;
      info.total_steps = iterations;
      double info_entropy = 0, info_tokens = 0;
      std::map<int, std::pair<double, double>> turn_entropy;
      for (size_t e = 0; e < episodes.size(); ++e) {
        EpisodeRecord& r = episodes[e].record;
        r.run_id = run_id;
        if (episode_layout) r.info["layout"] = "episode";
        if (r.status == EpisodeStatus::kAborted || !trained[e]) continue;
        for (size_t t = 0; t < r.turns.size(); ++t) {
          const TurnRecord& turn = r.turns[t];
          AdvantageRow a;
          a.group_id = r.group_id;
          a.trajectory_id = std::to_string(e);
          a.turn = static_cast<int>(t);
          a.reward = turn.reward;
          if (overlong_buffer > 0) {
            a.reward += OverlongPenalty(static_cast<int64_t>(turn.token_ids.size()), overlong_max, overlong_buffer,
                                        overlong_factor);
          }
          a.invalid_action_penalty = turn.action_valid ? 0.0 : penalty;
          a.anchor_key = turn.anchor_key;
          double ent = 0;
          for (float x : turn.entropies) ent += x;
          a.entropy = turn.entropies.empty() ? 0.0 : ent / static_cast<double>(turn.entropies.size());
          info_entropy += ent;
          info_tokens += static_cast<double>(turn.entropies.size());
          turn_entropy[static_cast<int>(t)].first += ent;
          turn_entropy[static_cast<int>(t)].second += static_cast<double>(turn.entropies.size());
          a.num_tokens = static_cast<int>(std::max<size_t>(1, turn.token_ids.size()));
          bool last = t + 1 == r.turns.size();
          a.done = last && r.status == EpisodeStatus::kOk;
          a.truncated = last && r.status == EpisodeStatus::kTruncated;
          adv_rows.push_back(std::move(a));
          where.emplace_back(e, t);
        }
      }
      info.entropy_mean = info_tokens > 0 ? info_entropy / info_tokens : 0.0;
      for (const auto& [t, v] : turn_entropy) {
        if (v.second > 0) info.turn_entropy_mean[t] = v.first / v.second;
      }
      std::vector<RowAdvantage> advantages = estimator->Compute(adv_rows);
      if (algo["invalid_turn_advantage"].get<std::string>() == "non_positive") {
        std::vector<bool> invalid;
        for (auto [e, t] : where) invalid.push_back(!episodes[e].record.turns[t].action_valid);
        CapInvalidTurnAdvantages(invalid, advantages);
      }
      std::vector<Row> rows;
      episode_tokens.assign(episodes.size(), EpisodeTokens());
      if (episode_layout) {
        for (size_t e = 0; e < episodes.size(); ++e) {
          const auto& turns = episodes[e].record.turns;
          for (size_t t = 0; t < turns.size() && t < episodes[e].prompt_tokens.size(); ++t) {
            episode_tokens[e].push_back({episodes[e].prompt_tokens[t], turns[t].token_ids});
          }
        }
      }
      for (size_t i = 0; i < advantages.size(); ++i) {
        auto [e, t] = where[i];
        TurnRecord& turn = episodes[e].record.turns[t];
        turn.advantage = advantages[i].advantage;
        turn.advantage_parts = advantages[i].ToJson()["parts"];
        if (turn.token_ids.empty()) continue;
        Row row;
        row.prompt = episodes[e].prompt_tokens[t];
        row.response = turn.token_ids;
        row.sampled_logprobs = turn.logprobs;
        row.advantage = advantages[i].advantage;
        row.trajectory = static_cast<int64_t>(e);
        row.trajectory_id = adv_rows[i].trajectory_id;
        row.turn = static_cast<int>(t);
        row.last_turn = t + 1 == episodes[e].record.turns.size();
        rows.push_back(std::move(row));
      }
      // Metrics of the rollout (every episode played, trained or not).
      double returns = 0, successes = 0, lengths = 0, invalid = 0, turns_total = 0, entropy_sum = 0, tokens = 0;
      std::map<std::string, std::pair<int, int>> by_type;
      int64_t counted = 0;
      for (auto& ep : episodes) {
        EpisodeRecord& r = ep.record;
        if (r.status != EpisodeStatus::kAborted) {
          ++counted;
          returns += r.episode_return;
          successes += r.success ? 1 : 0;
          lengths += static_cast<double>(r.turns.size());
          auto& bt = by_type[r.task_type];
          bt.first += 1;
          bt.second += r.success ? 1 : 0;
          for (const auto& t : r.turns) {
            turns_total += 1;
            invalid += t.action_valid ? 0 : 1;
            for (float x : t.entropies) entropy_sum += x;
            tokens += static_cast<double>(t.token_ids.size());
          }
        }
        writer->AppendEpisode(std::move(r));
      }
      double adv_seconds = Since(t_adv);

      // ---- update ----
      // Old log-probs are scored lazily (UpdatePhase): rows met before the first optimizer
      // step take their current log-probs; `score_missing` scores the rest before that step.
      auto t_score = Clock::now();
      model->eval();
      std::vector<size_t> all_rows(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) all_rows[i] = i;
      if (update.needs_reference) ScoreRows(*reference, rows, all_rows, micro, true, scorer);
      const double reference_seconds = Since(t_score);
      double score_seconds = reference_seconds;
      auto score_missing = [&] {
        std::vector<size_t> missing;
        for (size_t i = 0; i < rows.size(); ++i) {
          if (!rows[i].old_logprobs.empty() || rows[i].response.empty()) continue;
          // Skipped rows never need them, except for SeeUPO's ratios of every row of a turn.
          if (update.skip_zero_advantage && rows[i].advantage == 0.0 && schedule != "seeupo") continue;
          missing.push_back(i);
        }
        if (missing.empty()) return;
        auto t0 = Clock::now();
        const bool training = model->is_training();
        model->eval();
        ScoreRows(*model, rows, std::move(missing), micro, false, scorer);
        if (training) model->train();
        score_seconds += Since(t0);
      };
      auto t_update = Clock::now();
      for (auto& t : terms) t->BeginIteration(info);
      model->train();
      double lr = LearningRate(c, it);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      std::vector<double> row_advantage(rows.size());
      std::vector<size_t> active;
      for (size_t i = 0; i < rows.size(); ++i) {
        row_advantage[i] = rows[i].advantage;
        if (!filter_zero || std::abs(rows[i].advantage) >= zero_threshold) active.push_back(i);
      }
      const uint64_t shuffle_seed = HashCombine(seed, static_cast<uint64_t>(it));
      UpdateTotals totals;
      double seeupo_phases = 0, seeupo_correction = 0;
      if (schedule == "seeupo") {
        // Turns one at a time, last first; each earlier turn's advantage times the clipped
        // cumulative sequence ratio of its episode's turns already updated. The correction is
        // keyed by episode, so row order cannot misalign it.
        SeeUpoCorrection correction(algo["schedule"]["clip_low"].get<double>(),
                                    algo["schedule"]["clip_high"].get<double>());
        std::vector<int> turn_of;
        for (const auto& r : rows) turn_of.push_back(r.turn);
        const std::vector<int> order = ReverseTurnOrder(turn_of);
        for (size_t p = 0; p < order.size(); ++p) {
          std::vector<size_t> phase_rows, all_turn_rows;
          std::vector<double> phase_advantage = row_advantage;
          for (size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].turn != order[p]) continue;
            all_turn_rows.push_back(i);
            phase_advantage[i] = row_advantage[i] * correction.Factor(rows[i].trajectory_id);
          }
          for (size_t i : active) {
            if (rows[i].turn == order[p]) phase_rows.push_back(i);
          }
          UpdatePhase(*model, optimizer, update, rows, phase_rows, phase_advantage, terms, shuffle_seed, p, totals,
                      score_missing);
          seeupo_phases += 1;
          if (p + 1 < order.size()) {
            score_missing();  // only when no step has happened yet: the parameters are still the rollout's
            model->eval();
            std::vector<double> ratios = MeanLogRatios(*model, rows, all_turn_rows, update.micro, scorer);
            model->train();
            for (size_t k = 0; k < all_turn_rows.size(); ++k) {
              correction.Update(rows[all_turn_rows[k]].trajectory_id, ratios[k]);
            }
          }
        }
        for (const auto& r : rows) seeupo_correction += correction.Factor(r.trajectory_id);
        seeupo_correction /= std::max<double>(1.0, static_cast<double>(rows.size()));
      } else {
        UpdatePhase(*model, optimizer, update, rows, active, row_advantage, terms, shuffle_seed, 0, totals,
                    score_missing);
      }
      model->eval();
      double update_seconds = Since(t_update) - (score_seconds - reference_seconds);  // lazy scoring counted as score

      // ---- metrics, evaluation, checkpoint ----
      std::vector<std::pair<std::string, double>> m;
      double n = std::max<double>(1.0, static_cast<double>(counted));
      m.emplace_back("train/return", returns / n);
      m.emplace_back("train/success", successes / n);
      m.emplace_back("train/length", lengths / n);
      m.emplace_back("train/invalid_rate", turns_total > 0 ? invalid / turns_total : 0);
      m.emplace_back("train/entropy", tokens > 0 ? entropy_sum / tokens : 0);
      m.emplace_back("train/aborted", static_cast<double>(rs.aborted));
      // This iteration's environment steps and episodes (`turnwise plot --x env_steps` sums them).
      m.emplace_back("train/env_steps", static_cast<double>(rs.env_steps));
      m.emplace_back("train/episodes", static_cast<double>(rs.episodes));
      for (const auto& [type, sc] : by_type) {
        m.emplace_back("train/success/" + type, sc.first ? static_cast<double>(sc.second) / sc.first : 0);
      }
      double mc = std::max<double>(1.0, static_cast<double>(totals.micro_batches));
      double st = std::max<double>(1.0, static_cast<double>(totals.steps));
      m.emplace_back("loss/policy", totals.loss / st);  // per minibatch, regularisers included
      m.emplace_back("loss/clip_fraction", totals.clip / mc);
      m.emplace_back("loss/approx_kl", totals.approx_kl / mc);
      AddSamplingGap(rows, m);
      for (const auto& [k, v] : totals.terms) {
        m.emplace_back("reg/" + k, v / st);
        if (k == "kl/kl") m.emplace_back("loss/kl", v / st);
      }
      for (const auto& t : terms) {
        for (const auto& [k, v] : t->IterationMetrics()) m.emplace_back("reg/" + t->Name() + "/" + k, v);
      }
      m.emplace_back("optim/grad_norm", totals.grad_norm / st);
      m.emplace_back("optim/lr", lr);
      m.emplace_back("throughput/env_steps_per_s", rs.seconds > 0 ? static_cast<double>(rs.env_steps) / rs.seconds : 0);
      m.emplace_back("throughput/tokens_per_s",
                     rs.policy_seconds > 0 ? static_cast<double>(rs.generated_tokens) / rs.policy_seconds : 0);
      m.emplace_back("throughput/act_batch", rs.mean_act_batch);
      m.emplace_back("time/rollout", rs.seconds);
      m.emplace_back("time/generate", rs.policy_seconds);
      m.emplace_back("time/env_wait", rs.env_wait_seconds);
      m.emplace_back("time/advantages_and_store", adv_seconds);
      m.emplace_back("time/score", score_seconds);
      m.emplace_back("time/update", update_seconds);
      m.emplace_back("train/rows", static_cast<double>(active.size()));
      if (filter_zero) m.emplace_back("train/filtered_rows", static_cast<double>(rows.size() - active.size()));
      // Rows not run through the model because their advantage is 0 (counted once per epoch).
      m.emplace_back("train/zero_advantage_rows_skipped", static_cast<double>(totals.skipped_rows));
      if (update.high_kl_threshold > 0) {
        m.emplace_back("train/high_kl_stop", totals.high_kl_stop ? 1.0 : 0.0);
        m.emplace_back("train/trajectory_log_ratio", totals.trajectory_log_ratio);
      }
      if (schedule == "dynamic_sampling") {
        m.emplace_back("sampling/rounds", static_cast<double>(rounds));
        m.emplace_back("sampling/kept_groups", static_cast<double>(kept_groups));
        m.emplace_back("sampling/zero_variance_groups", static_cast<double>(zero_variance_groups));
      }
      if (schedule == "seeupo") {
        m.emplace_back("seeupo/turn_phases", seeupo_phases);
        m.emplace_back("seeupo/mean_correction", seeupo_correction);
      }
      int64_t every = c["eval"]["every"].get<int64_t>();
      Json eval_json;
      if ((every > 0 && it % every == 0) || it == iterations) {
        eval_json = EvalSplits(policy, c, seed, *writer, run_id, it, &m);
        if (it == iterations) result.after = eval_json;
      }
      m.emplace_back("time/iteration", Since(t_iter));
      writer->AppendMetrics(run_id, it, m);
      Json summary = Json::object();
      for (const auto& [k, v] : m) summary[k] = v;
      result.metrics.push_back(summary);
      writer->FinishIteration(run_id, it, summary);
      say("  iter " + std::to_string(it) + "/" + std::to_string(iterations) + ": success " +
          Fmt(successes / n, 3) + ", return " + Fmt(returns / n, 3) + ", len " +
          Fmt(lengths / n, 1) + ", rows " + std::to_string(active.size()) + ", loss " +
          Fmt(totals.loss / st, 4) + ", time " + Fmt(Since(t_iter), 1) + " s (rollout " +
          Fmt(rs.seconds, 1) + ", update " + Fmt(update_seconds + score_seconds, 1) + ")");

      if (it % c["checkpoint"]["every"].get<int64_t>() == 0 || it == iterations) {
        std::string dir = IterDir(run_dir, it);
        SavePretrained(model, dir);
        tokenizer->Save(dir + "/tokenizer.json");
        torch::save(optimizer, dir + "/optimizer.pt");
        WriteFile(dir + "/trainer_state.json",
                  DumpJson(Json{{"iteration", it}, {"run_id", run_id}, {"seed", seed}, {"regularizers", term_states()}},
                           2) +
                      "\n");
        CheckpointRecord cp;
        cp.run_id = run_id;
        cp.iter = it;
        cp.path = dir;
        cp.metrics = summary;
        writer->AddCheckpoint(cp);
      }
      result.iterations_done = it;
      ++done_here;
      if (options.stop_after > 0 && done_here >= options.stop_after && it < iterations) {
        writer->UpdateRunStatus(run_id, "interrupted");
        writer->Flush();
        return result;
      }
    }
    writer->UpdateRunStatus(run_id, "finished");
    writer->Flush();
  } catch (...) {
    writer->UpdateRunStatus(run_id, "failed");
    writer->Flush();
    throw;
  }
  return result;
}

}  // namespace turnwise
