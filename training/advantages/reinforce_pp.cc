#include "training/advantages/reinforce_pp.h"

#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::EpisodeGroupMoments;
using advantages_internal::GroupMoments;
using advantages_internal::GroupSamples;

ConfigSchema ReinforcePpEstimator::Schema() { return ConfigSchema(); }

ConfigSchema ReinforcePpEstimator::BaselineSchema() {
  ConfigSchema schema;
  advantages_internal::AddStatisticsField(schema);
  return schema;
}

std::unique_ptr<ReinforcePpEstimator> ReinforcePpEstimator::FromConfig(const Json& config) {
  advantages_internal::ValidateConfig(Schema(), config);
  return std::make_unique<ReinforcePpEstimator>(ReinforcePpOptions{});
}

std::unique_ptr<ReinforcePpEstimator> ReinforcePpEstimator::BaselineFromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(BaselineSchema(), config);
  ReinforcePpOptions o;
  o.baseline = true;
  o.statistics = ParseGroupStatistics(c["statistics"].get<std::string>());
  return std::make_unique<ReinforcePpEstimator>(o);
}

Json ReinforcePpEstimator::Config() const {
  if (!options_.baseline) return Json::object();
  return {{"statistics", GroupStatisticsName(options_.statistics)}};
}

std::vector<RowAdvantage> ReinforcePpEstimator::Compute(
    const std::vector<AdvantageRow>& rows) const {
  std::vector<RowAdvantage> out(rows.size());
  if (rows.empty()) return out;
  const BatchIndex index = advantages_internal::IndexRows(rows);
  std::vector<double> centered = index.score;
  if (options_.baseline) {
    std::vector<GroupMoments> moments;
    for (size_t g = 0; g < index.groups.size(); ++g) {
      moments.push_back(EpisodeGroupMoments(GroupSamples(index, g, options_.statistics)));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      const GroupMoments& m = moments[index.group_of_row[i]];
      out[i].Set("score", index.score[i]);
      out[i].Set("group_size", m.size);
      out[i].Set("group_mean", m.mean);
      centered[i] = index.score[i] - m.mean;
      out[i].Set("centered_score", centered[i]);
    }
  } else {
    for (size_t i = 0; i < rows.size(); ++i) out[i].Set("score", index.score[i]);
  }
  const auto w = advantages_internal::WhitenOverTokens(centered, rows, Name());
  for (size_t i = 0; i < rows.size(); ++i) {
    RowAdvantage& r = out[i];
    advantages_internal::SetPenaltyPart(r, rows[i]);
    r.Set("batch_token_mean", w.mean);
    r.Set("batch_token_std", w.scale);
    r.Set("batch_tokens", w.tokens);
    r.advantage = (centered[i] - w.mean) / w.scale;
  }
  return out;
}

}  // namespace turnwise
