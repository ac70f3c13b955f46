// EvaluatePolicy: scripted policies give known success rates, batching does not change results,
// every waiting episode goes to one Act() call per turn, failures abort episodes, bad names fail.
#include "training/evaluate.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "agents/lm_policy.h"
#include "core/error.h"
#include "tests/agents/lm_test_util.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

class ThreadsEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ThreadsEnv);

TEST(EvaluatePolicy, ExpertSolvesEveryTaskRandomFewer) {
  auto expert = MakePolicy("expert");
  std::vector<EpisodeRecord> episodes;
  EvalResult e = EvaluatePolicy(*expert, "household", Json::object(), "valid_seen", 30, 0, 8, 1,
                                [&](EpisodeRecord&& r) { episodes.push_back(std::move(r)); });
  EXPECT_EQ(e.episodes, 30);
  EXPECT_DOUBLE_EQ(e.success_rate, 1.0);
  EXPECT_DOUBLE_EQ(e.mean_return, 10.0);  // household's reward_on_win
  EXPECT_DOUBLE_EQ(e.invalid_action_rate, 0.0);
  EXPECT_GT(e.mean_length, 2.0);
  EXPECT_EQ(e.aborted, 0);
  int64_t typed = 0;
  for (const auto& [type, t] : e.by_task_type) {
    typed += t.episodes;
    EXPECT_EQ(t.successes, t.episodes) << type;
  }
  EXPECT_EQ(typed, 30);
  EXPECT_EQ(e.by_task_type.size(), 6u);
  ASSERT_EQ(episodes.size(), 30u);
  for (const auto& r : episodes) {
    EXPECT_TRUE(r.success);
    EXPECT_EQ(r.split, "valid_seen");
    EXPECT_EQ(r.policy, "expert");
    EXPECT_EQ(r.num_turns, static_cast<int64_t>(r.turns.size()));
  }

  auto random = MakePolicy("random");
  EvalResult rnd = EvaluatePolicy(*random, "household", Json::object(), "valid_seen", 30, 0, 30, 1);
  EXPECT_LT(rnd.success_rate, 0.5);
  EXPECT_GT(rnd.mean_length, e.mean_length);
}

TEST(EvaluatePolicy, ResultsDoNotDependOnTheBatchSize) {
  auto noisy = MakePolicy("noisy_expert", {{"noise", 0.4}});
  EvalResult one = EvaluatePolicy(*noisy, "household", Json::object(), "valid_seen", 12, 20, 1, 9);
  EvalResult all = EvaluatePolicy(*noisy, "household", Json::object(), "valid_seen", 12, 20, 0, 9);
  EXPECT_EQ(one.success_rate, all.success_rate);
  EXPECT_EQ(one.mean_length, all.mean_length);
  EXPECT_EQ(one.invalid_action_rate, all.invalid_action_rate);
  EXPECT_EQ(all.mean_length <= 20, true);
}

// Counts calls and batch sizes; answers "look" (never wins, always valid).
class CountingPolicy : public Policy {
 public:
  std::string name() const override { return "counting"; }
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    batch_sizes.push_back(batch.size());
    if (fail_at >= 0 && static_cast<int>(batch_sizes.size()) == fail_at + 1) {
      throw Unavailable("model server went away");
    }
    std::vector<PolicyOutput> out(batch.size());
    for (auto& o : out) o.action = "look";
    return out;
  }
  std::vector<size_t> batch_sizes;
  int fail_at = -1;
};

TEST(EvaluatePolicy, AllWaitingEpisodesGoToOneActCallPerTurn) {
  CountingPolicy p;
  EvalResult r = EvaluatePolicy(p, "household", Json::object(), "valid_seen", 10, 4, 4, 0);
  // 10 episodes, 4 in flight, 4 turns each: batches of 4,4,4,4 | 4,4,4,4 | 2,2,2,2.
  EXPECT_EQ(p.batch_sizes, (std::vector<size_t>{4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2}));
  EXPECT_EQ(r.policy_calls, 12);
  EXPECT_EQ(r.episodes, 10);
  EXPECT_DOUBLE_EQ(r.mean_length, 4.0);
  EXPECT_DOUBLE_EQ(r.success_rate, 0.0);
}

TEST(EvaluatePolicy, PolicyFailureAbortsTheWaitingEpisodesAndGoesOn) {
  CountingPolicy p;
  p.fail_at = 1;  // the second call throws
  std::vector<EpisodeRecord> records;
  EvalResult r = EvaluatePolicy(p, "household", Json::object(), "valid_seen", 6, 3, 3, 0,
                                [&](EpisodeRecord&& e) { records.push_back(std::move(e)); });
  EXPECT_EQ(r.episodes, 6);
  EXPECT_EQ(r.aborted, 3);
  int aborted = 0;
  for (const auto& e : records) {
    if (e.status == EpisodeStatus::kAborted) {
      ++aborted;
      EXPECT_NE(e.abort_reason.find("model server went away"), std::string::npos);
    }
  }
  EXPECT_EQ(aborted, 3);
}

TEST(EvaluatePolicy, UnknownEnvOrSplitIsNotFound) {
  auto expert = MakePolicy("expert");
  EXPECT_THROW(EvaluatePolicy(*expert, "kitchen", Json::object(), "valid_seen", 1, 0, 1, 0),
               NotFound);
  EXPECT_THROW(EvaluatePolicy(*expert, "household", Json::object(), "test", 1, 0, 1, 0), NotFound);
}

TEST(EvaluatePolicy, LmPolicyPlaysBatchedEpisodesWithTokenRecords) {
  fs::path dir = testing_util::TempDir("eval_lm");
  Tokenizer tok = testing_util::TinyHouseholdTokenizer();
  testing_util::WriteTinyLmFolder(dir, tok);
  auto policy = MakePolicy("lm", {{"checkpoint", dir.string()}, {"temperature", 0.0},
                                  {"max_new_tokens", 6}, {"threads", 1}});
  std::vector<EpisodeRecord> records;
  EvalResult r = EvaluatePolicy(*policy, "household", Json::object(), "valid_seen", 3, 2, 3, 0,
                                [&](EpisodeRecord&& e) { records.push_back(std::move(e)); });
  EXPECT_EQ(r.episodes, 3);
  EXPECT_EQ(r.policy_calls, 2);
  EXPECT_DOUBLE_EQ(r.format_error_rate, 1.0);  // 6 random tokens never close both tags
  ASSERT_EQ(records.size(), 3u);
  for (const auto& e : records) {
    ASSERT_EQ(e.turns.size(), 2u);
    for (const auto& t : e.turns) {
      EXPECT_FALSE(t.prompt.empty());
      EXPECT_FALSE(t.token_ids.empty());
      EXPECT_EQ(t.logprobs.size(), t.token_ids.size());
      EXPECT_FALSE(t.action_valid);
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace turnwise
