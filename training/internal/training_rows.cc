#include "training/internal/training_rows.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "core/error.h"

namespace turnwise {

int64_t RowScorer::ContextLength(const TrainingRow& row) const {
  if (!episode_layout_) return static_cast<int64_t>(row.prompt.size() + row.response.size());
  return EpisodeLength((*episodes_)[static_cast<size_t>(row.trajectory)], row.turn + 1);
}

TokenScores RowScorer::Score(TransformerLMImpl& model, const std::vector<TrainingRow>& rows,
                             const std::vector<size_t>& which) const {
  if (!episode_layout_) {
    std::vector<std::vector<int32_t>> prompts, responses;
    prompts.reserve(which.size());
    responses.reserve(which.size());
    for (size_t r : which) {
      prompts.push_back(rows[r].prompt);
      responses.push_back(rows[r].response);
    }
    return turnwise::Score(model, prompts, responses, temperature_);
  }
  // Each episode once, cut after the last turn asked for; then the asked turns picked out.
  std::map<int64_t, int> last_turn;  // trajectory -> last turn needed
  for (size_t r : which) {
    auto [it, fresh] = last_turn.try_emplace(rows[r].trajectory, rows[r].turn);
    if (!fresh) it->second = std::max(it->second, rows[r].turn);
  }
  std::vector<EpisodeTokens> cut;
  cut.reserve(last_turn.size());
  std::map<int64_t, int64_t> first_row;  // trajectory -> its turn 0's row in the scores
  int64_t offset = 0;
  for (const auto& [trajectory, turn] : last_turn) {
    if (trajectory < 0 || trajectory >= static_cast<int64_t>(episodes_->size())) {
      throw FailedPrecondition("a training row refers to episode " + std::to_string(trajectory) +
                               " outside the iteration's " + std::to_string(episodes_->size()));
    }
    const EpisodeTokens& full = (*episodes_)[static_cast<size_t>(trajectory)];
    cut.emplace_back(full.begin(), full.begin() + std::min<int64_t>(turn + 1, static_cast<int64_t>(full.size())));
    first_row[trajectory] = offset;
    offset += static_cast<int64_t>(cut.back().size());
  }
  std::vector<const EpisodeTokens*> pointers;
  for (const auto& e : cut) pointers.push_back(&e);
  TokenScores all = ScoreEpisodes(model, pointers, temperature_);
  std::vector<int64_t> pick;
  int64_t width = 0;
  for (size_t r : which) {
    pick.push_back(first_row[rows[r].trajectory] + rows[r].turn);
    width = std::max<int64_t>(width, static_cast<int64_t>(rows[r].response.size()));
  }
  at::Tensor index = torch::tensor(pick, torch::kLong).to(all.logprobs.device());
  auto take = [&](const at::Tensor& t) { return t.index_select(0, index).narrow(1, 0, width); };
  return {take(all.logprobs), take(all.entropies), take(all.mask)};
}

std::vector<std::vector<size_t>> RowScorer::Chunks(const std::vector<TrainingRow>& rows, std::vector<size_t> which,
                                                   size_t max_rows) const {
  std::vector<std::vector<size_t>> chunks;
  max_rows = std::max<size_t>(1, max_rows);
  if (!episode_layout_) {
    std::stable_sort(which.begin(), which.end(), [&](size_t a, size_t b) {
      return ContextLength(rows[a]) < ContextLength(rows[b]);
    });
    for (size_t start = 0; start < which.size(); start += max_rows) {
      chunks.emplace_back(which.begin() + static_cast<std::ptrdiff_t>(start),
                          which.begin() + static_cast<std::ptrdiff_t>(std::min(which.size(), start + max_rows)));
    }
    return chunks;
  }
  // Whole episodes, shorter ones first (less padding when several share a chunk).
  std::map<int64_t, std::vector<size_t>> by_episode;
  for (size_t r : which) by_episode[rows[r].trajectory].push_back(r);
  std::vector<std::vector<size_t>> units;
  for (auto& [trajectory, members] : by_episode) units.push_back(std::move(members));
  auto unit_length = [&](const std::vector<size_t>& u) {
    int64_t longest = 0;
    for (size_t r : u) longest = std::max(longest, ContextLength(rows[r]));
    return longest;
  };
  std::stable_sort(units.begin(), units.end(),
                   [&](const auto& a, const auto& b) { return unit_length(a) < unit_length(b); });
  std::vector<size_t> current;
  for (const auto& unit : units) {
    if (!current.empty() && current.size() + unit.size() > max_rows) {
      chunks.push_back(std::move(current));
      current.clear();
    }
    current.insert(current.end(), unit.begin(), unit.end());
  }
  if (!current.empty()) chunks.push_back(std::move(current));
  return chunks;
}

}  // namespace turnwise
