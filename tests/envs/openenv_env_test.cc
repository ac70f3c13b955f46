// The OpenEnv adapter against an in-test Beast WebSocket server that answers exactly the shapes
// of OpenEnv's `/ws` endpoint (docs/environments.md, "Servers from other projects"; OpenEnv @
// 685de411, src/openenv/core/env_server/http_server.py and types.py): one environment per
// connection, reset/step/state/close messages, observation/state/error replies, the error codes,
// and the capacity error sent right after the upgrade.
#include "envs/openenv_env.h"

#include <gtest/gtest.h>

#include <mutex>

#include "core/error.h"
#include "envs/registry.h"
#include "envs/remote_env.h"
#include "tests/envs/ws_test_server.h"

namespace turnwise {
namespace {

using testing::WsTestConnection;
using testing::WsTestServer;

Json Error(const std::string& message, const std::string& code, Json extra = Json::object()) {
  Json data = {{"message", message}, {"code", code}};
  data.update(extra);
  return {{"type", "error"}, {"data", data}};
}

// The environment behind each connection: guess a number in 1..8 (target = seed % 8 + 1), the
// action model is {"message": str} with extra="forbid", like OpenEnv's TextArena/echo actions.
struct FakeServerOptions {
  int max_sessions = 4;
  bool factory_fails = false;
  bool drop_after_first_reset = false;  // the first connection dies right after its first reset
};

class FakeOpenEnvServer {
 public:
  using Options = FakeServerOptions;

  explicit FakeOpenEnvServer(Options o = {})
      : options_(o), server_([this](WsTestConnection& c) { Session(c); }) {}

  std::string url() const { return server_.http_url(); }
  std::string ws_url() const { return server_.url(); }
  int connections() const { return server_.connections(); }
  int active() {
    std::lock_guard<std::mutex> l(mu_);
    return active_;
  }
  int close_messages() {
    std::lock_guard<std::mutex> l(mu_);
    return close_messages_;
  }
  std::vector<Json> reset_data() {
    std::lock_guard<std::mutex> l(mu_);
    return reset_data_;
  }
  std::string last_authorization() {
    std::lock_guard<std::mutex> l(mu_);
    return authorization_;
  }

 private:
  static Json Observation(const std::string& prompt, int attempts, Json reward, bool done) {
    Json legal = Json::array();
    if (!done) {
      for (int k = 1; k <= 8; ++k) legal.push_back("guess " + std::to_string(k));
    }
    return {
        {"type", "observation"},
        {"data",
         {{"observation", {{"prompt", prompt}, {"attempts", attempts}, {"legal_actions", legal}}},
          {"reward", reward},
          {"done", done}}}};
  }

  void Session(WsTestConnection& c) {
    {
      std::lock_guard<std::mutex> l(mu_);
      authorization_ = std::string(c.request()["Authorization"]);
      // _create_session: capacity first, then the factory; either error is sent unasked and the
      // socket closed.
      if (active_ >= options_.max_sessions) {
        c.Write(DumpJson(
            Error("Server at capacity: " + std::to_string(active_) + "/" +
                      std::to_string(options_.max_sessions) +
                      " sessions active. Cannot accept new connections.",
                  "CAPACITY_REACHED",
                  {{"active_sessions", active_}, {"max_sessions", options_.max_sessions}})));
        return;
      }
      if (options_.factory_fails) {
        c.Write(DumpJson(Error("Factory 'GuessEnv' failed: no GPU", "FACTORY_ERROR",
                               {{"factory_name", "GuessEnv"}})));
        return;
      }
      ++active_;
    }
    int target = 0, attempts = 0, resets = 0;
    bool done = false;
    std::string episode_id;
    while (auto raw = c.Read()) {
      Json m = Json::parse(*raw, nullptr, false);
      if (m.is_discarded()) {
        c.Write(DumpJson(Error("Invalid JSON: Expecting value", "INVALID_JSON")));
        continue;
      }
      const std::string type = m.value("type", "");
      if (type == "reset") {
        Json data = m.value("data", Json::object());
        {
          std::lock_guard<std::mutex> l(mu_);
          reset_data_.push_back(data);
        }
        target = static_cast<int>(data.value("seed", 0) % 8) + 1;
        attempts = 0;
        done = false;
        episode_id = "ep-" + std::to_string(++resets);
        c.Write(DumpJson(Observation("Guess a number between 1 and 8.", 0, nullptr, false)));
        if (options_.drop_after_first_reset && !dropped_.exchange(true)) {
          c.Abort();
          break;
        }
      } else if (type == "step") {
        if (!m.contains("data") || !m["data"].is_object()) {
          c.Write(DumpJson(
              Error("Invalid message", "VALIDATION_ERROR",
                    {{"errors",
                      {{{"type", "missing"}, {"loc", {"data"}}, {"msg", "Field required"}}}}})));
          continue;
        }
        const Json& action = m["data"];
        Json errors = Json::array();
        for (const auto& [key, value] : action.items()) {
          if (key != "message" && key != "metadata") {
            errors.push_back({{"type", "extra_forbidden"},
                              {"loc", {key}},
                              {"msg", "Extra inputs are not permitted"}});
          }
        }
        if (!action.contains("message")) {
          errors.push_back({{"type", "missing"}, {"loc", {"message"}}, {"msg", "Field required"}});
        }
        if (!errors.empty()) {
          c.Write(DumpJson(Error("Invalid message", "VALIDATION_ERROR", {{"errors", errors}})));
          continue;
        }
        const std::string text = action["message"].get<std::string>();
        if (text == "crash") {
          c.Write(DumpJson(Error("boom: the simulator segfaulted", "EXECUTION_ERROR")));
          continue;
        }
        if (text == "stall") continue;  // never answers
        ++attempts;
        int k = text.rfind("guess ", 0) == 0 ? std::atoi(text.c_str() + 6) : 0;
        done = k == target;
        std::string prompt = done         ? "Correct!"
                             : k == 0     ? "Say 'guess K'."
                             : k < target ? "Higher."
                                          : "Lower.";
        c.Write(DumpJson(Observation(prompt, attempts, done ? 1.0 : 0.0, done)));
      } else if (type == "state") {
        c.Write(DumpJson(
            {{"type", "state"}, {"data", {{"episode_id", episode_id}, {"step_count", attempts}}}}));
      } else if (type == "close") {
        std::lock_guard<std::mutex> l(mu_);
        ++close_messages_;
        break;
      } else {
        c.Write(DumpJson(Error("Unknown message type: " + type, "UNKNOWN_TYPE")));
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    --active_;  // the session is destroyed before the socket is closed, as OpenEnv does
  }

  Options options_;
  std::mutex mu_;
  int active_ = 0;
  int close_messages_ = 0;
  std::vector<Json> reset_data_;
  std::string authorization_;
  std::atomic<bool> dropped_{false};
  WsTestServer server_;  // last: its threads stop before the state above goes
};

Json Remote(const std::string& url, Json extra = Json::object()) {
  Json r = {{"url", url}, {"protocol", "openenv"}};
  r.update(extra);
  return r;
}

// Bisection over the admissible "guess K" actions, given the last answer.
struct Guesser {
  int lo = 1, hi = 8, last = 0;
  std::string Next(const std::string& prompt) {
    if (prompt == "Higher.") lo = last + 1;
    if (prompt == "Lower.") hi = last - 1;
    last = (lo + hi) / 2;
    return "guess " + std::to_string(last);
  }
};

TEST(OpenEnv, PlaysWholeEpisodesThroughTheEnvInterface) {
  FakeOpenEnvServer server;
  {
    auto env = EnvRegistry::Make(
        "anything", {{"remote", Remote(server.url(), {{"observation_field", "prompt"},
                                                      {"admissible_field", "legal_actions"},
                                                      {"token", "sesame"}})}});
    EXPECT_EQ(env->Spec().name, "openenv");
    EXPECT_EQ(env->Spec().action_format, "text (sent as {\"message\": text})");
    for (uint64_t seed : {5u, 6u}) {
      StepResult s = env->Reset({.seed = seed});
      EXPECT_EQ(s.observation.text, "Guess a number between 1 and 8.");
      EXPECT_EQ(s.admissible_actions.size(), 8u);
      EXPECT_EQ(s.admissible_actions.front(), "guess 1");
      EXPECT_EQ(s.reward, 0.0);  // null at reset
      EXPECT_FALSE(s.done());
      EXPECT_EQ(env->TaskId(), std::to_string(seed));
      Guesser g;
      int turns = 0;
      while (!s.done()) {
        s = env->Step(g.Next(s.observation.text));
        EXPECT_EQ(s.turn, ++turns);
      }
      EXPECT_TRUE(s.terminated);
      EXPECT_EQ(s.observation.text, "Correct!");
      EXPECT_EQ(s.reward, 1.0);
      EXPECT_EQ(s.info["won"], true);
      EXPECT_EQ(s.info["task_score"], 1.0);
      EXPECT_TRUE(s.admissible_actions.empty());
      EXPECT_LE(turns, 4);
      EXPECT_THROW(env->Step("guess 1"), FailedPrecondition);  // finished, refused locally
      Json state = dynamic_cast<OpenEnvEnv&>(*env).State();
      EXPECT_EQ(state["step_count"], turns);
    }
    env->Reset({.seed = 1, .task_id = "level-3"});
    EXPECT_EQ(env->TaskId(), "level-3");
    EXPECT_EQ(server.connections(), 1);  // one session for every episode
    EXPECT_EQ(server.active(), 1);
    EXPECT_EQ(server.last_authorization(), "Bearer sesame");
  }
  // The destructor ended the session with {"type": "close"}.
  EXPECT_EQ(server.close_messages(), 1);
  EXPECT_EQ(server.active(), 0);
  std::vector<Json> resets = server.reset_data();
  ASSERT_EQ(resets.size(), 3u);
  EXPECT_EQ(resets[0], Json({{"seed", 5}}));
  EXPECT_EQ(resets[2], Json({{"seed", 1}, {"task_id", "level-3"}}));
}

TEST(OpenEnv, ObservationTextIsTheWholeObservationByDefault) {
  FakeOpenEnvServer server;
  auto env = MakeRemoteEnv(
      Remote(server.ws_url(), {{"reset_data", {{"difficulty", "easy"}}}, {"task_field", ""}}));
  EXPECT_EQ(dynamic_cast<OpenEnvEnv&>(*env).ws_url(), server.ws_url());
  StepResult s = env->Reset({.seed = 2, .task_id = "7"});
  EXPECT_EQ(
      s.observation.text,
      R"({"attempts":0,"legal_actions":["guess 1","guess 2","guess 3","guess 4","guess 5","guess 6","guess 7","guess 8"],"prompt":"Guess a number between 1 and 8."})");
  EXPECT_TRUE(s.admissible_actions.empty());  // no admissible_field
  EXPECT_EQ(server.reset_data().back(), Json({{"difficulty", "easy"}, {"seed", 2}}));
  s = env->Step("guess 3");
  EXPECT_EQ(s.observation.text, R"({"attempts":1,"legal_actions":[],"prompt":"Correct!"})");
  EXPECT_TRUE(s.info["won"].get<bool>());
}

TEST(OpenEnv, CapacityReachedIsAClearUnavailableError) {
  FakeOpenEnvServer server({.max_sessions = 1});
  auto first = MakeRemoteEnv(Remote(server.url()));
  first->Reset({.seed = 1});
  auto second = MakeRemoteEnv(Remote(server.url(), {{"retries", 1}, {"backoff_s", 0.01}}));
  try {
    second->Reset({.seed = 1});
    FAIL() << "a full server admitted a second session";
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()),
              "openenv server " + server.ws_url() +
                  ": no free session (CAPACITY_REACHED: Server at capacity: 1/1 sessions active. "
                  "Cannot accept new connections.; 1/1 sessions in use) after 2 attempts");
  }
  first.reset();  // frees the slot
  StepResult s = second->Reset({.seed = 1});
  EXPECT_FALSE(s.done());
  EXPECT_EQ(server.active(), 1);
}

TEST(OpenEnv, ServerErrorsMapToTheErrorHierarchy) {
  FakeOpenEnvServer server;
  auto env = MakeRemoteEnv(Remote(server.url(), {{"observation_field", "prompt"}}));
  EXPECT_THROW(env->Step("guess 1"), FailedPrecondition);  // before Reset
  env->Reset({.seed = 0});
  try {
    env->Step("crash");
    FAIL();
  } catch (const FailedPrecondition& e) {
    EXPECT_EQ(std::string(e.what()), "openenv server " + server.ws_url() +
                                         ": step: the environment failed: boom: the simulator "
                                         "segfaulted (EXECUTION_ERROR)");
  }
  EXPECT_THROW(env->Step("guess 1"), FailedPrecondition);  // the episode is over
  EXPECT_EQ(env->Reset({.seed = 0}).observation.text,
            "Guess a number between 1 and 8.");  // same socket
  EXPECT_EQ(server.connections(), 1);

  // An action object that does not fit the env's action model is a config problem in field mode.
  auto misnamed = MakeRemoteEnv(Remote(server.url(), {{"action_field", "text"}}));
  misnamed->Reset({});
  try {
    misnamed->Step("guess 1");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "openenv server " + server.ws_url() +
            ": the environment rejected the action object {\"text\":\"guess 1\"}: text: Extra "
            "inputs are not permitted; message: Field required (VALIDATION_ERROR; check "
            "env.remote.action_field and action_extra)");
  }

  FakeOpenEnvServer broken({.factory_fails = true});
  auto env2 = MakeRemoteEnv(Remote(broken.url()));
  try {
    env2->Reset({});
    FAIL();
  } catch (const FailedPrecondition& e) {
    EXPECT_EQ(std::string(e.what()), "openenv server " + broken.ws_url() +
                                         ": reset: the server could not create the environment: "
                                         "Factory 'GuessEnv' failed: no GPU (FACTORY_ERROR)");
  }
}

TEST(OpenEnv, JsonActionsThatDoNotFitAreInvalidActionsNotErrors) {
  FakeOpenEnvServer server;
  auto env = MakeRemoteEnv(Remote(
      server.url(), {{"action_json", true}, {"observation_field", "prompt"}, {"max_turns", 3}}));
  EXPECT_EQ(env->Spec().action_format, "a JSON action object");
  env->Reset({.seed = 7});              // target 8
  StepResult a = env->Step("guess 8");  // not JSON
  EXPECT_EQ(a.observation.text, "Guess a number between 1 and 8.");
  EXPECT_EQ(a.info["is_action_valid"], false);
  EXPECT_EQ(a.info["error"], "the action is not a JSON object");
  EXPECT_EQ(a.turn, 1);
  StepResult b = env->Step(R"({"mesage": "guess 8"})");
  EXPECT_EQ(b.info["is_action_valid"], false);
  EXPECT_EQ(b.info["error"], "mesage: Extra inputs are not permitted; message: Field required");
  StepResult c = env->Step(R"({"message": "guess 2"})");
  EXPECT_EQ(c.info["is_action_valid"], true);
  EXPECT_EQ(c.observation.text, "Higher.");
  EXPECT_TRUE(c.truncated);  // max_turns = 3, invalid actions count
  EXPECT_FALSE(c.terminated);
}

TEST(OpenEnv, ALostConnectionEndsTheEpisodeAndResetReconnects) {
  FakeOpenEnvServer server({.drop_after_first_reset = true});
  auto env =
      MakeRemoteEnv(Remote(server.url(), {{"observation_field", "prompt"}, {"timeout_s", 2}}));
  env->Reset({.seed = 3});
  try {
    env->Step("guess 4");
    FAIL();
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()).rfind("openenv step: websocket " + server.ws_url() + ": ", 0),
              0u)
        << e.what();
  }
  EXPECT_THROW(env->Step("guess 4"), FailedPrecondition);
  // The next reset opens a new session (the fake server drops only the first).
  EXPECT_EQ(env->Reset({.seed = 3}).observation.text, "Guess a number between 1 and 8.");
  EXPECT_EQ(env->Step("guess 4").observation.text, "Correct!");
  EXPECT_EQ(server.connections(), 2);
}

TEST(OpenEnv, AStalledStepTimesOut) {
  FakeOpenEnvServer server;
  auto env = MakeRemoteEnv(Remote(server.url(), {{"timeout_s", 0.2}}));
  env->Reset({});
  try {
    env->Step("stall");
    FAIL();
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()),
              "openenv step: websocket " + server.ws_url() + ": receive timed out after 200 ms");
  }
}

TEST(OpenEnv, ConfigAndDeadServersAreClearErrors) {
  try {
    MakeRemoteEnv(Remote("ws://127.0.0.1:9", {{"action_feild", "x"}}));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.action_feild");
  }
  EXPECT_THROW(MakeRemoteEnv({{"protocol", "openenv"}}), ConfigError);
  EXPECT_THROW(MakeRemoteEnv(Remote("https://example.org")), ConfigError);
  EXPECT_THROW(MakeRemoteEnv(Remote("ws://x", {{"action_field", ""}})), ConfigError);
  EXPECT_EQ(dynamic_cast<OpenEnvEnv&>(*MakeRemoteEnv(Remote("http://h:1/"))).ws_url(),
            "ws://h:1/ws");
  EXPECT_EQ(dynamic_cast<OpenEnvEnv&>(*MakeRemoteEnv(Remote("ws://h:1/custom"))).ws_url(),
            "ws://h:1/custom");
  try {
    MakeRemoteEnv({{"url", "ws://x"}, {"protocol", "open-env"}});
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_EQ(std::string(e.what()).rfind("unknown env protocol 'open-env'", 0), 0u);
    EXPECT_NE(std::string(e.what()).find("known: turnwise, agentgym, openenv"), std::string::npos)
        << e.what();
  }
  // A missing observation field names the key and what the observation has.
  FakeOpenEnvServer server;
  auto env = MakeRemoteEnv(Remote(server.url(), {{"observation_field", "text"}}));
  try {
    env->Reset({});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.observation_field");
    EXPECT_NE(std::string(e.what()).find("its fields: attempts, legal_actions, prompt"),
              std::string::npos);
  }
  // Nothing listens on loopback port 1: retried, then Unavailable with the reason.
  auto dead = MakeRemoteEnv(Remote("ws://127.0.0.1:1", {{"retries", 1}, {"backoff_s", 0.01}}));
  try {
    dead->Reset({});
    FAIL();
  } catch (const Unavailable& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("websocket ws://127.0.0.1:1/ws: connect to 127.0.0.1:1 failed: ", 0), 0u)
        << m;
    EXPECT_NE(m.find("after 2 attempts"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace turnwise
