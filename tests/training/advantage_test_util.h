// The common toy example of the hand-computed worked examples (the "toy example" whose values
// docs/methods.md quotes) as AdvantageRows, and small helpers.
//
//   traj  group  anchors      step rewards            R
//   t1    A      s0 s1 s2     0 0 1                   1
//   t2    A      s0 s1        0 0  (truncated)        0
//   t3    A      s0 s3 s2     0 0 0                   0
//   t4    B      u0 u1        0 1                     1
//   t5    B      u0 u1        0 1                     1
//   t6    B      u0 u2 u1     0 0 1                   1
#ifndef TURNWISE_TESTS_TRAINING_ADVANTAGE_TEST_UTIL_H_
#define TURNWISE_TESTS_TRAINING_ADVANTAGE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "training/advantages/advantage.h"

namespace turnwise::testing_util {

// Tolerance of the worked examples: their hand-computed values have 4 decimals.
constexpr double kSpecTol = 1e-4;

struct ToyTrajectory {
  std::string id;
  std::string group;
  std::vector<std::string> anchors;
  std::vector<double> rewards;
  bool truncated;
};

inline std::vector<ToyTrajectory> ToyTrajectories() {
  return {{"t1", "A", {"s0", "s1", "s2"}, {0, 0, 1}, false},
          {"t2", "A", {"s0", "s1"}, {0, 0}, true},
          {"t3", "A", {"s0", "s3", "s2"}, {0, 0, 0}, false},
          {"t4", "B", {"u0", "u1"}, {0, 1}, false},
          {"t5", "B", {"u0", "u1"}, {0, 1}, false},
          {"t6", "B", {"u0", "u2", "u1"}, {0, 0, 1}, false}};
}

// 15 rows, trajectory by trajectory, turns numbered from 1 as in the worked examples ("t1 t3" is
// trajectory t1, turn 3). episode_return is left unset: the estimators sum the step rewards.
inline std::vector<AdvantageRow> ToyRows() {
  std::vector<AdvantageRow> rows;
  for (const ToyTrajectory& t : ToyTrajectories()) {
    for (size_t k = 0; k < t.anchors.size(); ++k) {
      AdvantageRow row;
      row.group_id = t.group;
      row.trajectory_id = t.id;
      row.turn = static_cast<int>(k) + 1;
      row.reward = t.rewards[k];
      row.anchor_key = t.anchors[k];
      const bool last = k + 1 == t.anchors.size();
      row.truncated = last && t.truncated;
      row.done = last && !t.truncated;
      rows.push_back(row);
    }
  }
  return rows;
}

// The index of (trajectory, turn) in `rows`; fails the test when absent.
inline size_t RowOf(const std::vector<AdvantageRow>& rows, const std::string& trajectory,
                    int turn) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].trajectory_id == trajectory && rows[i].turn == turn) return i;
  }
  ADD_FAILURE() << "no row " << trajectory << " turn " << turn;
  return 0;
}

// The advantage of every row of `trajectory`, in turn order.
inline std::vector<double> AdvantagesOf(const std::vector<AdvantageRow>& rows,
                                        const std::vector<RowAdvantage>& out,
                                        const std::string& trajectory) {
  std::vector<double> result;
  for (int turn = 1;; ++turn) {
    bool found = false;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].trajectory_id == trajectory && rows[i].turn == turn) {
        result.push_back(out[i].advantage);
        found = true;
      }
    }
    if (!found) break;
  }
  return result;
}

// One row per trajectory (single-sequence layout: the trajectory-level worked examples).
inline std::vector<AdvantageRow> OneRowPerTrajectory(const std::vector<double>& returns,
                                                     const std::vector<std::string>& groups,
                                                     const std::vector<int>& tokens = {}) {
  std::vector<AdvantageRow> rows;
  for (size_t i = 0; i < returns.size(); ++i) {
    AdvantageRow row;
    row.group_id = groups[i];
    row.trajectory_id = "t" + std::to_string(i + 1);
    row.turn = 1;
    row.reward = returns[i];
    row.num_tokens = tokens.empty() ? 1 : tokens[i];
    row.done = true;
    rows.push_back(row);
  }
  return rows;
}

#define EXPECT_ADVANTAGES_NEAR(actual, expected, tol)                                  \
  do {                                                                                 \
    const std::vector<double> turnwise_actual_ = (actual);                             \
    const std::vector<double> turnwise_expected_ = (expected);                         \
    ASSERT_EQ(turnwise_actual_.size(), turnwise_expected_.size());                     \
    for (size_t turnwise_k_ = 0; turnwise_k_ < turnwise_actual_.size(); ++turnwise_k_) \
      EXPECT_NEAR(turnwise_actual_[turnwise_k_], turnwise_expected_[turnwise_k_], tol) \
          << "at index " << turnwise_k_;                                               \
  } while (0)

}  // namespace turnwise::testing_util

#endif  // TURNWISE_TESTS_TRAINING_ADVANTAGE_TEST_UTIL_H_
