// Tests of batched generation (KV cache vs recomputation, sampling controls, stops) and Score.
#include "agents/generation.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "agents/transformer_lm.h"
#include "core/error.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

using testing_util::LlamaGqaConfig;
using testing_util::Qwen2Config;
using testing_util::RandomizeWeights;

class GenEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new GenEnv);

// Prompts of different lengths so the batch is left-padded.
const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 2, 3}, {10, 20, 30, 40, 50, 60, 70, 80, 90}, {5}, {7, 7, 7, 7, 96}};

TransformerLM MakeModel(const ModelConfig& config, uint64_t seed) {
  TransformerLM m(config);
  RandomizeWeights(*m, seed);
  return m;
}

TEST(FilterLogits, TopPKeepsTheNucleus) {
  // probabilities 0.5, 0.3, 0.15, 0.05 in a shuffled order
  at::Tensor logits =
      at::log(at::tensor(std::vector<float>{0.15f, 0.5f, 0.05f, 0.3f})).view({1, 4});
  auto kept = [&](double top_p) {
    at::Tensor f = FilterLogits(logits, 1.0, 0, top_p);
    std::vector<int> out;
    for (int i = 0; i < 4; ++i) out.push_back(std::isfinite(f[0][i].item<float>()) ? 1 : 0);
    return out;
  };
  EXPECT_EQ(kept(0.4), (std::vector<int>{0, 1, 0, 0}));   // the top token alone reaches 0.4
  EXPECT_EQ(kept(0.7), (std::vector<int>{0, 1, 0, 1}));   // 0.5 < 0.7 -> add 0.3
  EXPECT_EQ(kept(0.85), (std::vector<int>{1, 1, 0, 1}));  // 0.8 < 0.85 -> add 0.15
  EXPECT_EQ(kept(1.0), (std::vector<int>{1, 1, 1, 1}));
  // Kept entries keep their (temperature-scaled) values.
  at::Tensor f = FilterLogits(logits, 2.0, 0, 0.7);
  EXPECT_NEAR(f[0][1].item<float>(), std::log(0.5f) / 2, 1e-6);
}

TEST(FilterLogits, TopKKeepsTheKLargest) {
  at::Tensor logits = at::tensor(std::vector<float>{1.0f, 4.0f, 3.0f, -2.0f, 2.0f}).view({1, 5});
  at::Tensor f = FilterLogits(logits, 1.0, 2, 1.0);
  EXPECT_TRUE(std::isfinite(f[0][1].item<float>()));
  EXPECT_TRUE(std::isfinite(f[0][2].item<float>()));
  EXPECT_EQ(at::isfinite(f).sum().item<int64_t>(), 2);
  EXPECT_THROW(FilterLogits(logits, 1.0, 0, 0.0), InvalidArgument);
}

TEST(SampleFromFilteredLogits, FollowsTheDistributionAndNeverPicksExcluded) {
  at::Tensor logits =
      at::log(at::tensor(std::vector<float>{0.15f, 0.5f, 0.05f, 0.3f})).view({1, 4});
  at::Tensor f = FilterLogits(logits, 1.0, 0, 0.85);  // renormalised 0.15/0.95, 0.5/0.95, 0.3/0.95
  Rng rng(42);
  std::vector<int> counts(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[SampleFromFilteredLogits(f, rng)[0].item<int64_t>()]++;
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[0] / double(n), 0.15 / 0.95, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.5 / 0.95, 0.015);
  EXPECT_NEAR(counts[3] / double(n), 0.3 / 0.95, 0.015);
}

TEST(Generate, KvCacheMatchesRecomputationGreedy) {
  for (const ModelConfig& config : {LlamaGqaConfig(), Qwen2Config()}) {
    TransformerLM model = MakeModel(config, 21);
    SamplingParams p;
    p.temperature = 0;
    p.max_new_tokens = 24;
    auto cached = Generate(*model, kPrompts, p);
    p.use_kv_cache = false;
    auto full = Generate(*model, kPrompts, p);
    ASSERT_EQ(cached.size(), kPrompts.size());
    for (size_t r = 0; r < kPrompts.size(); ++r) {
      EXPECT_EQ(cached[r].tokens, full[r].tokens) << "row " << r;
      ASSERT_EQ(cached[r].tokens.size(), 24u);
      for (size_t i = 0; i < cached[r].tokens.size(); ++i) {
        EXPECT_NEAR(cached[r].logprobs[i], full[r].logprobs[i], 2e-5);
        EXPECT_NEAR(cached[r].entropies[i], full[r].entropies[i], 2e-5);
      }
    }
    // Rows do not depend on their batch mates: row 1 alone gives the same tokens.
    auto alone =
        Generate(*model, {kPrompts[1]}, SamplingParams{.temperature = 0, .max_new_tokens = 24});
    EXPECT_EQ(alone[0].tokens, cached[1].tokens);
    // Equal-length prompts take the mask-free path; both paths still agree.
    const std::vector<std::vector<int32_t>> same_len = {{4, 5, 6, 7}, {9, 8, 7, 6}};
    p.use_kv_cache = true;
    auto a = Generate(*model, same_len, p);
    p.use_kv_cache = false;
    auto b = Generate(*model, same_len, p);
    for (size_t r = 0; r < same_len.size(); ++r) EXPECT_EQ(a[r].tokens, b[r].tokens);
  }
}

TEST(Generate, SamplingIsSeededAndCachePathAgrees) {
  TransformerLM model = MakeModel(Qwen2Config(), 22);
  SamplingParams p;
  p.temperature = 1.0;
  p.max_new_tokens = 16;
  p.seed = 7;
  auto a = Generate(*model, kPrompts, p);
  auto b = Generate(*model, kPrompts, p);
  p.use_kv_cache = false;
  auto c = Generate(*model, kPrompts, p);
  p.use_kv_cache = true;
  p.seed = 8;
  auto d = Generate(*model, kPrompts, p);
  bool any_diff = false;
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    EXPECT_EQ(a[r].tokens, b[r].tokens);
    EXPECT_EQ(a[r].tokens, c[r].tokens);
    any_diff |= a[r].tokens != d[r].tokens;
  }
  EXPECT_TRUE(any_diff) << "a different seed should change some samples";
}

TEST(Generate, TopKOneEqualsGreedy) {
  TransformerLM model = MakeModel(LlamaGqaConfig(), 23);
  auto greedy = Generate(*model, kPrompts, SamplingParams{.temperature = 0, .max_new_tokens = 12});
  auto topk =
      Generate(*model, kPrompts,
               SamplingParams{.temperature = 1.3, .top_k = 1, .max_new_tokens = 12, .seed = 3});
  for (size_t r = 0; r < kPrompts.size(); ++r) EXPECT_EQ(greedy[r].tokens, topk[r].tokens);
}

TEST(Generate, StopTokensEndRowsIndependently) {
  TransformerLM model = MakeModel(Qwen2Config(), 24);
  SamplingParams p{.temperature = 0, .max_new_tokens = 10};
  auto free_run = Generate(*model, kPrompts, p);
  const int32_t stop = free_run[0].tokens[2];
  p.stop_token_ids = {stop};
  auto stopped = Generate(*model, kPrompts, p);
  for (size_t r = 0; r < kPrompts.size(); ++r) {
    const auto& full = free_run[r].tokens;
    auto it = std::find(full.begin(), full.end(), stop);
    if (it == full.end()) {
      EXPECT_EQ(stopped[r].tokens, full);
      EXPECT_EQ(stopped[r].finish_reason, FinishReason::kLength);
    } else {
      std::vector<int32_t> prefix(full.begin(), it + 1);  // stop token kept
      EXPECT_EQ(stopped[r].tokens, prefix);
      EXPECT_EQ(stopped[r].finish_reason, FinishReason::kStopToken);
      EXPECT_EQ(stopped[r].logprobs.size(), prefix.size());
    }
  }
  EXPECT_LE(stopped[0].tokens.size(), 3u);
}

TEST(Generate, StopStringsUseTheDetokenizer) {
  TransformerLM model = MakeModel(Qwen2Config(), 25);
  SamplingParams p{.temperature = 0, .max_new_tokens = 10};
  auto free_run = Generate(*model, kPrompts, p);
  // Each token detokenizes to "<id>,"; stop on the text of tokens 3 and 4 of row 2.
  Detokenizer detok = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += "<" + std::to_string(id) + ">";
    return s;
  };
  const auto& row2 = free_run[2].tokens;
  p.stop_strings = {"<" + std::to_string(row2[3]) + "><" + std::to_string(row2[4]) + ">"};
  EXPECT_THROW(Generate(*model, kPrompts, p), InvalidArgument);  // no detokenizer
  auto stopped = Generate(*model, kPrompts, p, detok);
  EXPECT_EQ(stopped[2].finish_reason, FinishReason::kStopString);
  EXPECT_LE(stopped[2].tokens.size(), 5u);
  EXPECT_EQ(stopped[2].tokens,
            std::vector<int32_t>(row2.begin(), row2.begin() + stopped[2].tokens.size()));
}

TEST(Generate, MaxNewTokensIsRespected) {
  TransformerLM model = MakeModel(LlamaGqaConfig(), 26);
  for (int64_t n : {1, 5}) {
    auto out = Generate(*model, kPrompts, SamplingParams{.temperature = 0.7, .max_new_tokens = n});
    for (const auto& row : out) {
      EXPECT_EQ(static_cast<int64_t>(row.tokens.size()), n);
      EXPECT_EQ(row.finish_reason, FinishReason::kLength);
    }
  }
  EXPECT_THROW(Generate(*model, {{}}, SamplingParams{}), InvalidArgument);
  EXPECT_THROW(Generate(*model, {{1000}}, SamplingParams{}), InvalidArgument);
}

TEST(Score, MatchesGenerationLogprobsAndIsDifferentiable) {
  for (const ModelConfig& config : {LlamaGqaConfig(), Qwen2Config()}) {
    TransformerLM model = MakeModel(config, 27);
    SamplingParams p{.temperature = 1.0, .top_p = 1.0, .top_k = 0, .max_new_tokens = 12, .seed = 5};
    p.stop_token_ids = {3, 4, 5, 6};  // some rows stop early: responses of different lengths
    auto gen = Generate(*model, kPrompts, p);
    std::vector<std::vector<int32_t>> responses;
    for (const auto& g : gen) responses.push_back(g.tokens);
    TokenScores s = Score(*model, kPrompts, responses);
    ASSERT_EQ(s.logprobs.size(0), static_cast<int64_t>(kPrompts.size()));
    for (size_t r = 0; r < kPrompts.size(); ++r) {
      for (size_t i = 0; i < gen[r].tokens.size(); ++i) {
        EXPECT_NEAR(s.logprobs[r][i].item<float>(), gen[r].logprobs[i], 1e-5) << r << "," << i;
        EXPECT_NEAR(s.entropies[r][i].item<float>(), gen[r].entropies[i], 1e-5) << r << "," << i;
        EXPECT_EQ(s.mask[r][i].item<float>(), 1.0f);
      }
      for (int64_t i = gen[r].tokens.size(); i < s.mask.size(1); ++i) {
        EXPECT_EQ(s.mask[r][i].item<float>(), 0.0f);
        EXPECT_EQ(s.logprobs[r][i].item<float>(), 0.0f);
      }
    }
    // Gradients reach the weights.
    (s.logprobs.sum() + 0.1 * s.entropies.sum()).backward();
    for (auto& [name, w] : model->NamedWeights()) {
      ASSERT_TRUE(w.grad().defined()) << name;
    }
    auto weights = model->NamedWeights();
    EXPECT_GT(weights.front().second.grad().abs().sum().item<double>(), 0.0);
  }
}

// At temperature T, Score gives log_softmax(z / T)[y] and the entropy of softmax(z / T), z the
// logits of a plain full-sequence forward pass (what a trainer whose rollouts sample at T needs).
TEST(Score, TemperatureScoresTheTemperedDistribution) {
  TransformerLM model = MakeModel(LlamaGqaConfig(), 31);
  const std::vector<std::vector<int32_t>> prompts = {{5, 9, 2, 7}, {11, 3}};
  const std::vector<std::vector<int32_t>> responses = {{4, 8, 1}, {6}};
  for (double t : {0.4, 1.0, 1.7}) {
    TokenScores s = Score(*model, prompts, responses, t);
    for (size_t r = 0; r < prompts.size(); ++r) {
      std::vector<int64_t> ids(prompts[r].begin(), prompts[r].end());
      ids.insert(ids.end(), responses[r].begin(), responses[r].end());
      at::Tensor logits = model->Logits(model->ForwardHidden(at::tensor(ids).view({1, -1})))[0];
      for (size_t i = 0; i < responses[r].size(); ++i) {
        at::Tensor z = logits[static_cast<int64_t>(prompts[r].size() + i - 1)].to(at::kDouble) / t;
        at::Tensor logp = at::log_softmax(z, 0);
        const double want_lp = logp[responses[r][i]].item<double>();
        const double want_ent = -(logp.exp() * logp).sum().item<double>();
        EXPECT_NEAR(s.logprobs[r][i].item<double>(), want_lp, 1e-5) << "T=" << t << " row " << r << " token " << i;
        EXPECT_NEAR(s.entropies[r][i].item<double>(), want_ent, 1e-5) << "T=" << t << " row " << r << " token " << i;
      }
    }
  }
  // A lower temperature sharpens: the entropy of every scored token falls.
  TokenScores cold = Score(*model, prompts, responses, 0.4);
  TokenScores warm = Score(*model, prompts, responses, 1.7);
  EXPECT_TRUE(((cold.entropies - warm.entropies) * cold.mask).le(0).all().item<bool>());
  EXPECT_GT((warm.entropies - cold.entropies).sum().item<double>(), 0.1);
  EXPECT_THROW(Score(*model, prompts, responses, 0.0), InvalidArgument);
}

}  // namespace
}  // namespace turnwise
