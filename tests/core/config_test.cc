#include "core/config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace turnwise {
namespace {

std::string Data(const std::string& name) {
  return std::string(TURNWISE_SOURCE_DIR) + "/tests/data/configs/" + name;
}

ConfigSchema TestSchema() {
  ConfigSchema s;
  s.Add("name", FieldType::kString, "run", "run name");
  s.Add("seed", FieldType::kInt, 0, "root seed");
  s.Add({.path = "trainer.lr", .type = FieldType::kNumber, .default_value = 1e-4,
         .help = "learning rate", .min = 0.0});
  s.Add("trainer.epochs", FieldType::kInt, 1, "PPO epochs");
  s.Add("trainer.use_kl", FieldType::kBool, false, "KL to reference");
  s.Add({.path = "trainer.schedule", .type = FieldType::kString, .default_value = "constant",
         .help = "LR schedule", .choices = {"constant", "cosine"}});
  s.Add("env.name", FieldType::kString, "household", "environment");
  s.Add("env.config", FieldType::kOpen, Json::object(), "passed to the environment");
  s.Add("eval.splits", FieldType::kArray, Json::array({"valid_seen"}), "splits");
  return s;
}

std::string MessageOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, FileWithCommentsIsMergedWithDefaults) {
  Json c = LoadConfig(Data("good.json"), {}, TestSchema());
  EXPECT_EQ(c["name"], "demo");
  EXPECT_EQ(c["seed"], 7);
  EXPECT_DOUBLE_EQ(c["trainer"]["lr"].get<double>(), 1e-5);
  EXPECT_EQ(c["trainer"]["use_kl"], false);            // default filled
  EXPECT_EQ(c["trainer"]["schedule"], "constant");     // default filled
  EXPECT_EQ(c["env"]["config"]["grammar_version"], "0.3");  // open object kept as written
  EXPECT_EQ(c["eval"]["splits"], Json::array({"valid_seen"}));
}

TEST(Config, OverridesAreTypedByTheSchema) {
  Json c = LoadConfig(Data("good.json"),
                      {"trainer.lr=3e-4", "trainer.use_kl=true", "name=my run 2", "seed=11",
                       "name=\"quoted\"", "eval.splits=[\"valid_seen\",\"valid_unseen\"]",
                       "env.config.max_steps=30", "trainer.schedule=cosine"},
                      TestSchema());
  EXPECT_DOUBLE_EQ(c["trainer"]["lr"].get<double>(), 3e-4);
  EXPECT_EQ(c["trainer"]["use_kl"], true);
  EXPECT_EQ(c["name"], "quoted");  // later override wins
  EXPECT_EQ(c["seed"], 11);
  EXPECT_EQ(c["eval"]["splits"].size(), 2u);
  EXPECT_EQ(c["env"]["config"]["max_steps"], 30);
  EXPECT_EQ(c["env"]["config"]["grammar_version"], "0.3");  // sibling kept
  EXPECT_EQ(c["trainer"]["schedule"], "cosine");
}

TEST(Config, StringFieldTakesNumericLookingTextAsString) {
  Json c = LoadConfig("", {"name=123"}, TestSchema());
  EXPECT_EQ(c["name"], "123");
}

TEST(Config, UnknownKeyNamesFullPathAndNearestName) {
  std::string msg = MessageOf([] { LoadConfig(Data("good.json"), {"trainer.lrr=1"}, TestSchema()); });
  EXPECT_EQ(msg,
            "config: trainer.lrr: unknown key (did you mean 'trainer.lr'?); known keys under "
            "'trainer': epochs, lr, schedule, use_kl");
}

TEST(Config, UnknownKeyInFileIsRejected) {
  ConfigSchema s = TestSchema();
  std::string msg = MessageOf([&] { s.Validate(Json::parse(R"({"trainer": {"epoch": 2}})")); });
  EXPECT_NE(msg.find("config: trainer.epoch: unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'trainer.epochs'?"), std::string::npos) << msg;
  std::string top = MessageOf([&] { s.Validate(Json::parse(R"({"zzz": 1})")); });
  EXPECT_NE(top.find("config: zzz: unknown key; known keys: env, eval, name, seed, trainer"),
            std::string::npos)
      << top;
}

TEST(Config, WrongTypeNamesPathExpectedAndGot) {
  ConfigSchema s = TestSchema();
  EXPECT_EQ(MessageOf([&] { s.Validate(Json::parse(R"({"trainer": {"lr": "fast"}})")); }),
            "config: trainer.lr: expected a number, got string \"fast\"");
  EXPECT_EQ(MessageOf([&] { s.Validate(Json::parse(R"({"seed": 1.5})")); }),
            "config: seed: expected an integer, got number 1.5");
  EXPECT_EQ(MessageOf([&] { s.Validate(Json::parse(R"({"trainer": 3})")); }),
            "config: trainer: expected an object (it holds epochs, lr, schedule, use_kl), got "
            "integer 3");
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer.use_kl=yes"}, s); }),
            "config: trainer.use_kl: expected a boolean, got 'yes'");
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer.epochs=two"}, s); }),
            "config: trainer.epochs: expected an integer, got 'two'");
}

TEST(Config, RangeAndChoicesAreChecked) {
  ConfigSchema s = TestSchema();
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer.lr=-1"}, s); }),
            "config: trainer.lr: value -1 is below the minimum 0.0");
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer.schedule=cosin"}, s); }),
            "config: trainer.schedule: unknown value 'cosin' (did you mean 'cosine'?); known: "
            "constant, cosine");
}

TEST(Config, MalformedFileNamesFileAndPosition) {
  std::string msg = MessageOf([] { LoadConfig(Data("malformed.json"), {}, TestSchema()); });
  EXPECT_NE(msg.find("malformed.json: malformed JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 4"), std::string::npos) << msg;
}

TEST(Config, MissingFileIsAnIoErrorNamingThePath) {
  try {
    LoadConfig("/nonexistent/run.json", {}, TestSchema());
    FAIL();
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read '/nonexistent/run.json': No such file or directory");
  }
}

TEST(Config, MalformedOverridesAreRejected) {
  ConfigSchema s = TestSchema();
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer.lr"}, s); }),
            "config: override 'trainer.lr' must have the form key.path=value");
  EXPECT_NE(MessageOf([&] { LoadConfig("", {"trainer..lr=1"}, s); }).find("invalid key path"),
            std::string::npos);
  EXPECT_EQ(MessageOf([&] { LoadConfig("", {"trainer=1"}, s); }),
            "config: trainer: is a section, not a value; set one of its keys: epochs, lr, "
            "schedule, use_kl");
}

TEST(Config, OverrideWithoutSchemaParsesJsonLiteralsOrStrings) {
  Json c = Json::object();
  ApplyOverride(c, "a.b=3", nullptr);
  ApplyOverride(c, "a.c=true", nullptr);
  ApplyOverride(c, "a.d=hello world", nullptr);
  ApplyOverride(c, "a.e={\"x\": [1, 2]}", nullptr);
  EXPECT_EQ(c["a"]["b"], 3);
  EXPECT_EQ(c["a"]["c"], true);
  EXPECT_EQ(c["a"]["d"], "hello world");
  EXPECT_EQ(c["a"]["e"]["x"][1], 2);
}

TEST(Config, FindPathWalksNestedObjects) {
  Json c = Json::parse(R"({"a": {"b": {"c": 5}}})");
  ASSERT_NE(FindPath(c, "a.b.c"), nullptr);
  EXPECT_EQ(*FindPath(c, "a.b.c"), 5);
  EXPECT_EQ(FindPath(c, "a.x"), nullptr);
  EXPECT_EQ(FindPath(c, "a.b.c.d"), nullptr);
}

}  // namespace
}  // namespace turnwise
