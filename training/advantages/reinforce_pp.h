// REINFORCE++ and REINFORCE++-baseline (verl; arXiv 2501.03262; docs/methods.md "REINFORCE++").
//
//   REINFORCE++           x = score
//   REINFORCE++-baseline  x = score - mean_group        (a lone sample keeps mean 0)
//   both                  A = (x - mean_tokens(x)) / sqrt(var_tokens(x) + 1e-8)
//
// The whitening is global over the batch and token-weighted, as verl's masked_whiten: a row
// counts num_tokens times, the variance is unbiased over all tokens. So a zero-variance group
// does NOT stay at 0 — it moves by the batch shift (docs/methods.md "REINFORCE++").
//
// Returns: verl computes token returns G_t = r_t + gamma G_{t+1} inside each response, with the
// reward on the last token. In the per-step layout with verl's default gamma = 1 every token of
// a row gets the row's score, which is what this estimator produces; a within-row discount is
// not representable with one advantage per row and is not offered.
// Throws InvalidArgument when the batch has fewer than two response tokens.
// Outputs per row: score, (baseline only: group_size, group_mean, centered_score),
// batch_token_mean, batch_token_std (= sqrt(var + 1e-8)), batch_tokens.
#ifndef TURNWISE_TRAINING_ADVANTAGES_REINFORCE_PP_H_
#define TURNWISE_TRAINING_ADVANTAGES_REINFORCE_PP_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

struct ReinforcePpOptions {
  bool baseline = false;  // subtract the group mean first (REINFORCE++-baseline)
  GroupStatistics statistics = GroupStatistics::kStepWeighted;  // baseline only
};

class ReinforcePpEstimator : public AdvantageEstimator {
 public:
  explicit ReinforcePpEstimator(ReinforcePpOptions options = {}) : options_(options) {}
  // "reinforce_plus_plus": no keys.
  static ConfigSchema Schema();
  // "reinforce_plus_plus_baseline": statistics ("step_weighted").
  static ConfigSchema BaselineSchema();
  static std::unique_ptr<ReinforcePpEstimator> FromConfig(const Json& config);
  static std::unique_ptr<ReinforcePpEstimator> BaselineFromConfig(const Json& config);

  std::string Name() const override {
    return options_.baseline ? "reinforce_plus_plus_baseline" : "reinforce_plus_plus";
  }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  ReinforcePpOptions options_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_REINFORCE_PP_H_
