#include "training/advantages/seeupo.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::EpisodeGroupMoments;
using advantages_internal::GroupMoments;
using advantages_internal::GroupSamples;
using advantages_internal::MakeField;

ConfigSchema SeeUpoEstimator::Schema() {
  ConfigSchema schema;
  schema.Add("norm_adv_by_std", FieldType::kBool, false,
             "divide the group-centred score by the group std (+1e-6)");
  schema.Add("special_norm", FieldType::kBool, true,
             "standardise over the batch's trajectories and clamp");
  schema.Add(MakeField("special_norm_clip", FieldType::kNumber, 3.0,
                       "clamp bound of the standardised advantage", {}, 0.0));
  return schema;
}

std::unique_ptr<SeeUpoEstimator> SeeUpoEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  SeeUpoOptions o;
  o.norm_adv_by_std = c["norm_adv_by_std"].get<bool>();
  o.special_norm = c["special_norm"].get<bool>();
  o.special_norm_clip = c["special_norm_clip"].get<double>();
  return std::make_unique<SeeUpoEstimator>(o);
}

Json SeeUpoEstimator::Config() const {
  return {{"norm_adv_by_std", options_.norm_adv_by_std},
          {"special_norm", options_.special_norm},
          {"special_norm_clip", options_.special_norm_clip}};
}

std::vector<RowAdvantage> SeeUpoEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  const BatchIndex index = advantages_internal::IndexRows(rows);
  std::vector<RowAdvantage> per_trajectory(index.trajectories.size());
  std::vector<double> group_advantage(index.trajectories.size(), 0.0);
  for (size_t g = 0; g < index.groups.size(); ++g) {
    const std::vector<double> scores = GroupSamples(index, g, GroupStatistics::kPerTrajectory,
                                                    /*with_penalty=*/false);
    const GroupMoments m = EpisodeGroupMoments(scores);
    const std::vector<size_t>& members = index.groups[g].trajectories;
    for (size_t k = 0; k < members.size(); ++k) {
      RowAdvantage& r = per_trajectory[members[k]];
      double a = scores[k] - m.mean;
      r.Set("score", scores[k]);
      r.Set("group_size", m.size);
      r.Set("group_mean", m.mean);
      if (options_.norm_adv_by_std) {
        r.Set("group_std", m.std);
        a /= m.std + 1e-6;
      }
      r.Set("group_advantage", a);
      r.advantage = a;
      group_advantage[members[k]] = a;
    }
  }
  if (options_.special_norm && !group_advantage.empty()) {
    const double mean = advantages_internal::Mean(group_advantage);
    const double std = advantages_internal::SampleStd(group_advantage);
    for (size_t t = 0; t < per_trajectory.size(); ++t) {
      RowAdvantage& r = per_trajectory[t];
      r.Set("batch_mean", mean);
      r.Set("batch_std", std);
      if (std <= 1e-6) {
        r.advantage = group_advantage[t] - mean;
        r.Set("standardized", r.advantage);
      } else {
        const double z = (group_advantage[t] - mean) / std;
        r.Set("standardized", z);
        r.advantage = std::clamp(z, -options_.special_norm_clip, options_.special_norm_clip);
      }
    }
  }
  std::vector<RowAdvantage> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) out[i] = per_trajectory[index.trajectory_of_row[i]];
  return out;
}

SeeUpoCorrection::SeeUpoCorrection(double clip_low, double clip_high)
    : low_(clip_low), high_(clip_high) {
  TURNWISE_CHECK_MSG(clip_low >= 0.0 && clip_low < 1.0 && clip_high >= 0.0,
                     "SeeUPO clip ratios must be in [0, 1) (low) and >= 0 (high)");
}

double SeeUpoCorrection::Factor(const std::string& trajectory_id) const {
  auto it = factors_.find(trajectory_id);
  return it == factors_.end() ? 1.0 : it->second;
}

double SeeUpoCorrection::Update(const std::string& trajectory_id, double mean_log_ratio) {
  const double ratio =
      std::clamp(std::exp(std::clamp(mean_log_ratio, -10.0, 10.0)), 1.0 - low_, 1.0 + high_);
  const double factor = std::clamp(Factor(trajectory_id) * ratio, 1.0 - low_, 1.0 + high_);
  factors_[trajectory_id] = factor;
  return ratio;
}

std::vector<RowAdvantage> SeeUpoCorrection::Apply(const std::vector<AdvantageRow>& rows,
                                                  std::vector<RowAdvantage> advantages) const {
  TURNWISE_CHECK_MSG(rows.size() == advantages.size(), "one advantage per row");
  for (size_t i = 0; i < rows.size(); ++i) {
    const double c = Factor(rows[i].trajectory_id);
    advantages[i].Set("ratio_correction", c);
    advantages[i].advantage *= c;
  }
  return advantages;
}

}  // namespace turnwise
