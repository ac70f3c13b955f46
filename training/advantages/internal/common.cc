#include "training/advantages/internal/common.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace turnwise::advantages_internal {

FieldSpec MakeField(std::string path, FieldType type, Json default_value, std::string help,
                    std::vector<std::string> choices, std::optional<double> min,
                    std::optional<double> max) {
  FieldSpec field;
  field.path = std::move(path);
  field.type = type;
  field.default_value = std::move(default_value);
  field.help = std::move(help);
  field.choices = std::move(choices);
  field.min = min;
  field.max = max;
  return field;
}

void AddStatisticsField(ConfigSchema& schema) {
  schema.Add(MakeField("statistics", FieldType::kString, "step_weighted",
                       "group mean/std over step rows (verl-agent default: an episode weighs as "
                       "many times as it has steps) or over trajectories (the papers)",
                       {"step_weighted", "per_trajectory"}));
}

Json ValidateConfig(const ConfigSchema& schema, const Json& config) {
  return schema.Validate(config.is_null() ? Json::object() : config);
}

std::string DescribeRow(const std::vector<AdvantageRow>& rows, size_t i) {
  return "row " + std::to_string(i) + " (trajectory '" + rows[i].trajectory_id + "', turn " +
         std::to_string(rows[i].turn) + ")";
}

namespace {

void CheckFinite(const std::vector<AdvantageRow>& rows, size_t i, const char* field, double v) {
  if (!std::isfinite(v)) {
    throw InvalidArgument(DescribeRow(rows, i) + ": " + field + " is not a finite number");
  }
}

}  // namespace

BatchIndex IndexRows(const std::vector<AdvantageRow>& rows) {
  BatchIndex index;
  const size_t n = rows.size();
  index.group_of_row.resize(n);
  index.trajectory_of_row.resize(n);
  index.position_in_trajectory.resize(n);
  index.score.resize(n);
  index.unpenalized_score.resize(n);

  std::unordered_map<std::string, size_t> group_ids;
  std::unordered_map<std::string, size_t> trajectory_ids;
  for (size_t i = 0; i < n; ++i) {
    const AdvantageRow& row = rows[i];
    if (row.group_id.empty()) throw InvalidArgument(DescribeRow(rows, i) + ": empty group_id");
    if (row.trajectory_id.empty()) {
      throw InvalidArgument(DescribeRow(rows, i) + ": empty trajectory_id");
    }
    CheckFinite(rows, i, "reward", row.reward);
    CheckFinite(rows, i, "entropy", row.entropy);
    CheckFinite(rows, i, "invalid_action_penalty", row.invalid_action_penalty);
    if (row.episode_return) CheckFinite(rows, i, "episode_return", *row.episode_return);
    if (row.value) CheckFinite(rows, i, "value", *row.value);
    if (row.num_tokens < 0) throw InvalidArgument(DescribeRow(rows, i) + ": num_tokens < 0");

    auto [git, new_group] = group_ids.emplace(row.group_id, index.groups.size());
    if (new_group) index.groups.push_back(GroupInfo{row.group_id, {}, {}});
    const size_t g = git->second;
    index.groups[g].rows.push_back(i);
    index.group_of_row[i] = g;

    auto [tit, new_trajectory] =
        trajectory_ids.emplace(row.trajectory_id, index.trajectories.size());
    if (new_trajectory) {
      index.trajectories.push_back(TrajectoryInfo{row.trajectory_id, g, {}, i});
      index.groups[g].trajectories.push_back(tit->second);
    }
    const size_t t = tit->second;
    TrajectoryInfo& trajectory = index.trajectories[t];
    if (trajectory.group != g) {
      throw InvalidArgument(DescribeRow(rows, i) + ": group '" + row.group_id +
                            "' differs from the trajectory's group '" +
                            index.groups[trajectory.group].id + "'");
    }
    trajectory.rows.push_back(i);
    index.trajectory_of_row[i] = t;
  }

  for (TrajectoryInfo& trajectory : index.trajectories) {
    std::stable_sort(trajectory.rows.begin(), trajectory.rows.end(),
                     [&](size_t a, size_t b) { return rows[a].turn < rows[b].turn; });
    double total_reward = 0.0;
    for (size_t k = 0; k < trajectory.rows.size(); ++k) {
      const size_t i = trajectory.rows[k];
      index.position_in_trajectory[i] = k;
      total_reward += rows[i].reward;
      if (k == 0) continue;
      const size_t prev = trajectory.rows[k - 1];
      if (rows[prev].turn == rows[i].turn) {
        throw InvalidArgument(DescribeRow(rows, i) + ": duplicate turn (also " +
                              DescribeRow(rows, prev) + ")");
      }
      if (rows[prev].done || rows[prev].truncated) {
        throw InvalidArgument(DescribeRow(rows, prev) + " is marked " +
                              (rows[prev].done ? "done" : "truncated") + " but turn " +
                              std::to_string(rows[i].turn) + " follows it");
      }
    }
    for (size_t i : trajectory.rows) {
      index.unpenalized_score[i] = rows[i].episode_return.value_or(total_reward);
      index.score[i] = index.unpenalized_score[i] - rows[i].invalid_action_penalty;
    }
  }
  return index;
}

std::vector<double> GroupSamples(const BatchIndex& index, size_t g, GroupStatistics statistics,
                                 bool with_penalty) {
  const std::vector<double>& scores = with_penalty ? index.score : index.unpenalized_score;
  std::vector<double> samples;
  const GroupInfo& group = index.groups[g];
  if (statistics == GroupStatistics::kStepWeighted) {
    samples.reserve(group.rows.size());
    for (size_t i : group.rows) samples.push_back(scores[i]);
  } else {
    samples.reserve(group.trajectories.size());
    for (size_t t : group.trajectories) {
      samples.push_back(scores[index.trajectories[t].first_input_row]);
    }
  }
  return samples;
}

void SetPenaltyPart(RowAdvantage& out, const AdvantageRow& row) {
  if (row.invalid_action_penalty != 0.0) {
    out.Set("invalid_action_penalty", row.invalid_action_penalty);
  }
}

double Mean(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

namespace {
double SumSquaredDeviations(const std::vector<double>& values) {
  const double mean = Mean(values);
  double ss = 0.0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return ss;
}
}  // namespace

double SampleStd(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  return std::sqrt(SumSquaredDeviations(values) / static_cast<double>(values.size() - 1));
}

double PopulationStd(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  return std::sqrt(SumSquaredDeviations(values) / static_cast<double>(values.size()));
}

GroupMoments EpisodeGroupMoments(const std::vector<double>& samples, bool population_std) {
  GroupMoments m;
  m.size = samples.size();
  if (samples.size() <= 1) return m;  // mean 0, std 1
  m.mean = Mean(samples);
  m.std = population_std ? PopulationStd(samples) : SampleStd(samples);
  return m;
}

TokenWhitening WhitenOverTokens(const std::vector<double>& values,
                                const std::vector<AdvantageRow>& rows, std::string_view method) {
  TokenWhitening w;
  double weighted_sum = 0.0;
  for (size_t i = 0; i < rows.size(); ++i) {
    w.tokens += rows[i].num_tokens;
    weighted_sum += values[i] * rows[i].num_tokens;
  }
  if (w.tokens < 2) {
    throw InvalidArgument(std::string(method) +
                          ": whitening needs at least two response tokens in the batch, got " +
                          std::to_string(w.tokens));
  }
  const double n = static_cast<double>(w.tokens);
  w.mean = weighted_sum / n;
  double ss = 0.0;
  for (size_t i = 0; i < rows.size(); ++i) {
    ss += rows[i].num_tokens * (values[i] - w.mean) * (values[i] - w.mean);
  }
  const double variance = ss / (n - 1.0);  // verl: masked mean times n/(n-1)
  w.scale = std::sqrt(variance + 1e-8);
  return w;
}

}  // namespace turnwise::advantages_internal
