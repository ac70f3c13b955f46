// The openai policy against an in-test server on 127.0.0.1 that answers the documented
// chat-completions shapes: {"id","object":"chat.completion","created","model","choices":[{"index",
// "message":{"role","content"},"finish_reason","logprobs"}],"usage"}, errors as
// {"error":{"message","type","param","code"}}, and vLLM's "stop_reason" field.
#include "agents/openai_policy.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "agents/policy.h"
#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

using Clock = std::chrono::steady_clock;

struct Received {
  std::string path;
  Json body;
  std::string authorization;  // "" when the header was absent
};

// Serves POST <route> on 127.0.0.1 (any port) for the test's lifetime, recording every request.
// `answer` gets the request and its 1-based call number.
class FakeModelServer {
 public:
  using Answer = std::function<void(const httplib::Request&, httplib::Response&, int call)>;

  explicit FakeModelServer(Answer answer, const std::string& route = "/v1/chat/completions")
      : answer_(std::move(answer)) {
    server_.Post(route, [this](const httplib::Request& req, httplib::Response& res) {
      int call;
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(
            {req.path, Json::parse(req.body, nullptr, false),
             req.has_header("Authorization") ? req.get_header_value("Authorization") : ""});
        call = static_cast<int>(received_.size());
      }
      answer_(req, res, call);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeModelServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  Answer answer_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> received_;
};

// A chat.completion answer with one choice; `extra` is merged into the choice.
Json Completion(const Json& content, const std::string& finish_reason = "stop",
                const Json& extra = Json::object()) {
  Json choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", content}}},
                 {"finish_reason", finish_reason},
                 {"logprobs", nullptr}};
  choice.update(extra);
  return {{"id", "chatcmpl-1"},
          {"object", "chat.completion"},
          {"created", 1700000000},
          {"model", "qwen"},
          {"choices", Json::array({choice})},
          {"usage", {{"prompt_tokens", 120}, {"completion_tokens", 9}, {"total_tokens", 129}}}};
}

void Reply(httplib::Response& res, const Json& j, int status = 200) {
  res.status = status;
  res.set_content(DumpJson(j), "application/json");
}

Json OpenAIError(const std::string& message, const std::string& type, int code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

// One decision in the household layout: task, one earlier turn, the current observation.
struct Decision {
  StepResult step;
  PolicyInput input;
  explicit Decision(const std::string& observation,
                    std::vector<std::string> admissible = {"go to desk 1", "look"},
                    uint64_t seed = 7) {
    step.observation.text = observation;
    step.admissible_actions = std::move(admissible);
    input.env_name = "household";
    input.task = "put a mug in desk";
    input.history = {
        {"You are in the middle of a room. Your task is to: put a mug in desk.", "look"}};
    input.step = &step;
    input.seed = seed;
  }
  Decision(const Decision&) = delete;  // input.step points into this object
  std::string Prompt(int history_length = 2) const {
    return RenderStepPrompt(input.env_name, input.task, input.history, step.observation.text,
                            step.admissible_actions, {.history_length = history_length});
  }
};

Json Config(const std::string& url, Json extra = Json::object()) {
  Json c = {{"base_url", url},
            {"model", "qwen"},
            {"api_key_env", "TURNWISE_TEST_UNSET_KEY"},
            {"backoff_s", 0.01},
            {"timeout_s", 10.0}};
  c.update(extra);
  return c;
}

TEST(OpenAIPolicy, SendsTheRenderedPromptAndProjectsTheAnswer) {
  ::setenv("TURNWISE_TEST_OPENAI_KEY", "sk-test-123", 1);
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    // vLLM: the stop string is not in the content, stop_reason names it.
    Reply(res, Completion("<think>the mug is on the desk</think>\n<action>Go to desk 1", "stop",
                          {{"stop_reason", "</action>"}}));
  });
  auto policy =
      MakeOpenAIPolicy(Config(server.url() + "/v1", {{"api_key_env", "TURNWISE_TEST_OPENAI_KEY"},
                                                     {"max_tokens", 64},
                                                     {"temperature", 0.5},
                                                     {"top_p", 0.9}}));
  EXPECT_EQ(policy->name(), "openai");
  Decision d("You arrive at the middle of the room.");
  std::vector<PolicyOutput> out = policy->Act({d.input});
  ASSERT_EQ(out.size(), 1u);

  std::vector<Received> got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/v1/chat/completions");
  EXPECT_EQ(got[0].authorization, "Bearer sk-test-123");
  const Json& b = got[0].body;
  EXPECT_EQ(b["model"], "qwen");
  ASSERT_EQ(b["messages"].size(), 2u);
  EXPECT_EQ(b["messages"][0]["role"], "system");
  EXPECT_NE(b["messages"][0]["content"].get<std::string>().find("<action>"), std::string::npos);
  EXPECT_EQ(b["messages"][1]["role"], "user");
  EXPECT_EQ(b["messages"][1]["content"], d.Prompt());
  EXPECT_EQ(b["stop"], Json::array({"</action>"}));
  EXPECT_EQ(b["max_tokens"], 64);
  EXPECT_DOUBLE_EQ(b["temperature"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b["top_p"].get<double>(), 0.9);
  EXPECT_EQ(b["n"], 1);
  EXPECT_TRUE(b["seed"].is_number_integer());
  EXPECT_FALSE(b.contains("logprobs"));

  const PolicyOutput& o = out[0];
  EXPECT_EQ(o.prompt, d.Prompt());
  EXPECT_EQ(o.response, "<think>the mug is on the desk</think>\n<action>Go to desk 1</action>");
  EXPECT_EQ(o.action, "go to desk 1");
  EXPECT_TRUE(o.format_valid);
  EXPECT_TRUE(o.admissible);
  EXPECT_TRUE(o.prompt_tokens.empty());
  EXPECT_TRUE(o.response_tokens.empty());
  EXPECT_TRUE(o.logprobs.empty());
  EXPECT_TRUE(o.entropies.empty());
  ::unsetenv("TURNWISE_TEST_OPENAI_KEY");
}

TEST(OpenAIPolicy, BaseUrlWithoutV1AndNoKeyMeansNoAuthorization) {
  ::unsetenv("TURNWISE_TEST_UNSET_KEY");
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, Completion("<think>x</think><action>look"));
  });
  for (const std::string& url : {server.url(), server.url() + "/", server.url() + "/v1/"}) {
    auto policy = MakeOpenAIPolicy(Config(url, {{"system_prompt", ""}, {"history_length", 0}}));
    Decision d("You see a desk 1.");
    EXPECT_EQ(policy->Act({d.input})[0].action, "look");
    const Received r = server.received().back();
    EXPECT_EQ(r.path, "/v1/chat/completions") << url;
    EXPECT_EQ(r.authorization, "");
    ASSERT_EQ(r.body["messages"].size(), 1u);  // no system message
    EXPECT_EQ(r.body["messages"][0]["content"], d.Prompt(0));
  }
}

TEST(OpenAIPolicy, PathPrefixIsKept) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res,
                            int) { Reply(res, Completion("<think>x</think><action>look")); },
                         "/proxy/v1/chat/completions");
  auto policy = MakeOpenAIPolicy(Config(server.url() + "/proxy/v1"));
  Decision d("o");
  EXPECT_EQ(policy->Act({d.input})[0].action, "look");
}

TEST(OpenAIPolicy, StopStringIsPutBackOnlyWhenItEndedGeneration) {
  struct Case {
    std::string finish;
    Json extra;
    std::string content;
    std::string expected;
  };
  const std::string c = "<think>t</think><action>look";
  std::vector<Case> cases = {
      {"stop", {{"stop_reason", "</action>"}}, c, c + "</action>"},   // vLLM: stop string
      {"stop", {{"stop_reason", nullptr}}, c, c},                     // vLLM: EOS
      {"stop", {{"matched_stop", "</action>"}}, c, c + "</action>"},  // SGLang: stop string
      {"stop", {{"matched_stop", 151645}}, c, c},                     // SGLang: EOS token id
      {"stop", Json::object(), c, c + "</action>"},                // OpenAI / llama.cpp: not said
      {"length", Json::object(), c, c},                            // truncated
      {"stop", Json::object(), c + "</action>", c + "</action>"},  // server kept it
  };
  std::atomic<size_t> i{0};
  FakeModelServer server([&](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, Completion(cases[i].content, cases[i].finish, cases[i].extra));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url()));
  for (; i < cases.size(); ++i) {
    Decision d("o");
    PolicyOutput o = policy->Act({d.input})[0];
    EXPECT_EQ(o.response, cases[i].expected) << "case " << i;
    EXPECT_EQ(o.format_valid, EndsWith(cases[i].expected, "</action>")) << "case " << i;
  }
}

TEST(OpenAIPolicy, LogprobsAreRequestedAndParsed) {
  std::atomic<bool> send{true};
  FakeModelServer server([&](const httplib::Request&, httplib::Response& res, int) {
    Json lp = {
        {"content",
         {{{"token", "<action>"},
           {"logprob", -0.125},
           {"bytes", {60, 97}},
           {"top_logprobs", Json::array()}},
          {{"token", "look"}, {"logprob", -0.5}, {"bytes", {108}}, {"top_logprobs", Json::array()}},
          {{"token", "</action>"},
           {"logprob", -2.0},
           {"bytes", {60}},
           {"top_logprobs", Json::array()}}}}};
    Reply(res, Completion("<action>look</action>", "stop", {{"logprobs", send ? lp : Json()}}));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"request_logprobs", true}}));
  Decision d("o");
  PolicyOutput o = policy->Act({d.input})[0];
  EXPECT_EQ(server.received()[0].body["logprobs"], true);
  EXPECT_EQ(o.logprobs, (std::vector<float>{-0.125f, -0.5f, -2.0f}));
  EXPECT_EQ(o.action, "look");
  EXPECT_FALSE(o.format_valid);  // no <think>
  send = false;                  // logprobs: null — the server did not give any
  EXPECT_TRUE(policy->Act({d.input})[0].logprobs.empty());
}

TEST(OpenAIPolicy, SeedIsPerDecisionAndCanBeOmitted) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, Completion("<action>look"));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"seed", 3}}));
  Decision a("o", {"look"}, 1), b("o", {"look"}, 2);
  policy->Act({a.input});
  policy->Act({a.input});
  policy->Act({b.input});
  auto got = server.received();
  EXPECT_EQ(got[0].body["seed"], got[1].body["seed"]);
  EXPECT_NE(got[0].body["seed"], got[2].body["seed"]);
  EXPECT_LE(got[0].body["seed"].get<int64_t>(), 2147483647);
  auto other_run = MakeOpenAIPolicy(Config(server.url(), {{"seed", 4}}));
  other_run->Act({a.input});
  EXPECT_NE(server.received().back().body["seed"], got[0].body["seed"]);
  auto unseeded = MakeOpenAIPolicy(Config(server.url(), {{"seed", -1}}));
  unseeded->Act({a.input});
  EXPECT_FALSE(server.received().back().body.contains("seed"));
}

TEST(OpenAIPolicy, BatchRunsConcurrentlyAndAnswersInOrder) {
  std::atomic<int> in_flight{0}, most{0};
  FakeModelServer server([&](const httplib::Request& req, httplib::Response& res, int) {
    int now = ++in_flight;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::string user = Json::parse(req.body)["messages"][1]["content"].get<std::string>();
    size_t at = user.find("observation is: obs ");
    int i = std::stoi(user.substr(at + 20));
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + 10 * (i % 3)));
    --in_flight;
    Reply(res, Completion("<think>t</think><action>act " + std::to_string(i), "stop",
                          {{"stop_reason", "</action>"}}));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"concurrency", 4}}));
  std::vector<std::unique_ptr<Decision>> decisions;
  std::vector<PolicyInput> batch;
  for (int i = 0; i < 8; ++i) {
    decisions.push_back(std::make_unique<Decision>(
        "obs " + std::to_string(i), std::vector<std::string>{"act " + std::to_string(i), "look"}));
    batch.push_back(decisions.back()->input);
  }
  std::vector<PolicyOutput> out = policy->Act(batch);
  ASSERT_EQ(out.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(out[i].action, "act " + std::to_string(i));
    EXPECT_TRUE(out[i].admissible);
    EXPECT_EQ(out[i].prompt, decisions[i]->Prompt());
  }
  EXPECT_EQ(server.received().size(), 8u);
  EXPECT_LE(most.load(), 4);
  EXPECT_GE(most.load(), 2);  // sequential requests would never overlap
  // The connections are kept: a second batch works the same.
  EXPECT_EQ(policy->Act(batch)[7].action, "act 7");
}

TEST(OpenAIPolicy, OneFailedRequestFailsTheBatch) {
  FakeModelServer server([](const httplib::Request& req, httplib::Response& res, int) {
    std::string user = Json::parse(req.body)["messages"][1]["content"].get<std::string>();
    if (user.find("observation is: obs 2") != std::string::npos) {
      return Reply(res, OpenAIError("bad input 2", "BadRequestError", 400), 400);
    }
    Reply(res, Completion("<think>t</think><action>look"));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"concurrency", 2}}));
  std::vector<std::unique_ptr<Decision>> decisions;
  std::vector<PolicyInput> batch;
  for (int i = 0; i < 4; ++i) {
    decisions.push_back(std::make_unique<Decision>("obs " + std::to_string(i)));
    batch.push_back(decisions.back()->input);
  }
  try {
    policy->Act(batch);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("bad input 2"), std::string::npos);
  }
  EXPECT_EQ(policy->Act({decisions[0]->input})[0].action, "look");  // still usable
}

TEST(OpenAIPolicy, RetriesServiceUnavailableThenSucceeds) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int call) {
    if (call <= 2)
      return Reply(res, OpenAIError("model is loading", "ServiceUnavailableError", 503), 503);
    Reply(res, Completion("<think>t</think><action>look"));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"retries", 3}}));
  Decision d("o");
  EXPECT_EQ(policy->Act({d.input})[0].action, "look");
  EXPECT_EQ(server.received().size(), 3u);
}

TEST(OpenAIPolicy, TooManyRequestsHonoursRetryAfter) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int call) {
    if (call == 1) {
      res.set_header("Retry-After", "1");
      return Reply(res, OpenAIError("Rate limit reached", "rate_limit_exceeded", 429), 429);
    }
    Reply(res, Completion("<think>t</think><action>look"));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"backoff_s", 0.001}}));
  Decision d("o");
  auto start = Clock::now();
  EXPECT_EQ(policy->Act({d.input})[0].action, "look");
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), 0.95);
  EXPECT_EQ(server.received().size(), 2u);
}

TEST(OpenAIPolicy, UnavailableAfterTheRetryBudget) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, OpenAIError("overloaded", "ServiceUnavailableError", 503), 503);
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"retries", 2}}));
  Decision d("o");
  try {
    policy->Act({d.input});
    FAIL() << "expected Unavailable";
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()),
              "model server " + server.url() +
                  "/v1/chat/completions: HTTP 503: overloaded after 3 attempts");
  }
  EXPECT_EQ(server.received().size(), 3u);
}

TEST(OpenAIPolicy, UnreachableServerIsUnavailable) {
  std::string url;
  {
    FakeModelServer gone([](const httplib::Request&, httplib::Response&, int) {});
    url = gone.url();
  }
  auto policy = MakeOpenAIPolicy(Config(url, {{"retries", 1}}));
  Decision d("o");
  try {
    policy->Act({d.input});
    FAIL() << "expected Unavailable";
  } catch (const Unavailable& e) {
    EXPECT_EQ(std::string(e.what()),
              "model server " + url + "/v1/chat/completions: cannot connect after 2 attempts");
  }
}

TEST(OpenAIPolicy, BadRequestCarriesTheServerMessage) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int call) {
    if (call == 1) {
      return Reply(res,
                   OpenAIError("This model's maximum context length is 2048 tokens.",
                               "BadRequestError", 400),
                   400);
    }
    // vLLM before 0.10: the error fields at the top level.
    Reply(res,
          {{"object", "error"},
           {"message", "The model `qwen` does not exist."},
           {"type", "NotFoundError"},
           {"param", nullptr},
           {"code", 404}},
          404);
  });
  auto policy = MakeOpenAIPolicy(Config(server.url()));
  Decision d("o");
  try {
    policy->Act({d.input});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()),
              "model server " + server.url() +
                  "/v1/chat/completions: HTTP 400: This model's maximum context "
                  "length is 2048 tokens.");
  }
  try {
    policy->Act({d.input});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 404: The model `qwen` does not exist."),
              std::string::npos);
  }
  EXPECT_EQ(server.received().size(), 2u);  // not retried
}

TEST(OpenAIPolicy, UnauthorizedNamesTheKeyVariable) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, OpenAIError("Incorrect API key provided.", "invalid_request_error", 401), 401);
  });
  ::setenv("TURNWISE_TEST_WRONG_KEY", "sk-wrong", 1);
  auto policy =
      MakeOpenAIPolicy(Config(server.url(), {{"api_key_env", "TURNWISE_TEST_WRONG_KEY"}}));
  Decision d("o");
  try {
    policy->Act({d.input});
    FAIL() << "expected FailedPrecondition";
  } catch (const FailedPrecondition& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("HTTP 401: Incorrect API key provided."), std::string::npos) << m;
    EXPECT_NE(m.find("$TURNWISE_TEST_WRONG_KEY"), std::string::npos) << m;
  }
  EXPECT_EQ(server.received()[0].authorization, "Bearer sk-wrong");
  ::unsetenv("TURNWISE_TEST_WRONG_KEY");
}

TEST(OpenAIPolicy, MalformedAnswersAreClearErrors) {
  std::vector<std::pair<std::string, std::string>> bodies = {
      {"<html>Bad Gateway</html>", "not JSON"},
      {R"({"object":"chat.completion","choices":[]})", "no choices"},
      {R"({"id":"x"})", "no choices"},
      {R"({"choices":[{"index":0,"finish_reason":"stop"}]})", "choices[0] has no message"},
      {R"({"choices":[{"index":0,"message":{"role":"assistant","content":42}}]})",
       "message content is integer"},
      {R"({"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop","logprobs":{"content":[{"token":"x"}]}}]})",
       "logprob"},
  };
  std::atomic<size_t> i{0};
  FakeModelServer server([&](const httplib::Request&, httplib::Response& res, int) {
    res.set_content(bodies[i].first, "application/json");
  });
  auto policy = MakeOpenAIPolicy(Config(server.url(), {{"request_logprobs", true}}));
  Decision d("o");
  for (; i < bodies.size(); ++i) {
    try {
      policy->Act({d.input});
      ADD_FAILURE() << "expected FailedPrecondition for " << bodies[i].first;
    } catch (const FailedPrecondition& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("answer is not a chat completion"), std::string::npos) << m;
      EXPECT_NE(m.find(bodies[i].second), std::string::npos) << m;
    }
  }
}

TEST(OpenAIPolicy, NullContentIsAnEmptyInvalidResponse) {
  FakeModelServer server([](const httplib::Request&, httplib::Response& res, int) {
    Reply(res, Completion(nullptr, "length",
                          {{"message",
                            {{"role", "assistant"},
                             {"content", nullptr},
                             {"reasoning_content", "thinking..."}}}}));
  });
  auto policy = MakeOpenAIPolicy(Config(server.url()));
  Decision d("o");
  PolicyOutput o = policy->Act({d.input})[0];
  EXPECT_EQ(o.response, "");
  EXPECT_FALSE(o.format_valid);
  EXPECT_FALSE(o.admissible);
}

TEST(OpenAIPolicy, ConfigErrorsNameThePolicyKey) {
  auto key_of = [](const Json& config) -> std::string {
    try {
      MakePolicy("openai", config);
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(e.key_path()), std::string::npos);
      return e.key_path();
    }
    return "(no error)";
  };
  Json ok = {{"base_url", "http://127.0.0.1:8000"}, {"model", "qwen"}};
  EXPECT_NE(MakePolicy("openai", ok), nullptr);
  Json typo = ok;
  typo["temprature"] = 0.5;
  EXPECT_EQ(key_of(typo), "policy.temprature");
  EXPECT_EQ(key_of({{"model", "qwen"}}), "policy.base_url");
  EXPECT_EQ(key_of({{"base_url", "http://127.0.0.1:8000"}}), "policy.model");
  EXPECT_EQ(key_of({{"base_url", "127.0.0.1:8000"}, {"model", "qwen"}}), "policy.base_url");
  Json bad_stop = ok;
  bad_stop["stop"] = Json::array({1});
  EXPECT_EQ(key_of(bad_stop), "policy.stop");
  Json zero = ok;
  zero["concurrency"] = 0;
  EXPECT_EQ(key_of(zero), "policy.concurrency");
  Json text_temp = ok;
  text_temp["temperature"] = "hot";
  EXPECT_EQ(key_of(text_temp), "policy.temperature");
}

}  // namespace
}  // namespace turnwise
