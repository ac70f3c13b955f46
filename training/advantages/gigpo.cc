#include "training/advantages/gigpo.h"

#include <unordered_map>

#include "core/error.h"
#include "training/advantages/internal/common.h"
#include "training/advantages/internal/sequence_matcher.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::EpisodeGroupMoments;
using advantages_internal::GroupMoments;
using advantages_internal::GroupSamples;
using advantages_internal::MakeField;

namespace {

struct StepCluster {
  size_t representative = 0;  // row whose anchor the others are compared with
  std::vector<size_t> rows;
};

// Clusters the rows of one episode group (input order) by anchor state.
std::vector<StepCluster> ClusterAnchors(const std::vector<AdvantageRow>& rows,
                                        const std::vector<size_t>& group_rows,
                                        const GigpoOptions& options) {
  std::vector<StepCluster> clusters;
  if (!options.enable_similarity) {
    std::unordered_map<std::string, size_t> by_key;
    for (size_t i : group_rows) {
      auto [it, inserted] = by_key.emplace(rows[i].anchor_key, clusters.size());
      if (inserted) clusters.push_back(StepCluster{i, {}});
      clusters[it->second].rows.push_back(i);
    }
    return clusters;
  }
  for (size_t i : group_rows) {
    bool placed = false;
    for (StepCluster& cluster : clusters) {
      const std::string& rep = rows[cluster.representative].anchor_key;
      // verl-agent: are_similar(obs, cluster["rep"]) -> SequenceMatcher(None, obs, rep).
      if (rows[i].anchor_key == rep || advantages_internal::SequenceMatcherRatio(
                                           rows[i].anchor_key, rep) >= options.similarity_thresh) {
        cluster.rows.push_back(i);
        placed = true;
        break;
      }
    }
    if (!placed) clusters.push_back(StepCluster{i, {i}});
  }
  return clusters;
}

}  // namespace

GigpoEstimator::GigpoEstimator(GigpoOptions options) : options_(options) {
  TURNWISE_CHECK_MSG(!options_.enable_similarity ||
                         (options_.similarity_thresh > 0.0 && options_.similarity_thresh < 1.0),
                     "gigpo similarity_thresh must be in (0, 1)");
}

ConfigSchema GigpoEstimator::Schema() {
  ConfigSchema schema;
  schema.Add("step_advantage_w", FieldType::kNumber, 1.0,
             "omega: weight of the anchor-state step advantage");
  schema.Add(MakeField("mode", FieldType::kString, "mean_norm",
                       "mean_norm: subtract the group mean; mean_std_norm: also divide by "
                       "std + epsilon (both levels)",
                       {"mean_norm", "mean_std_norm"}));
  schema.Add(MakeField("gamma", FieldType::kNumber, 1.0,
                       "discount of the step returns (the official scripts use 0.95)", {}, 0.0,
                       1.0));
  schema.Add("enable_similarity", FieldType::kBool, false,
             "match anchor states by difflib similarity instead of exact equality");
  schema.Add(MakeField("similarity_thresh", FieldType::kNumber, 0.95,
                       "minimum SequenceMatcher ratio to join a step group, in (0, 1)", {}, 0.0,
                       1.0));
  advantages_internal::AddStatisticsField(schema);
  schema.Add(
      MakeField("epsilon", FieldType::kNumber, 1e-6, "added to the std in mean_std_norm", {}, 0.0));
  return schema;
}

std::unique_ptr<GigpoEstimator> GigpoEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  GigpoOptions o;
  o.step_advantage_w = c["step_advantage_w"].get<double>();
  o.mode = c["mode"] == "mean_std_norm" ? GigpoMode::kMeanStdNorm : GigpoMode::kMeanNorm;
  o.gamma = c["gamma"].get<double>();
  o.enable_similarity = c["enable_similarity"].get<bool>();
  o.similarity_thresh = c["similarity_thresh"].get<double>();
  o.statistics = ParseGroupStatistics(c["statistics"].get<std::string>());
  o.epsilon = c["epsilon"].get<double>();
  if (o.enable_similarity && !(o.similarity_thresh > 0.0 && o.similarity_thresh < 1.0)) {
    throw ConfigError("similarity_thresh",
                      "must be strictly between 0 and 1 when enable_similarity is true, got " +
                          DumpJson(c["similarity_thresh"]));
  }
  return std::make_unique<GigpoEstimator>(o);
}

Json GigpoEstimator::Config() const {
  return {{"step_advantage_w", options_.step_advantage_w},
          {"mode", options_.mode == GigpoMode::kMeanStdNorm ? "mean_std_norm" : "mean_norm"},
          {"gamma", options_.gamma},
          {"enable_similarity", options_.enable_similarity},
          {"similarity_thresh", options_.similarity_thresh},
          {"statistics", GroupStatisticsName(options_.statistics)},
          {"epsilon", options_.epsilon}};
}

std::vector<RowAdvantage> GigpoEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  const BatchIndex index = advantages_internal::IndexRows(rows);
  const bool with_std = options_.mode == GigpoMode::kMeanStdNorm;
  std::vector<RowAdvantage> out(rows.size());

  // Discounted step returns (Eq. 5), backwards over each trajectory's raw rewards. verl-agent
  // applies the invalid-action penalty to the finished return of that row only.
  std::vector<double> step_return(rows.size(), 0.0);
  for (const auto& trajectory : index.trajectories) {
    double running = 0.0;
    for (size_t k = trajectory.rows.size(); k-- > 0;) {
      const size_t i = trajectory.rows[k];
      running = rows[i].reward + options_.gamma * running;
      step_return[i] = running - rows[i].invalid_action_penalty;
    }
  }

  for (size_t g = 0; g < index.groups.size(); ++g) {
    // Episode level (Eq. 3).
    const GroupMoments ep = EpisodeGroupMoments(GroupSamples(index, g, options_.statistics));
    for (size_t i : index.groups[g].rows) {
      RowAdvantage& r = out[i];
      const double centered = index.score[i] - ep.mean;
      const double a_e = with_std ? centered / (ep.std + options_.epsilon) : centered;
      r.Set("score", index.score[i]);
      advantages_internal::SetPenaltyPart(r, rows[i]);
      r.Set("episode_group_size", ep.size);
      r.Set("episode_group_mean", ep.mean);
      if (with_std) r.Set("episode_group_std", ep.std);
      r.Set("episode_advantage", a_e);
    }

    // Step level (Eq. 6, 7).
    const std::vector<StepCluster> clusters = ClusterAnchors(rows, index.groups[g].rows, options_);
    for (size_t c = 0; c < clusters.size(); ++c) {
      const StepCluster& cluster = clusters[c];
      std::vector<double> returns;
      for (size_t i : cluster.rows) returns.push_back(step_return[i]);
      // A lone row is its own baseline (A_S = 0), unlike the episode level's mean 0.
      const bool singleton = returns.size() == 1;
      const double mean = singleton ? returns[0] : advantages_internal::Mean(returns);
      const double std = singleton ? 1.0 : advantages_internal::SampleStd(returns);
      const std::string id = index.groups[g].id + "#" + std::to_string(c);
      for (size_t i : cluster.rows) {
        RowAdvantage& r = out[i];
        const double centered = step_return[i] - mean;
        const double a_s = with_std ? centered / (std + options_.epsilon) : centered;
        r.Set("step_reward", rows[i].reward);
        r.Set("step_return", step_return[i]);
        r.Set("step_group_id", id);
        r.Set("step_group_anchor", rows[cluster.representative].anchor_key);
        r.Set("step_group_size", cluster.rows.size());
        r.Set("step_group_mean", mean);
        if (with_std) r.Set("step_group_std", std);
        r.Set("step_advantage", a_s);
        r.Set("step_advantage_w", options_.step_advantage_w);
        // Eq. 8.
        r.advantage = r.Number("episode_advantage") + options_.step_advantage_w * a_s;
      }
    }
  }
  return out;
}

}  // namespace turnwise
