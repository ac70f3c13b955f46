// Module-private helpers shared by the advantage estimators: the validated index of a batch of
// rows (groups, trajectories in turn order, episode scores) and the statistics the official
// implementations use (torch.std is unbiased; verl's masked_whiten is token-weighted).
#ifndef TURNWISE_TRAINING_ADVANTAGES_INTERNAL_COMMON_H_
#define TURNWISE_TRAINING_ADVANTAGES_INTERNAL_COMMON_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise::advantages_internal {

struct TrajectoryInfo {
  std::string id;
  size_t group = 0;            // index into BatchIndex::groups
  std::vector<size_t> rows;    // row indices sorted by turn
  size_t first_input_row = 0;  // the row that represents the trajectory in per-trajectory stats
};

struct GroupInfo {
  std::string id;
  std::vector<size_t> rows;          // input order
  std::vector<size_t> trajectories;  // order of first appearance
};

struct BatchIndex {
  std::vector<GroupInfo> groups;             // order of first appearance
  std::vector<TrajectoryInfo> trajectories;  // order of first appearance
  std::vector<size_t> group_of_row;
  std::vector<size_t> trajectory_of_row;
  std::vector<size_t> position_in_trajectory;  // 0-based rank of the row's turn
  // Episode score on each row, after the row's invalid-action penalty (what verl-agent puts on
  // the row) and before it.
  std::vector<double> score;
  std::vector<double> unpenalized_score;
};

// A schema field without C++20 designated initializers.
FieldSpec MakeField(std::string path, FieldType type, Json default_value, std::string help,
                    std::vector<std::string> choices = {}, std::optional<double> min = std::nullopt,
                    std::optional<double> max = std::nullopt);

// Declares the shared "statistics" key (step_weighted | per_trajectory, default step_weighted).
void AddStatisticsField(ConfigSchema& schema);

// Validates `config` against `schema` (null counts as {}); ConfigError names the key.
Json ValidateConfig(const ConfigSchema& schema, const Json& config);

// Validates the AdvantageRow invariants (InvalidArgument naming the row otherwise) and indexes
// the batch.
BatchIndex IndexRows(const std::vector<AdvantageRow>& rows);

// "row 3 (trajectory 't1', turn 2)", for messages.
std::string DescribeRow(const std::vector<AdvantageRow>& rows, size_t i);

// The samples that enter group `g`'s episode statistics, in the order the reference code
// collects them: one per step row (kStepWeighted) or one per trajectory (kPerTrajectory, the
// score on the trajectory's first row in input order; without its penalty when
// `with_penalty` is false).
std::vector<double> GroupSamples(const BatchIndex& index, size_t g, GroupStatistics statistics,
                                 bool with_penalty = true);

// Mean and spread of one group's samples under verl's episode-level rule: a group with a single
// sample gets mean 0 and std 1, so its advantage is the raw score (NOT 0). (GiGPO's step level
// uses a different singleton rule and does not use this.)
struct GroupMoments {
  double mean = 0.0;
  double std = 1.0;
  size_t size = 0;
};
GroupMoments EpisodeGroupMoments(const std::vector<double>& samples, bool population_std = false);

// Adds the part "invalid_action_penalty" when the row has one (the score already includes it).
void SetPenaltyPart(RowAdvantage& out, const AdvantageRow& row);

double Mean(const std::vector<double>& values);
// Unbiased (n-1) standard deviation, as torch.std; 0 for fewer than two values.
double SampleStd(const std::vector<double>& values);
// Population (n) standard deviation, as np.std.
double PopulationStd(const std::vector<double>& values);

// verl's masked_whiten with each row's value repeated over its num_tokens tokens:
// mean and unbiased variance over all tokens of the batch, x -> (x - mean) / sqrt(var + 1e-8).
struct TokenWhitening {
  double mean = 0.0;
  double scale = 1.0;  // sqrt(var + 1e-8)
  long long tokens = 0;
};
// Throws InvalidArgument when the batch has fewer than two response tokens (verl raises too:
// the unbiased variance is undefined).
TokenWhitening WhitenOverTokens(const std::vector<double>& values,
                                const std::vector<AdvantageRow>& rows, std::string_view method);

}  // namespace turnwise::advantages_internal

#endif  // TURNWISE_TRAINING_ADVANTAGES_INTERNAL_COMMON_H_
