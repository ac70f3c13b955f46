#include "envs/server_bench.h"

// clang-format off
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange without including it
// clang-format on

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <ostream>
#include <thread>

#include "core/stats.h"
#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/text.h"
#include "envs/env_pool.h"
#include "envs/env_server.h"
#include "envs/remote_env.h"

namespace turnwise {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct LoadState {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> steps{0};
  std::atomic<int64_t> errors{0};
  std::mutex mu;
  std::vector<double> latencies_ms;  // measured steps only
};

// The load generator reads only what it needs from a step answer — the done flags and one
// random admissible action — with a small scanner instead of a full JSON parse, so that its own
// CPU (it shares the machine with the server under test) stays small next to the server's.
size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  return i;
}

// Position just after `"key":` (whitespace allowed), npos when absent. `quoted` is the key with
// its quotes.
size_t FindValue(std::string_view s, std::string_view quoted, size_t from = 0) {
  if (from > s.size()) return std::string::npos;
  // memmem, not find: find stops at every '"' of the answer to compare the key.
  const void* hit = memmem(s.data() + from, s.size() - from, quoted.data(), quoted.size());
  if (hit == nullptr) return std::string::npos;
  size_t i = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
  i = SkipSpace(s, i + quoted.size());
  if (i >= s.size() || s[i] != ':') return std::string::npos;
  return SkipSpace(s, i + 1);
}

bool BoolValue(std::string_view s, std::string_view quoted) {
  size_t i = FindValue(s, quoted);
  return i != std::string::npos && s.compare(i, 4, "true") == 0;
}

// Reads a JSON string literal at s[i] (the opening quote); returns the position after it.
size_t ReadString(std::string_view s, size_t i, std::string* out) {
  out->clear();
  for (++i; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] != '\\') {
      size_t end = i + 1;
      while (end < s.size() && s[end] != '"' && s[end] != '\\') ++end;
      out->append(s.data() + i, end - i);
      i = end - 1;
      continue;
    }
    if (++i >= s.size()) break;
    switch (s[i]) {
      case 'n':
        out->push_back('\n');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'u':
        if (i + 4 < s.size()) {
          AppendUtf8(static_cast<uint32_t>(std::stoul(std::string(s.substr(i + 1, 4)), nullptr, 16)),
                     out);
          i += 4;
        }
        break;
      default:
        out->push_back(s[i]);
    }
  }
  return i + 1;
}

// Position just after the JSON string literal at s[i] (the opening quote), without decoding it.
size_t SkipString(std::string_view s, size_t i) {
  const size_t open = i;
  for (size_t from = i + 1; from < s.size();) {
    const void* hit = memchr(s.data() + from, '"', s.size() - from);
    if (hit == nullptr) break;
    const size_t quote = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
    size_t backslashes = 0;  // an odd number before it escapes the quote
    while (quote - backslashes - 1 > open && s[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
    from = quote + 1;
  }
  return s.size();
}

// One admissible action of a step answer, chosen with `rng`; false when it has none.
bool RandomAction(std::string_view s, Rng& rng, std::string* action) {
  size_t start = FindValue(s, R"("admissible_actions")");
  if (start == std::string::npos || s[start] != '[') return false;
  start = SkipSpace(s, start + 1);
  size_t count = 0;
  for (size_t i = start; i < s.size() && s[i] == '"'; ++count) {
    i = SkipSpace(s, SkipString(s, i));
    if (i < s.size() && s[i] == ',') i = SkipSpace(s, i + 1);
  }
  if (count == 0) return false;
  size_t i = start;
  for (size_t k = rng.Uniform(count); k > 0; --k) {
    i = SkipSpace(s, SkipString(s, i));
    if (i < s.size() && s[i] == ',') i = SkipSpace(s, i + 1);
  }
  ReadString(s, i, action);
  return true;
}

// One client connection driving `sessions` sessions that play random episodes.
//   http:  one request per step (POST /v1/sessions/{id}/step), one session per connection.
//   ws:    one message per step over a WebSocket (/v1/ws), one session per connection.
//   batch: one POST /v1/batch per round carrying a step (or reset) of each of its sessions.
class Agent : public std::enable_shared_from_this<Agent> {
 public:
  Agent(net::io_context& ioc, tcp::endpoint endpoint, LoadState* state, uint64_t seed,
        LoadMode mode, int sessions)
      : mode_(mode),
        ws_(net::make_strand(ioc)),
        endpoint_(endpoint),
        state_(state),
        rng_(seed),
        episode_seed_(seed * 1000),
        sessions_(static_cast<size_t>(sessions)) {}

  void Start() {
    Stream().async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail();
      self->Stream().socket().set_option(tcp::no_delay(true));
      if (self->mode_ != LoadMode::kWebSocket) return self->Create();
      self->ws_.async_handshake("127.0.0.1", "/v1/ws", [self](beast::error_code e) {
        if (e) return self->Fail();
        self->ws_.text(true);
        self->Create();
      });
    });
  }

 private:
  struct Session {
    std::string id;
    bool needs_reset = true;
  };

  beast::tcp_stream& Stream() { return beast::get_lowest_layer(ws_); }

  void Create() {
    phase_ = kCreate;
    if (mode_ == LoadMode::kHttp) return SendHttp("/v1/sessions", "{}");
    if (mode_ == LoadMode::kWebSocket) return SendWs(R"({"id":0,"op":"create"})");
    std::string body = R"({"requests":[)";
    for (size_t i = 0; i < sessions_.size(); ++i)
      body += i ? R"(,{"op":"create"})" : R"({"op":"create"})";
    SendHttp("/v1/batch", body + "]}");
  }

  // The request object of the next operation of session k (reset or a random step).
  std::string Operation(size_t k, std::string_view answer, bool with_session_field) {
    Session& s = sessions_[k];
    bool done = answer.empty() || BoolValue(answer, R"("terminated")") ||
                BoolValue(answer, R"("truncated")");
    std::string op;
    op.reserve(96);
    if (s.needs_reset || done || !RandomAction(answer, rng_, &action_)) {
      s.needs_reset = false;
      op = R"("op":"reset","seed":)";
      op += std::to_string(episode_seed_++);
      last_was_step_[k] = false;
    } else {
      op = R"("op":"step","action":)";
      AppendJsonString(&op, action_);
      last_was_step_[k] = true;
    }
    if (with_session_field) {
      op += R"(,"session_id":")";
      op += s.id;
      op += '"';
    }
    return op;
  }

  void SendHttp(const std::string& target, std::string body) {
    if (state_->stop) return;
    req_ = {http::verb::post, target, 11};
    req_.set(http::field::host, "127.0.0.1");
    req_.set(http::field::content_type, "application/json");
    req_.body() = std::move(body);
    req_.prepare_payload();
    sent_ = Clock::now();
    http::async_write(Stream(), req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail();
      self->res_ = {};
      http::async_read(self->Stream(), self->buffer_, self->res_,
                       [self](beast::error_code e, size_t) {
                         if (e) return self->Fail();
                         if (self->res_.result_int() >= 300) return self->Fail();
                         self->OnAnswer(self->res_.body());
                       });
    });
  }

  void SendWs(std::string message) {
    if (state_->stop) return;
    out_ = std::move(message);
    sent_ = Clock::now();
    ws_.async_write(net::buffer(out_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail();
      self->buffer_.clear();
      self->ws_.async_read(self->buffer_, [self](beast::error_code e, size_t) {
        if (e) return self->Fail();
        auto data = self->buffer_.data();
        std::string_view text(static_cast<const char*>(data.data()), data.size());
        size_t st = FindValue(text, R"("status")");
        if (st == std::string::npos || text[st] != '2') return self->Fail();
        self->OnAnswer(text);
      });
    });
  }

  void OnAnswer(std::string_view body) {
    if (phase_ == kCreate) {
      if (mode_ == LoadMode::kBatch) {
        size_t pos = 0;
        for (auto& s : sessions_) {
          pos = body.find("\"session_id\"", pos);
          if (pos == std::string::npos) return Fail();
          size_t v = FindValue(body, R"("session_id")", pos);
          ReadString(body, v, &s.id);
          pos = v;
        }
      } else {
        size_t v = FindValue(body, R"("session_id")");
        if (v == std::string::npos || body[v] != '"') return Fail();
        ReadString(body, v, &sessions_[0].id);
      }
      last_was_step_.assign(sessions_.size(), false);
      phase_ = kPlay;
      return Next({});
    }
    // Count the steps this answer completed.
    int64_t steps = 0;
    std::vector<std::string_view> parts;
    if (mode_ == LoadMode::kBatch) {
      SplitResponses(body, &parts);
      if (parts.size() != sessions_.size()) return Fail();
    } else {
      parts.push_back(body);
    }
    for (size_t k = 0; k < sessions_.size(); ++k) steps += last_was_step_[k] ? 1 : 0;
    if (state_->measuring && steps > 0) {
      state_->steps.fetch_add(steps, std::memory_order_relaxed);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent_).count();
      std::lock_guard lock(state_->mu);
      state_->latencies_ms.push_back(ms);
    }
    Next(parts);
  }

  // Splits a batch answer into its responses (each starts with {"status": — the server writes
  // them so, and that text cannot occur unescaped inside a string).
  static void SplitResponses(std::string_view body, std::vector<std::string_view>* parts) {
    size_t pos = body.find(R"({"status":)");
    while (pos != std::string::npos) {
      size_t next = body.find(R"({"status":)", pos + 1);
      parts->push_back(
          body.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
      pos = next;
    }
  }

  void Next(const std::vector<std::string_view>& answers) {
    if (mode_ == LoadMode::kBatch) {
      std::string body = R"({"requests":[)";
      body.reserve(sessions_.size() * 128);
      for (size_t k = 0; k < sessions_.size(); ++k) {
        body += k ? ",{" : "{";
        body += Operation(k, answers.empty() ? std::string_view() : answers[k], true);
        body += '}';
      }
      body += "]}";
      return SendHttp("/v1/batch", std::move(body));
    }
    std::string op = Operation(0, answers.empty() ? std::string_view() : answers[0],
                               mode_ == LoadMode::kWebSocket);
    if (mode_ == LoadMode::kWebSocket) return SendWs(R"({"id":1,)" + op + "}");
    // HTTP: the op decides the path; the body carries the op's own fields.
    bool step = last_was_step_[0];
    size_t comma = op.find(',');
    std::string fields = comma == std::string::npos ? std::string() : op.substr(comma + 1);
    SendHttp("/v1/sessions/" + sessions_[0].id + (step ? "/step" : "/reset"), "{" + fields + "}");
  }

  void Fail() {
    if (state_->stop) return;
    state_->errors.fetch_add(1);
  }

  enum Phase { kCreate, kPlay };
  LoadMode mode_;
  websocket::stream<beast::tcp_stream> ws_;  // HTTP modes use its lowest layer only
  tcp::endpoint endpoint_;
  LoadState* state_;
  Rng rng_;
  uint64_t episode_seed_;
  std::vector<Session> sessions_;
  std::vector<bool> last_was_step_;
  std::string action_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::string out_;
  Phase phase_ = kCreate;
  Clock::time_point sent_;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// The FastAPI baseline in a child process, on a free port; killed on destruction.
class PythonServer {
 public:
  PythonServer(const std::string& python, const std::string& script) {
    if (!std::filesystem::exists(script)) {
      throw NotFound("bench env-server: baseline script '" + script +
                     "' not found (run from the repository root, or pass --baseline '')");
    }
    net::io_context ioc;
    tcp::acceptor probe(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port_ = probe.local_endpoint().port();
    probe.close();
    pid_ = fork();
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      execl(python.c_str(), python.c_str(), script.c_str(), "--port", port.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // up to 20 s for uvicorn to come up
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      tcp::socket s(ioc);
      beast::error_code ec;
      s.connect({net::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw Unavailable(
            "bench env-server: the Python baseline exited at start (is python3-fastapi "
            "installed?)");
      }
    }
    throw Unavailable("bench env-server: the Python baseline did not start within 20 s");
  }
  ~PythonServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace

LoadResult DriveLoad(const std::string& host, uint16_t port, int sessions, double seconds,
                     double warmup_s, int client_threads, uint64_t seed, LoadMode mode,
                     int batch_size) {
  if (sessions < 1 || seconds <= 0 || client_threads < 1 || batch_size < 1) {
    throw InvalidArgument(
        "bench env-server: sessions, seconds, client threads and batch size must be positive");
  }
  net::io_context ioc;
  LoadState state;
  tcp::endpoint endpoint(net::ip::make_address(host), port);
  int per_connection = mode == LoadMode::kBatch ? batch_size : 1;
  for (int i = 0, left = sessions; left > 0; ++i) {
    int n = std::min(per_connection, left);
    left -= n;
    std::make_shared<Agent>(ioc, endpoint, &state, seed * 100003 + static_cast<uint64_t>(i), mode,
                            n)
        ->Start();
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < client_threads; ++i) threads.emplace_back([&] { ioc.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  state.measuring = true;
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  state.measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  LoadResult r;
  r.steps_per_s = static_cast<double>(state.steps.load()) / elapsed;
  state.stop = true;
  ioc.stop();
  for (auto& t : threads) t.join();
  std::lock_guard lock(state.mu);
  r.p50_ms = Percentile(state.latencies_ms, 0.5);
  r.p99_ms = Percentile(state.latencies_ms, 0.99);
  r.errors = state.errors.load();
  return r;
}

LoadResult DrivePool(const std::string& url, int sessions, double seconds, double warmup_s,
                     uint64_t seed, int connections) {
  if (sessions < 1 || seconds <= 0) {
    throw InvalidArgument("bench env-server: sessions and seconds must be positive");
  }
  Json remote = {{"url", url}, {"transport", "batch"}, {"batch_connections", connections}};
  EnvPool pool([remote] { return MakeRemoteEnv(remote); }, sessions,
               {.num_threads = 1, .call_timeout = std::chrono::milliseconds(30000)});
  Rng rng(seed);
  uint64_t episode_seed = seed * 1000003;
  std::vector<int> ids;
  std::vector<ResetOptions> resets;
  for (int i = 0; i < sessions; ++i) {
    ids.push_back(i);
    resets.push_back({.seed = episode_seed++});
  }
  pool.SendReset(ids, resets);
  int64_t steps = 0, errors = 0;
  std::vector<double> latencies_ms;
  auto start = Clock::now();
  auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(warmup_s));
  auto measure_to = measure_from + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
  std::vector<int> step_ids;
  std::vector<std::string> actions;
  while (Clock::now() < measure_to) {
    auto results = pool.Recv(1);
    bool measuring = Clock::now() >= measure_from;
    ids.clear();
    resets.clear();
    step_ids.clear();
    actions.clear();
    for (EnvResult& r : results) {
      if (!r.ok) ++errors;
      if (r.ok && !r.is_reset && measuring) {
        ++steps;
        latencies_ms.push_back(r.seconds * 1000);
      }
      if (!r.ok || r.step.done() || r.step.admissible_actions.empty()) {
        ids.push_back(r.env_id);
        resets.push_back({.seed = episode_seed++});
        continue;
      }
      step_ids.push_back(r.env_id);
      const auto& admissible = r.step.admissible_actions;
      actions.push_back(admissible[rng.Uniform(admissible.size())]);
    }
    pool.SendReset(ids, resets);
    pool.Send(step_ids, actions);
  }
  LoadResult r;
  r.steps_per_s = static_cast<double>(steps) / seconds;
  r.p50_ms = Percentile(latencies_ms, 0.5);
  r.p99_ms = Percentile(latencies_ms, 0.99);
  while (pool.Pending() > 0) pool.Recv(pool.Pending());
  r.errors = errors;
  return r;
}

std::vector<ServerBenchRow> RunServerBench(const ServerBenchOptions& o, std::ostream& out) {
  if (o.sessions.empty() || o.repeats < 1 || o.server_threads < 1) {
    throw InvalidArgument("bench env-server: needs sessions, repeats >= 1 and server threads >= 1");
  }
  int max_sessions = *std::max_element(o.sessions.begin(), o.sessions.end());
  EnvServerOptions server_options;
  server_options.env = "household";
  server_options.threads = o.server_threads;
  server_options.max_sessions = std::max<int64_t>(4096, 8 * max_sessions);
  server_options.idle_timeout =
      std::chrono::milliseconds(static_cast<int64_t>((o.seconds + o.warmup_s) * 1500));
  EnvServer server(server_options);
  server.Start();
  std::unique_ptr<PythonServer> python;
  bool baseline = !o.baseline_script.empty();
  if (baseline) python = std::make_unique<PythonServer>(o.python, o.baseline_script);

  out << "household steps/s through an env server over loopback; random admissible actions; "
      << o.seconds << " s windows after " << o.warmup_s << " s warm-up; median of " << o.repeats
      << " (variants alternate)\n"
      << "Turnwise: turnwise env-server, " << o.server_threads
      << " I/O threads, driven per step over HTTP, per step over WebSocket, and by /v1/batch ("
      << o.batch_size
      << " sessions per request), and by an EnvPool of remote envs with transport batch (the "
         "rollout engine's client: "
      << o.server_threads
      << " connections, 1 caller + 1 I/O thread, full StepResult parsing). Python: FastAPI + uvicorn, one worker, HTTP per step. Load "
         "generator: "
      << o.client_threads
      << " client thread(s), one keep-alive connection per session (per batch).\n\n";
  char head[320];
  std::snprintf(head, sizeof(head),
                "%8s %11s %8s %8s %11s %11s %11s %8s %8s %11s %8s %8s %9s %9s %9s %9s\n",
                "sessions", "tw http/s", "p50 ms", "p99 ms", "tw ws/s", "tw batch/s", "tw pool/s",
                "p50 ms", "p99 ms", "python/s", "p50 ms", "p99 ms", "http x", "ws x", "batch x",
                "pool x");
  out << head;
  std::vector<ServerBenchRow> rows;
  int64_t errors = 0;
  for (int n : o.sessions) {
    std::vector<LoadResult> http_runs, ws_runs, batch_runs, pool_runs, py_runs;
    for (int rep = 0; rep < o.repeats; ++rep) {
      auto seed = static_cast<uint64_t>(rep);
      http_runs.push_back(
          DriveLoad("127.0.0.1", server.port(), n, o.seconds, o.warmup_s, o.client_threads, seed));
      ws_runs.push_back(DriveLoad("127.0.0.1", server.port(), n, o.seconds, o.warmup_s,
                                  o.client_threads, seed, LoadMode::kWebSocket));
      batch_runs.push_back(DriveLoad("127.0.0.1", server.port(), n, o.seconds, o.warmup_s,
                                     o.client_threads, seed, LoadMode::kBatch, o.batch_size));
      pool_runs.push_back(DrivePool(server.base_url(), n, o.seconds, o.warmup_s, seed,
                                    o.server_threads));
      if (baseline) {
        py_runs.push_back(DriveLoad("127.0.0.1", python->port(), n, o.seconds, o.warmup_s,
                                    o.client_threads, seed));
      }
    }
    auto median = [&](const std::vector<LoadResult>& runs) {
      LoadResult m;
      if (runs.empty()) return m;
      std::vector<double> sps, p50, p99;
      for (const auto& r : runs) {
        sps.push_back(r.steps_per_s);
        p50.push_back(r.p50_ms);
        p99.push_back(r.p99_ms);
        m.errors += r.errors;
      }
      m.steps_per_s = Median(sps);
      m.p50_ms = Median(p50);
      m.p99_ms = Median(p99);
      return m;
    };
    ServerBenchRow row;
    row.sessions = n;
    row.turnwise = median(http_runs);
    row.turnwise_ws = median(ws_runs);
    row.turnwise_batch = median(batch_runs);
    row.turnwise_pool = median(pool_runs);
    row.python = median(py_runs);
    errors += row.turnwise.errors + row.turnwise_ws.errors + row.turnwise_batch.errors +
              row.turnwise_pool.errors;
    double py = row.python.steps_per_s;
    char line[320];
    std::snprintf(
        line, sizeof(line),
        "%8d %11.0f %8.2f %8.2f %11.0f %11.0f %11.0f %8.2f %8.2f %11.0f %8.2f %8.2f %8.1fx "
        "%8.1fx %8.1fx %8.1fx\n",
        n, row.turnwise.steps_per_s, row.turnwise.p50_ms, row.turnwise.p99_ms,
        row.turnwise_ws.steps_per_s, row.turnwise_batch.steps_per_s,
        row.turnwise_pool.steps_per_s, row.turnwise_pool.p50_ms, row.turnwise_pool.p99_ms, py,
        row.python.p50_ms, row.python.p99_ms, py > 0 ? row.turnwise.steps_per_s / py : 0.0,
        py > 0 ? row.turnwise_ws.steps_per_s / py : 0.0,
        py > 0 ? row.turnwise_batch.steps_per_s / py : 0.0,
        py > 0 ? row.turnwise_pool.steps_per_s / py : 0.0);
    out << line;
    out.flush();
    rows.push_back(row);
  }
  auto c = server.counters();
  out << "\nTurnwise server: " << c.requests << " requests, " << c.steps << " steps, "
      << c.errors_4xx << " 4xx, " << c.errors_5xx
      << " 5xx; load-generator errors against it: " << errors << "\n";
  return rows;
}

}  // namespace turnwise
