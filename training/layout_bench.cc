#include "training/layout_bench.h"

#include <torch/torch.h>

#include <chrono>
#include <map>
#include <cstdio>
#include <ostream>
#include <vector>

#include "agents/lm_policy.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/stats.h"
#include "training/internal/training_rows.h"
#include "training/rollout.h"

namespace turnwise {
namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct LayoutSample {
  double rollout_tokens_per_s = 0;  // generated tokens / rollout wall time
  double update_tokens_per_s = 0;   // trained (response) tokens / forward+backward wall time
  double context_per_token = 0;     // tokens the update's forward passes read per trained token
  double env_steps = 0;
  double generated = 0;
};

LayoutSample Measure(LmPolicy& policy, const LayoutBenchOptions& o, bool episode_layout, int rep) {
  LmPolicyOptions lm = policy.options();
  lm.layout = episode_layout ? "episode" : "steps";
  policy.set_options(lm);
  RolloutOptions ro;
  ro.env = o.env;
  ro.env_config = o.env_config;
  ro.group_size = o.group_size;
  ro.max_turns = o.max_turns;
  ro.max_active = o.groups * o.group_size;
  RolloutEngine engine(ro);
  std::vector<RolloutEpisode> episodes;
  const uint64_t seed = 17;
  RolloutStats s = engine.Run(policy, MakeTasks("train", o.groups, rep, seed), rep, seed,
                              [&](RolloutEpisode&& e) { episodes.push_back(std::move(e)); });
  LayoutSample out;
  out.env_steps = static_cast<double>(s.env_steps);
  out.generated = static_cast<double>(s.generated_tokens);
  out.rollout_tokens_per_s = static_cast<double>(s.generated_tokens) / s.seconds;

  // The learner's rows of these episodes, scored and backpropagated as the trainer does.
  std::vector<EpisodeTokens> tokens(episodes.size());
  std::vector<TrainingRow> rows;
  for (size_t e = 0; e < episodes.size(); ++e) {
    const auto& turns = episodes[e].record.turns;
    for (size_t t = 0; t < turns.size(); ++t) {
      if (episode_layout) tokens[e].push_back({episodes[e].prompt_tokens[t], turns[t].token_ids});
      TrainingRow row;
      row.prompt = episodes[e].prompt_tokens[t];
      row.response = turns[t].token_ids;
      row.trajectory = static_cast<int64_t>(e);
      row.turn = static_cast<int>(t);
      rows.push_back(std::move(row));
    }
  }
  const RowScorer scorer(episode_layout, &tokens, 1.0);
  std::vector<size_t> all(rows.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  TransformerLMImpl& model = policy.model();
  model.train();
  double trained = 0, read = 0;
  const double t0 = Now();
  for (const std::vector<size_t>& chunk : scorer.Chunks(rows, all, static_cast<size_t>(o.micro_batch_rows))) {
    TokenScores scores = scorer.Score(model, rows, chunk);
    (-(scores.logprobs * scores.mask).sum() / scores.mask.sum().clamp_min(1.0)).backward();
    trained += scores.mask.sum().item<double>();
    if (episode_layout) {
      std::map<int64_t, int> last;
      for (size_t r : chunk) last[rows[r].trajectory] = std::max(last[rows[r].trajectory], rows[r].turn);
      for (const auto& [e, t] : last) read += static_cast<double>(EpisodeLength(tokens[static_cast<size_t>(e)], t + 1));
    } else {
      for (size_t r : chunk) read += static_cast<double>(rows[r].prompt.size() + rows[r].response.size());
    }
  }
  const double seconds = Now() - t0;
  for (auto& p : model.parameters()) p.mutable_grad() = at::Tensor();
  model.eval();
  out.update_tokens_per_s = trained / seconds;
  out.context_per_token = read / std::max(1.0, trained);
  return out;
}

}  // namespace

void RunLayoutBench(const LayoutBenchOptions& o, std::ostream& out) {
  if (o.model.empty()) throw InvalidArgument("bench layout: give --model DIR (an HF-layout checkpoint folder)");
  if (o.repeats < 1 || o.groups < 1 || o.group_size < 1 || o.max_turns < 1) {
    throw InvalidArgument("bench layout: repeats, groups, group size and max turns must be >= 1");
  }
  LmPolicyOptions lm;
  lm.checkpoint = o.model;
  lm.temperature = 1.0;
  lm.max_new_tokens = o.max_new_tokens;
  lm.history_length = o.history_length;
  lm.threads = o.threads;
  auto policy = LmPolicy::Load(lm);
  at::set_num_threads(o.threads);
  out << "layouts: " << o.env << ", lm policy " << o.model << ", " << o.groups << " groups x " << o.group_size
      << " episodes, <= " << o.max_turns << " turns, <= " << o.max_new_tokens << " tokens per turn; steps layout with "
      << o.history_length << " turns of history; " << o.threads << " torch threads; median of " << o.repeats
      << " (layouts alternate)\n\n";
  std::vector<double> rollout[2], update[2], context[2], steps[2];
  for (int rep = 0; rep < o.repeats; ++rep) {
    for (int layout = 0; layout < 2; ++layout) {
      LayoutSample s = Measure(*policy, o, layout == 1, rep);
      rollout[layout].push_back(s.rollout_tokens_per_s);
      update[layout].push_back(s.update_tokens_per_s);
      context[layout].push_back(s.context_per_token);
      steps[layout].push_back(s.env_steps);
    }
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%-10s %12s %22s %22s %24s\n", "layout", "env steps", "rollout tokens/s",
                "update tokens/s", "context read per token");
  out << line;
  const char* names[2] = {"steps", "episode"};
  for (int l = 0; l < 2; ++l) {
    std::snprintf(line, sizeof(line), "%-10s %12.0f %22.1f %22.1f %24.1f\n", names[l], Median(steps[l]),
                  Median(rollout[l]), Median(update[l]), Median(context[l]));
    out << line;
  }
  std::snprintf(line, sizeof(line), "\nepisode / steps: rollout tokens/s %.2fx, update tokens/s %.2fx\n",
                Median(rollout[1]) / Median(rollout[0]), Median(update[1]) / Median(update[0]));
  out << line;
}

}  // namespace turnwise
