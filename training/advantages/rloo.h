// Leave-one-out baselines: RLOO (verl/verl-agent; docs/methods.md "RLOO", arXiv 2402.14740) and
// LOOP (apple/ml-loop; docs/methods.md "LOOP", arXiv 2502.01600).
//
//   A = score - (sum of the other K-1 samples) / (K - 1) = K/(K-1) * (score - mean_group)
//
// RLOO, as verl-agent computes it:
//   * K and the mean count step rows (default) or trajectories, see GroupStatistics; each row
//     uses its own score;
//   * a group with one sample keeps the raw score as its advantage (no baseline).
// LOOP, as ml-loop computes it (one rollout = one sample, whatever its number of steps):
//   * K = trajectories in the group; each trajectory's score is the one on its first row (input
//     order) and every row of the trajectory gets the trajectory's advantage;
//   * K >= 2 is required (ml-loop asserts it): a group with one trajectory is InvalidArgument;
//   * optional "leave_none_out" baseline (A = score - mean) and `adv_normalization`
//     (A /= max(population std of the group's scores, 1e-7)); both off by default.
// LOOP's zero-advantage filtering (|A| < 0.01 dropped) is a batch scheduler, not done here.
// Outputs per row: score, group_size, group_mean, baseline (+ group_std when normalising).
#ifndef TURNWISE_TRAINING_ADVANTAGES_RLOO_H_
#define TURNWISE_TRAINING_ADVANTAGES_RLOO_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

struct RlooOptions {
  GroupStatistics statistics = GroupStatistics::kStepWeighted;
};

class RlooEstimator : public AdvantageEstimator {
 public:
  explicit RlooEstimator(RlooOptions options = {}) : options_(options) {}
  // Keys: statistics ("step_weighted").
  static ConfigSchema Schema();
  static std::unique_ptr<RlooEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "rloo"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  RlooOptions options_;
};

enum class LoopBaseline {
  kLeaveOneOut,   // mean of the other K-1 returns (default)
  kLeaveNoneOut,  // mean of all K returns
};

struct LoopOptions {
  LoopBaseline baseline = LoopBaseline::kLeaveOneOut;
  bool adv_normalization = false;
};

class LoopEstimator : public AdvantageEstimator {
 public:
  explicit LoopEstimator(LoopOptions options = {}) : options_(options) {}
  // Keys: baseline ("leave_one_out" | "leave_none_out"), adv_normalization (false).
  static ConfigSchema Schema();
  static std::unique_ptr<LoopEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "loop"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  LoopOptions options_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_RLOO_H_
