// Regularisers: terms added to the policy loss, composable in any number
// (`algorithm.regularizers` in a train config). Reference: docs/methods.md "Regularisers" (EPO,
// LLDS, KL, entropy bonus).
//
// Every term works on one micro-batch at a time but normalises over the whole minibatch: it
// returns its micro-batch's SHARE of the minibatch value (see AggregateShare in losses.h), so
// the shares of a minibatch's micro-batches add up to the term of the whole minibatch and the
// accumulated gradient is the minibatch gradient. With one micro-batch the share is the value.
//
// Thread safety: Compute() is const and touches no shared state; BeginIteration() and
// LoadState() mutate and must not run concurrently with anything else. One trainer owns its
// regularisers.
// Errors: MakeRegularizer throws ConfigError with a key path relative to the term's object
// ("kappa_low"); the trainer rethrows it under "algorithm.regularizers[i]".
#ifndef TURNWISE_TRAINING_REGULARIZERS_H_
#define TURNWISE_TRAINING_REGULARIZERS_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/json.h"
#include "training/losses.h"

namespace turnwise {

// One micro-batch. Tensors are [B, T] like the losses'; tensor row i is `layout->rows()[members[i]]`.
struct RegularizerBatch {
  at::Tensor logprobs;      // current policy, differentiable
  at::Tensor old_logprobs;  // the policy that sampled the rollout (no grad)
  at::Tensor ref_logprobs;  // reference policy; defined only when some term NeedsReference()
  at::Tensor entropies;     // current policy's token entropies (nats), differentiable
  at::Tensor mask;          // 1 at response tokens
  const MinibatchLayout* layout = nullptr;
  std::vector<size_t> members;
  LossAggregation policy_aggregation = LossAggregation::kTokenMean;  // the policy loss's mode
  double norm_length = 0;                                            // for seq-mean-token-sum-norm
};

struct RegularizerTerm {
  at::Tensor loss;  // scalar added to the minimised loss: this micro-batch's share
  // Named shares (summing them over a minibatch's micro-batches gives the minibatch value).
  std::vector<std::pair<std::string, double>> metrics;
};

// What a term with state across iterations learns of the rollout it is about to train on.
struct IterationInfo {
  int64_t step = 0;          // RL step k, 0-based (iteration − 1)
  int64_t total_steps = 1;   // K (train.iterations)
  double entropy_mean = 0;   // token-level mean entropy of the rollout's responses
  std::map<int, double> turn_entropy_mean;  // the same per turn index (0-based)
};

class Regularizer {
 public:
  virtual ~Regularizer() = default;
  virtual std::string Name() const = 0;
  // The complete options in force, defaults included (recorded with the run).
  virtual Json Config() const = 0;
  // True when Compute() needs `ref_logprobs` (the trainer then loads the reference model).
  virtual bool NeedsReference() const { return false; }
  // True when every micro-batch must hold whole trajectories (a gate over all of an episode's
  // turns); the trainer then batches by trajectory.
  virtual bool NeedsWholeTrajectories() const { return false; }
  // Called once per iteration before the update.
  virtual void BeginIteration(const IterationInfo& info) {}
  // Per-iteration values (not shares) for the metrics, e.g. EPO's β_k.
  virtual std::vector<std::pair<std::string, double>> IterationMetrics() const { return {}; }
  virtual RegularizerTerm Compute(const RegularizerBatch& batch) const = 0;
  // State that must survive a resume (EPO's entropy history); null when none.
  virtual Json State() const { return Json(); }
  virtual void LoadState(const Json& state) {}
};

// ---- entropy bonus and KL ----

// An aggregation for a term: one of AggregationNames(), or "policy" = the policy loss's mode
// (verl aggregates its entropy and KL terms with `loss_agg_mode`).
struct TermAggregation {
  bool follow_policy = false;
  LossAggregation mode = LossAggregation::kTokenMean;
};

// −coef · agg(H): rewards entropy.
class EntropyBonus : public Regularizer {
 public:
  EntropyBonus(double coef, TermAggregation aggregation) : coef_(coef), aggregation_(aggregation) {}
  std::string Name() const override { return "entropy"; }
  Json Config() const override;
  RegularizerTerm Compute(const RegularizerBatch& batch) const override;

 private:
  double coef_;
  TermAggregation aggregation_;
};

// coef · agg(KL(π ‖ π_ref)) with a k1/k2/k3/k3+ estimator (KlPenalty).
class KlRegularizer : public Regularizer {
 public:
  KlRegularizer(double coef, KlEstimator estimator, TermAggregation aggregation)
      : coef_(coef), estimator_(estimator), aggregation_(aggregation) {}
  std::string Name() const override { return "kl"; }
  Json Config() const override;
  bool NeedsReference() const override { return coef_ > 0; }
  RegularizerTerm Compute(const RegularizerBatch& batch) const override;

 private:
  double coef_;
  KlEstimator estimator_;
  TermAggregation aggregation_;
};

// ---- EPO (arXiv 2509.22576; docs/methods.md "EPO") ----

enum class EpoForm {
  // Eq. 2–6: trajectory-level entropy L_H (mean over trajectories of the mean over turns of the
  // turn's token-mean entropy), a differentiable corridor penalty L_smooth, phase weight β_k:
  //   term = −λ (L_H − β_k · L_smooth),  β_k = 1 + exp(−γ k / ⌊K/2⌋)
  kPaper,
  // The released code (WujiangXu/EPO @ 5b6fa98): L_H = agg(H) with the policy's aggregation; the
  // "penalty" is a constant mask (α outside the open interval (κ_l·H̄, κ_r·H̄), 0 inside), so it
  // changes the value but carries no gradient; applied only to micro-batches with a row at turn
  // >= late_turn; weighted by the code's epoch schedule instead of β_k:
  //   term = −λ (agg(H) − smooth_coeff · w(k) · agg(mask))
  kCode,
};

enum class EpoHistory {
  kScalar,   // H̄_W: mean of the previous steps' batch token-mean entropies (paper)
  kPerTurn,  // each row compared with the historical mean of ITS turn index (code)
};

struct EpoOptions {
  double coef = 0.001;  // λ
  EpoForm form = EpoForm::kPaper;
  bool smoothing = true;
  double kappa_low = 0.0;   // κ_l (code: entropy_smooth_min_ratio)
  double kappa_high = 2.0;  // κ_r (code: entropy_smooth_max_ratio)
  double alpha = 0.1;       // α (code: entropy_smooth_out_range_penalty); ALFWorld 0.1, SciWorld 0.05
  double beta_gamma = 3.0;  // γ of β_k (paper)
  int64_t total_steps = 150;  // K; the trainer passes train.iterations
  EpoHistory history = EpoHistory::kScalar;
  bool include_current = false;  // the reference includes this step's rollout (code: true)
  // Code form only.
  double smooth_coeff = 1.0;  // entropy_smooth_coeff
  bool epoch_weights = true;  // enable_smooth_weights (README runs: true)
  int64_t max_epochs = 150;   // hard-coded in the code
  int late_turn = 25;         // smoothing only for micro-batches with a row at turn >= this
};

// β_k = 1 + exp(−γ k / k_mid), k_mid = max(1, ⌊K/2⌋).
double EpoPhaseWeight(int64_t k, int64_t total_steps, double gamma);
// The code's `_calculate_epoch_based_entropy_weight`: half = max_epochs/2; e <= half:
// 1 − 0.2(1 − exp(−2e/half)); else 0.8 exp(−3(e − half)/(max_epochs − half)).
double EpoCodeEpochWeight(int64_t epoch, int64_t max_epochs);

class EpoRegularizer : public Regularizer {
 public:
  explicit EpoRegularizer(EpoOptions options) : options_(options) {}
  std::string Name() const override { return "epo"; }
  Json Config() const override;
  // Records the rollout's entropies in the history (before or after fixing this step's
  // reference, by `include_current`) and sets k.
  void BeginIteration(const IterationInfo& info) override;
  std::vector<std::pair<std::string, double>> IterationMetrics() const override;
  RegularizerTerm Compute(const RegularizerBatch& batch) const override;
  Json State() const override;
  void LoadState(const Json& state) override;

  // The reference entropy for a row at `turn`; false when there is none (no history yet).
  bool Reference(int turn, double* value) const;

 private:
  EpoOptions options_;
  int64_t step_ = 0;
  std::vector<double> history_;                 // per RL step: batch token-mean entropy
  std::vector<std::map<int, double>> turn_history_;  // per RL step: per-turn token-mean entropy
  // The reference fixed at BeginIteration.
  bool has_scalar_reference_ = false;
  double scalar_reference_ = 0;
  std::map<int, double> turn_reference_;
};

// ---- LLDS (arXiv 2512.04220; docs/methods.md "LLDS") ----

enum class LldsGate {
  kAction,    // A-gate: a row (one action) counts iff the sum of its Δ is > 0 (default)
  kResponse,  // R-gate: an episode counts iff the sum of Δ over its preserving rows is > 0
  kToken,     // no gate: every preserving token with Δ > 0
};

enum class LldsNormalization {
  // Eq. 4: (1/|Y_pre|) Σ_{episodes with a preserving row} (1 / their preserving tokens) Σ ...
  kPaper,
  // Released code: Σ of the weighted penalty / all response tokens of the minibatch, negative-
  // advantage rows included.
  kCode,
};

struct LldsOptions {
  double coef = 0.2;  // λ
  LldsGate gate = LldsGate::kAction;
  LldsNormalization normalization = LldsNormalization::kCode;
  bool answer_masking = false;  // LLDS-MA: a different weight on the final action's tokens
  double answer_weight = 0.2;   // β (paper: weight β inside the sum, times λ; code: min(β, λ) replaces λ)
};

// Δ = logπ_old − logπ per token; a row is preserving when its advantage >= 0 (correct and
// zero-advantage episodes). Penalised: max(0, Δ) on the gated tokens of preserving rows.
class LldsRegularizer : public Regularizer {
 public:
  explicit LldsRegularizer(LldsOptions options) : options_(options) {}
  std::string Name() const override { return "llds"; }
  Json Config() const override;
  bool NeedsWholeTrajectories() const override { return options_.gate == LldsGate::kResponse; }
  RegularizerTerm Compute(const RegularizerBatch& batch) const override;

 private:
  LldsOptions options_;
};

// ---- factory ----

struct RegularizerContext {
  int64_t total_steps = 1;  // train.iterations (EPO's K)
  int max_turns = 50;       // rollout.max_turns (EPO code form's late_turn default: half of it)
};

// "entropy", "epo", "kl", "llds".
std::vector<std::string> RegularizerNames();
// The keys of regulariser `name` ("name" included). ConfigError for an unknown name.
ConfigSchema RegularizerSchema(const std::string& name);
// Builds a term from its config object {"name": ..., options}. Throws ConfigError with a key
// path relative to `spec` ("name" for an unknown name, "history" for a bad option, …), also for
// options that do not apply to the chosen form (e.g. EPO's `beta_gamma` with form "code").
std::unique_ptr<Regularizer> MakeRegularizer(const Json& spec, const RegularizerContext& context);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_REGULARIZERS_H_
