// The learner's rows and how they are scored, in either layout (rollout.layout).
//
// A TrainingRow is one turn of one episode: its response tokens, the advantage broadcast to
// them, and its old and reference log-probs once known. Where its context comes from depends on
// the layout: "steps" — the row's own prompt (the rendered prompt with the last k turns);
// "episode" — every earlier turn of its episode, kept once per episode in an EpisodeTokens
// (the row's `prompt` is then only the segment its turn appended).
//
// RowScorer turns a list of rows into TokenScores with one row per listed row, in order, in the
// layout's way: steps — Score(prompts, responses); episode — every episode among the rows is
// forwarded once, up to the last listed turn (ScoreEpisodes), and the listed turns are picked
// out. Either way the numbers are the same for the same context (agents/generation.h).
//
// Not thread-safe; used by the learner's thread.
#ifndef TURNWISE_TRAINING_INTERNAL_TRAINING_ROWS_H_
#define TURNWISE_TRAINING_INTERNAL_TRAINING_ROWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agents/episode_tokens.h"
#include "agents/generation.h"

namespace turnwise {

class TransformerLMImpl;

struct TrainingRow {
  std::vector<int32_t> prompt;      // steps: the whole prompt; episode: this turn's context segment
  std::vector<int32_t> response;
  double advantage = 0;
  std::vector<float> old_logprobs;  // empty until known
  std::vector<float> sampled_logprobs;  // as the rollout sampled them (compared with old_logprobs)
  std::vector<float> ref_logprobs;
  int64_t trajectory = 0;           // the episode's index in the iteration (episodes[] below)
  std::string trajectory_id;        // as the estimators saw it (SeeUPO's correction key)
  int turn = 0;
  bool last_turn = false;
};

class RowScorer {
 public:
  // `episodes` (episode layout only): the token view of every episode, indexed by
  // TrainingRow::trajectory; it must outlive the scorer. `temperature`: see Score().
  RowScorer(bool episode_layout, const std::vector<EpisodeTokens>* episodes, double temperature)
      : episode_layout_(episode_layout), episodes_(episodes), temperature_(temperature) {}

  // [which.size(), longest response] scores of rows[which[k]], differentiable unless grad mode
  // is off.
  TokenScores Score(TransformerLMImpl& model, const std::vector<TrainingRow>& rows,
                    const std::vector<size_t>& which) const;

  // `which` cut into chunks of about `max_rows` rows for scoring without gradients: by similar
  // length in the steps layout; whole episodes together in the episode layout (an episode is
  // forwarded once per chunk it appears in, so it is never split unless it alone exceeds
  // max_rows).
  std::vector<std::vector<size_t>> Chunks(const std::vector<TrainingRow>& rows, std::vector<size_t> which,
                                          size_t max_rows) const;

  // The tokens a forward pass over `rows[r]` reads: its prompt and response (steps), or its
  // episode up to and including its turn (episode). For length-sorting units.
  int64_t ContextLength(const TrainingRow& row) const;

  bool episode_layout() const { return episode_layout_; }
  double temperature() const { return temperature_; }

 private:
  bool episode_layout_;
  const std::vector<EpisodeTokens>* episodes_;
  double temperature_;
};

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_INTERNAL_TRAINING_ROWS_H_
