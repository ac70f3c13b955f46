// The env server against protocol v1 (docs/protocol.md): real server on 127.0.0.1, real HTTP
// and WebSocket clients, every documented error answer, and a fuzz run with well-behaved
// sessions alongside.
#include "envs/env_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/rng.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

EnvServerOptions Options() {
  EnvServerOptions o;
  o.env = "household";
  o.threads = 2;
  o.max_body_bytes = 64 << 10;
  o.max_header_bytes = 8 << 10;
  o.read_timeout = std::chrono::milliseconds(400);
  return o;
}

Json Body(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no answer";
  if (!r) return Json();
  Json j = Json::parse(r->body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "answer is not JSON: " << r->body;
  return j;
}

// An error answer has exactly the documented shape.
void ExpectError(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  Json j = Body(r);
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_EQ(j["error"]["code"], code) << r->body;
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
}

std::string Create(httplib::Client& c, const Json& body = Json::object()) {
  auto r = c.Post("/v1/sessions", DumpJson(body), "application/json");
  EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
  return Body(r).value("session_id", "");
}

// Plays one expert episode through the server and the same episode in process; every Step
// must be identical, and the expert must win.
void PlayExpertEpisode(httplib::Client& c, uint64_t seed, const std::string& split) {
  std::string sid = Create(c);
  auto local = EnvRegistry::Make("household");
  StepResult want = local->Reset({.seed = seed, .split = split});
  auto r = c.Post("/v1/sessions/" + sid + "/reset", DumpJson({{"seed", seed}, {"split", split}}),
                  "application/json");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(Body(r), want.ToJson());
  while (!want.done()) {
    auto action = local->ExpertAction();
    ASSERT_TRUE(action);
    want = local->Step(*action);
    r = c.Post("/v1/sessions/" + sid + "/step", DumpJson({{"action", *action}}),
               "application/json");
    ASSERT_TRUE(r && r->status == 200);
    ASSERT_EQ(Body(r), want.ToJson());
  }
  EXPECT_TRUE(want.info["won"].get<bool>());
  r = c.Delete("/v1/sessions/" + sid);
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(Body(r), Json({{"closed", true}}));
}

// Sends raw bytes on a fresh connection and returns everything the server answers until it
// closes (or `wait` passes).
std::string Raw(uint16_t port, const std::string& bytes,
                std::chrono::milliseconds wait = std::chrono::milliseconds(2000),
                std::chrono::milliseconds pause_before_close = std::chrono::milliseconds(0)) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), port});
  net::write(s, net::buffer(bytes));
  if (pause_before_close.count()) std::this_thread::sleep_for(pause_before_close);
  std::string out;
  timeval tv{static_cast<time_t>(wait.count() / 1000),
             static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(raw.substr(9, 3));
}

TEST(EnvServer, ServesExpertEpisodesIdenticalToInProcess) {
  EnvServer server(Options());
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  for (uint64_t seed : {0u, 1u, 2u}) PlayExpertEpisode(c, seed, "train");
  PlayExpertEpisode(c, 5, "valid_unseen");
  auto counters = server.counters();
  EXPECT_EQ(counters.sessions_created, 4);
  EXPECT_EQ(counters.sessions_active, 0);
  EXPECT_GT(counters.steps, 8);
  EXPECT_EQ(counters.errors_4xx + counters.errors_5xx, 0);
}

TEST(EnvServer, SpecHealthAndMetrics) {
  EnvServer server(Options());
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r), Json({{"status", "ok"}}));
  r = c.Get("/v1/spec");
  Json spec = Body(r);
  EXPECT_EQ(spec["protocol"], "turnwise/v1");
  EXPECT_EQ(spec["name"], "household");
  EXPECT_EQ(spec, EnvRegistry::Spec("household").ToJson());

  std::string sid = Create(c);
  c.Post("/v1/sessions/" + sid + "/reset", "{}", "application/json");
  c.Post("/v1/sessions/" + sid + "/step", R"({"action": "look"})", "application/json");
  c.Post("/v1/sessions/nope/step", R"({"action": "look"})", "application/json");
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const std::string& m = r->body;
  EXPECT_NE(m.find("turnwise_env_server_requests_total{op=\"step\",status=\"200\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("turnwise_env_server_requests_total{op=\"step\",status=\"404\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("turnwise_env_server_requests_total{op=\"create\",status=\"201\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("turnwise_env_server_sessions_active{env=\"household\"} 1\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("turnwise_env_server_step_seconds_count 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE turnwise_env_server_step_seconds histogram"), std::string::npos);
}

TEST(EnvServer, AnswersEveryDocumentedError) {
  EnvServer server(Options());
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  const std::string json = "application/json";

  ExpectError(c.Post("/v1/sessions", "{not json", json), 400, "bad_request");
  ExpectError(c.Post("/v1/sessions", "[1, 2]", json), 400, "bad_request");
  ExpectError(c.Post("/v1/sessions", R"({"confg": {}})", json), 400, "bad_request");
  ExpectError(c.Post("/v1/sessions", R"({"config": {"max_stepz": 3}})", json), 400, "bad_request");
  ExpectError(c.Post("/v1/sessions", R"({"config": 3})", json), 400, "bad_request");

  std::string sid = Create(c);
  ExpectError(c.Post("/v1/sessions/" + sid + "/step", R"({"action": "look"})", json), 409,
              "conflict");
  ExpectError(c.Post("/v1/sessions/" + sid + "/reset", R"({"seed": -1})", json), 400,
              "bad_request");
  ExpectError(c.Post("/v1/sessions/" + sid + "/reset", R"({"seed": "7"})", json), 400,
              "bad_request");
  ExpectError(c.Post("/v1/sessions/" + sid + "/reset", R"({"split": "test"})", json), 400,
              "bad_request");
  ExpectError(c.Post("/v1/sessions/" + sid + "/reset", R"({"sede": 1})", json), 400, "bad_request");
  auto r = c.Post("/v1/sessions/" + sid + "/reset", R"({"seed": 3})", json);
  ASSERT_TRUE(r && r->status == 200);
  ExpectError(c.Post("/v1/sessions/" + sid + "/step", R"({})", json), 400, "bad_request");
  ExpectError(c.Post("/v1/sessions/" + sid + "/step", R"({"action": 5})", json), 400,
              "bad_request");
  ExpectError(c.Post("/v1/sessions/s-99999999/step", R"({"action": "look"})", json), 404,
              "not_found");
  ExpectError(c.Get("/v1/nothing"), 404, "not_found");
  ExpectError(c.Get("/v1/sessions/" + sid + "/step"), 405, "method_not_allowed");
  ExpectError(c.Post("/v1/spec", "{}", json), 405, "method_not_allowed");

  // An invalid action is not an error: the env answers it.
  r = c.Post("/v1/sessions/" + sid + "/step", R"({"action": "fly to the moon"})", json);
  ASSERT_TRUE(r && r->status == 200);
  Json step = Body(r);
  EXPECT_EQ(step["observation"]["text"], "Nothing happens.");
  EXPECT_FALSE(step["info"]["is_action_valid"].get<bool>());

  // A finished episode answers 409 until it is reset.
  auto shortened = Create(c, {{"config", {{"max_steps", 2}}}});
  c.Post("/v1/sessions/" + shortened + "/reset", "{}", json);
  c.Post("/v1/sessions/" + shortened + "/step", R"({"action": "look"})", json);
  r = c.Post("/v1/sessions/" + shortened + "/step", R"({"action": "look"})", json);
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(Body(r)["truncated"].get<bool>());
  ExpectError(c.Post("/v1/sessions/" + shortened + "/step", R"({"action": "look"})", json), 409,
              "conflict");
  r = c.Post("/v1/sessions/" + shortened + "/reset", "{}", json);
  EXPECT_EQ(r->status, 200);

  // 413: a body over the limit, and the server keeps serving.
  std::string huge = R"({"action": ")" + std::string(100 << 10, 'x') + "\"}";
  r = c.Post("/v1/sessions/" + sid + "/step", huge, json);
  ExpectError(r, 413, "too_large");
  httplib::Client fresh("127.0.0.1", server.port());
  EXPECT_EQ(fresh.Get("/healthz")->status, 200);

  // 431: headers over the limit.
  std::string big_header =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(10 << 10, 'a') + "\r\n\r\n";
  EXPECT_EQ(StatusOf(Raw(server.port(), big_header)), 431);

  // 400: not HTTP at all.
  std::string garbage = Raw(server.port(), "\x01\x02 hello there\r\n\r\n");
  EXPECT_EQ(StatusOf(garbage), 400) << garbage;

  // 408: a request that stops arriving halfway.
  std::string slow = Raw(
      server.port(), "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"con",
      std::chrono::milliseconds(3000));
  EXPECT_EQ(StatusOf(slow), 408) << slow;
  EXPECT_NE(slow.find("\"timeout\""), std::string::npos);

  // Closing twice: the second is a 404.
  EXPECT_EQ(c.Delete("/v1/sessions/" + sid)->status, 200);
  ExpectError(c.Delete("/v1/sessions/" + sid), 404, "not_found");
  EXPECT_EQ(server.counters().errors_5xx, 0);
}

TEST(EnvServer, SessionLimitAnswers503WithRetryAfter) {
  auto o = Options();
  o.max_sessions = 3;
  EnvServer server(o);
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Create(c));
  auto r = c.Post("/v1/sessions", "{}", "application/json");
  ExpectError(r, 503, "unavailable");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  c.Delete("/v1/sessions/" + ids[0]);
  EXPECT_FALSE(Create(c).empty());
}

TEST(EnvServer, IdleSessionsExpire) {
  auto o = Options();
  o.idle_timeout = std::chrono::milliseconds(200);
  EnvServer server(o);
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  std::string idle = Create(c);
  std::string busy = Create(c);
  c.Post("/v1/sessions/" + busy + "/reset", "{}", "application/json");
  for (int i = 0; i < 12; ++i) {  // keeps `busy` in use for ~600 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(c.Post("/v1/sessions/" + busy + "/step", R"({"action": "look"})", "application/json")
                  ->status,
              200);
  }
  ExpectError(c.Post("/v1/sessions/" + idle + "/reset", "{}", "application/json"), 404,
              "not_found");
  EXPECT_EQ(server.counters().sessions_expired, 1);
  EXPECT_EQ(server.counters().sessions_active, 1);
}

TEST(EnvServer, BearerToken) {
  auto o = Options();
  o.token = "s3cret";
  EnvServer server(o);
  server.Start();
  httplib::Client anonymous("127.0.0.1", server.port());
  EXPECT_EQ(anonymous.Get("/healthz")->status, 200);  // health checks need no token
  auto r = anonymous.Post("/v1/sessions", "{}", "application/json");
  ExpectError(r, 401, "unauthorized");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  httplib::Client wrong("127.0.0.1", server.port());
  wrong.set_bearer_token_auth("s3cres");
  ExpectError(wrong.Get("/v1/spec"), 401, "unauthorized");
  httplib::Client right("127.0.0.1", server.port());
  right.set_bearer_token_auth("s3cret");
  EXPECT_FALSE(Create(right).empty());
}

TEST(EnvServer, BatchRunsEachRequestAndIsolatesFailures) {
  EnvServer server(Options());
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  std::string a = Create(c);
  Json batch = {{"requests",
                 {{{"op", "reset"}, {"session_id", a}, {"seed", 4}},
                  {{"op", "step"}, {"session_id", a}, {"action", "look"}},
                  {{"op", "step"}, {"session_id", "s-404"}, {"action", "look"}},
                  {{"op", "jump"}, {"session_id", a}},
                  {{"op", "create"}},
                  {{"op", "step"}, {"session_id", a}, {"action", "inventory"}, {"extra", 1}}}}};
  auto r = c.Post("/v1/batch", DumpJson(batch), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  Json responses = Body(r)["responses"];
  ASSERT_EQ(responses.size(), 6u);
  auto local = EnvRegistry::Make("household");
  Json reset = local->Reset({.seed = 4}).ToJson();
  EXPECT_EQ(responses[0]["status"], 200);
  EXPECT_EQ(responses[0]["body"], reset);
  EXPECT_EQ(responses[1]["status"], 200);
  EXPECT_EQ(responses[1]["body"], local->Step("look").ToJson());
  EXPECT_EQ(responses[2]["status"], 404);
  EXPECT_EQ(responses[2]["error"]["code"], "not_found");
  EXPECT_EQ(responses[3]["status"], 400);
  EXPECT_NE(
      responses[3]["error"]["message"].get<std::string>().find("known: create, reset, step, close"),
      std::string::npos);
  EXPECT_EQ(responses[4]["status"], 201);
  EXPECT_TRUE(responses[4]["body"]["session_id"].is_string());
  EXPECT_EQ(responses[5]["status"], 400);
  ExpectError(c.Post("/v1/batch", R"({"requests": 3})", "application/json"), 400, "bad_request");
  ExpectError(c.Post("/v1/batch", R"({"reqs": []})", "application/json"), 400, "bad_request");
}

// Differential: batches of plain steps and resets (read by the server's scanner) are answered
// byte for byte as the same requests carrying an envelope "id" (which only the general,
// nlohmann path reads), and counted alike in the metrics.
TEST(EnvServer, BatchFastPathAnswersAsTheGeneralOne) {
  EnvServer fast_server(Options()), general_server(Options());
  fast_server.Start();
  general_server.Start();
  httplib::Client fast("127.0.0.1", fast_server.port());
  httplib::Client general("127.0.0.1", general_server.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Create(fast));
    ASSERT_EQ(Create(general), ids.back());
  }
  auto post = [](httplib::Client& c, const Json& requests) {
    auto r = c.Post("/v1/batch", DumpJson(Json{{"requests", requests}}), "application/json");
    EXPECT_TRUE(r && r->status == 200);
    return r ? r->body : std::string();
  };
  Rng rng(3);
  std::vector<std::vector<std::string>> admissible(ids.size());
  for (int round = 0; round < 40; ++round) {
    Json requests = Json::array();
    for (size_t k = 0; k < ids.size(); ++k) {
      Json r = {{"op", "step"}, {"session_id", ids[k]}};
      if (round % 13 == 0 || admissible[k].empty()) {
        r = {{"op", "reset"}, {"session_id", ids[k]}, {"seed", round * 7 + k}};
        if (k == 1) r["task_id"] = "valid_seen/" + std::to_string(round % 140);
        if (k == 2) r["split"] = round % 2 ? "valid_unseen" : "nonsense";  // 400 every other
      } else {
        r["action"] = rng.Uniform(5) == 0 ? std::string("dance \"wildly\" \u00e9")
                                          : admissible[k][rng.Uniform(admissible[k].size())];
      }
      requests.push_back(r);
    }
    requests.push_back({{"op", "step"}, {"session_id", "s-404"}, {"action", "look"}});
    Json with_ids = requests;
    for (size_t k = 0; k < with_ids.size(); ++k) with_ids[k]["id"] = k;
    std::string a = post(fast, requests), b = post(general, with_ids);
    ASSERT_EQ(a, b) << "round " << round;
    Json answer = Json::parse(a);
    for (size_t k = 0; k < ids.size(); ++k) {
      const Json& one = answer["responses"][k];
      bool playing = one["status"] == 200 && !one["body"]["terminated"].get<bool>() &&
                     !one["body"]["truncated"].get<bool>();
      admissible[k] = playing ? one["body"]["admissible_actions"].get<std::vector<std::string>>()
                              : std::vector<std::string>();
    }
  }
  auto counts = [](httplib::Client& c) {
    auto r = c.Get("/metrics");
    std::string lines;
    std::istringstream in(r ? r->body : "");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("turnwise_env_server_requests_total{", 0) == 0 &&
          line.find("op=\"metrics\"") == std::string::npos) {
        lines += line + "\n";
      }
    }
    return lines;
  };
  EXPECT_EQ(counts(fast), counts(general));
  EXPECT_NE(counts(fast).find(R"(op="step",status="404")"), std::string::npos);
}

// A minimal synchronous WebSocket client for the test.
class WsTestClient {
 public:
  explicit WsTestClient(uint16_t port, const std::string& token = "") : ws_(ioc_) {
    tcp::resolver resolver(ioc_);
    net::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    if (!token.empty()) {
      ws_.set_option(
          beast::websocket::stream_base::decorator([token](beast::websocket::request_type& req) {
            req.set(beast::http::field::authorization, "Bearer " + token);
          }));
    }
    ws_.handshake("127.0.0.1", "/v1/ws");
  }
  Json Call(const Json& request) { return CallRaw(DumpJson(request)); }
  Json CallRaw(const std::string& text) {
    ws_.text(true);
    ws_.write(net::buffer(text));
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return Json::parse(beast::buffers_to_string(buffer.data()));
  }
  void Close() { ws_.close(beast::websocket::close_code::normal); }

 private:
  net::io_context ioc_;
  beast::websocket::stream<tcp::socket> ws_;
};

TEST(EnvServer, WebSocketCarriesTheSameMessages) {
  EnvServer server(Options());
  server.Start();
  auto local = EnvRegistry::Make("household");
  {
    WsTestClient ws(server.port());
    Json created = ws.Call({{"id", 1}, {"op", "create"}});
    EXPECT_EQ(created["id"], 1);
    EXPECT_EQ(created["status"], 201);
    std::string sid = created["body"]["session_id"];
    Json reset = ws.Call({{"id", "two"}, {"op", "reset"}, {"session_id", sid}, {"seed", 9}});
    EXPECT_EQ(reset["id"], "two");
    StepResult want = local->Reset({.seed = 9});
    EXPECT_EQ(reset["body"], want.ToJson());
    int id = 3;
    while (!want.done()) {
      std::string action = *local->ExpertAction();
      want = local->Step(action);
      Json got = ws.Call({{"id", id}, {"op", "step"}, {"session_id", sid}, {"action", action}});
      ASSERT_EQ(got["id"], id);
      ASSERT_EQ(got["status"], 200);
      ASSERT_EQ(got["body"], want.ToJson());
      ++id;
    }
    EXPECT_TRUE(want.info["won"].get<bool>());
    // Malformed messages answer 400 and the connection stays open.
    Json bad = ws.CallRaw("{oops");
    EXPECT_TRUE(bad["id"].is_null());
    EXPECT_EQ(bad["status"], 400);
    EXPECT_EQ(bad["error"]["code"], "bad_request");
    Json missing = ws.Call({{"id", 77}, {"op", "step"}, {"session_id", "s-nope"}, {"action", "x"}});
    EXPECT_EQ(missing["id"], 77);
    EXPECT_EQ(missing["status"], 404);
    ws.Call({{"id", 78}, {"op", "create"}});
    EXPECT_EQ(server.counters().sessions_active, 2);
    ws.Close();
  }
  // Sessions created on a WebSocket close with it.
  for (int i = 0; i < 50 && server.counters().sessions_active > 0; ++i) {  // < the 1 s sweep
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.counters().sessions_active, 0);
}

TEST(EnvServer, WebSocketNeedsTheTokenWhenOneIsSet) {
  auto o = Options();
  o.token = "tok";
  EnvServer server(o);
  server.Start();
  EXPECT_THROW(WsTestClient(server.port()), boost::system::system_error);
  WsTestClient ok(server.port(), "tok");
  EXPECT_EQ(ok.Call({{"id", 1}, {"op", "create"}})["status"], 201);
}

TEST(EnvServer, RemoteEnvPlaysThroughTheServer) {
  EnvServer server(Options());
  server.Start();
  auto remote = EnvRegistry::Make("household", {{"remote", {{"url", server.base_url()}}}});
  auto local = EnvRegistry::Make("household");
  for (uint64_t seed : {11u, 12u}) {
    StepResult a = remote->Reset({.seed = seed, .split = "valid_seen"});
    StepResult b = local->Reset({.seed = seed, .split = "valid_seen"});
    EXPECT_EQ(a.ToJson(), b.ToJson());
    EXPECT_EQ(remote->TaskId(), local->TaskId());
    while (!b.done()) {
      std::string action = *local->ExpertAction();
      a = remote->Step(action);
      b = local->Step(action);
      ASSERT_EQ(a.ToJson(), b.ToJson());
    }
    EXPECT_TRUE(a.info["won"].get<bool>());
  }
  EXPECT_EQ(remote->Spec().ToJson(), local->Spec().ToJson());
}

TEST(EnvServer, RemoteEnvOverWebSocketPlaysThroughTheServer) {
  auto o = Options();
  o.token = "ws-token";
  EnvServer server(o);
  server.Start();
  auto remote = EnvRegistry::Make(
      "household", {{"remote", {{"url", server.base_url()}, {"transport", "websocket"}, {"token", "ws-token"}}}});
  auto local = EnvRegistry::Make("household");
  StepResult a = remote->Reset({.seed = 21, .split = "valid_unseen"});
  StepResult b = local->Reset({.seed = 21, .split = "valid_unseen"});
  EXPECT_EQ(a.ToJson(), b.ToJson());
  while (!b.done()) {
    std::string action = *local->ExpertAction();
    a = remote->Step(action);
    b = local->Step(action);
    ASSERT_EQ(a.ToJson(), b.ToJson());
  }
  EXPECT_TRUE(a.info["won"].get<bool>());
  EXPECT_THROW(remote->Step("look"), FailedPrecondition);  // 409: the episode is over
  EXPECT_EQ(remote->Spec().name, "household");
  EXPECT_EQ(server.counters().sessions_active, 1);
  remote.reset();  // closing the WebSocket closes its session
  for (int i = 0; i < 50 && server.counters().sessions_active > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.counters().sessions_active, 0);
  // A wrong transport name is a config error naming the key.
  try {
    EnvRegistry::Make("household", {{"remote", {{"url", server.base_url()}, {"transport", "grpc"}}}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "env.remote.transport");
  }
}

TEST(EnvServer, RefusesUnknownEnvAndBadOptions) {
  auto o = Options();
  o.env = "housheold";
  try {
    EnvServer server(o);
    FAIL() << "expected NotFound";
  } catch (const NotFound& e) {
    EXPECT_NE(std::string(e.what()).find("household"), std::string::npos) << e.what();
  }
  o = Options();
  o.host = "localhost:80";
  EnvServer bad_host(o);
  EXPECT_THROW(bad_host.Start(), ConfigError);
  EnvServer first(Options());
  first.Start();
  o = Options();
  o.port = first.port();
  EnvServer second(o);
  EXPECT_THROW(second.Start(), Unavailable);
}

// Thousands of random and malformed requests from several threads while well-behaved sessions
// play expert episodes: the server never crashes, every answer is a documented one, and every
// well-behaved episode is won with exactly the in-process steps.
TEST(EnvServer, FuzzWithWellBehavedSessionsAlongside) {
  auto o = Options();
  o.threads = 3;
  EnvServer server(o);
  server.Start();
  const uint16_t port = server.port();
  std::atomic<int> fuzz_answers{0}, bad_answers{0};
  std::atomic<bool> stop{false};

  auto fuzzer = [&](int worker) {
    std::mt19937_64 rng(1000 + worker);
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(5, 0);
    std::vector<std::string> own;
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    const std::vector<std::string> paths = {"/v1/sessions",
                                            "/v1/batch",
                                            "/v1/spec",
                                            "/healthz",
                                            "/metrics",
                                            "/v1/sessions/s-00000001/step",
                                            "/v1/sessions//reset",
                                            "/../etc/passwd",
                                            "/v1/sessions/s-1/step/extra",
                                            "/v1/ws",
                                            "/%00"};
    const std::vector<std::string> bodies = {
        "",
        "{}",
        "null",
        "[]",
        "{\"action\":",
        "{\"action\": null}",
        "{\"action\": \"look\"}",
        "{\"seed\": 1e400}",
        "{\"seed\": 18446744073709551615}",
        "{\"split\": \"valid_unseen\"}",
        "{\"requests\": [{\"op\": \"step\"}, 5, null, {\"op\": \"create\", \"config\": []}]}",
        std::string("{\"action\": \"\xff\xfe\"}"),
        "{\"config\": {\"grammar_version\": \"9.9\"}}",
        std::string(70 << 10, '{')};
    for (int i = 0; i < 700 && !stop; ++i) {
      httplib::Result r(nullptr, httplib::Error::Unknown, httplib::Headers{});
      int kind = static_cast<int>(pick(5));
      if (kind == 0 && own.size() < 20) {
        r = c.Post("/v1/sessions", "{}", "application/json");
        if (r && r->status == 201) own.push_back(Json::parse(r->body)["session_id"]);
      } else if (kind == 1 && !own.empty()) {
        std::string sid = own[pick(own.size())];
        std::string action;
        for (size_t k = pick(30); k > 0; --k) action += static_cast<char>(32 + pick(95));
        r = c.Post("/v1/sessions/" + sid + (pick(3) == 0 ? "/reset" : "/step"),
                   DumpJson({{"action", action}}), "application/json");
      } else if (kind == 2) {
        const std::string& p = paths[pick(paths.size())];
        const std::string& b = bodies[pick(bodies.size())];
        r = pick(2) ? c.Post(p, b, "application/json") : (pick(2) ? c.Get(p) : c.Delete(p));
      } else if (kind == 3 && !own.empty()) {
        size_t k = pick(own.size());
        r = c.Delete("/v1/sessions/" + own[k]);
        own.erase(own.begin() + static_cast<long>(k));
      } else {
        std::string junk;
        for (size_t k = pick(200) + 1; k > 0; --k) junk += static_cast<char>(pick(256));
        std::string answer = Raw(port, junk + "\r\n\r\n", std::chrono::milliseconds(1500));
        int status = StatusOf(answer);
        if (!(answer.empty() || status == 400 || status == 404 || status == 405 || status == 413 ||
              status == 408 || status == 431 || status == 200 || status == 201 || status == 409 ||
              status == 505)) {
          ++bad_answers;
          ADD_FAILURE() << "raw answer: " << answer.substr(0, 200);
        }
        ++fuzz_answers;
        continue;
      }
      if (!r) continue;
      ++fuzz_answers;
      if (r->status == 200 && r->body.rfind("# HELP", 0) == 0) continue;  // /metrics
      Json j = Json::parse(r->body, nullptr, false);
      bool ok = !j.is_discarded();
      if (ok && r->status >= 400) {
        ok = j.contains("error") && j["error"]["code"].is_string() &&
             j["error"]["message"].is_string();
      }
      static const std::set<int> documented = {200, 201, 400, 401, 404, 405,
                                               408, 409, 413, 431, 503};
      if (!ok || !documented.count(r->status)) {
        ++bad_answers;
        ADD_FAILURE() << r->status << " " << r->body.substr(0, 200);
      }
    }
  };

  std::atomic<int> won{0};
  auto good = [&](int worker) {
    httplib::Client c("127.0.0.1", port);
    for (int e = 0; e < 6; ++e) {
      uint64_t seed = static_cast<uint64_t>(worker * 100 + e);
      std::string sid = Create(c);
      auto local = EnvRegistry::Make("household");
      StepResult want = local->Reset({.seed = seed});
      auto r =
          c.Post("/v1/sessions/" + sid + "/reset", DumpJson({{"seed", seed}}), "application/json");
      ASSERT_TRUE(r && r->status == 200);
      ASSERT_EQ(Body(r), want.ToJson());
      while (!want.done()) {
        std::string action = *local->ExpertAction();
        want = local->Step(action);
        r = c.Post("/v1/sessions/" + sid + "/step", DumpJson({{"action", action}}),
                   "application/json");
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
        ASSERT_EQ(Body(r), want.ToJson());
      }
      if (want.info["won"].get<bool>()) ++won;
      c.Delete("/v1/sessions/" + sid);
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) threads.emplace_back(fuzzer, w);
  for (int w = 0; w < 3; ++w) threads.emplace_back(good, w);
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 18);
  EXPECT_EQ(bad_answers.load(), 0);
  EXPECT_GT(fuzz_answers.load(), 2000);
  EXPECT_EQ(server.counters().errors_5xx, 0);
  httplib::Client after("127.0.0.1", port);
  EXPECT_EQ(after.Get("/healthz")->status, 200);
}

}  // namespace
}  // namespace turnwise
