// The AgentGym adapter against in-test servers that answer exactly the documented shapes of
// AgentGym's alfworld, webshop and searchqa servers (docs/environments.md, "Servers from other
// projects"), and of its textcraft, sciworld and babyai servers (AgentGym @ 3ef9235:
// agentenv-<env>/agentenv_<env>/server.py, model.py, env_wrapper.py / environment.py; clients
// agentenv/agentenv/envs/<env>.py).
#include "envs/agentgym_env.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cctype>
#include <thread>

#include "core/error.h"

namespace turnwise {
namespace {

// Serves one AgentGym-shaped server on 127.0.0.1 (any port) for the test's lifetime.
class FakeServer {
 public:
  explicit FakeServer(const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

Json Body(const httplib::Request& req) { return Json::parse(req.body); }
void Reply(httplib::Response& res, const Json& j) {
  res.set_content(DumpJson(j), "application/json");
}

TEST(AgentGym, AlfworldProfileSpeaksItsShapes) {
  int steps = 0;
  FakeServer server([&](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"id", 7}});
    });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      Json b = Body(req);
      EXPECT_EQ(b["id"], 7);
      EXPECT_EQ(b["world_type"], "Text");
      Reply(res, {{"id", 7},
                  {"observation", "You are in the middle of a room. Your task is to: game " +
                                      std::to_string(b["game"].get<int>())},
                  {"available_actions", {"look", "go to desk 1"}},
                  {"task_type", "pick_and_place_simple-Mug-None-Desk-1/trial_1"}});
    });
    s.Post("/step", [&](const httplib::Request& req, httplib::Response& res) {
      Json b = Body(req);
      if (++steps > 2) return Reply(res, {{"error", "The task with environment 7 has finished."}});
      bool done = b["action"] == "go to desk 1";
      Reply(res, {{"observation", done ? "You arrive at desk 1." : "Nothing happens."},
                  {"reward", done ? 1.0 : 0.0},
                  {"available_actions", {"look"}},
                  {"done", done}});
    });
  });
  auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "alfworld"}});
  StepResult s = env->Reset({.task_id = "12"});
  EXPECT_EQ(s.observation.text, "You are in the middle of a room. Your task is to: game 12");
  EXPECT_EQ(s.admissible_actions, (std::vector<std::string>{"go to desk 1", "look"}));
  EXPECT_EQ(env->TaskType(), "pick_and_place_simple-Mug-None-Desk-1/trial_1");
  StepResult n = env->Step("dance");
  EXPECT_FALSE(n.done());
  EXPECT_EQ(n.info["is_action_valid"], false);
  StepResult w = env->Step("go to desk 1");
  EXPECT_TRUE(w.terminated);
  EXPECT_EQ(w.info["won"], true);
  EXPECT_EQ(w.reward, 1.0);
  EXPECT_THROW(env->Step("look"), FailedPrecondition);  // finished, refused locally
}

TEST(AgentGym, WebshopProfileBuildsActionsFromClickables) {
  FakeServer server([](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) { Reply(res, 4242); });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(Body(req)["env_idx"], 4242);
      Reply(res,
            Json::array({"WebShop [SEP] Instruction: [SEP] buy a red mug [SEP] Search", nullptr}));
    });
    s.Get("/available_actions", [](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(req.get_param_value("env_idx"), "4242");
      Reply(res, {{"has_search_bar", true}, {"clickables", {"back to search"}}});
    });
    s.Post("/step", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"state", "Thank you for shopping"},
                  {"reward", 0.75},
                  {"done", true},
                  {"info", nullptr}});
    });
  });
  auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "webshop"}});
  StepResult s = env->Reset({.seed = 3});
  EXPECT_EQ(s.admissible_actions,
            (std::vector<std::string>{"click[back to search]", "search[...]"}));
  StepResult d = env->Step("click[buy now]");
  EXPECT_TRUE(d.terminated);
  EXPECT_DOUBLE_EQ(d.info["task_score"].get<double>(), 0.75);
  EXPECT_EQ(d.info["won"], true);
}

TEST(AgentGym, SearchqaProfileCreatesPerItemAndCloses) {
  std::atomic<int> closed{0};
  FakeServer server([&](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request& req, httplib::Response& res) {
      Reply(res, 100 + Body(req)["id"].get<int>());
    });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      Reply(res, "Question " + std::to_string(Body(req)["id"].get<int>()));
    });
    s.Post("/step", [](const httplib::Request& req, httplib::Response& res) {
      bool answer = Body(req)["action"].get<std::string>().find("<answer>") != std::string::npos;
      Reply(res, {{"observation", answer ? "" : "<information>Doc 1</information>"},
                  {"reward", answer ? 1.0 : 0.0},
                  {"done", answer},
                  {"info", nullptr}});
    });
    s.Post("/close", [&](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(Body(req)["env_idx"], 105);
      closed++;
      Reply(res, {{"closed", true}});
    });
  });
  {
    auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "searchqa"}});
    EXPECT_EQ(env->Reset({.task_id = "5"}).observation.text, "Question 5");
    EXPECT_EQ(env->Step("<search>x</search>").observation.text, "<information>Doc 1</information>");
    EXPECT_TRUE(env->Step("<answer>y</answer>").info["won"].get<bool>());
  }
  EXPECT_EQ(closed.load(), 1);
}

// FastAPI answers a request whose body does not fit the pydantic model with 422 and "detail".
bool RequireBody(const httplib::Request& req, httplib::Response& res,
                 std::vector<std::string> fields) {
  Json b = Json::parse(req.body, nullptr, false);
  Json detail = Json::array();
  if (b.is_discarded() || !b.is_object()) {
    detail.push_back({{"type", "missing"}, {"loc", {"body"}}, {"msg", "Field required"}});
  } else {
    for (const auto& f : fields) {
      if (!b.contains(f))
        detail.push_back({{"type", "missing"}, {"loc", {"body", f}}, {"msg", "Field required"}});
    }
  }
  if (detail.empty()) return true;
  res.status = 422;
  Reply(res, {{"detail", detail}});
  return false;
}

TEST(AgentGym, TextcraftProfileSpeaksItsShapes) {
  std::vector<std::string> actions;
  std::vector<Json> closes;
  int creates = 0;
  FakeServer server([&](httplib::Server& s) {
    // CreateRequestBody has only optional fields, but FastAPI still requires the body.
    s.Post("/create", [&](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {})) return;
      ++creates;
      // The wrapper resets the new env with data_idx = its id and answers with that observation.
      Reply(res, {{"id", 0},
                  {"observation",
                   "Crafting commands:\ncraft 1 bowl using 3 oak planks\n\nGoal: craft bowl."},
                  {"done", false},
                  {"reward", 0}});
    });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id"})) return;
      Json b = Body(req);
      if (b["id"] != 0)
        return Reply(res, {{"error", "The id " + DumpJson(b["id"]) + " is not valid."}});
      EXPECT_EQ(b["data_idx"], 12);
      Reply(res, {{"id", 0},
                  {"observation",
                   "Crafting commands:\ncraft 4 oak planks using 1 oak log\ncraft 4 stick using 2 "
                   "oak planks\n\nGoal: craft stick."},
                  {"done", false},
                  {"reward", 0}});
    });
    s.Post("/step", [&](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id", "action"})) return;
      std::string a = Body(req)["action"];
      actions.push_back(a);
      if (a == "get 1 oak log")
        return Reply(res, {{"observation", "Got 1 oak log"}, {"reward", 0}, {"done", false}});
      if (a == "get 1 iron ingot")
        return Reply(
            res, {{"observation", "Could not find iron ingot"}, {"reward", 0}, {"done", false}});
      if (a == "craft 4 oak planks using 1 oak log") {
        return Reply(
            res,
            {{"observation", "Crafted 4 minecraft:oak_planks"}, {"reward", 0}, {"done", false}});
      }
      if (a == "craft 4 stick using 2 oak planks") {
        return Reply(res,
                     {{"observation", "Crafted 4 minecraft:stick"}, {"reward", 1}, {"done", true}});
      }
      Reply(res, {{"observation", "Could not execute " + a}, {"reward", 0}, {"done", false}});
    });
    s.Post("/close", [&](const httplib::Request& req, httplib::Response& res) {
      closes.push_back(Body(req));
      Reply(res, true);  // a bare bool
    });
  });
  {
    auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "textcraft"}});
    EXPECT_EQ(env->Spec().name, "agentgym/textcraft");
    StepResult s = env->Reset({.task_id = "12"});
    EXPECT_EQ(s.observation.text,
              "Crafting commands:\ncraft 4 oak planks using 1 oak log\ncraft 4 stick using 2 oak "
              "planks\n\nGoal: craft stick.");
    EXPECT_TRUE(s.admissible_actions.empty());
    EXPECT_EQ(env->TaskId(), "12");
    // Cleaned as AgentGym's client does: only letters, digits, commas and single spaces go out.
    StepResult got = env->Step("  get 1 oak   log. ");
    EXPECT_EQ(got.observation.text, "Got 1 oak log");
    EXPECT_EQ(got.info["is_action_valid"], true);
    StepResult bad = env->Step("get 1 iron ingot");
    EXPECT_EQ(bad.info["is_action_valid"], false);
    EXPECT_EQ(env->Step("craft 4 oak planks using 1 oak log").reward, 0.0);
    StepResult won = env->Step("craft 4 stick using 2 oak planks!");
    EXPECT_TRUE(won.terminated);
    EXPECT_EQ(won.reward, 1.0);
    EXPECT_EQ(won.info["won"], true);
    EXPECT_EQ(won.info["task_score"], 1.0);
    EXPECT_EQ(won.turn, 4);
    EXPECT_THROW(env->Step("inventory"), FailedPrecondition);
    env->Reset({.task_id = "12"});  // the same server env again
  }
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(actions, (std::vector<std::string>{"get 1 oak log", "get 1 iron ingot",
                                               "craft 4 oak planks using 1 oak log",
                                               "craft 4 stick using 2 oak planks"}));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0], Json({{"id", 0}}));
}

TEST(AgentGym, SciworldProfileScoresInHundredths) {
  int closes = 0;
  FakeServer server([&](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request& req, httplib::Response& res) {
      EXPECT_TRUE(req.body.empty());  // def create(): no body
      Reply(res, {{"id", 3}});
    });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id", "data_idx"})) return;  // data_idx has no default here
      Json b = Body(req);
      EXPECT_EQ(b["id"], 3);
      EXPECT_EQ(b["data_idx"], 7);
      Reply(res,
            {{"task_name", "boil"},
             {"var_num", 7},
             {"task_description", "Your task is to boil water. First, focus on the substance."},
             {"observation", "This room is called the kitchen. In it, you see: a stove, a sink."},
             {"reward", 0},
             {"score", 0},
             {"deleted", false},
             {"done", false}});
    });
    s.Post("/step", [](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id", "action"})) return;
      std::string a = Body(req)["action"];
      if (a == "focus on water") {
        return Reply(res, {{"observation", "You focus on the water."},
                           {"reward", 17},
                           {"score", 17},
                           {"done", false}});
      }
      if (a == "activate stove") {
        return Reply(res, {{"observation", "The stove is now activated."},
                           {"reward", 83},
                           {"score", 100},
                           {"done", true}});
      }
      if (a == "focus on orange") {  // focusing on the wrong thing fails the task
        return Reply(res, {{"observation", "You focus on the orange."},
                           {"reward", -100},
                           {"score", -100},
                           {"done", true}});
      }
      Reply(res, {{"observation", "No known action matches that input."},
                  {"reward", 0},
                  {"score", 0},
                  {"done", false}});
    });
    s.Post("/close", [&](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(Body(req), Json({{"id", 3}}));
      ++closes;
      Reply(res, true);
    });
  });
  {
    auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "sciworld"}});
    StepResult s = env->Reset({.seed = 7});
    // As AgentGym's client shows it: the task description above the first "look around".
    EXPECT_EQ(s.observation.text,
              "Your task is to boil water. First, focus on the substance.\n"
              "This room is called the kitchen. In it, you see: a stove, a sink.");
    EXPECT_EQ(env->TaskType(), "boil");
    EXPECT_EQ(s.info["variation"], 7);
    StepResult bad = env->Step("dance");
    EXPECT_EQ(bad.info["is_action_valid"], false);
    StepResult a = env->Step("focus on water");
    EXPECT_DOUBLE_EQ(a.reward, 0.17);
    EXPECT_DOUBLE_EQ(a.info["task_score"].get<double>(), 0.17);
    EXPECT_FALSE(a.done());
    StepResult b = env->Step("activate stove");
    EXPECT_DOUBLE_EQ(b.reward, 0.83);
    EXPECT_TRUE(b.terminated);
    EXPECT_EQ(b.info["won"], true);
    EXPECT_DOUBLE_EQ(b.info["task_score"].get<double>(), 1.0);
    EXPECT_EQ(b.info["score"], 100);
    // A failed task: negative score, done, not won, score clamped at 0 for task_score.
    env->Reset({.seed = 7});
    StepResult f = env->Step("focus on orange");
    EXPECT_TRUE(f.terminated);
    EXPECT_DOUBLE_EQ(f.reward, -1.0);
    EXPECT_EQ(f.info["won"], false);
    EXPECT_DOUBLE_EQ(f.info["task_score"].get<double>(), 0.0);
  }
  EXPECT_EQ(closes, 1);
}

TEST(AgentGym, BabyaiProfileReadsActionsFromTheObservation) {
  const std::string kActions =
      "\nAvailable actions: [\"turn left\", \"turn right\", \"move forward\", \"go to red ball "
      "1\", "
      "\"check available actions\"]";
  const std::string kView =
      "In front of you in this room, you can see several objects: There is a red ball 1 right in "
      "front of you 3 "
      "steps away. The room has walls around you. You are facing a wall 4 steps away. You are not "
      "carrying anything.";
  std::vector<std::string> sent;
  int closes = 0;
  FakeServer server([&](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"id", 0}});
    });
    s.Post("/reset", [&](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id", "data_idx"})) return;
      EXPECT_EQ(Body(req)["data_idx"], 41);  // level 41 % 40 + 1 = 2, seed 41 / 40 = 1
      Reply(res, {{"observation", "Your goal: go to the red ball\n" + kView + kActions},
                  {"reward", 0},
                  {"score", 0},
                  {"deleted", false},
                  {"done", false}});
    });
    s.Post("/step", [&](const httplib::Request& req, httplib::Response& res) {
      if (!RequireBody(req, res, {"id", "action"})) return;
      std::string a = Body(req)["action"];
      sent.push_back(a);
      for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (a == "go to red ball 1") {
        // No "Your goal:" at steps; the score is the server's running sum of rewards.
        return Reply(res, {{"observation", kView + "\n The task is completed." + kActions},
                           {"reward", 0.955},
                           {"score", 0.955},
                           {"done", true}});
      }
      if (a == "turn left") {
        return Reply(res,
                     {{"observation", "You are facing a wall 2 steps away." +
                                          std::string("\nAvailable actions: [\"turn left\", \"turn "
                                                      "right\", \"check available actions\"]")},
                      {"reward", 0},
                      {"score", 0},
                      {"done", false}});
      }
      Reply(res, {{"observation",
                   "The action is not recognized. Please check valid actions." + kActions},
                  {"reward", 0},
                  {"score", 0},
                  {"done", false}});
    });
    s.Post("/close", [&](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(Body(req), Json({{"id", 0}}));
      ++closes;
      Reply(res, true);
    });
  });
  {
    auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "babyai"}});
    StepResult s = env->Reset({.task_id = "41"});
    EXPECT_EQ(s.observation.text.rfind("Your goal: go to the red ball\n", 0), 0u);
    EXPECT_EQ(s.admissible_actions,
              (std::vector<std::string>{"check available actions", "go to red ball 1",
                                        "move forward", "turn left", "turn right"}));
    EXPECT_EQ(env->TaskType(), "level-2");
    StepResult t = env->Step("turn left");
    EXPECT_EQ(t.info["is_action_valid"], true);
    EXPECT_EQ(t.admissible_actions,
              (std::vector<std::string>{"check available actions", "turn left", "turn right"}));
    StepResult j =
        env->Step("jump");  // not listed: the server answers, the adapter marks it invalid
    EXPECT_EQ(j.info["is_action_valid"], false);
    EXPECT_FALSE(j.done());
    StepResult w = env->Step("Go To Red Ball 1!");
    EXPECT_EQ(w.info["is_action_valid"], true);
    EXPECT_TRUE(w.terminated);
    EXPECT_DOUBLE_EQ(w.reward, 0.955);
    EXPECT_EQ(w.info["won"], true);
    EXPECT_DOUBLE_EQ(w.info["task_score"].get<double>(), 0.955);
  }
  EXPECT_EQ(sent, (std::vector<std::string>{"turn left", "jump", "Go To Red Ball 1"}));
  EXPECT_EQ(closes, 1);
}

TEST(AgentGym, ServerErrorsAndFastApiRejectionsAreClearErrors) {
  FakeServer server([](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"id", 5}});
    });
    s.Post("/reset", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"error", "list index out of range"}});  // data_idx past the games list
    });
  });
  auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "sciworld"}});
  try {
    env->Reset({.task_id = "99999"});
    FAIL();
  } catch (const FailedPrecondition& e) {
    EXPECT_STREQ(e.what(), "agentgym sciworld server: list index out of range");
  }
  // A server whose request model wants a field the profile does not send (a version mismatch).
  FakeServer strict([](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"id", 0}});
    });
    s.Post("/reset", [](const httplib::Request& req, httplib::Response& res) {
      RequireBody(req, res, {"id", "data_idx", "split"});
    });
  });
  auto env2 = MakeAgentGymEnv({{"url", strict.url()}, {"profile", "babyai"}});
  try {
    env2->Reset({});
    FAIL();
  } catch (const FailedPrecondition& e) {
    EXPECT_EQ(std::string(e.what()),
              "agentgym server " + strict.url() +
                  "/reset: HTTP 422: [{\"loc\":[\"body\",\"split\"],\"msg\":\"Field "
                  "required\",\"type\":\"missing\"}]");
  }
}

TEST(AgentGym, BadConfigAndDeadServersAreClearErrors) {
  try {
    MakeAgentGymEnv({{"profile", "sciworld2"}});
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_EQ(std::string(e.what()).rfind("unknown agentgym profile 'sciworld2'", 0), 0u);
  }
  try {
    MakeAgentGymEnv({{"urll", "http://x"}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.urll");
  }
  // Nothing listens on port 1 of loopback: a transport error, which EnvPool retries.
  auto env = MakeAgentGymEnv({{"url", "http://127.0.0.1:1"}, {"timeout_s", 0.5}});
  EXPECT_THROW(env->Reset({}), Unavailable);
}

}  // namespace
}  // namespace turnwise
