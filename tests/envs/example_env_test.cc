// The complete small example environment of docs/environments.md, compiled and tested here so
// the documentation cannot rot. It is registered with the one-line macro, exactly as a user's
// own binary would do it.
#include <gtest/gtest.h>

#include <functional>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "envs/env.h"
#include "envs/registry.h"

namespace {

using turnwise::Env;
using turnwise::EnvSpec;
using turnwise::Json;
using turnwise::ResetOptions;
using turnwise::StepResult;

// "Count to N": the agent must say the numbers 1, 2, ..., N in order.
class CountEnv : public Env {
 public:
  explicit CountEnv(const Json& config) {
    turnwise::ConfigSchema schema;
    schema.Add({.path = "target", .type = turnwise::FieldType::kInt, .default_value = 5,
                .help = "number to count to", .min = 1});
    try {
      target_ = schema.Validate(config)["target"].get<int>();
    } catch (const turnwise::ConfigError& e) {
      throw e.Under("env.config");
    }
  }

  StepResult Reset(const ResetOptions&) override {
    next_ = 1;
    done_ = false;
    turn_ = 0;
    return Make("Count from 1 to " + std::to_string(target_) + ", one number per turn.", 0, true);
  }

  StepResult Step(const std::string& action) override {
    if (done_) throw turnwise::FailedPrecondition("count: the episode has finished");
    ++turn_;
    bool valid = action == std::to_string(next_);
    if (valid) ++next_;
    bool won = next_ > target_;
    done_ = won || turn_ >= 2 * target_;
    return Make(valid ? "Good." : "Nothing happens.", won ? 1.0 : 0.0, valid);
  }

  EnvSpec Spec() const override {
    EnvSpec spec;
    spec.name = "count";
    spec.version = "1";
    spec.description = "Say the numbers from 1 to N in order.";
    spec.splits = {{"train", 1}};
    spec.max_turns = 2 * target_;
    spec.action_format = "a number";
    return spec;
  }

  std::optional<std::string> ExpertAction() override {
    if (done_) return std::nullopt;
    return std::to_string(next_);
  }

 private:
  StepResult Make(std::string text, double reward, bool valid) {
    StepResult s;
    s.observation.text = std::move(text);
    s.reward = reward;
    s.terminated = next_ > target_;
    s.truncated = !s.terminated && turn_ >= 2 * target_;
    s.admissible_actions = {std::to_string(next_)};
    s.anchor_key = "next " + std::to_string(next_);
    s.info = {{"won", s.terminated}, {"is_action_valid", valid}, {"task_score", reward}};
    s.turn = turn_;
    return s;
  }

  int target_ = 5;
  int next_ = 1;
  int turn_ = 0;
  bool done_ = true;
};

TURNWISE_REGISTER_ENV("count", [](const Json& config) { return std::make_unique<CountEnv>(config); });

TEST(ExampleEnv, RegisteredWithOneLineAndPlayable) {
  auto env = turnwise::EnvRegistry::Make("count", {{"target", 3}});
  StepResult s = env->Reset({});
  EXPECT_EQ(s.observation.text, "Count from 1 to 3, one number per turn.");
  EXPECT_EQ(env->Step("2").observation.text, "Nothing happens.");
  while (!s.done()) s = env->Step(*env->ExpertAction());
  EXPECT_TRUE(s.info["won"].get<bool>());
  EXPECT_EQ(s.reward, 1.0);
  EXPECT_EQ(s.turn, 4);
  auto names = turnwise::EnvRegistry::Names();
  EXPECT_NE(std::find(names.begin(), names.end(), "count"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "household"), names.end());
}

TEST(ExampleEnv, BadConfigNamesTheKey) {
  try {
    turnwise::EnvRegistry::Make("count", {{"taget", 3}});
    FAIL();
  } catch (const turnwise::ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.config.taget");
  }
}

TEST(ExampleEnv, StepResultRoundTripsThroughProtocolJson) {
  auto env = turnwise::EnvRegistry::Make("count");
  StepResult s = env->Reset({});
  s.observation.image_png = std::string("\x89PNG\r\n\x1a\n\0\xff", 10);
  s.observation.vector = {0.5f, -1.0f};
  Json j = s.ToJson();
  EXPECT_EQ(j["observation"]["image_png_base64"], "iVBORw0KGgoA/w==");
  StepResult back = StepResult::FromJson(j);
  EXPECT_EQ(back.observation.image_png, s.observation.image_png);
  EXPECT_EQ(back.observation.vector, s.observation.vector);
  EXPECT_EQ(back.admissible_actions, s.admissible_actions);
  EXPECT_EQ(back.info, s.info);
  EXPECT_THROW(StepResult::FromJson(Json{{"observation", {{"text", 3}}}}), turnwise::InvalidArgument);
}

TEST(ExampleEnv, DirectJsonTextIsTheSameDocument) {
  auto env = turnwise::EnvRegistry::Make("household");
  StepResult s = env->Reset({.seed = 3});
  EXPECT_EQ(Json::parse(s.ToJsonText()), s.ToJson());
  s.observation.text = "quotes \" and \\ and\nnew lines \xe2\x82\xac";
  s.observation.image_png = std::string("\x89PNG\r\n\x1a\n\0\xff", 10);
  s.observation.vector = {0.1f, -1.0f, 3.0f};
  s.reward = 10;
  s.terminated = true;
  s.turn = 17;
  Json direct = Json::parse(s.ToJsonText());
  EXPECT_EQ(direct, s.ToJson());
  EXPECT_TRUE(direct["reward"].is_number_float());
  EXPECT_EQ(direct["observation"]["vector"][0].get<double>(), static_cast<double>(0.1f));
}

// FromJsonText against its reference, FromJson(parse(text)): the same step for every document
// the reference accepts (its fast path or its fallback), an InvalidArgument for every one the
// reference rejects.
std::string Outcome(const std::function<StepResult()>& read) {
  try {
    StepResult s = read();
    return turnwise::DumpJson(s.ToJson()) + "|anchor=" + s.anchor_key;
  } catch (const turnwise::InvalidArgument&) {
    return "InvalidArgument";
  }
}

void ExpectSameAsFromJson(const std::string& text) {
  std::string want = Outcome([&] {
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded()) throw turnwise::InvalidArgument("not JSON");
    return StepResult::FromJson(j);
  });
  EXPECT_EQ(Outcome([&] { return StepResult::FromJsonText(text); }), want) << text;
}

TEST(ExampleEnv, StepFromJsonTextMatchesFromJson) {
  auto env = turnwise::EnvRegistry::Make("household");
  turnwise::Rng rng(11);
  StepResult s = env->Reset({.seed = 5});
  for (int i = 0; i < 300; ++i) {
    ExpectSameAsFromJson(s.ToJsonText());
    ExpectSameAsFromJson(turnwise::DumpJson(s.ToJson(), 2));  // whitespace everywhere
    s = s.done() ? env->Reset({.seed = static_cast<uint64_t>(i)})
                 : env->Step(s.admissible_actions[rng.Uniform(s.admissible_actions.size())]);
  }
  const std::vector<std::string> documents = {
      // Other key orders, unknown fields, no optional fields.
      R"({"turn":3,"info":{},"anchor_key":"a","admissible_actions":[],"truncated":true,)"
      R"("terminated":false,"reward":-1.5e1,"observation":{"vector":null,"text":"t"}})",
      R"({"observation":{"text":"t","extra":[1,{"x":null}]},"reward":0,"terminated":false,)"
      R"("truncated":false,"more":{"a":[true,false,null,"s",-0.0,1E+2]}})",
      // Escapes, surrogate pairs, raw UTF-8, a nested info value, large and negative numbers.
      R"({"observation":{"text":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 €"},)"
      R"("reward":1,"terminated":true,"truncated":false,"admissible_actions":["\u0041"],)"
      R"("info":{"won":true,"n":-7,"big":18446744073709551615,"f":0.1,"o":{"k":[1]}},"turn":-2})",
      // Shapes the fast path leaves to FromJson.
      R"({"observation":{"text":"t","image_png_base64":"iVBORw0KGgo=","vector":[0.5]},)"
      R"("reward":true,"terminated":false,"truncated":false,"turn":2.7})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false,)"
      R"("info":{"a":1,"a":2},"anchor_key":"x","anchor_key":"y"})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false,)"
      R"("turn":99999999999999999999})",
      // Errors: missing and mistyped fields, malformed JSON.
      R"({"observation":{"text":"t"},"reward":0,"terminated":false})",
      R"({"observation":{"text":3},"reward":0,"terminated":false,"truncated":false})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":0,"truncated":false})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false,)"
      R"("admissible_actions":["a",1]})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false,"info":[]})",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false} x)",
      R"({"observation":{"text":"t"},"reward":01,"terminated":false,"truncated":false})",
      R"({"observation":{"text":"bad \x escape"},"reward":0,"terminated":false,"truncated":false})",
      R"({"observation":{"text":"lone \udc00"},"reward":0,"terminated":false,"truncated":false})",
      "{\"observation\":{\"text\":\"bad utf-8 \xff\"},\"reward\":0,\"terminated\":false,"
      "\"truncated\":false}",
      "{\"observation\":{\"text\":\"tab\tinside\"},\"reward\":0,\"terminated\":false,"
      "\"truncated\":false}",
      R"({"observation":{"text":"t"},"reward":0,"terminated":false,"truncated":false,})", "[]", "",
      "null", R"({"observation":)"};
  for (const auto& d : documents) ExpectSameAsFromJson(d);
}

}  // namespace

namespace {

// The `delayed` wrapper answers exactly as the env it wraps.
TEST(DelayedEnv, AnswersAsTheInnerEnv) {
  auto delayed = turnwise::EnvRegistry::Make("delayed", {{"env", "household"}, {"step_ms", 0.0}, {"jitter_ms", 1.0}});
  auto plain = turnwise::EnvRegistry::Make("household");
  StepResult a = delayed->Reset({.seed = 4});
  StepResult b = plain->Reset({.seed = 4});
  EXPECT_EQ(a.ToJson(), b.ToJson());
  while (!b.done()) {
    auto action = delayed->ExpertAction();
    ASSERT_TRUE(action);
    a = delayed->Step(*action);
    b = plain->Step(*action);
    ASSERT_EQ(a.ToJson(), b.ToJson());
  }
  EXPECT_EQ(delayed->TaskId(), plain->TaskId());
  EXPECT_EQ(delayed->Spec().name, "delayed");
  EXPECT_EQ(delayed->Spec().splits, plain->Spec().splits);
}

TEST(DelayedEnv, BadConfigNamesTheKey) {
  try {
    turnwise::EnvRegistry::Make("delayed", {{"step_ms", -1.0}});
    FAIL();
  } catch (const turnwise::ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.config.step_ms");
  }
  EXPECT_THROW(turnwise::EnvRegistry::Make("delayed", {{"env", "nope"}}), turnwise::NotFound);
}

}  // namespace
