// EMPG, Entropy-Modulated Policy Gradients (arXiv 2509.09265), as a modifier on top of any base
// estimator (docs/methods.md "EMPG"). No official code is released; this follows the paper's
// formulas and the official pseudocode's defaults and epsilons.
//
// With H the row's mean token entropy and A the base estimator's advantage of the row:
//   H~   = (H - min_batch H) / (max_batch H - min_batch H + epsilon)     over ALL rows
//   g    = exp(-k H~) / (mean_batch exp(-k H~) + epsilon)                 batch mean of g is ~1
//   f    = exp(-k_f H~_next)   with H~_next of the next row (by turn) of the same trajectory;
//          the last row of a trajectory has no bonus (f_next = 0)
//   A_mod   = g * A + zeta * f_next
//   A_final = A_mod - mean_batch(A_mod)                                   zero mean, no std
//
// Consequences worth knowing: when all entropies are equal, g = f = 1 and every non-final row
// gets +zeta; after the zero-mean step a final row with A = 0 becomes negative; groups with zero
// variance (A = 0) still get non-zero advantages.
// Rows are validated as the base estimator and AdvantageRow require.
// Outputs per row: base_advantage, the base's parts prefixed "base." (e.g.
// "base.group_mean"), entropy, entropy_min, entropy_max, entropy_normalized, g_raw
// (= exp(-k H~)), g_batch_mean (mean of g_raw), g, f (= exp(-k_f H~) of this row, for
// reference), has_next_step, next_entropy_normalized (when there is a next row), f_next,
// modulated_advantage, batch_mean.
#ifndef TURNWISE_TRAINING_ADVANTAGES_EMPG_H_
#define TURNWISE_TRAINING_ADVANTAGES_EMPG_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

struct EmpgOptions {
  double k = 1.0;         // sharpness of the self-calibrated scaling g
  double k_f = 1.0;       // k': sharpness of the future-clarity bonus f
  double zeta = 0.1;      // bonus weight (official pseudocode 0.1; ARLArena's re-run used 0.05)
  double epsilon = 1e-8;  // in the min-max and the mean-of-g divisions
};

class EmpgEstimator : public AdvantageEstimator {
 public:
  // `base` computes A (GRPO in the paper's experiments); must not be null.
  EmpgEstimator(std::unique_ptr<AdvantageEstimator> base, EmpgOptions options = {});
  // Keys: base ("grpo"; any estimator name but "empg"), base_config ({}: the base's own keys),
  // k (1.0), k_f (1.0), zeta (0.1), epsilon (1e-8).
  static ConfigSchema Schema();
  // A bad key inside base_config is reported under "base_config." + its path.
  static std::unique_ptr<EmpgEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "empg"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

  const AdvantageEstimator& base() const { return *base_; }

 private:
  std::unique_ptr<AdvantageEstimator> base_;
  EmpgOptions options_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_EMPG_H_
