#include "training/advantages/rloo.h"

#include <algorithm>

#include "core/error.h"
#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::GroupSamples;
using advantages_internal::MakeField;

ConfigSchema RlooEstimator::Schema() {
  ConfigSchema schema;
  advantages_internal::AddStatisticsField(schema);
  return schema;
}

std::unique_ptr<RlooEstimator> RlooEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  RlooOptions o;
  o.statistics = ParseGroupStatistics(c["statistics"].get<std::string>());
  return std::make_unique<RlooEstimator>(o);
}

Json RlooEstimator::Config() const {
  return {{"statistics", GroupStatisticsName(options_.statistics)}};
}

std::vector<RowAdvantage> RlooEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  const BatchIndex index = advantages_internal::IndexRows(rows);
  std::vector<double> sums, means;
  std::vector<size_t> sizes;
  for (size_t g = 0; g < index.groups.size(); ++g) {
    std::vector<double> samples = GroupSamples(index, g, options_.statistics);
    double sum = 0.0;
    for (double s : samples) sum += s;
    sums.push_back(sum);
    sizes.push_back(samples.size());
    means.push_back(advantages_internal::Mean(samples));
  }
  std::vector<RowAdvantage> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t g = index.group_of_row[i];
    const size_t k = sizes[g];
    const double score = index.score[i];
    RowAdvantage& r = out[i];
    r.Set("score", score);
    advantages_internal::SetPenaltyPart(r, rows[i]);
    r.Set("group_size", k);
    if (k <= 1) {
      // verl: a lone sample has no baseline (mean 0) and keeps its raw score.
      r.Set("group_mean", 0.0);
      r.Set("baseline", 0.0);
      r.advantage = score;
      continue;
    }
    const double kk = static_cast<double>(k);
    r.Set("group_mean", means[g]);
    r.Set("baseline", (sums[g] - score) / (kk - 1.0));
    r.advantage = score * kk / (kk - 1.0) - means[g] * kk / (kk - 1.0);  // verl's form
  }
  return out;
}

ConfigSchema LoopEstimator::Schema() {
  ConfigSchema schema;
  schema.Add(MakeField("baseline", FieldType::kString, "leave_one_out",
                       "mean of the other K-1 returns, or of all K (leave_none_out)",
                       {"leave_one_out", "leave_none_out"}));
  schema.Add("adv_normalization", FieldType::kBool, false,
             "divide by the group's population std of returns (floored at 1e-7)");
  return schema;
}

std::unique_ptr<LoopEstimator> LoopEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  LoopOptions o;
  o.baseline =
      c["baseline"] == "leave_none_out" ? LoopBaseline::kLeaveNoneOut : LoopBaseline::kLeaveOneOut;
  o.adv_normalization = c["adv_normalization"].get<bool>();
  return std::make_unique<LoopEstimator>(o);
}

Json LoopEstimator::Config() const {
  return {{"baseline",
           options_.baseline == LoopBaseline::kLeaveNoneOut ? "leave_none_out" : "leave_one_out"},
          {"adv_normalization", options_.adv_normalization}};
}

std::vector<RowAdvantage> LoopEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  const BatchIndex index = advantages_internal::IndexRows(rows);
  // One advantage per trajectory, then broadcast to its rows.
  std::vector<RowAdvantage> per_trajectory(index.trajectories.size());
  for (size_t g = 0; g < index.groups.size(); ++g) {
    const std::vector<size_t>& members = index.groups[g].trajectories;
    std::vector<double> returns =
        GroupSamples(index, g, GroupStatistics::kPerTrajectory, /*with_penalty=*/false);
    if (returns.size() < 2) {
      throw InvalidArgument("loop: group '" + index.groups[g].id +
                            "' has one trajectory; the leave-one-out baseline needs at least 2 "
                            "rollouts per task");
    }
    const double k = static_cast<double>(returns.size());
    double sum = 0.0;
    for (double x : returns) sum += x;
    const double mean = sum / k;
    const double std = advantages_internal::PopulationStd(returns);
    for (size_t m = 0; m < members.size(); ++m) {
      const double ret = returns[m];
      const double baseline =
          options_.baseline == LoopBaseline::kLeaveOneOut ? (sum - ret) / (k - 1.0) : mean;
      RowAdvantage& r = per_trajectory[members[m]];
      r.Set("score", ret);
      r.Set("group_size", returns.size());
      r.Set("group_mean", mean);
      r.Set("baseline", baseline);
      r.advantage = ret - baseline;
      if (options_.adv_normalization) {
        r.Set("group_std", std);
        r.advantage /= std::max(std, 1e-7);
      }
    }
  }
  std::vector<RowAdvantage> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) out[i] = per_trajectory[index.trajectory_of_row[i]];
  return out;
}

}  // namespace turnwise
