// The AgentGym adapter against in-test servers that answer exactly the documented shapes of
// AgentGym's alfworld, webshop and searchqa servers (research/environments.md §7.1).
#include "envs/agentgym_env.h"

#include <gtest/gtest.h>
#include <httplib.h>

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
void Reply(httplib::Response& res, const Json& j) { res.set_content(DumpJson(j), "application/json"); }

TEST(AgentGym, AlfworldProfileSpeaksItsShapes) {
  int steps = 0;
  FakeServer server([&](httplib::Server& s) {
    s.Post("/create", [](const httplib::Request&, httplib::Response& res) { Reply(res, {{"id", 7}}); });
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
      Reply(res, Json::array({"WebShop [SEP] Instruction: [SEP] buy a red mug [SEP] Search", nullptr}));
    });
    s.Get("/available_actions", [](const httplib::Request& req, httplib::Response& res) {
      EXPECT_EQ(req.get_param_value("env_idx"), "4242");
      Reply(res, {{"has_search_bar", true}, {"clickables", {"back to search"}}});
    });
    s.Post("/step", [](const httplib::Request&, httplib::Response& res) {
      Reply(res, {{"state", "Thank you for shopping"}, {"reward", 0.75}, {"done", true}, {"info", nullptr}});
    });
  });
  auto env = MakeAgentGymEnv({{"url", server.url()}, {"profile", "webshop"}});
  StepResult s = env->Reset({.seed = 3});
  EXPECT_EQ(s.admissible_actions, (std::vector<std::string>{"click[back to search]", "search[...]"}));
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
                  {"reward", answer ? 1.0 : 0.0}, {"done", answer}, {"info", nullptr}});
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
