#include "training/advantages/gae.h"

#include "core/error.h"
#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::MakeField;

ConfigSchema GaeEstimator::Schema() {
  ConfigSchema schema;
  schema.Add(MakeField("gamma", FieldType::kNumber, 1.0, "discount factor", {}, 0.0, 1.0));
  schema.Add(MakeField("lam", FieldType::kNumber, 1.0, "GAE lambda", {}, 0.0, 1.0));
  schema.Add("whiten", FieldType::kBool, true,
             "whiten the advantages over the batch's tokens (verl masked_whiten)");
  schema.Add(MakeField("reward", FieldType::kString, "step",
                       "step: per-turn rewards with TD across turns; episode: the episode score "
                       "on each row alone (verl-agent per-step layout)",
                       {"step", "episode"}));
  return schema;
}

std::unique_ptr<GaeEstimator> GaeEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  GaeOptions o;
  o.gamma = c["gamma"].get<double>();
  o.lam = c["lam"].get<double>();
  o.whiten = c["whiten"].get<bool>();
  o.reward = c["reward"] == "episode" ? GaeReward::kEpisode : GaeReward::kStep;
  return std::make_unique<GaeEstimator>(o);
}

Json GaeEstimator::Config() const {
  return {{"gamma", options_.gamma},
          {"lam", options_.lam},
          {"whiten", options_.whiten},
          {"reward", options_.reward == GaeReward::kEpisode ? "episode" : "step"}};
}

std::vector<RowAdvantage> GaeEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  std::vector<RowAdvantage> out(rows.size());
  if (rows.empty()) return out;
  const BatchIndex index = advantages_internal::IndexRows(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].value) {
      throw InvalidArgument("gae: " + advantages_internal::DescribeRow(rows, i) +
                            " has no value estimate");
    }
  }
  std::vector<double> gae(rows.size(), 0.0);
  if (options_.reward == GaeReward::kEpisode) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const double v = *rows[i].value;
      gae[i] = index.score[i] - v;
      out[i].Set("value", v);
      out[i].Set("reward", index.score[i]);
      out[i].Set("td_error", gae[i]);
    }
  } else {
    for (const auto& trajectory : index.trajectories) {
      double next_value = 0.0;
      double next_gae = 0.0;
      for (size_t k = trajectory.rows.size(); k-- > 0;) {
        const size_t i = trajectory.rows[k];
        const double v = *rows[i].value;
        const double reward = rows[i].reward - rows[i].invalid_action_penalty;
        const double delta = reward + options_.gamma * next_value - v;
        gae[i] = delta + options_.gamma * options_.lam * next_gae;
        out[i].Set("value", v);
        out[i].Set("reward", reward);
        out[i].Set("next_value", next_value);
        out[i].Set("td_error", delta);
        next_value = v;
        next_gae = gae[i];
      }
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    out[i].Set("gae", gae[i]);
    out[i].Set("return", gae[i] + *rows[i].value);
    out[i].advantage = gae[i];
  }
  if (options_.whiten) {
    const auto w = advantages_internal::WhitenOverTokens(gae, rows, "gae");
    for (size_t i = 0; i < rows.size(); ++i) {
      out[i].Set("whiten_mean", w.mean);
      out[i].Set("whiten_std", w.scale);
      out[i].advantage = (gae[i] - w.mean) / w.scale;
    }
  }
  return out;
}

}  // namespace turnwise
