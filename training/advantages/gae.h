// PPO's generalised advantage estimation over the turns of each episode, given a critic value
// per row (docs/methods.md "PPO with GAE").
//
//   delta_t = r_t + gamma V_{t+1} - V_t,   A_t = delta_t + gamma lambda A_{t+1},   return_t = A_t +
//   V_t
//
// `reward: "step"` (default): r_t is the row's step reward and V_{t+1} the value on the next
// row of the same trajectory; after the last row V = 0 and A = 0. Truncated episodes are NOT
// bootstrapped (verl does not either: the rows carry no value of the state after the cut).
// `reward: "episode"`: verl-agent's per-step layout, where each row is its own sequence whose
// last token carries the episode score and nothing crosses rows: A = score - V, return = score.
// With gamma = lambda = 1 and a reward only at the end, both give score - V on every row.
// A row's invalid_action_penalty is subtracted from its step reward ("step") or from its
// score ("episode", as verl-agent puts it on the row's last token).
//
// `whiten: true` (verl's default) then applies verl's masked_whiten over the batch, token
// weighted (a row counts num_tokens times; unbiased variance; +1e-8 inside the sqrt).
// Every row needs `value`: InvalidArgument naming the row otherwise; whitening needs at least
// two response tokens in the batch.
// Outputs per row: value, reward, next_value ("step"), td_error, gae, return, and with
// whitening whiten_mean, whiten_std.
#ifndef TURNWISE_TRAINING_ADVANTAGES_GAE_H_
#define TURNWISE_TRAINING_ADVANTAGES_GAE_H_

#include <memory>
#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise {

enum class GaeReward {
  kStep,     // per-turn rewards, TD across the turns of the episode
  kEpisode,  // the episode score on each row alone (verl-agent)
};

struct GaeOptions {
  double gamma = 1.0;  // verl algorithm.gamma
  double lam = 1.0;    // verl algorithm.lam
  bool whiten = true;
  GaeReward reward = GaeReward::kStep;
};

class GaeEstimator : public AdvantageEstimator {
 public:
  explicit GaeEstimator(GaeOptions options = {}) : options_(options) {}
  // Keys: gamma (1.0), lam (1.0), whiten (true), reward ("step" | "episode").
  static ConfigSchema Schema();
  static std::unique_ptr<GaeEstimator> FromConfig(const Json& config);

  std::string Name() const override { return "gae"; }
  Json Config() const override;
  std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const override;

 private:
  GaeOptions options_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_GAE_H_
