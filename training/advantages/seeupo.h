// SeeUPO's advantage (arXiv 2602.06554), as the official AgentEvolver `seeupo` branch computes it
// (docs/methods.md "SeeUPO"; the paper's own equations were not available).
//
// Per trajectory i of group G (one sample per trajectory, whatever its number of turns — each
// per-turn batch holds every trajectory once, padding turns included):
//   A_i = score_i - mean_G(score)            (norm_adv_by_std: false, the launcher's setting;
//                                              true divides by std_G + 1e-6)
//   special_norm: A^_i = clamp((A_i - mean_batch A) / std_batch A, -3, 3), std unbiased over
//                 the batch's trajectories; when std_batch <= 1e-6 only the mean is subtracted.
// A lone trajectory in its group keeps mean 0 (verl's GRPO rule). Every turn row of a
// trajectory gets A^_i: this is the advantage of the turn updated first (the last turn).
//
// SeeUPO then updates turns one at a time in reverse order, multiplying the advantage of an
// earlier turn by the clipped product of the sequence ratios of the turns already updated
// (HAML-style). That scheduler state is SeeUpoCorrection below; the trainer owns the order.
// Outputs per row: score, group_size, group_mean, [group_std], group_advantage, and with
// special_norm batch_mean, batch_std, standardized (before the clamp).
#ifndef TURNWISE_TRAINING_ADVANTAGES_SEEUPO_H_
#define TURNWISE_TRAINING_ADVANTAGES_SEEUPO_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

struct SeeUpoOptions {
  bool norm_adv_by_std = false;  // "should not norm, otherwise not converge" (launcher)
  bool special_norm = true;
  double special_norm_clip = 3.0;
};

class SeeUpoEstimator : public AdvantageEstimator {
 public:
  explicit SeeUpoEstimator(SeeUpoOptions options = {}) : options_(options) {}
  // Keys: norm_adv_by_std (false), special_norm (true), special_norm_clip (3.0).
  static ConfigSchema Schema();
  static std::unique_ptr<SeeUpoEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "seeupo"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  SeeUpoOptions options_;
};

// The cumulative ratio correction C_i of SeeUPO's sequential reverse-turn updates
// (AgentEvolver `update_ratios`). After the actor update of turn m, for each trajectory:
//   s_i = clip(exp(clamp(mean token log-ratio of its turn-m row, -10, 10)), 1 - lo, 1 + hi)
//   C_i = clip(C_i * s_i, 1 - lo, 1 + hi)
// and the next (earlier) turn trains on A^_i * C_i. C_i starts at 1 each iteration.
// Not thread-safe: one trainer owns one instance.
class SeeUpoCorrection {
 public:
  explicit SeeUpoCorrection(double clip_low = 0.2, double clip_high = 0.2);

  // C of `trajectory_id` (1 before any update).
  double Factor(const std::string& trajectory_id) const;
  // Folds in the update of one turn row of `trajectory_id`; `mean_log_ratio` is the mean over
  // the row's tokens of log pi_new - log pi_old. Returns the clipped sequence ratio s.
  double Update(const std::string& trajectory_id, double mean_log_ratio);
  // `advantages` (one per row, from SeeUpoEstimator) times each row's C, with a part
  // "ratio_correction" = C added.
  std::vector<RowAdvantage> Apply(const std::vector<AdvantageRow>& rows,
                                  std::vector<RowAdvantage> advantages) const;
  // Back to C = 1 for every trajectory (start of an iteration).
  void Reset() { factors_.clear(); }

 private:
  double low_;
  double high_;
  std::unordered_map<std::string, double> factors_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_SEEUPO_H_
