// Differential tests of the episode layout's model side: generation with a KV cache carried from
// turn to turn equals generation from the whole sequence (and recomputation without a cache);
// a turn scored inside its episode's sequence equals the same turn scored alone with the same
// context.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "agents/episode_tokens.h"
#include "agents/generation.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/hash.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

using testing_util::Qwen2Config;
using testing_util::RandomizeWeights;

class LayoutEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new LayoutEnv);

TransformerLM MakeModel(uint64_t seed) {
  TransformerLM m(Qwen2Config());
  RandomizeWeights(*m, seed);
  m->eval();
  return m;
}

// Deterministic segments of varied lengths over the vocabulary.
std::vector<int32_t> Segment(uint64_t key, int length) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i) out.push_back(static_cast<int32_t>(Mix64(HashCombine(key, i)) % 120) + 1);
  return out;
}

SamplingParams Params(bool greedy) {
  SamplingParams p;
  p.temperature = greedy ? 0.0 : 1.0;
  p.max_new_tokens = 6;
  p.stop_token_ids = {7, 11};  // rows stop at different turns, so batches shrink
  return p;
}

void ExpectSameGeneration(const GeneratedSequence& a, const GeneratedSequence& b, const std::string& where) {
  ASSERT_EQ(a.tokens, b.tokens) << where;
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t k = 0; k < a.logprobs.size(); ++k) {
    EXPECT_NEAR(a.logprobs[k], b.logprobs[k], 1e-4) << where << " token " << k;
    EXPECT_NEAR(a.entropies[k], b.entropies[k], 1e-4) << where << " token " << k;
  }
  EXPECT_EQ(a.finish_reason, b.finish_reason) << where;
}

// Parameter: greedy decoding (true) or sampling (false).
class CarriedCacheTest : public ::testing::TestWithParam<bool> {};

TEST_P(CarriedCacheTest, CarriedCacheEqualsTheWholeSequence) {
  const bool greedy = GetParam();
  TransformerLM model = MakeModel(3);
  const int episodes = 4;
  std::vector<CachedSequence> sequences(episodes);
  for (int turn = 0; turn < 4; ++turn) {
    std::vector<CachedSequence*> batch;
    std::vector<std::vector<int32_t>> segments;
    SamplingParams params = Params(greedy);
    // Episodes join and leave: episode 3 sits out turn 1 (its cache waits a turn).
    std::vector<int> members;
    for (int e = 0; e < episodes; ++e) {
      if (!(e == 3 && turn == 1)) members.push_back(e);
    }
    for (int e : members) {
      batch.push_back(&sequences[static_cast<size_t>(e)]);
      segments.push_back(Segment(HashCombine(e, turn), 2 + (e * 5 + turn * 3) % 9));
      params.row_seeds.push_back(HashCombine(100 + e, turn));
    }
    // The references: every row alone, its whole sequence as one prompt, with and without a
    // cache.
    std::vector<std::vector<int32_t>> whole;
    for (size_t k = 0; k < members.size(); ++k) {
      std::vector<int32_t> w = batch[k]->tokens;
      w.insert(w.end(), segments[k].begin(), segments[k].end());
      whole.push_back(w);
    }
    std::vector<GeneratedSequence> out = GenerateContinuations(*model, batch, segments, params);
    for (size_t k = 0; k < members.size(); ++k) {
      SamplingParams alone = Params(greedy);
      alone.row_seeds = {params.row_seeds[k]};
      GeneratedSequence cached = Generate(*model, {whole[k]}, alone)[0];
      alone.use_kv_cache = false;
      GeneratedSequence recomputed = Generate(*model, {whole[k]}, alone)[0];
      const std::string where = "turn " + std::to_string(turn) + " episode " + std::to_string(members[k]);
      ExpectSameGeneration(out[k], cached, where);
      ExpectSameGeneration(out[k], recomputed, where + " (no cache)");
      // The sequence now holds the segment and the sample; the cache all but the last token.
      std::vector<int32_t> expected = whole[k];
      expected.insert(expected.end(), out[k].tokens.begin(), out[k].tokens.end());
      EXPECT_EQ(batch[k]->tokens, expected);
      EXPECT_EQ(batch[k]->cached(), static_cast<int64_t>(expected.size()) - 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(GenerateContinuations, CarriedCacheTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Greedy" : "Sampled"; });

// Episodes that start with the same header share its prefill; their samples still equal
// generation from each whole sequence.
TEST(GenerateContinuations, ASharedFirstPromptGivesTheSameSamples) {
  TransformerLM model = MakeModel(8);
  const std::vector<int32_t> header = Segment(77, 30);
  std::vector<CachedSequence> sequences(3);
  for (int turn = 0; turn < 2; ++turn) {
    std::vector<CachedSequence*> batch;
    std::vector<std::vector<int32_t>> segments;
    SamplingParams params = Params(false);
    for (int e = 0; e < 3; ++e) {
      batch.push_back(&sequences[static_cast<size_t>(e)]);
      std::vector<int32_t> segment = turn == 0 ? header : std::vector<int32_t>{};
      const std::vector<int32_t> own = Segment(HashCombine(e, 50 + turn), 3 + e);
      segment.insert(segment.end(), own.begin(), own.end());
      segments.push_back(segment);
      params.row_seeds.push_back(HashCombine(e, turn));
    }
    std::vector<std::vector<int32_t>> whole;
    for (int e = 0; e < 3; ++e) {
      whole.push_back(batch[static_cast<size_t>(e)]->tokens);
      whole.back().insert(whole.back().end(), segments[static_cast<size_t>(e)].begin(), segments[static_cast<size_t>(e)].end());
    }
    std::vector<GeneratedSequence> out = GenerateContinuations(*model, batch, segments, params);
    for (int e = 0; e < 3; ++e) {
      SamplingParams alone = Params(false);
      alone.row_seeds = {params.row_seeds[static_cast<size_t>(e)]};
      ExpectSameGeneration(out[static_cast<size_t>(e)], Generate(*model, {whole[static_cast<size_t>(e)]}, alone)[0],
                           "turn " + std::to_string(turn) + " episode " + std::to_string(e));
      EXPECT_EQ(batch[static_cast<size_t>(e)]->cached(), static_cast<int64_t>(batch[static_cast<size_t>(e)]->tokens.size()) - 1);
    }
  }
}

TEST(GenerateContinuations, RejectsBadInput) {
  TransformerLM model = MakeModel(4);
  CachedSequence empty;
  EXPECT_THROW(GenerateContinuations(*model, {&empty}, {{}}, Params(true)), InvalidArgument);
  EXPECT_THROW(GenerateContinuations(*model, {&empty}, {{1}, {2}}, Params(true)), InvalidArgument);
  EXPECT_THROW(GenerateContinuations(*model, {&empty}, {{500}}, Params(true)), InvalidArgument);
}

EpisodeTokens MakeEpisode(uint64_t key, int turns) {
  EpisodeTokens e;
  for (int t = 0; t < turns; ++t) {
    e.push_back({Segment(HashCombine(key, 2 * t), 3 + (t * 7 + static_cast<int>(key)) % 11),
                 Segment(HashCombine(key, 2 * t + 1), 1 + (t * 3 + static_cast<int>(key)) % 6)});
  }
  return e;
}

TEST(ScoreEpisodes, ATurnScoresAsItsWholeContextScoredAlone) {
  TransformerLM model = MakeModel(5);
  std::vector<EpisodeTokens> episodes = {MakeEpisode(1, 4), MakeEpisode(2, 1), MakeEpisode(3, 6)};
  std::vector<const EpisodeTokens*> ptrs;
  for (const auto& e : episodes) ptrs.push_back(&e);
  for (double temperature : {1.0, 0.7}) {
    TokenScores together = ScoreEpisodes(*model, ptrs, temperature);
    ASSERT_EQ(together.logprobs.size(0), 11);
    int64_t row = 0;
    for (const EpisodeTokens& e : episodes) {
      std::vector<int32_t> context;
      for (const TurnTokens& t : e) {
        context.insert(context.end(), t.context.begin(), t.context.end());
        TokenScores alone = Score(*model, {context}, {t.response}, temperature);
        for (size_t j = 0; j < t.response.size(); ++j) {
          const auto jj = static_cast<int64_t>(j);
          EXPECT_NEAR(together.logprobs[row][jj].item<float>(), alone.logprobs[0][jj].item<float>(), 1e-4);
          EXPECT_NEAR(together.entropies[row][jj].item<float>(), alone.entropies[0][jj].item<float>(), 1e-4);
          EXPECT_EQ(together.mask[row][jj].item<float>(), 1.f);
        }
        for (int64_t j = static_cast<int64_t>(t.response.size()); j < together.mask.size(1); ++j) {
          EXPECT_EQ(together.mask[row][j].item<float>(), 0.f);
          EXPECT_EQ(together.logprobs[row][j].item<float>(), 0.f);
        }
        context.insert(context.end(), t.response.begin(), t.response.end());
        ++row;
      }
    }
  }
}

TEST(ScoreEpisodes, GradientsMatchPerTurnScoring) {
  // The loss over all turns has the same gradient whether each turn is scored alone or the
  // episode once.
  std::vector<EpisodeTokens> episodes = {MakeEpisode(7, 3), MakeEpisode(8, 2)};
  std::vector<const EpisodeTokens*> ptrs = {&episodes[0], &episodes[1]};
  auto grads = [&](bool together) {
    TransformerLM model = MakeModel(6);
    model->train();
    at::Tensor loss = at::zeros({});
    if (together) {
      TokenScores s = ScoreEpisodes(*model, ptrs);
      loss = (s.logprobs * s.mask).sum();
    } else {
      for (const EpisodeTokens& e : episodes) {
        std::vector<int32_t> context;
        for (const TurnTokens& t : e) {
          context.insert(context.end(), t.context.begin(), t.context.end());
          TokenScores s = Score(*model, {context}, {t.response});
          loss = loss + (s.logprobs * s.mask).sum();
          context.insert(context.end(), t.response.begin(), t.response.end());
        }
      }
    }
    loss.backward();
    std::vector<at::Tensor> out;
    for (auto& p : model->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  std::vector<at::Tensor> a = grads(true), b = grads(false);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::allclose(a[i], b[i], 1e-4, 1e-5)) << "parameter " << i;
}

// Episodes with a common header: the shared-prefix path gives the per-turn numbers and gradients.
TEST(ScoreEpisodes, ASharedPrefixRunsOnceWithTheSameScoresAndGradients) {
  std::vector<EpisodeTokens> episodes = {MakeEpisode(11, 3), MakeEpisode(12, 2), MakeEpisode(13, 4)};
  const std::vector<int32_t> header = Segment(99, 40);
  for (auto& e : episodes) e[0].context.insert(e[0].context.begin(), header.begin(), header.end());
  std::vector<const EpisodeTokens*> ptrs = {&episodes[0], &episodes[1], &episodes[2]};
  ASSERT_GE(SharedPrefixLength(ptrs), 40);
  ASSERT_GE(SharedPrefixLength(ptrs), kMinSharedPrefix);
  EXPECT_EQ(SharedPrefixLength({&episodes[0]}), 0);
  auto run = [&](bool together, std::vector<float>* scores) {
    TransformerLM model = MakeModel(6);
    model->train();
    at::Tensor loss = at::zeros({});
    if (together) {
      TokenScores s = ScoreEpisodes(*model, ptrs, 0.8);
      loss = (s.logprobs * s.mask).sum() + 0.1 * (s.entropies * s.mask).sum();
      at::Tensor flat = (s.logprobs * s.mask).sum(1).contiguous();
      for (int64_t i = 0; i < flat.size(0); ++i) scores->push_back(flat[i].item<float>());
    } else {
      for (const EpisodeTokens& e : episodes) {
        std::vector<int32_t> context;
        for (const TurnTokens& t : e) {
          context.insert(context.end(), t.context.begin(), t.context.end());
          TokenScores s = Score(*model, {context}, {t.response}, 0.8);
          loss = loss + (s.logprobs * s.mask).sum() + 0.1 * (s.entropies * s.mask).sum();
          scores->push_back((s.logprobs * s.mask).sum().item<float>());
          context.insert(context.end(), t.response.begin(), t.response.end());
        }
      }
    }
    loss.backward();
    std::vector<at::Tensor> grads;
    for (auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  std::vector<float> a_scores, b_scores;
  std::vector<at::Tensor> a = run(true, &a_scores), b = run(false, &b_scores);
  ASSERT_EQ(a_scores.size(), b_scores.size());
  for (size_t i = 0; i < a_scores.size(); ++i) EXPECT_NEAR(a_scores[i], b_scores[i], 1e-4) << "turn " << i;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::allclose(a[i], b[i], 1e-4, 1e-5)) << "parameter " << i;
}

TEST(ScoreEpisodes, RejectsAnEpisodeWithoutContext) {
  TransformerLM model = MakeModel(9);
  EpisodeTokens bad = {{{}, {1, 2}}};
  EXPECT_THROW(ScoreEpisodes(*model, {&bad}), InvalidArgument);
}

}  // namespace
}  // namespace turnwise
