// SFT: demonstrations (labels are the expert's even when the executed action is random), the
// response-only loss mask against a hand-computed loss, schedule and batching helpers, config
// errors, and a tiny run whose loss falls.
#include "training/sft.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "agents/generation.h"
#include "agents/lm_policy.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "envs/registry.h"
#include "tests/agents/lm_test_util.h"
#include "tests/agents/model_test_util.h"
#include "training/sft_loss.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

class ThreadsEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(2); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ThreadsEnv);

TEST(SftDemonstrations, NoisyExpertLabelsAreTheExpertsActionInEveryVisitedState) {
  DemoCollectionOptions o;
  o.episodes = 6;
  o.policy = "noisy_expert";
  o.noise = 0.5;
  o.repeat_noise = 0.2;
  o.seed = 3;
  DemoStats stats;
  std::vector<Demonstration> demos = CollectDemonstrations(o, &stats);
  EXPECT_EQ(stats.episodes, 6);
  EXPECT_EQ(stats.states, static_cast<int64_t>(demos.size()));
  EXPECT_GT(stats.random_actions, 0);
  EXPECT_GT(stats.repeated_actions, 0);
  // Replay every state from its executed history and ask the expert there.
  auto env = EnvRegistry::Make("household");
  int64_t off_label = 0;
  // Demonstrations come in episode order; replay each episode with the executed actions.
  size_t i = 0;
  for (int64_t episode = 0; episode < 6; ++episode) {
    StepResult s = env->Reset({.seed = static_cast<uint64_t>(episode),
                               .task_id = "train/" + std::to_string(episode), .split = "train"});
    for (size_t turn = 0; !s.done(); ++turn, ++i) {
      ASSERT_LT(i, demos.size());
      const Demonstration& d = demos[i];
      ASSERT_EQ(d.history.size(), turn);
      EXPECT_EQ(d.observation, s.observation.text);
      EXPECT_EQ(d.admissible, s.admissible_actions);
      EXPECT_EQ(d.action, *env->ExpertAction());
      EXPECT_EQ(d.task, ExtractTask(d.history.empty() ? d.observation : d.history[0].observation));
      // The next demonstration's history tells what was executed here.
      const std::string executed =
          i + 1 < demos.size() && demos[i + 1].history.size() == turn + 1
              ? demos[i + 1].history.back().action
              : d.action;
      off_label += executed != d.action;
      s = env->Step(executed);
    }
  }
  EXPECT_EQ(i, demos.size());
  EXPECT_GT(off_label, 0);
}

TEST(SftDemonstrations, CorruptCommandChangesOneNumberToAnInadmissibleOne) {
  Rng rng(7);
  const std::vector<std::string> admissible = {"go to drawer 1", "go to drawer 2", "go to drawer 3",
                                               "take mug 1 from drawer 2", "take mug 2 from drawer 2"};
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::optional<std::string> c = CorruptCommand("go to drawer 2", admissible, rng);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->rfind("go to drawer ", 0), 0u) << *c;
    const int n = std::stoi(c->substr(13));
    EXPECT_GE(n, 4) << *c;  // 1–3 are admissible, 2 is the command itself
    EXPECT_LE(n, 9) << *c;  // largest number 3: the range is [1, max(9, 3 + 2)]
    seen.insert(*c);
    // Two numbers: exactly one of them changes, and never into an admissible command.
    std::optional<std::string> t = CorruptCommand("take mug 1 from drawer 2", admissible, rng);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(std::count(admissible.begin(), admissible.end(), *t), 0) << *t;
    int mug = 0, drawer = 0;
    char tail = 0;
    ASSERT_EQ(std::sscanf(t->c_str(), "take mug %d from drawer %d%c", &mug, &drawer, &tail), 2) << *t;
    EXPECT_NE(mug != 1, drawer != 2) << *t;  // exactly one number changed
  }
  EXPECT_EQ(seen.size(), 6u);  // 4..9, all reached
  EXPECT_FALSE(CorruptCommand("look", admissible, rng).has_value());
  EXPECT_FALSE(CorruptCommand("inventory", {"inventory"}, rng).has_value());
}

TEST(SftDemonstrations, InvalidNoiseExecutesCorruptedCommandsAndKeepsExpertLabels) {
  DemoCollectionOptions o;
  o.episodes = 5;
  o.policy = "noisy_expert";
  o.noise = 0.0;
  o.invalid_noise = 0.3;
  o.env_config = {{"expert", "search"}};
  o.seed = 4;
  DemoStats stats;
  std::vector<Demonstration> demos = CollectDemonstrations(o, &stats);
  EXPECT_GT(stats.corrupted_actions, 0);
  int64_t nothing = 0, executed_corrupt = 0;
  for (size_t i = 0; i + 1 < demos.size(); ++i) {
    const Demonstration& next = demos[i + 1];
    if (next.history.size() != demos[i].history.size() + 1) continue;  // a new episode starts
    const std::string& executed = next.history.back().action;
    if (executed == demos[i].action) continue;
    ++executed_corrupt;
    // Not admissible where it was executed; the env says so; the label stays the expert's.
    EXPECT_EQ(std::count(demos[i].admissible.begin(), demos[i].admissible.end(), executed), 0) << executed;
    EXPECT_EQ(next.observation, "Nothing happens.");
    nothing += next.observation == "Nothing happens.";
    EXPECT_EQ(next.action, demos[i].action);  // state unchanged: same expert command
  }
  EXPECT_GT(executed_corrupt, 0);
  EXPECT_EQ(nothing, executed_corrupt);
}

TEST(SftDemonstrations, NoiseWeightsSteerTheRandomActions) {
  DemoCollectionOptions o;
  o.episodes = 4;
  o.noise = 1.0;  // every executed action random
  o.max_turns = 10;
  o.noise_weights = {{"go to ", 0.0}, {"open ", 1000.0}};
  std::vector<Demonstration> demos = CollectDemonstrations(o);
  int64_t opens = 0, executed = 0;
  for (const Demonstration& d : demos) {
    if (d.history.empty()) continue;
    const std::string& a = d.history.back().action;
    ++executed;
    EXPECT_NE(a.rfind("go to ", 0), 0u) << a;  // weight 0: never chosen
    opens += a.rfind("open ", 0) == 0;
  }
  EXPECT_GT(executed, 0);
  EXPECT_GE(opens, 0);
}

TEST(SftDemonstrations, ExpertDemonstrationsAreDeterministic) {
  DemoCollectionOptions o;
  o.episodes = 3;
  o.policy = "expert";
  auto a = CollectDemonstrations(o), b = CollectDemonstrations(o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].action, b[i].action);
  o.split = "nope";
  EXPECT_THROW(CollectDemonstrations(o), NotFound);
}

TEST(SftTargets, ThinkTextIsShortAndTheResponseHasTheFormat) {
  EXPECT_EQ(TargetResponse("Go.", "go to desk 1"), "<think>Go.</think><action>go to desk 1</action>");
  EXPECT_EQ(ThinkText("task", "heat some mug and put it in shelf", "go to desk 1"),
            "My task: heat some mug and put it in shelf.");
  EXPECT_EQ(ThinkText("task", "", "go to desk 1"), ThinkText("verb", "", "go to desk 1"));
  EXPECT_EQ(ThinkText("none", "put a mug in shelf", "look"), "");
  EXPECT_THROW(ThinkText("long", "", "look"), InvalidArgument);
  EXPECT_EQ(ThinkText("observe", "put a mug in shelf", "open cabinet 2",
                      "You arrive at cabinet 2.\nThe cabinet 2 is closed.\n"),
            "My task: put a mug in shelf. Now: You arrive at cabinet 2. The cabinet 2 is closed.");
  // The first observation (room and goal) is not restated; without a task only the observation.
  EXPECT_EQ(ThinkText("observe", "put a mug in shelf", "go to shelf 1",
                      "You are in the middle of a room.\n\nYour task is to: put a mug in shelf."),
            "My task: put a mug in shelf.");
  EXPECT_EQ(ThinkText("observe", "", "look", "Nothing happens."), "Now: Nothing happens.");
  // last_line: the observation's last line, whatever the action.
  const std::string grid = "_ P\nO G\nGoal: 1 down, 1 right. Holes next to you: none.\n";
  EXPECT_EQ(ThinkText("last_line", "", "left", grid), "Goal: 1 down, 1 right. Holes next to you: none.");
  EXPECT_EQ(ThinkText("last_line", "", "up", grid), ThinkText("last_line", "", "left", grid));
  EXPECT_EQ(ThinkText("last_line", "", "look", "Nothing happens."), "Nothing happens.");
  for (const char* a : {"go to desk 1", "open drawer 2", "take mug 1 from desk 1",
                        "move mug 1 to shelf 1", "heat mug 1 with microwave 1", "use desklamp 1",
                        "look"}) {
    for (const std::string& style : ThinkStyles()) {
      const std::string think = ThinkText(style, "put a mug in shelf", a, "Nothing happens.");
      EXPECT_LE(think.size(), style == "observe" ? 60u : 40u) << a;
      ProjectedAction p = ProjectAction(TargetResponse(think, a), {a});
      EXPECT_EQ(p.format_valid && p.admissible, true) << a;
      EXPECT_EQ(p.action, a);
    }
  }
}

// The household expert's demonstrations of one episode (at least two states).
std::vector<Demonstration> HouseholdExpertEpisode() {
  DemoCollectionOptions o;
  o.episodes = 1;
  o.policy = "expert";
  return CollectDemonstrations(o);
}

TEST(SftTargets, ExampleIsThePolicysPromptPlusTheTargetAndEndOfTurn) {
  Tokenizer tok = testing_util::TinyHouseholdTokenizer();
  std::vector<Demonstration> demos = HouseholdExpertEpisode();
  ASSERT_GE(demos.size(), 2u);
  const Demonstration& d = demos[1];
  PromptOptions po;
  po.history_length = 1;
  SftExample e = MakeSftExample(tok, d, po);
  StepResult step;
  step.observation.text = d.observation;
  step.admissible_actions = d.admissible;
  PolicyInput in{.env_name = "household", .task = d.task, .history = d.history, .step = &step};
  ASSERT_EQ(e.turns.size(), 1u);
  const std::vector<int32_t>& prompt = e.turns[0].context;
  const std::vector<int32_t>& response = e.turns[0].response;
  EXPECT_EQ(prompt, BuildPromptTokens(tok, in, po));
  ASSERT_FALSE(response.empty());
  EXPECT_EQ(response.back(), tok.RequireTokenId("<|im_end|>"));
  EXPECT_EQ(tok.Decode(std::vector<int32_t>(response.begin(), response.end() - 1)),
            TargetResponse(ThinkText("task", d.task, d.action), d.action));
  // The whole row's text is what the tokenizer trainer sees.
  EXPECT_EQ(tok.Decode(prompt) + tok.Decode(response) + "\n", DemonstrationText(d, po));
}

// The random demonstration policy: every label is the action it took, drawn uniformly over the
// admissible ones; no expert is asked (the format without the task).
TEST(SftDemonstrations, RandomPolicyLabelsAreItsOwnUniformActions) {
  DemoCollectionOptions o;
  o.env = "sokoban";
  o.episodes = 200;
  o.policy = "random";
  o.seed = 4;
  DemoStats stats;
  std::vector<Demonstration> demos = CollectDemonstrations(o, &stats);
  EXPECT_EQ(stats.random_actions, 0);  // labels equal executed actions
  std::map<std::string, int> counts;
  for (const Demonstration& d : demos) {
    EXPECT_EQ(d.action, d.executed);
    ++counts[d.action];
  }
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [action, n] : counts) EXPECT_NEAR(n / double(demos.size()), 0.25, 0.04) << action;
  // The random policy wins about as often as research puts it (16-30 % in 15 steps).
  EXPECT_GE(stats.successes, 200 * 0.12);
  EXPECT_LE(stats.successes, 200 * 0.34);
}

// An episode-layout example is the lm policy's own sequence: turn 0 the first prompt, later
// turns the follow-up segments (the previous response ends with <|im_end|>, so none is added),
// responses the executed actions' targets; noise turns are context, not targets.
TEST(SftTargets, EpisodeExampleIsThePolicysSequence) {
  Tokenizer tok = testing_util::TinyHouseholdTokenizer();
  DemoCollectionOptions o;
  o.episodes = 2;
  o.policy = "noisy_expert";
  o.noise = 0.5;
  o.seed = 2;
  std::vector<Demonstration> demos = CollectDemonstrations(o);
  PromptOptions po;
  std::vector<SftExample> examples = BuildSftExamples(tok, demos, po, "task", "episode");
  ASSERT_EQ(examples.size(), 2u);
  size_t i = 0;
  int untrained = 0;
  for (const SftExample& e : examples) {
    ASSERT_EQ(e.trained.size(), e.turns.size());
    std::vector<int32_t> previous;
    for (size_t t = 0; t < e.turns.size(); ++t, ++i) {
      const Demonstration& d = demos[i];
      EXPECT_EQ(d.history.size(), t);
      StepResult step;
      step.observation.text = d.observation;
      step.admissible_actions = d.admissible;
      PolicyInput in{.env_name = "household", .task = d.task, .history = d.history, .step = &step};
      std::string message;
      EXPECT_EQ(e.turns[t].context, BuildTurnContext(tok, in, po, previous, &message));
      if (t == 0) {
        EXPECT_EQ(e.turns[t].context, BuildPromptTokens(tok, in, po));
      } else {
        EXPECT_NE(e.turns[t].context.front(), tok.RequireTokenId("<|im_end|>"));
      }
      EXPECT_EQ(tok.Decode(e.turns[t].response, true), TargetResponse(ThinkText("task", d.task, d.executed), d.executed));
      EXPECT_EQ(e.trained[t], d.executed == d.action ? 1 : 0);
      untrained += e.trained[t] == 0;
      previous = e.turns[t].response;
    }
  }
  EXPECT_EQ(i, demos.size());
  EXPECT_GT(untrained, 0);
}

TEST(SftLoss, UntrainedTurnsAreContextOnly) {
  TransformerLM model(testing_util::Qwen2Config());
  testing_util::RandomizeWeights(*model, 5);
  SftExample both;
  both.turns = {{{1, 2, 3}, {4, 5}}, {{6}, {7, 8}}};
  both.trained = {1, 1};
  SftExample second_only = both;
  second_only.trained = {0, 1};
  at::NoGradGuard no_grad;
  at::Tensor logp = at::log_softmax(model->forward(at::tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}, at::kLong)
                                                       .view({1, -1})), -1)[0];
  const double second = -(logp[5][7].item<double>() + logp[6][8].item<double>()) / 2.0;
  const double all = -(logp[2][4].item<double>() + logp[3][5].item<double>() + logp[5][7].item<double>() +
                       logp[6][8].item<double>()) / 4.0;
  EXPECT_NEAR(SftLoss(*model, {&both}).loss.item<double>(), all, 1e-5);
  SftBatchLoss l = SftLoss(*model, {&second_only});
  EXPECT_EQ(l.response_tokens, 2);
  EXPECT_NEAR(l.loss.item<double>(), second, 1e-5);
  EXPECT_NEAR(SftLoss(*model, {&second_only}, 0.5).response_nll, second, 1e-5);
}

// The admissible target: at the choice position the loss is -log of the summed probability of the
// choice tokens (mixed with the label by action_label_weight); every other response token keeps
// its own -log p. Hand-computed from one full forward pass.
TEST(SftLoss, ChoicePositionTrainsTheAdmissibleSet) {
  TransformerLM model(testing_util::Qwen2Config());
  testing_util::RandomizeWeights(*model, 5);
  SftExample e = SftExample::Turn({1, 2, 3}, {4, 5, 6});
  e.choices = {ActionChoice{.position = 1, .tokens = {5, 9, 11}}};
  at::NoGradGuard no_grad;
  at::Tensor logp = at::log_softmax(
      model->forward(at::tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, at::kLong).view({1, -1})), -1)[0];
  auto lp = [&](int pos, int tok) { return logp[pos][tok].item<double>(); };
  const double set = std::log(std::exp(lp(3, 5)) + std::exp(lp(3, 9)) + std::exp(lp(3, 11)));
  const double pure = -(lp(2, 4) + set + lp(4, 6)) / 3.0;
  EXPECT_NEAR(SftLoss(*model, {&e}).loss.item<double>(), pure, 1e-5);
  const double mixed = -(lp(2, 4) + 0.75 * set + 0.25 * lp(3, 5) + lp(4, 6)) / 3.0;
  EXPECT_NEAR(SftLoss(*model, {&e}, 0.0, 0.25).loss.item<double>(), mixed, 1e-5);
  // An untrained turn's choice is ignored.
  e.trained = {0};
  EXPECT_EQ(SftLoss(*model, {&e}).response_tokens, 0);
}

// The balance term: over choice positions offering the same tokens, -mean_c log(mean over
// positions of p(c) / sum p) - log |choice|, added with its weight; hand-computed from the forward
// passes of two examples. 0 for a batch whose average choice is even; positions offering other
// tokens form their own group.
TEST(SftLoss, BalancePullsTheAverageChoiceTowardEven) {
  TransformerLM model(testing_util::Qwen2Config());
  testing_util::RandomizeWeights(*model, 6);
  SftExample a = SftExample::Turn({1, 2, 3}, {4, 5, 6});
  SftExample b = SftExample::Turn({7, 2, 8}, {4, 9, 6});
  a.choices = {ActionChoice{.position = 1, .tokens = {5, 9, 11}}};
  b.choices = {ActionChoice{.position = 1, .tokens = {5, 9, 11}}};
  at::NoGradGuard no_grad;
  auto logp_of = [&](std::vector<int64_t> ids) {
    return at::log_softmax(model->forward(at::tensor(ids, at::kLong).view({1, -1})), -1)[0];
  };
  const at::Tensor la = logp_of({1, 2, 3, 4, 5, 6}), lb = logp_of({7, 2, 8, 4, 9, 6});
  auto within = [](const at::Tensor& l, int c) {
    const double z = std::exp(l[3][5].item<double>()) + std::exp(l[3][9].item<double>()) + std::exp(l[3][11].item<double>());
    return std::exp(l[3][c].item<double>()) / z;
  };
  double expected = -std::log(3.0);
  for (int c : {5, 9, 11}) expected -= std::log((within(la, c) + within(lb, c)) / 2.0) / 3.0;
  ASSERT_GT(expected, 1e-4) << "random weights give an uneven average choice";
  const double without = SftLoss(*model, {&a, &b}).loss.item<double>();
  EXPECT_NEAR(SftLoss(*model, {&a, &b}, 0.0, 0.0, 2.0).loss.item<double>(), without + 2.0 * expected, 1e-5);
  // Another token set is its own group: alone, one position's average is itself.
  b.choices = {ActionChoice{.position = 1, .tokens = {9, 12}}};
  double a_alone = -std::log(3.0);
  for (int c : {5, 9, 11}) a_alone -= std::log(within(la, c)) / 3.0;
  const double zb = std::exp(lb[3][9].item<double>()) + std::exp(lb[3][12].item<double>());
  double b_alone = -std::log(2.0);
  for (int c : {9, 12}) b_alone -= std::log(std::exp(lb[3][c].item<double>()) / zb) / 2.0;
  const double split = SftLoss(*model, {&a, &b}).loss.item<double>();
  EXPECT_NEAR(SftLoss(*model, {&a, &b}, 0.0, 0.0, 1.0).loss.item<double>(), split + 0.5 * a_alone + 0.5 * b_alone, 1e-5);
}

// FindActionChoice on FrozenLake's targets: the four action words share "<think></think><action>"
// and part where the action begins; an action-dependent think text ("verb") has no common point.
TEST(SftTargets, ActionChoiceIsWhereTheAdmissibleTargetsPart) {
  DemoCollectionOptions o;
  o.env = "frozenlake";
  o.episodes = 3;
  o.policy = "random";
  std::vector<Demonstration> demos = CollectDemonstrations(o);
  ASSERT_FALSE(demos.empty());
  Tokenizer tok = TrainDemoTokenizer(demos, PromptOptions{}, 400, "gpt2", 1000, "none");
  const Demonstration& d = demos[0];
  SftExample e = MakeSftExample(tok, d, PromptOptions{}, "none", /*action_choice=*/true);
  ASSERT_EQ(e.choices.size(), 1u);
  const ActionChoice& c = e.choices[0];
  const std::vector<int32_t> prefix = EncodeResponse(tok, "<think></think><action>", false);
  ASSERT_GE(c.position, 0);
  EXPECT_EQ(std::vector<int32_t>(e.turns[0].response.begin(), e.turns[0].response.begin() + c.position), prefix);
  std::set<int32_t> expected;
  for (const std::string& a : d.admissible) {
    expected.insert(EncodeResponse(tok, TargetResponse("", a), true)[static_cast<size_t>(c.position)]);
  }
  EXPECT_EQ(expected.size(), 4u);
  EXPECT_EQ(std::set<int32_t>(c.tokens.begin(), c.tokens.end()), expected);
  // Household's "verb" think text depends on the command's verb: "open drawer 1" parts from the
  // label inside <think>, "go to desk 2" only at the desk's number — no single choice point.
  Tokenizer house = testing_util::TinyHouseholdTokenizer();
  std::vector<Demonstration> house_demos = HouseholdExpertEpisode();
  ASSERT_GE(house_demos.size(), 2u);
  Demonstration hd = house_demos[1];
  hd.action = "go to desk 1";
  hd.admissible = {"go to desk 1", "go to desk 2", "open drawer 1"};
  EXPECT_EQ(MakeSftExample(house, hd, PromptOptions{}, "verb", true).choices.at(0).position, -1);
  hd.admissible = {"go to desk 1", "go to desk 2"};
  EXPECT_GT(MakeSftExample(house, hd, PromptOptions{}, "verb", true).choices.at(0).position, 3);
  // Without the flag no choices are made.
  EXPECT_TRUE(MakeSftExample(tok, d, PromptOptions{}, "none").choices.empty());
}

// Hand-checked: the loss is the mean over exactly the 5 response tokens of -log p, each taken
// from a separate full forward pass of that one sequence.
TEST(SftLoss, MaskCoversExactlyTheResponseTokens) {
  TransformerLM model(testing_util::Qwen2Config());
  testing_util::RandomizeWeights(*model, 5);
  SftExample a = SftExample::Turn({1, 2, 3}, {4, 5});
  SftExample b = SftExample::Turn({6}, {7, 8, 9});
  SftBatchLoss l = SftLoss(*model, {&a, &b});
  EXPECT_EQ(l.response_tokens, 5);
  EXPECT_EQ(l.total_tokens, 9);
  TokenScores s = Score(*model, {a.turns[0].context, b.turns[0].context}, {a.turns[0].response, b.turns[0].response});
  EXPECT_TRUE(at::equal(s.mask, at::tensor(std::vector<float>{1, 1, 0, 1, 1, 1}).view({2, 3})));

  at::NoGradGuard no_grad;
  auto logp = [&](std::vector<int64_t> seq) {
    at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1});
    return at::log_softmax(model->forward(ids), -1)[0];  // [T, V]
  };
  at::Tensor la = logp({1, 2, 3, 4, 5}), lb = logp({6, 7, 8, 9});
  // Position t predicts token t+1: response tokens of a at 3, 4 (predicted from 2, 3), of b 1..3.
  const double nll = -(la[2][4].item<double>() + la[3][5].item<double>() + lb[0][7].item<double>() +
                       lb[1][8].item<double>() + lb[2][9].item<double>());
  EXPECT_NEAR(l.loss.item<double>(), nll / 5.0, 1e-5);
}

// With a prompt weight w the loss adds w × the mean NLL of the prompt tokens after the first
// (hand-computed from full forward passes); the response part is unchanged.
TEST(SftLoss, PromptWeightAddsThePromptTokensMeanNll) {
  TransformerLM model(testing_util::Qwen2Config());
  testing_util::RandomizeWeights(*model, 5);
  SftExample a = SftExample::Turn({1, 2, 3}, {4, 5});
  SftExample b = SftExample::Turn({6}, {7, 8, 9});
  SftBatchLoss plain = SftLoss(*model, {&a, &b});
  SftBatchLoss weighted = SftLoss(*model, {&a, &b}, 0.5);
  at::NoGradGuard no_grad;
  auto logp = [&](std::vector<int64_t> seq) {
    at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1});
    return at::log_softmax(model->forward(ids), -1)[0];
  };
  at::Tensor la = logp({1, 2, 3, 4, 5}), lb = logp({6, 7, 8, 9});
  const double response = -(la[2][4].item<double>() + la[3][5].item<double>() + lb[0][7].item<double>() +
                            lb[1][8].item<double>() + lb[2][9].item<double>()) / 5.0;
  // Prompt tokens with a prediction: a's 2 and 3 (from 1, and 1 2); b's prompt has only one token.
  const double prompt = -(la[0][2].item<double>() + la[1][3].item<double>()) / 2.0;
  EXPECT_NEAR(plain.loss.item<double>(), response, 1e-5);
  EXPECT_NEAR(weighted.response_nll, response, 1e-5);
  EXPECT_NEAR(weighted.loss.item<double>(), response + 0.5 * prompt, 1e-5);
  EXPECT_EQ(weighted.response_tokens, 5);
  EXPECT_EQ(weighted.total_tokens, 9);
}

TEST(SftLoss, CountsOnlyResponseTokensWhateverThePromptLength) {
  TransformerLM model(testing_util::Qwen2Config());
  SftExample a = SftExample::Turn({1, 2, 3, 10, 11, 12}, {4, 5});
  EXPECT_EQ(SftLoss(*model, {&a}).response_tokens, 2);
  SftExample empty_response = SftExample::Turn({1, 2}, {});
  SftExample c = SftExample::Turn({3}, {4});
  EXPECT_EQ(SftLoss(*model, {&empty_response, &c}).response_tokens, 1);
}

TEST(SftSchedule, WarmupThenCosineToMinimum) {
  // warm-up 10 steps to 1e-3, cosine to 1e-4 over the remaining 90.
  EXPECT_NEAR(CosineLearningRate(0, 100, 10, 1e-3, 1e-4), 1e-4, 1e-12);
  EXPECT_NEAR(CosineLearningRate(4, 100, 10, 1e-3, 1e-4), 5e-4, 1e-12);
  EXPECT_NEAR(CosineLearningRate(10, 100, 10, 1e-3, 1e-4), 1e-3, 1e-12);
  EXPECT_NEAR(CosineLearningRate(55, 100, 10, 1e-3, 1e-4), 5.5e-4, 1e-12);  // halfway: mean
  EXPECT_NEAR(CosineLearningRate(100, 100, 10, 1e-3, 1e-4), 1e-4, 1e-12);
  EXPECT_NEAR(CosineLearningRate(0, 100, 0, 1e-3, 0), 1e-3, 1e-12);
}

TEST(SftBatching, EveryRowOnceAndWithinTheTokenBudget) {
  std::vector<int64_t> lengths;
  Rng gen(1);
  for (int i = 0; i < 500; ++i) lengths.push_back(50 + static_cast<int64_t>(gen.Uniform(400)));
  lengths.push_back(5000);  // longer than the budget: alone
  Rng rng(2);
  auto batches = TokenBudgetBatches(lengths, 2048, rng);
  std::multiset<size_t> seen;
  for (const auto& b : batches) {
    int64_t longest = 0;
    for (size_t i : b) {
      seen.insert(i);
      longest = std::max(longest, lengths[i]);
    }
    if (b.size() > 1) {
      EXPECT_LE(longest * static_cast<int64_t>(b.size()), 2048);
    }
    if (longest == 5000) {
      EXPECT_EQ(b.size(), 1u);
    }
  }
  EXPECT_EQ(seen.size(), lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) EXPECT_EQ(seen.count(i), 1u);
  Rng again(2);
  EXPECT_EQ(TokenBudgetBatches(lengths, 2048, again), batches);  // seeded
}

std::string KeyOf(const Json& config) {
  std::ostringstream log;
  try {
    RunSft(config, log);
  } catch (const ConfigError& e) {
    return e.key_path();
  }
  return "<no error>";
}

TEST(SftConfig, ErrorsNameTheKeyPath) {
  EXPECT_EQ(KeyOf({{"train", {{"lrr", 1e-3}}}}), "train.lrr");
  EXPECT_EQ(KeyOf({{"train", {{"lr", "fast"}}}}), "train.lr");
  EXPECT_EQ(KeyOf({{"data", {{"policy", "uniform"}}}}), "data.policy");
  EXPECT_EQ(KeyOf({{"prompt", {{"layout", "episodes"}}}}), "prompt.layout");
  EXPECT_EQ(KeyOf({{"data", {{"noise", 1.5}}}}), "data.noise");
  EXPECT_EQ(KeyOf({{"model", {{"preset", "giant"}}}}), "model.preset");
  EXPECT_EQ(KeyOf({{"eval", {{"split", "test"}}}}), "eval.split");
  EXPECT_EQ(KeyOf({{"data", {{"split", "test"}}}}), "data.split");
  EXPECT_EQ(KeyOf({{"env", {{"config", {{"max_stepz", 3}}}}}}), "env.config.max_stepz");
  EXPECT_EQ(KeyOf({{"envv", {{"name", "household"}}}}), "envv");
  // A bad architecture override names its place in the sft config.
  fs::path dir = testing_util::TempDir("sft_bad_override");
  Json c = {{"out_dir", dir.string()},
            {"data", {{"episodes", 1}, {"policy", "expert"}}},
            {"tokenizer", {{"vocab_size", 300}}},
            {"model", {{"overrides", {{"num_attention_heads", 3}}}}},
            {"eval", {{"enabled", false}}}};
  EXPECT_EQ(KeyOf(c).rfind("model.overrides", 0), 0u) << KeyOf(c);
  fs::remove_all(dir);
  // An unknown env lists the known ones.
  std::ostringstream log;
  EXPECT_THROW(RunSft({{"env", {{"name", "kitchen"}}}}, log), NotFound);
}

// A few dozen steps on expert demonstrations of a handful of tasks: the loss falls measurably,
// and the final checkpoint is a complete folder the lm policy loads.
TEST(SftRun, TinyRunLowersTheLossAndWritesCheckpoints) {
  fs::path dir = testing_util::TempDir("sft_run");
  Json c = {{"seed", 1},
            {"threads", 2},
            {"out_dir", dir.string()},
            {"data", {{"episodes", 12}, {"policy", "noisy_expert"}, {"noise", 0.2}}},
            {"prompt", {{"history_length", 1}, {"restate_task", true}}},
            {"tokenizer", {{"vocab_size", 700}}},
            {"model",
             {{"preset", "tiny"},
              {"overrides", {{"hidden_size", 64}, {"intermediate_size", 128},
                             {"num_hidden_layers", 2}, {"head_dim", 16}}},
              {"max_shard_size", "100KB"}}},
            {"train", {{"steps", 40}, {"batch_tokens", 6000}, {"lr", 3e-3}, {"min_lr", 3e-4},
                       {"warmup_steps", 5}, {"log_every", 5}, {"checkpoint_every", 20}}},
            {"eval", {{"enabled", true}, {"episodes", 2}, {"max_turns", 2}, {"max_new_tokens", 8}}}};
  std::ostringstream log;
  SftResult r = RunSft(c, log);
  EXPECT_EQ(r.steps, 40);
  EXPECT_EQ(static_cast<int64_t>(r.losses.size()), 40);
  EXPECT_LT(r.final_loss, 0.6 * r.first_loss) << log.str();
  EXPECT_GT(r.train_tokens, 0);
  EXPECT_NE(log.str().find("tokens/s"), std::string::npos);
  for (const char* sub : {"checkpoint-000020", "final"}) {
    const fs::path ck = dir / sub;
    for (const char* f : {"config.json", "tokenizer.json", "optimizer.pt", "sft_config.json",
                          "trainer_state.json", "model.safetensors.index.json"}) {
      EXPECT_TRUE(fs::exists(ck / f)) << ck / f;
    }
  }
  EXPECT_EQ(r.final_checkpoint, (dir / "final").string());
  ASSERT_TRUE(r.evaluated);
  EXPECT_EQ(r.eval.episodes, 2);
  EXPECT_TRUE(fs::exists(dir / "final" / "eval_results.json"));
  // The checkpoint is a working policy.
  auto policy = MakePolicy("lm", {{"checkpoint", r.final_checkpoint}, {"temperature", 0.0},
                                  {"max_new_tokens", 8}});
  EXPECT_EQ(policy->name(), "lm");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace turnwise
