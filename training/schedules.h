// Batch schedules around the update (docs/methods.md "Schedules"): which rows train, in what
// order, and on which rollouts. The pieces here are plain functions of the batch; the trainer
// (training/trainer.cc) drives them:
//   * SeeUPO: turns updated one at a time, last turn first; after each turn's update the
//     earlier turns' advantages are multiplied by the clipped cumulative sequence ratio of the
//     turns already updated (SeeUpoCorrection in training/advantages/seeupo.h, keyed by
//     trajectory id so that row order can never misalign it).
//   * DAPO dynamic sampling: groups whose outcomes are all equal carry no group-relative signal;
//     more groups are played until enough informative ones are collected or attempts run out.
//   * DAPO overlong reward shaping: a soft penalty for responses that run into the length limit.
//   * LOOP zero-advantage filtering: rows with |A| below a threshold are dropped.
// Thread safety: all functions are pure.
#ifndef TURNWISE_TRAINING_SCHEDULES_H_
#define TURNWISE_TRAINING_SCHEDULES_H_

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace turnwise {

// DAPO's soft overlong punishment (verl: min(−(L − (L_max − L_cache)) / L_cache · factor, 0)):
// 0 while length <= max_length − buffer, then falling linearly to −factor at max_length, and
// below −factor beyond it (verl does not floor it; lengths beyond max_length do not occur when
// max_length is the generation limit). buffer <= 0 turns it off (0).
double OverlongPenalty(int64_t length, int64_t max_length, int64_t buffer, double factor);

// The groups of `samples` (group id, metric value) whose values are all equal: DAPO drops them.
// A group with a single sample is kept (verl keeps it: its std is undefined, not 0).
std::set<std::string> ZeroVarianceGroups(const std::vector<std::pair<std::string, double>>& samples);

// SeeUPO's update order: the distinct turn indices, largest first ("reverse").
std::vector<int> ReverseTurnOrder(const std::vector<int>& turns);

// LOOP: keep[i] = |advantage[i]| >= threshold (ml-loop `_filter_rollouts`, threshold 0.01).
std::vector<bool> KeepNonZeroAdvantage(const std::vector<double>& advantages, double threshold);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_SCHEDULES_H_
