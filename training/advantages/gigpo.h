// GiGPO, Group-in-Group Policy Optimization (arXiv 2505.10978), as the official verl-agent code
// computes it (docs/methods.md "GiGPO").
//
//   A = A_E + step_advantage_w * A_S
//
// Episode level, per episode group: A_E = score - mean (mode "mean_norm") or
// (score - mean) / (std + epsilon) ("mean_std_norm"); statistics over step rows (default) or
// trajectories, and verl's singleton rule: a group with ONE sample has mean 0, std 1, so
// A_E = the raw score (divided by 1 + epsilon in mean_std_norm).
//
// Step level: R_t = r_t + gamma R_{t+1} over each trajectory's rows in turn order (raw step
// rewards). Within one episode group, rows are clustered by anchor state across ALL turns of
// ALL its trajectories (a state seen at turn 2 in one episode and turn 5 in another is one
// group); groups never span two episode groups. Matching is exact on `anchor_key`, or with
// `enable_similarity` greedy first-fit: each row, in input order, joins the first cluster
// whose first member has difflib SequenceMatcher(None, row, first).ratio() >= the threshold.
// A_S = R_t - mean or (R_t - mean) / (std + epsilon) over the step group, std unbiased; a step
// group of ONE row has mean = its own return and std 1, so A_S = 0 (unlike the episode level).
// A zero-variance episode group gets A_E = 0 but may keep a non-zero A_S.
//
// Truncated episodes need nothing special: their returns are whatever rewards they got.
// The invalid-action penalty (AdvantageRow::invalid_action_penalty) is subtracted from the
// row's episode score and from the row's finished step return, as verl-agent does: it does
// not reach the discounted returns of earlier steps.
//
// Outputs per row: score, [invalid_action_penalty], episode_group_size, episode_group_mean,
// [episode_group_std], episode_advantage, step_reward, step_return, step_group_id ("<group>#<k>", k
// = cluster number within the episode group), step_group_anchor (the anchor key of the cluster's
// first member), step_group_size, step_group_mean, [step_group_std], step_advantage,
// step_advantage_w. The std parts appear in mean_std_norm only.
#ifndef TURNWISE_TRAINING_ADVANTAGES_GIGPO_H_
#define TURNWISE_TRAINING_ADVANTAGES_GIGPO_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

enum class GigpoMode {
  kMeanNorm,     // F_norm = 1 (verl-agent yaml default)
  kMeanStdNorm,  // F_norm = std + epsilon
};

struct GigpoOptions {
  double step_advantage_w = 1.0;  // omega
  GigpoMode mode = GigpoMode::kMeanNorm;
  double gamma = 1.0;  // verl algorithm.gamma; every official GiGPO script sets 0.95
  bool enable_similarity = false;
  double similarity_thresh = 0.95;  // must be in (0, 1) when enable_similarity
  GroupStatistics statistics = GroupStatistics::kStepWeighted;  // episode level only
  double epsilon = 1e-6;
};

class GigpoEstimator : public AdvantageEstimator {
 public:
  // Checks similarity_thresh in (0, 1) when similarity is on (TURNWISE_CHECK; FromConfig
  // reports it as a ConfigError instead).
  explicit GigpoEstimator(GigpoOptions options = {});
  // Keys: step_advantage_w (1.0), mode ("mean_norm" | "mean_std_norm"), gamma (1.0),
  // enable_similarity (false), similarity_thresh (0.95), statistics ("step_weighted"),
  // epsilon (1e-6).
  static ConfigSchema Schema();
  static std::unique_ptr<GigpoEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "gigpo"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  GigpoOptions options_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_GIGPO_H_
