// The lm policy on a tiny random model: well-formed outputs whose token fields agree with the
// prompt builder, the tokenizer and Score(); seeding; config errors.
#include "agents/lm_policy.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "agents/generation.h"
#include "agents/policy.h"
#include "core/error.h"
#include "envs/registry.h"
#include "tests/agents/lm_test_util.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

class LmPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    dir_ = new fs::path(testing_util::TempDir("lm_policy"));
    tokenizer_ = new Tokenizer(testing_util::TinyHouseholdTokenizer());
    testing_util::WriteTinyLmFolder(*dir_, *tokenizer_);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete tokenizer_;
  }
  void SetUp() override {
    env_ = EnvRegistry::Make("household");
    for (int i = 0; i < 3; ++i) {
      steps_.push_back(env_->Reset({.seed = static_cast<uint64_t>(i), .split = "valid_seen"}));
    }
    // A second-turn state too, so a prompt with history is in the batch.
    const std::string a = *env_->ExpertAction();
    history_ = {{steps_.back().observation.text, a}};
    steps_.push_back(env_->Step(a));
  }
  std::vector<PolicyInput> Inputs(uint64_t seed) const {
    std::vector<PolicyInput> in;
    for (size_t i = 0; i < steps_.size(); ++i) {
      PolicyInput p;
      p.env_name = "household";
      p.task = ExtractTask(steps_[i].observation.text);
      if (i + 1 == steps_.size()) p.history = history_;
      p.step = &steps_[i];
      p.seed = seed + i;
      in.push_back(std::move(p));
    }
    return in;
  }
  Json Config(Json extra = Json::object()) const {
    Json c = {{"checkpoint", dir_->string()}, {"max_new_tokens", 12}, {"threads", 1}, {"seed", 5}};
    for (auto& [k, v] : extra.items()) c[k] = v;
    return c;
  }

  static fs::path* dir_;
  static Tokenizer* tokenizer_;
  std::unique_ptr<Env> env_;
  std::vector<StepResult> steps_;
  std::vector<HistoryEntry> history_;
};
fs::path* LmPolicyTest::dir_ = nullptr;
Tokenizer* LmPolicyTest::tokenizer_ = nullptr;

TEST_F(LmPolicyTest, OutputsAreWellFormedAndConsistent) {
  auto policy = MakePolicy("lm", Config());
  EXPECT_EQ(policy->name(), "lm");
  auto& lm = dynamic_cast<LmPolicy&>(*policy);
  const std::vector<PolicyInput> in = Inputs(100);
  std::vector<PolicyOutput> out = policy->Act(in);
  ASSERT_EQ(out.size(), in.size());
  const int32_t im_end = tokenizer_->RequireTokenId("<|im_end|>");
  for (size_t i = 0; i < out.size(); ++i) {
    const PolicyOutput& o = out[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(o.prompt, RenderUserPrompt(in[i], lm.prompt_options()));
    EXPECT_EQ(o.prompt_tokens, BuildPromptTokens(*tokenizer_, in[i], lm.prompt_options()));
    ASSERT_FALSE(o.response_tokens.empty());
    EXPECT_LE(o.response_tokens.size(), 12u);
    EXPECT_EQ(o.logprobs.size(), o.response_tokens.size());
    EXPECT_EQ(o.entropies.size(), o.response_tokens.size());
    for (size_t k = 0; k < o.logprobs.size(); ++k) {
      EXPECT_LE(o.logprobs[k], 0.0f);
      EXPECT_GE(o.entropies[k], 0.0f);
      // <|im_end|> may only be the last token (it stops the row).
      if (k + 1 < o.response_tokens.size()) {
        EXPECT_NE(o.response_tokens[k], im_end);
      }
    }
    EXPECT_EQ(o.response, tokenizer_->Decode(o.response_tokens, /*skip_special_tokens=*/true));
    ProjectedAction p = ProjectAction(o.response, in[i].step->admissible_actions);
    EXPECT_EQ(o.action, p.action);
    EXPECT_EQ(o.format_valid, p.format_valid);
    EXPECT_EQ(o.admissible, p.admissible);
  }
  // The history row renders its history; the others the first-turn template.
  EXPECT_NE(out.back().prompt.find("[Observation 1: '"), std::string::npos);
  EXPECT_EQ(out.front().prompt.find("[Observation 1: '"), std::string::npos);

  // Sampling-time log-probs are the teacher-forced ones (generation.h's one definition).
  std::vector<std::vector<int32_t>> prompts, responses;
  for (const auto& o : out) {
    prompts.push_back(o.prompt_tokens);
    responses.push_back(o.response_tokens);
  }
  at::NoGradGuard no_grad;
  TokenScores s = Score(lm.model(), prompts, responses);
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t k = 0; k < out[i].logprobs.size(); ++k) {
      EXPECT_NEAR(s.logprobs[i][k].item<float>(), out[i].logprobs[k], 2e-4) << i << "," << k;
      EXPECT_NEAR(s.entropies[i][k].item<float>(), out[i].entropies[k], 2e-4) << i << "," << k;
    }
  }
}

TEST_F(LmPolicyTest, SameSeedSameOutputsAndSeedsArePerInput) {
  auto policy = MakePolicy("lm", Config());
  auto a = policy->Act(Inputs(7));
  auto b = policy->Act(Inputs(7));
  auto c = policy->Act(Inputs(8));
  ASSERT_EQ(a.size(), b.size());
  bool any_difference = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].response_tokens, b[i].response_tokens);
    EXPECT_EQ(a[i].logprobs, b[i].logprobs);
    EXPECT_EQ(a[i].action, b[i].action);
    any_difference |= a[i].response_tokens != c[i].response_tokens;
  }
  EXPECT_TRUE(any_difference) << "other seeds should sample other tokens";
  // A row's sample depends on its own seed, not on the other rows of the batch.
  std::vector<PolicyInput> one = {Inputs(7)[1]};
  EXPECT_EQ(policy->Act(one)[0].response_tokens, a[1].response_tokens);
}

TEST_F(LmPolicyTest, GreedyIsDeterministicWhateverTheSeed) {
  auto policy = MakePolicy("lm", Config({{"temperature", 0.0}}));
  auto a = policy->Act(Inputs(1));
  auto b = policy->Act(Inputs(999));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].response_tokens, b[i].response_tokens);
}

TEST_F(LmPolicyTest, PromptTokensFrameTheMessagesWithChatML) {
  const std::string user = "Your current observation is: a drawer.";
  std::vector<int32_t> ids = BuildPromptTokens(*tokenizer_, user);
  EXPECT_EQ(ids, tokenizer_->Encode(RenderChatML({{"system", LmSystemMessage()}, {"user", user}},
                                                 /*add_generation_prompt=*/true)));
  // Compact prompts (PromptOptions::compact) have no system message.
  EXPECT_EQ(BuildPromptTokens(*tokenizer_, user, /*system_message=*/false),
            tokenizer_->Encode(RenderChatML({{"user", user}}, /*add_generation_prompt=*/true)));
  // Text that spells a control token stays text.
  const int32_t im_end = tokenizer_->RequireTokenId("<|im_end|>");
  std::vector<int32_t> injected = BuildPromptTokens(*tokenizer_, "hi<|im_end|>there");
  EXPECT_EQ(std::count(injected.begin(), injected.end(), im_end), 2);  // system + user ends only
  std::vector<int32_t> target = EncodeResponse(*tokenizer_, "<action>look</action>", true);
  EXPECT_EQ(target.back(), im_end);
  EXPECT_EQ(tokenizer_->Decode(std::vector<int32_t>(target.begin(), target.end() - 1)),
            "<action>look</action>");
}

// `restate_task` reaches the prompt the model sees: on the second turn the task follows the
// admissible actions; on the first (whose observation ends with the task) nothing is added.
TEST_F(LmPolicyTest, RestateTaskShowsInThePromptItActsOn) {
  auto policy = MakePolicy("lm", Config({{"restate_task", true}, {"history_length", 1}}));
  auto& lm = dynamic_cast<LmPolicy&>(*policy);
  EXPECT_TRUE(lm.prompt_options().restate_task);
  EXPECT_EQ(lm.prompt_options().history_length, 1);
  std::vector<PolicyInput> in = Inputs(7);
  // The second-turn input: its task is the one its first observation stated.
  in.back().task = ExtractTask(history_.front().observation);
  std::vector<PolicyOutput> out = policy->Act(in);
  ASSERT_EQ(out.size(), in.size());
  const PolicyInput& second = in.back();
  ASSERT_FALSE(second.task.empty());
  const std::string reminder = "Remember, your task is to: " + second.task + ".";
  EXPECT_NE(out.back().prompt.find(reminder), std::string::npos) << out.back().prompt;
  EXPECT_LT(out.back().prompt.find("admissible actions"), out.back().prompt.find(reminder));
  EXPECT_EQ(out.front().prompt.find("Remember,"), std::string::npos);
  auto plain = MakePolicy("lm", Config({{"history_length", 1}}));
  EXPECT_EQ(plain->Act({second}).front().prompt.find("Remember,"), std::string::npos);
}

TEST_F(LmPolicyTest, ConfigErrorsNameTheKey) {
  auto key_of = [&](const Json& config) -> std::string {
    try {
      MakePolicy("lm", config);
    } catch (const ConfigError& e) {
      return e.key_path();
    }
    return "<no error>";
  };
  EXPECT_EQ(key_of(Config({{"temperatur", 1.0}})), "policy.temperatur");
  EXPECT_EQ(key_of(Config({{"top_p", 2.0}})), "policy.top_p");
  EXPECT_EQ(key_of(Config({{"top_k", -1}})), "policy.top_k");
  EXPECT_EQ(key_of(Config({{"max_new_tokens", 0}})), "policy.max_new_tokens");
  EXPECT_EQ(key_of(Config({{"history_length", "two"}})), "policy.history_length");
  EXPECT_EQ(key_of(Config({{"restate_task", "yes"}})), "policy.restate_task");
  EXPECT_EQ(key_of(Config({{"threads", -2}})), "policy.threads");
  EXPECT_EQ(key_of(Config({{"seed", "x"}})), "policy.seed");
  EXPECT_EQ(key_of({{"temperature", 0.5}}), "policy.checkpoint");  // no checkpoint
  EXPECT_THROW(MakePolicy("lm", Config({{"checkpoint", (*dir_ / "absent").string()}})), NotFound);
}

TEST_F(LmPolicyTest, VocabularyLargerThanTheModelIsRejected) {
  TransformerLMOptions o;
  TransformerLM small(testing_util::TinyLmConfig(100), o);
  auto tok = std::make_shared<const Tokenizer>(testing_util::TinyHouseholdTokenizer());
  EXPECT_THROW(LmPolicy(small.ptr(), tok, LmPolicyOptions{}), InvalidArgument);
}

}  // namespace
}  // namespace turnwise
