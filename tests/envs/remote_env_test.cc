// RemoteEnv drives full episodes of the stdlib Python env server of
// examples/python_env_server over protocol v1 — "any language" registration, end to end.
#include "envs/remote_env.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "envs/env_pool.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

// Starts the example server on a free loopback port; kills it on destruction.
class PythonServer {
 public:
  PythonServer() {
    if (!std::filesystem::exists("/usr/bin/python3")) return;
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::string script = std::string(TURNWISE_SOURCE_DIR) + "/examples/python_env_server/server.py";
      execl("/usr/bin/python3", "python3", script.c_str(), "--port", "0", "--max-sessions", "8",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* in = fdopen(out[0], "r");
    char line[256] = {0};
    if (std::fgets(line, sizeof(line), in)) {
      std::string s(line);
      auto pos = s.find("http://");
      if (pos != std::string::npos) url_ = s.substr(pos, s.find_last_not_of("\n") - pos + 1);
    }
    fclose(in);
  }
  ~PythonServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// Binary search over the admissible "guess K" actions.
std::string Bisect(const StepResult& s) {
  std::vector<int> ks;
  for (const auto& a : s.admissible_actions) ks.push_back(std::stoi(a.substr(6)));
  std::sort(ks.begin(), ks.end());
  return "guess " + std::to_string(ks[ks.size() / 2]);
}

TEST(RemoteEnv, DrivesThePythonExampleServerToTheEnd) {
  PythonServer server;
  if (server.url().empty()) GTEST_SKIP() << "python3 not available";
  auto env = MakeRemoteEnv({{"url", server.url()}, {"config", {{"n", 64}}}});
  EXPECT_EQ(env->Spec().name, "guess");
  EXPECT_EQ(env->Spec().splits.at("valid_seen"), 100);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    StepResult s = env->Reset({.seed = seed});
    EXPECT_EQ(s.observation.text, "Guess the hidden number between 1 and 64.");
    EXPECT_EQ(s.admissible_actions.size(), 64u);
    while (!s.done()) s = env->Step(Bisect(s));
    EXPECT_TRUE(s.info["won"].get<bool>()) << "seed " << seed;
    EXPECT_LE(s.turn, 7);
    EXPECT_THROW(env->Step("guess 1"), FailedPrecondition);  // 409 from the server
  }
  auto by_config = EnvRegistry::Make("guess", {{"remote", {{"url", server.url()}}}});
  EXPECT_EQ(by_config->Spec().name, "guess");
  StepResult again = env->Reset({.seed = 3});
  StepResult bad = env->Step("guess banana");
  EXPECT_EQ(bad.observation.text, "Nothing happens.");
  EXPECT_EQ(bad.info["is_action_valid"], false);
}

TEST(RemoteEnv, ServerErrorsMapToTheErrorHierarchy) {
  PythonServer server;
  if (server.url().empty()) GTEST_SKIP() << "python3 not available";
  auto bad_config = MakeRemoteEnv({{"url", server.url()}, {"config", {{"size", 3}}}});
  try {
    bad_config->Reset({});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown config key(s): size"), std::string::npos) << e.what();
  }
  auto bad_split = MakeRemoteEnv({{"url", server.url()}});
  EXPECT_THROW(bad_split->Reset({.split = "test"}), InvalidArgument);
}

TEST(RemoteEnv, EpisodesInAPoolAndADeadServerIsAnAbortReason) {
  PythonServer server;
  if (server.url().empty()) GTEST_SKIP() << "python3 not available";
  const std::string url = server.url();
  EnvPool pool([&] { return MakeRemoteEnv({{"url", url}}); }, 4, {.num_threads = 2});
  pool.SendReset({0, 1, 2, 3}, {{.seed = 1}, {.seed = 2}, {.seed = 3}, {.seed = 4}});
  int won = 0;
  while (pool.Pending() > 0) {
    std::vector<int> ids;
    std::vector<std::string> actions;
    for (auto& r : pool.Recv(1)) {
      ASSERT_TRUE(r.ok) << r.error;
      if (r.step.done()) {
        won += r.step.info["won"].get<bool>();
      } else {
        ids.push_back(r.env_id);
        actions.push_back(Bisect(r.step));
      }
    }
    pool.Send(ids, actions);
  }
  EXPECT_EQ(won, 4);
  // Nothing listens on loopback port 1: retried, then reported with the reason.
  EnvPool dead([] { return MakeRemoteEnv({{"url", "http://127.0.0.1:1"}, {"retries", 1},
                                           {"backoff_s", 0.01}, {"timeout_s", 1}}); },
               1, {.max_retries = 0});
  dead.SendReset({0}, {{}});
  auto r = dead.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_NE(r[0].error.find("env server http://127.0.0.1:1: "), std::string::npos) << r[0].error;
  EXPECT_NE(r[0].error.find("after 2 attempts"), std::string::npos) << r[0].error;
}

TEST(RemoteEnv, ConfigErrorsNameTheKey) {
  try {
    MakeRemoteEnv({{"url", "http://127.0.0.1:9"}, {"retires", 2}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.retires");
  }
  EXPECT_THROW(MakeRemoteEnv({{"url", "https://x"}}), ConfigError);
  try {
    MakeRemoteEnv({{"url", "http://127.0.0.1:9"}, {"transport", "batched"}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.transport");
    EXPECT_NE(std::string(e.what()).find("known: http, websocket, batch"), std::string::npos)
        << e.what();
  }
  try {
    MakeRemoteEnv({{"url", "http://127.0.0.1:9"}, {"transport", "batch"}, {"batch_max", 0}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.batch_max");
  }
  EXPECT_THROW(MakeRemoteEnv(Json::object()), ConfigError);
  try {
    MakeRemoteEnv({{"url", "http://x"}, {"protocol", "grpc"}});
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown env protocol 'grpc'; known: turnwise, agentgym, openenv");
  }
}

}  // namespace
}  // namespace turnwise
