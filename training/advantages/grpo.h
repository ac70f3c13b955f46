// GRPO and Dr. GRPO: group-relative episode advantages (docs/methods.md "GRPO", "Dr. GRPO";
// arXiv 2402.03300, 2503.20783).
//
//   GRPO     A = (score - mean_group) / (std_group + epsilon)
//   Dr. GRPO A =  score - mean_group
//
// `score` is the row's episode score (AdvantageRow::episode_return, or the trajectory's reward
// sum); every row of a trajectory gets the advantage of its own score, so with constant scores
// the whole trajectory shares one advantage. Group statistics follow verl/verl-agent exactly:
//   * over step rows (default, verl-agent) or over trajectories (the papers), see
//     GroupStatistics;
//   * std is unbiased (torch.std) unless `std_estimator` is "population";
//   * a group with ONE sample has mean 0 and std 1: its advantage is the raw score. With
//     step-weighted statistics one trajectory of several steps is not a singleton (its rows
//     are the samples) and gets exactly 0;
//   * a group whose samples are all equal gets exactly 0 (0 / (0 + epsilon)).
// Outputs per row: score, group_size, group_mean, group_std (GRPO only).
#ifndef TURNWISE_TRAINING_ADVANTAGES_GRPO_H_
#define TURNWISE_TRAINING_ADVANTAGES_GRPO_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

enum class StdEstimator {
  kUnbiased,    // n - 1 denominator, torch.std (verl, verl-agent)
  kPopulation,  // n denominator, np.std
};

struct GrpoOptions {
  bool norm_adv_by_std = true;  // verl `norm_adv_by_std_in_grpo`; false is Dr. GRPO
  GroupStatistics statistics = GroupStatistics::kStepWeighted;
  StdEstimator std_estimator = StdEstimator::kUnbiased;
  double epsilon = 1e-6;
};

class GrpoEstimator : public AdvantageEstimator {
 public:
  // `name` is "grpo" or "dr_grpo" (what Name() and Config() report).
  explicit GrpoEstimator(GrpoOptions options = {}, std::string name = "grpo");

  // Keys: norm_adv_by_std (true), statistics ("step_weighted"), std_estimator ("unbiased"),
  // epsilon (1e-6).
  static ConfigSchema Schema();
  // Dr. GRPO has no std, so only: statistics ("step_weighted").
  static ConfigSchema DrGrpoSchema();
  // Validate `config` and build; ConfigError names the key.
  static std::unique_ptr<GrpoEstimator> FromConfig(const Json& config);
  static std::unique_ptr<GrpoEstimator> DrGrpoFromConfig(const Json& config);

  std::string Name() const override { return name_; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

  const GrpoOptions& options() const { return options_; }

 private:
  GrpoOptions options_;
  std::string name_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_GRPO_H_
