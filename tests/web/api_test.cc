// The web API in process (every endpoint, bad parameters, unknown ids) and over real HTTP on
// 127.0.0.1 (headers, read-only methods, live updates by server-sent events).
#include "web/api.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/hash.h"
#include "storage/store.h"
#include "tests/storage/store_test_util.h"
#include "web/server.h"

namespace turnwise {
namespace {

using testing_util::MakeEpisode;
using testing_util::TempDir;

class WebApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("web.db");
    auto w = StoreWriter::Open(path_);
    run_ = w->CreateRun({.name = "web-run",
                         .env = "household",
                         .method = "gigpo",
                         .config = {{"trainer", {{"lr", 0.5}}}}});
    for (int i = 0; i < 24; ++i) w->AppendEpisode(MakeEpisode(run_, i, 3));
    for (int it = 0; it < 3; ++it) {
      w->AppendMetrics(run_, it, {{"success/valid_seen", 0.2 * it}, {"entropy", 1.0 - 0.1 * it}});
      w->FinishIteration(run_, it, {{"episodes", 8}});
    }
    EpisodeRecord hostile = MakeEpisode(run_, 100, 1);
    hostile.turns[0].observation = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    hostile.turns[0].action = "</action><b>bold</b>";
    w->AppendEpisode(hostile);
    w->Close();
    api_ = std::make_unique<WebApi>(path_);
  }

  ApiResponse Get(const std::string& path, std::map<std::string, std::string> query = {}) {
    return api_->Handle("GET", path, query);
  }

  TempDir dir_;
  std::string path_;
  int64_t run_ = 0;
  std::unique_ptr<WebApi> api_;
};

TEST_F(WebApiTest, RunsListsCountsAndBestSuccess) {
  auto r = Get("/api/runs");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["runs"].size(), 1u);
  const Json& run = r.body["runs"][0];
  EXPECT_EQ(run["name"], "web-run");
  EXPECT_EQ(run["method"], "gigpo");
  EXPECT_EQ(run["episodes"], 25);
  EXPECT_EQ(run["turns"], 73);
  EXPECT_DOUBLE_EQ(run["best_success"].get<double>(), 0.4);
  EXPECT_EQ(run["iterations"], 3);
}

TEST_F(WebApiTest, CountsFollowTheRunAsItGrows) {
  EXPECT_EQ(Get("/api/runs").body["runs"][0]["episodes"], 25);
  EXPECT_EQ(Get("/api/runs/1").body["turns"], 73);  // the same counts, from the cache
  {
    auto w = StoreWriter::Open(path_);
    w->AppendEpisode(MakeEpisode(run_, 200, 2));
  }
  EXPECT_EQ(Get("/api/runs").body["runs"][0]["episodes"], 26);
  EXPECT_EQ(Get("/api/runs/1").body["turns"], 75);
}

TEST_F(WebApiTest, RunDetailHasConfigIterationsAndMetricKeys) {
  auto r = Get("/api/runs/" + std::to_string(run_));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["config"]["trainer"]["lr"], 0.5);
  EXPECT_EQ(r.body["iterations"].size(), 3u);
  EXPECT_EQ(r.body["metric_keys"], Json::array({"entropy", "success/valid_seen"}));
  EXPECT_DOUBLE_EQ(r.body["latest_metrics"]["entropy"].get<double>(), 0.8);
}

TEST_F(WebApiTest, MetricSeriesByKey) {
  auto r = Get("/api/runs/1/metrics", {{"keys", "success/valid_seen"}});
  ASSERT_EQ(r.status, 200);
  const Json& s = r.body["series"]["success/valid_seen"];
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[2][0], 2);
  EXPECT_DOUBLE_EQ(s[2][1].get<double>(), 0.4);
  EXPECT_EQ(Get("/api/runs/1/metrics").body["series"].size(), 2u);  // all keys
}

TEST_F(WebApiTest, EpisodesFilterSortPaginateAndSearch) {
  auto r = Get("/api/episodes", {{"run", "1"},
                                 {"success", "true"},
                                 {"split", "train"},
                                 {"sort", "return"},
                                 {"order", "desc"},
                                 {"limit", "5"}});
  ASSERT_EQ(r.status, 200) << r.body;
  // Successful (even index) training (index % 5 != 0) episodes among 0..23: 12 evens minus
  // 0, 10, 20. The hostile episode (index 100) is valid_seen.
  EXPECT_EQ(r.body["total"], 9);
  EXPECT_EQ(r.body["episodes"].size(), 5u);
  EXPECT_FALSE(r.body["episodes"][0].contains("turns"));
  auto page2 = Get("/api/episodes", {{"run", "1"}, {"limit", "10"}, {"offset", "20"}});
  EXPECT_EQ(page2.body["episodes"].size(), 5u);
  auto search = Get("/api/episodes", {{"q", "<script>alert(1)</script>"}});
  ASSERT_EQ(search.status, 200);
  EXPECT_EQ(search.body["total"], 1);
}

TEST_F(WebApiTest, EpisodeReplayHasTurnsTokensAndAnchorPeers) {
  auto r = Get("/api/episodes/5");  // index 4: group g1 = episodes 5..8 (ids are index + 1)
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["turns"].size(), 3u);
  const Json& t1 = r.body["turns"][1];
  EXPECT_EQ(t1["token_ids"], Json::array({4, 1, -7, 151643}));
  EXPECT_EQ(t1["anchor_hash"].get<std::string>(), std::to_string(StableHash64("state 1")));
  ASSERT_EQ(t1["anchor_peers"].size(), 3u);  // the other three episodes of the group
  EXPECT_EQ(t1["anchor_peers"][0]["episode_id"], 6);
  EXPECT_EQ(t1["anchor_peers"][0]["turn_index"], 1);
}

TEST_F(WebApiTest, HostileTextIsReturnedAsPlainJsonStrings) {
  auto page = Get("/api/episodes", {{"q", "bold"}});
  ASSERT_EQ(page.body["total"], 1);
  auto e = Get("/api/episodes/" + std::to_string(page.body["episodes"][0]["id"].get<int64_t>()));
  EXPECT_EQ(e.body["turns"][0]["observation"],
            "<script>alert(1)</script><img src=x onerror=alert(2)>");
}

TEST_F(WebApiTest, GroupReturnsEveryMember) {
  auto r = Get("/api/runs/1/groups/g2");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["episodes"].size(), 4u);
  EXPECT_EQ(r.body["episodes"][3]["turns"].size(), 3u);
}

TEST_F(WebApiTest, BadParametersAre400WithTheParameterNamed) {
  auto check = [&](std::map<std::string, std::string> q, const std::string& needle) {
    auto r = Get("/api/episodes", q);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.body["error"]["code"], "bad_request");
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(needle), std::string::npos)
        << r.body;
  };
  check({{"run", "abc"}}, "parameter 'run' must be an integer, got 'abc'");
  check({{"success", "maybe"}}, "parameter 'success' must be true or false");
  check({{"min_return", "x1"}}, "parameter 'min_return' must be a number");
  check({{"sort", "name"}}, "unknown sort field 'name'");
  check({{"order", "up"}}, "parameter 'order' must be asc or desc");
  check({{"limit", "0"}}, "limit must be between 1 and 10000");
  check({{"status", "won"}}, "unknown episode status 'won'");
  check({{"spilt", "train"}}, "unknown parameter 'spilt' (did you mean 'split'?)");
  check({{"q", "  "}}, "text search needs at least one word");
  EXPECT_EQ(Get("/api/runs", {{"x", "1"}}).status, 400);
}

TEST_F(WebApiTest, UnknownIdsAndPathsAre404) {
  EXPECT_EQ(Get("/api/runs/99").status, 404);
  EXPECT_EQ(Get("/api/runs/99").body["error"]["message"], "no run with id 99");
  EXPECT_EQ(Get("/api/episodes/12345").status, 404);
  EXPECT_EQ(Get("/api/runs/1/groups/nope").status, 404);
  EXPECT_EQ(Get("/api/runs/99/metrics").status, 404);
  EXPECT_EQ(Get("/api/nothing").status, 404);
  EXPECT_EQ(Get("/api/episodes/99999999999999999999999").status, 404);
  EXPECT_EQ(api_->Handle("POST", "/api/runs", {}).status, 405);
}

TEST_F(WebApiTest, EnvsListTheRegistryWithSpecs) {
  auto r = Get("/api/envs");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json* household = nullptr;
  for (const auto& e : r.body["envs"]) {
    if (e["name"] == "household") household = &e;
  }
  ASSERT_NE(household, nullptr) << r.body;
  EXPECT_GT((*household)["splits"]["valid_seen"].get<int>(), 0);
  EXPECT_GT((*household)["max_turns"].get<int>(), 0);
  EXPECT_TRUE((*household)["config_defaults"].is_object());
  auto one = Get("/api/envs/household");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body, *household);
}

TEST_F(WebApiTest, EnvsBadParametersAndUnknownNames) {
  auto bad = Get("/api/envs", {{"name", "household"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body["error"]["message"].get<std::string>().find("unknown parameter 'name'"),
            std::string::npos)
      << bad.body;
  EXPECT_EQ(Get("/api/envs/household", {{"x", "1"}}).status, 400);
  auto unknown = Get("/api/envs/housheold");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body["error"]["code"], "not_found");
  EXPECT_NE(unknown.body["error"]["message"].get<std::string>().find(
                "unknown environment 'housheold' (did you mean 'household'?)"),
            std::string::npos)
      << unknown.body;
  EXPECT_EQ(Get("/api/envs/household/extra").status, 404);
  EXPECT_EQ(api_->Handle("DELETE", "/api/envs/household", {}).status, 405);
}

TEST_F(WebApiTest, TokensAreNullWithoutATokenizer) {
  auto r = Get("/api/episodes/5");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body["token_source"].is_null());
  EXPECT_TRUE(r.body["turns"][0]["tokens"].is_null());
  EXPECT_TRUE(Get("/api/runs/1/groups/g1").body["episodes"][0]["turns"][0]["tokens"].is_null());
}

// A byte-level tokenizer.json whose ids 0..3 are "open", "Ġdrawer", "<b>" and "Ċ".
std::string WriteTokenizer(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"open": 0, "Ġdrawer": 1, "<b>": 2, "Ċ": 3},
             "merges": []}, "added_tokens": [{"id": 151643, "content": "<|endoftext|>"}]})";
  return dir + "/tokenizer.json";
}

TEST_F(WebApiTest, TokensDecodeWithTheRunsCheckpointTokenizer) {
  std::string ckpt = dir_.File("ckpt-3");
  std::string tokenizer = WriteTokenizer(ckpt);
  std::string path = dir_.File("tok.db");
  {
    auto w = StoreWriter::Open(path);
    int64_t run = w->CreateRun({.name = "tok"});
    EpisodeRecord e = MakeEpisode(run, 1, 2);
    e.turns[1].token_ids = {0, 1, 2, 3, 99, -1, 151643};
    w->AppendEpisode(e);
    w->AddCheckpoint({.run_id = run, .iter = 3, .path = ckpt});
  }
  WebApi api(path);
  auto r = api.Handle("GET", "/api/episodes/1", {});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["token_source"], tokenizer);
  EXPECT_EQ(r.body["turns"][1]["tokens"],
            Json::array({"open", " drawer", "<b>", "\n", nullptr, nullptr, "<|endoftext|>"}));
  // MakeEpisode's ids {index, turn, -7, 151643}: 1 -> " drawer", 0 -> "open".
  EXPECT_EQ(r.body["turns"][0]["tokens"],
            Json::array({" drawer", "open", nullptr, "<|endoftext|>"}));
  auto g = api.Handle("GET", "/api/runs/1/groups/g0", {});
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.body["token_source"], tokenizer);
  EXPECT_EQ(g.body["episodes"][0]["turns"][1]["tokens"][1], " drawer");
}

TEST_F(WebApiTest, AnExplicitTokenizerWinsAndABrokenOneIsIgnored) {
  std::string good = WriteTokenizer(dir_.File("explicit"));
  WebApi api(path_, {.tokenizer = good});
  auto r = api.Handle("GET", "/api/episodes/1", {});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["token_source"], good);
  EXPECT_EQ(r.body["turns"][1]["tokens"][0], "open");  // MakeEpisode index 0: ids {0, 1, ...}
  std::string broken = dir_.File("broken.json");
  std::ofstream(broken) << "{not json";
  WebApi api2(path_, {.tokenizer = broken});
  auto r2 = api2.Handle("GET", "/api/episodes/1", {});
  ASSERT_EQ(r2.status, 200);  // token text is optional: the replay still answers
  EXPECT_TRUE(r2.body["token_source"].is_null());
}

TEST(WebServer, ServesOverHttpWithStrictHeadersAndNeverWrites) {
  TempDir dir;
  std::string path = dir.File("http.db");
  {
    auto w = StoreWriter::Open(path);
    int64_t run = w->CreateRun({.name = "http"});
    w->AppendEpisode(MakeEpisode(run, 0, 2));
  }
  auto size_before = std::filesystem::file_size(path);
  WebServer server(path, {.host = "127.0.0.1", .port = 0, .threads = 4});
  int port = server.Start();
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/api/runs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(res->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(res->get_header_value("Content-Security-Policy").find("unsafe-inline"),
            std::string::npos);
  EXPECT_EQ(Json::parse(res->body)["runs"][0]["name"], "http");
  auto post = client.Post("/api/runs", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto missing = client.Get("/etc/passwd");  // not a file: a page of the app (index.html)
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(missing->body.find("root:"), std::string::npos);
  auto traversal = client.Get("/api/../../etc/passwd");
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->status, 404);
  server.Stop();
  EXPECT_EQ(std::filesystem::file_size(path), size_before);
}

TEST(WebServer, EventStreamAnnouncesEpisodesAsTheyAreWritten) {
  TempDir dir;
  std::string path = dir.File("live.db");
  auto writer = StoreWriter::Open(path);
  int64_t run = writer->CreateRun({.name = "live"});
  writer->Flush();
  WebServer server(path, {.host = "127.0.0.1",
                          .port = 0,
                          .threads = 4,
                          .poll_interval = std::chrono::milliseconds(20)});
  int port = server.Start();
  std::atomic<int> episodes_events{0};
  std::string received;
  std::mutex mu;
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(5, 0);
    client.Get("/api/events?run=" + std::to_string(run), [&](const char* data, size_t n) {
      std::lock_guard<std::mutex> lock(mu);
      received.append(data, n);
      size_t count = 0;
      for (size_t pos = 0; (pos = received.find("event: episodes", pos)) != std::string::npos;
           ++pos) {
        ++count;
      }
      episodes_events = static_cast<int>(count);
      return count < 3;  // the initial state, then two growths
    });
  });
  // Wait for the initial event, then write twice, waiting for each announcement.
  for (int i = 0; i < 200 && episodes_events < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int k = 1; k <= 2; ++k) {
    writer->AppendEpisode(MakeEpisode(run, k, 1));
    writer->Flush();
    for (int i = 0; i < 300 && episodes_events < k + 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  reader.join();
  server.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(episodes_events.load(), 3) << received;
  EXPECT_NE(received.find("\"latest_episode_id\":2"), std::string::npos) << received;
}

TEST(WebServer, ALeftEventStreamFreesItsWorkerWithinSeconds) {
  TempDir dir;
  std::string path = dir.File("left.db");
  int64_t run = 0;
  {
    auto w = StoreWriter::Open(path);
    run = w->CreateRun({.name = "left"});
  }
  // Two workers, two streams opened and abandoned: until they notice, no request is served.
  WebServer server(path, {.host = "127.0.0.1",
                          .port = 0,
                          .threads = 2,
                          .poll_interval = std::chrono::milliseconds(50)});
  int port = server.Start();
  for (int i = 0; i < 2; ++i) {
    httplib::Client client("127.0.0.1", port);
    client.Get("/api/events?run=" + std::to_string(run),
               [](const char*, size_t) { return false; });  // first bytes, then hang up
  }
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto res = client.Get("/api/runs");
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_LT(waited, 8.0);  // heartbeats every 2 s; pings alone would hold the workers 15 s
  server.Stop();
}

// GET /api/methods over HTTP lists every file of configs/methods (the copy built into the binary
// must match the source tree it was built from), each with the file's own algorithm block.
TEST(WebServer, MethodsListEveryPresetOfConfigsMethods) {
  TempDir dir;
  std::string path = dir.File("methods.db");
  StoreWriter::Open(path)->Close();
  WebServer server(path, {.host = "127.0.0.1", .port = 0, .threads = 2});
  httplib::Client client("127.0.0.1", server.Start());
  auto res = client.Get("/api/methods");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  std::map<std::string, Json> listed;
  Json body = Json::parse(res->body);
  for (const auto& m : body["methods"]) listed[m["name"].get<std::string>()] = m;

  std::set<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TURNWISE_SOURCE_DIR) + "/configs/methods")) {
    if (entry.path().extension() != ".json") continue;
    std::string name = entry.path().stem().string();
    files.insert(name);
    ASSERT_EQ(listed.count(name), 1u) << name << " is missing from " << res->body;
    const Json& m = listed[name];
    EXPECT_FALSE(m.contains("error")) << m;
    EXPECT_EQ(m["algorithm"], ReadJsonFile(entry.path().string())["algorithm"]) << name;
    // The description is one line from the start of the file's leading comment.
    std::ifstream in(entry.path());
    std::string first_line;
    std::getline(in, first_line);
    ASSERT_EQ(first_line.rfind("// ", 0), 0u) << name;
    first_line = first_line.substr(3);
    std::string description = m["description"];
    size_t n = std::min(first_line.size(), description.size());
    EXPECT_GT(n, 10u) << name;
    EXPECT_EQ(description.substr(0, n), first_line.substr(0, n)) << name;
    EXPECT_EQ(description.find('\n'), std::string::npos) << name;
    EXPECT_EQ(m["comment"].get<std::string>().rfind(first_line, 0), 0u) << name;

    auto one = client.Get("/api/methods/" + name);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 200);
    EXPECT_EQ(Json::parse(one->body), m);
  }
  EXPECT_EQ(listed.size(), files.size()) << res->body;
  EXPECT_TRUE(files.count("gigpo") && files.count("grpo"));

  auto unknown = client.Get("/api/methods/gipgo");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->get_header_value("Content-Type"), "application/json; charset=utf-8");
  std::string message = Json::parse(unknown->body)["error"]["message"];
  EXPECT_NE(message.find("unknown method preset 'gipgo' (did you mean 'gigpo'?)"),
            std::string::npos)
      << message;
  for (const auto& name : files) EXPECT_NE(message.find(name), std::string::npos) << message;
  auto bad = client.Get("/api/methods?name=gigpo");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto nested = client.Get("/api/methods/gigpo/algorithm");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->status, 404);
  server.Stop();
}

TEST(WebServer, UnopenableDatabaseFailsAtStart) {
  TempDir dir;
  WebServer server(dir.File("missing.db"), {.port = 0});
  EXPECT_THROW(server.Start(), IoError);
}

}  // namespace
}  // namespace turnwise
