#include "training/advantages/grpo.h"

#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::EpisodeGroupMoments;
using advantages_internal::GroupMoments;
using advantages_internal::GroupSamples;
using advantages_internal::MakeField;

GrpoEstimator::GrpoEstimator(GrpoOptions options, std::string name)
    : options_(options), name_(std::move(name)) {}

ConfigSchema GrpoEstimator::DrGrpoSchema() {
  ConfigSchema schema;
  advantages_internal::AddStatisticsField(schema);
  return schema;
}

ConfigSchema GrpoEstimator::Schema() {
  ConfigSchema schema = DrGrpoSchema();
  schema.Add("norm_adv_by_std", FieldType::kBool, true,
             "divide by the group std (false: Dr. GRPO, mean subtraction only)");
  schema.Add(MakeField("std_estimator", FieldType::kString, "unbiased",
                       "group std with n-1 (torch.std, verl) or n (np.std) in the denominator",
                       {"unbiased", "population"}));
  schema.Add(MakeField("epsilon", FieldType::kNumber, 1e-6,
                       "added to the group std before dividing", {}, 0.0));
  return schema;
}

std::unique_ptr<GrpoEstimator> GrpoEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  GrpoOptions o;
  o.norm_adv_by_std = c["norm_adv_by_std"].get<bool>();
  o.statistics = ParseGroupStatistics(c["statistics"].get<std::string>());
  o.std_estimator =
      c["std_estimator"] == "population" ? StdEstimator::kPopulation : StdEstimator::kUnbiased;
  o.epsilon = c["epsilon"].get<double>();
  return std::make_unique<GrpoEstimator>(o, "grpo");
}

std::unique_ptr<GrpoEstimator> GrpoEstimator::DrGrpoFromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(DrGrpoSchema(), config);
  GrpoOptions o;
  o.norm_adv_by_std = false;
  o.statistics = ParseGroupStatistics(c["statistics"].get<std::string>());
  return std::make_unique<GrpoEstimator>(o, "dr_grpo");
}

Json GrpoEstimator::Config() const {
  Json c = {{"statistics", GroupStatisticsName(options_.statistics)}};
  if (name_ == "dr_grpo") return c;
  c["norm_adv_by_std"] = options_.norm_adv_by_std;
  c["std_estimator"] =
      options_.std_estimator == StdEstimator::kPopulation ? "population" : "unbiased";
  c["epsilon"] = options_.epsilon;
  return c;
}

std::vector<RowAdvantage> GrpoEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  const BatchIndex index = advantages_internal::IndexRows(rows);
  std::vector<GroupMoments> moments;
  for (size_t g = 0; g < index.groups.size(); ++g) {
    moments.push_back(EpisodeGroupMoments(GroupSamples(index, g, options_.statistics),
                                          options_.std_estimator == StdEstimator::kPopulation));
  }
  std::vector<RowAdvantage> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const GroupMoments& m = moments[index.group_of_row[i]];
    const double centered = index.score[i] - m.mean;
    RowAdvantage& r = out[i];
    r.Set("score", index.score[i]);
    advantages_internal::SetPenaltyPart(r, rows[i]);
    r.Set("group_size", m.size);
    r.Set("group_mean", m.mean);
    if (options_.norm_adv_by_std) {
      r.Set("group_std", m.std);
      r.advantage = centered / (m.std + options_.epsilon);
    } else {
      r.advantage = centered;
    }
  }
  return out;
}

}  // namespace turnwise
