#include "envs/env_server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/logging.h"
#include "envs/internal/json_scan.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// A protocol answer other than success: status, machine code, human message.
struct ProtocolError {
  int status;
  std::string code;
  std::string message;
};

ProtocolError BadRequest(std::string message) { return {400, "bad_request", std::move(message)}; }

// One reply of the dispatcher: HTTP status and JSON body (an error body for status >= 400).
struct Reply {
  int status = 200;
  Json body;
  int retry_after_s = 0;
  std::string text;  // when set, the body already serialised (step answers) and `body` unused
};

// The reply's body as text; a step answer's text is moved out, not copied (it is most of the
// bytes a server writes).
std::string TakeBodyText(Reply& r) { return r.text.empty() ? DumpJson(r.body) : std::move(r.text); }

Reply ErrorReply(const ProtocolError& e) {
  Reply r;
  r.status = e.status;
  r.body = {{"error", {{"code", e.code}, {"message", e.message}}}};
  if (e.status == 503) r.retry_after_s = 1;
  return r;
}

// Appends one request's answer to a /v1/batch answer being built in *out (`count` requests in
// all, for the reservation).
void AppendBatchResponse(const Reply& r, size_t count, std::string* out) {
  if (out->back() == '[') {
    out->reserve(out->size() + count * (r.text.size() + 32) + 2);
  } else {
    *out += ',';
  }
  *out += R"({"status":)";
  *out += std::to_string(r.status);
  if (r.status < 300) {
    *out += R"(,"body":)";
    if (r.text.empty()) {
      *out += DumpJson(r.body);
    } else {
      *out += r.text;
    }
  } else {
    *out += R"(,"error":)";
    auto error = r.body.find("error");
    *out += error == r.body.end() ? std::string("null") : DumpJson(*error);
  }
  *out += '}';
}

// `envelope`: the body is a batch or WebSocket request object, whose "op", "session_id" and "id"
// belong to the envelope (checked by DispatchObject) and are skipped here, so the request need
// not be copied without them.
void CheckFields(const Json& body, std::initializer_list<const char*> allowed,
                 std::initializer_list<const char*> required = {}, bool envelope = false) {
  if (!body.is_object()) throw BadRequest("the body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (envelope && (it.key() == "op" || it.key() == "session_id" || it.key() == "id")) continue;
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw BadRequest(
          "unknown field '" + it.key() + "'" +
          (list.empty() ? std::string("; this request takes none") : "; known: " + list));
    }
  }
  for (const char* r : required) {
    if (!body.contains(r)) throw BadRequest(std::string("missing field '") + r + "'");
  }
}

std::string FieldString(const Json& body, const char* name, const std::string& fallback) {
  if (!body.contains(name)) return fallback;
  if (!body[name].is_string())
    throw BadRequest(std::string("field '") + name + "' must be a string");
  return body[name].get<std::string>();
}

// Status codes the metrics keep apart.
constexpr std::array<int, 13> kStatuses = {200, 201, 400, 401, 404, 405, 408,
                                           409, 413, 431, 500, 503, 0};
size_t StatusIndex(int status) {
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatuses.size() - 1;
}
enum Op : size_t {
  kCreate,
  kReset,
  kStep,
  kClose,
  kBatch,
  kSpec,
  kHealth,
  kMetrics,
  kWs,
  kOther,
  kNumOps
};
constexpr std::array<const char*, kNumOps> kOpNames = {
    "create", "reset", "step", "close", "batch", "spec", "healthz", "metrics", "ws", "other"};
// Step latency histogram bucket bounds (seconds).
constexpr std::array<double, 10> kBuckets = {1e-5, 3e-5, 1e-4, 3e-4, 1e-3,
                                             3e-3, 1e-2, 3e-2, 1e-1, 1.0};

struct Session {
  std::mutex mu;  // one request at a time on this env
  std::unique_ptr<Env> env;
  bool active = false;  // reset and not finished
  bool ever_reset = false;
  bool closed = false;  // removed from the table; late requests answer 404
  uint64_t owner = 0;   // WebSocket connection that created it (0: HTTP)
  std::atomic<int64_t> last_used_ns{0};
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

class EnvServer::Impl {
 public:
  explicit Impl(EnvServerOptions options) : opt_(std::move(options)) {
    if (opt_.threads < 1 || opt_.threads > 256) {
      throw ConfigError("threads", "must be in [1, 256], got " + std::to_string(opt_.threads));
    }
    if (!opt_.env_config.is_object()) throw ConfigError("config", "must be a JSON object");
    spec_ = EnvRegistry::Make(opt_.env, opt_.env_config)->Spec();
    spec_json_ = spec_.ToJson();
    for (auto& c : counts_) {
      for (auto& x : c) x = 0;
    }
    for (auto& b : step_buckets_) b = 0;
  }

  ~Impl() { Stop(); }

  void Start() {
    TURNWISE_CHECK(!started_);
    boost::system::error_code ec;
    auto address = net::ip::make_address(opt_.host, ec);
    if (ec) throw ConfigError("host", "'" + opt_.host + "' is not an IP address");
    tcp::endpoint endpoint(address, opt_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Unavailable("env server: cannot listen on " + opt_.host + ":" +
                        std::to_string(opt_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    started_ = true;
    // One io_context per thread, each run by its own thread: a connection lives on one context,
    // so its handlers never need a strand or a lock (the session table has its own mutex).
    contexts_.push_back(&ioc_);
    for (int i = 1; i < opt_.threads; ++i) {
      extra_contexts_.push_back(std::make_unique<net::io_context>(1));
      contexts_.push_back(extra_contexts_.back().get());
    }
    Accept();
    ArmSweep();
    for (net::io_context* ctx : contexts_) {
      guards_.emplace_back(net::make_work_guard(*ctx));
      threads_.emplace_back([ctx] { ctx->run(); });
    }
  }

  void Stop() {
    {
      std::lock_guard lock(stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    stop_cv_.notify_all();
    if (started_) {
      guards_.clear();
      for (net::io_context* ctx : contexts_) ctx->stop();
      for (auto& t : threads_) t.join();
      threads_.clear();
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    }
  }

  void Wait() {
    net::signal_set signals(ioc_, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) {
        std::lock_guard lock(stop_mu_);
        signalled_ = true;
        stop_cv_.notify_all();
      }
    });
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait(lock, [this] { return stopped_ || signalled_; });
    lock.unlock();
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }

  uint16_t port() const { return port_; }
  const EnvServerOptions& options() const { return opt_; }

  EnvServerCounters counters() const {
    EnvServerCounters c;
    c.sessions_active = sessions_active_.load();
    c.sessions_created = sessions_created_.load();
    c.sessions_expired = sessions_expired_.load();
    c.connections_active = connections_active_.load();
    for (size_t op = 0; op < kNumOps; ++op) {
      for (size_t s = 0; s < kStatuses.size(); ++s) {
        int64_t n = counts_[op][s].load();
        c.requests += n;
        if (kStatuses[s] >= 400 && kStatuses[s] < 500) c.errors_4xx += n;
        if (kStatuses[s] >= 500) c.errors_5xx += n;
      }
    }
    c.steps = steps_.load();
    return c;
  }

  // ---- the protocol, independent of the transport ----

  // Runs one request of `op` ("create", "reset", "step", "close") with its fields (the
  // request object without op, session_id and id). `owner` is the WebSocket connection, 0 for
  // HTTP.
  Reply Dispatch(const std::string& op, const std::string& session_id, const Json& fields,
                 uint64_t owner, bool envelope = false) {
    Op counted = kOther;
    Reply reply;
    try {
      if (op == "create") {
        counted = kCreate;
        reply = Create(fields, owner, envelope);
      } else if (op == "reset") {
        counted = kReset;
        reply = Reset(session_id, fields, envelope);
      } else if (op == "step") {
        counted = kStep;
        reply = StepOp(session_id, fields, envelope);
      } else if (op == "close") {
        counted = kClose;
        CheckFields(fields, {}, {}, envelope);
        reply = Close(session_id);
      } else {
        throw BadRequest("unknown op '" + op + "'; known: create, reset, step, close");
      }
    } catch (const ProtocolError& e) {
      reply = ErrorReply(e);
    }
    Count(counted, reply.status);
    return reply;
  }

  // A batch or WebSocket request object: {"op": ..., "session_id": ..., ...fields}.
  Reply DispatchObject(const Json& request, uint64_t owner) {
    if (!request.is_object()) {
      Count(kOther, 400);
      return ErrorReply(BadRequest("each request must be a JSON object"));
    }
    auto op = request.find("op");
    if (op == request.end() || !op->is_string()) {
      Count(kOther, 400);
      return ErrorReply(BadRequest("each request needs a string field 'op'"));
    }
    static const std::string kNone;
    const std::string* sid = &kNone;
    if (auto s = request.find("session_id"); s != request.end()) {
      if (!s->is_string()) {
        Count(kOther, 400);
        return ErrorReply(BadRequest("field 'session_id' must be a string"));
      }
      sid = &s->get_ref<const std::string&>();
    } else if (*op != "create") {
      Count(kOther, 400);
      return ErrorReply(BadRequest("op '" + op->get<std::string>() + "' needs a 'session_id'"));
    }
    return Dispatch(op->get_ref<const std::string&>(), *sid, request, owner, /*envelope=*/true);
  }

  Reply Batch(const Json& body) {
    Reply reply;
    try {
      CheckFields(body, {"requests"}, {"requests"});
      if (!body["requests"].is_array()) throw BadRequest("field 'requests' must be an array");
    } catch (const ProtocolError& e) {
      Count(kBatch, e.status);
      return ErrorReply(e);
    }
    std::string& out = reply.text;
    out = R"({"responses":[)";
    const size_t n = body["requests"].size();
    for (const Json& request : body["requests"]) {
      AppendBatchResponse(DispatchObject(request, 0), n, &out);
    }
    out += "]}";
    Count(kBatch, 200);
    return reply;
  }

  // Batch() for a body whose requests are all steps and resets with their usual fields, read
  // with a scanner instead of a Json tree (the rollout client's hot path). Returns false, having
  // run nothing, for any other body — other ops or fields, duplicate keys, anything malformed or
  // mistyped — which then goes through Batch() and its messages.
  bool FastBatch(std::string_view body, Reply* reply) {
    struct Request {
      bool reset = false;
      std::string session_id;
      std::string action;
      ResetOptions options;
    };
    std::vector<Request> requests;
    envs_internal::JsonScanner in(body);
    std::string key, op;
    if (!in.Consume('{') || !in.String(&key) || key != "requests" || !in.Consume(':') ||
        !in.Consume('[')) {
      return false;
    }
    if (!in.Consume(']')) {
      do {
        if (!in.Consume('{')) return false;
        Request& r = requests.emplace_back();
        bool seen[6] = {};  // op, session_id, action, seed, task_id, split
        do {
          if (!in.String(&key) || !in.Consume(':')) return false;
          static constexpr std::string_view kKeys[6] = {"op",   "session_id", "action",
                                                        "seed", "task_id",    "split"};
          size_t k = 0;
          while (k < 6 && key != kKeys[k]) ++k;
          if (k == 6 || std::exchange(seen[k], true)) return false;
          if (k == 3) {
            Json seed;
            if (!in.Number(&seed) || !seed.is_number_unsigned()) return false;
            r.options.seed = seed.get<uint64_t>();
            continue;
          }
          std::string* field = k == 0   ? &op
                               : k == 1 ? &r.session_id
                               : k == 2 ? &r.action
                               : k == 4 ? &r.options.task_id
                                        : &r.options.split;
          if (!in.String(field)) return false;
        } while (in.Consume(','));
        if (!in.Consume('}') || !seen[0] || !seen[1]) return false;
        r.reset = op == "reset";
        if (r.reset ? seen[2] : (op != "step" || !seen[2] || seen[3] || seen[4] || seen[5])) {
          return false;
        }
        if (r.reset && !seen[5]) r.options.split = "train";
      } while (in.Consume(','));
      if (!in.Consume(']')) return false;
    }
    if (!in.Consume('}') || !in.AtEnd()) return false;

    std::string& out = reply->text;
    out = R"({"responses":[)";
    for (const Request& r : requests) {
      Reply one;
      try {
        one = r.reset ? ResetSession(r.session_id, r.options) : StepSession(r.session_id, r.action);
      } catch (const ProtocolError& e) {
        one = ErrorReply(e);
      }
      Count(r.reset ? kReset : kStep, one.status);
      AppendBatchResponse(std::move(one), requests.size(), &out);
    }
    out += "]}";
    Count(kBatch, 200);
    return true;
  }

  Json SpecJson() const { return spec_json_; }

  std::string MetricsText() const {
    std::ostringstream out;
    out << "# HELP turnwise_env_server_requests_total Requests answered, by operation and HTTP "
           "status.\n"
        << "# TYPE turnwise_env_server_requests_total counter\n";
    for (size_t op = 0; op < kNumOps; ++op) {
      for (size_t s = 0; s < kStatuses.size(); ++s) {
        int64_t n = counts_[op][s].load();
        if (n == 0) continue;
        out << "turnwise_env_server_requests_total{op=\"" << kOpNames[op] << "\",status=\""
            << (kStatuses[s] ? std::to_string(kStatuses[s]) : "other") << "\"} " << n << "\n";
      }
    }
    out << "# HELP turnwise_env_server_sessions_active Sessions open now.\n"
        << "# TYPE turnwise_env_server_sessions_active gauge\n"
        << "turnwise_env_server_sessions_active{env=\"" << opt_.env << "\"} "
        << sessions_active_.load() << "\n"
        << "# HELP turnwise_env_server_sessions_created_total Sessions created.\n"
        << "# TYPE turnwise_env_server_sessions_created_total counter\n"
        << "turnwise_env_server_sessions_created_total " << sessions_created_.load() << "\n"
        << "# HELP turnwise_env_server_sessions_expired_total Sessions closed for being idle.\n"
        << "# TYPE turnwise_env_server_sessions_expired_total counter\n"
        << "turnwise_env_server_sessions_expired_total " << sessions_expired_.load() << "\n"
        << "# HELP turnwise_env_server_connections_active Open client connections (HTTP and "
           "WebSocket).\n"
        << "# TYPE turnwise_env_server_connections_active gauge\n"
        << "turnwise_env_server_connections_active " << connections_active_.load() << "\n"
        << "# HELP turnwise_env_server_step_seconds Time the environment took per step.\n"
        << "# TYPE turnwise_env_server_step_seconds histogram\n";
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += step_buckets_[i].load();
      out << "turnwise_env_server_step_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << cumulative
          << "\n";
    }
    cumulative += step_buckets_[kBuckets.size()].load();
    char sum[64];
    std::snprintf(sum, sizeof(sum), "%.9f", static_cast<double>(step_ns_sum_.load()) * 1e-9);
    out << "turnwise_env_server_step_seconds_bucket{le=\"+Inf\"} " << cumulative << "\n"
        << "turnwise_env_server_step_seconds_sum " << sum << "\n"
        << "turnwise_env_server_step_seconds_count " << cumulative << "\n";
    return out.str();
  }

  void Count(Op op, int status) {
    counts_[op][StatusIndex(status)].fetch_add(1, std::memory_order_relaxed);
  }

  // Closes every session a WebSocket connection created (when it goes away).
  void CloseOwnedSessions(uint64_t owner) {
    std::vector<std::shared_ptr<Session>> owned;
    {
      std::lock_guard lock(table_mu_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second->owner == owner) {
          owned.push_back(it->second);
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
      sessions_active_.store(static_cast<int64_t>(sessions_.size()));
    }
    for (auto& s : owned) Retire(*s);
  }

  uint64_t NextOwnerId() { return next_owner_.fetch_add(1) + 1; }
  void ConnectionOpened() { connections_active_.fetch_add(1); }
  void ConnectionClosed() { connections_active_.fetch_sub(1); }
  bool Authorized(const http::request<http::string_body>& req) const {
    if (opt_.token.empty()) return true;
    auto it = req.find(http::field::authorization);
    if (it == req.end()) return false;
    std::string_view got(it->value().data(), it->value().size());
    std::string want = "Bearer " + opt_.token;
    if (got.size() != want.size()) return false;
    unsigned diff = 0;  // constant time in the token's length
    for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned>(got[i] ^ want[i]);
    return diff == 0;
  }

 private:
  Reply Create(const Json& fields, uint64_t owner, bool envelope) {
    CheckFields(fields, {"config"}, {}, envelope);
    Json config = opt_.env_config;
    if (fields.contains("config")) {
      if (!fields["config"].is_object()) throw BadRequest("field 'config' must be an object");
      config.merge_patch(fields["config"]);
    }
    if (sessions_active_.load() >= opt_.max_sessions) {
      throw ProtocolError{503, "unavailable",
                          "session limit of " + std::to_string(opt_.max_sessions) +
                              " reached; close sessions or retry"};
    }
    auto session = std::make_shared<Session>();
    try {
      session->env = EnvRegistry::Make(opt_.env, config);
    } catch (const Error& e) {
      throw BadRequest(std::string("config: ") + e.what());
    }
    session->owner = owner;
    session->last_used_ns = NowNs();
    std::string id;
    {
      std::lock_guard lock(table_mu_);
      if (static_cast<int64_t>(sessions_.size()) >= opt_.max_sessions) {
        throw ProtocolError{503, "unavailable",
                            "session limit of " + std::to_string(opt_.max_sessions) +
                                " reached; close sessions or retry"};
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "s-%08llu", static_cast<unsigned long long>(++next_session_));
      id = buf;
      sessions_.emplace(id, session);
      sessions_active_.store(static_cast<int64_t>(sessions_.size()));
    }
    sessions_created_.fetch_add(1);
    Reply r;
    r.status = 201;
    r.body = {{"session_id", id}};
    return r;
  }

  std::shared_ptr<Session> Find(const std::string& id) {
    std::lock_guard lock(table_mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end())
      throw ProtocolError{404, "not_found", "unknown session '" + id + "'"};
    return it->second;
  }

  Reply Reset(const std::string& id, const Json& fields, bool envelope) {
    CheckFields(fields, {"seed", "task_id", "split"}, {}, envelope);
    ResetOptions o;
    if (fields.contains("seed")) {
      const Json& seed = fields["seed"];
      if (!seed.is_number_integer() ||
          (seed.is_number_integer() && !seed.is_number_unsigned() && seed.get<int64_t>() < 0)) {
        throw BadRequest("field 'seed' must be a non-negative integer");
      }
      o.seed = seed.get<uint64_t>();
    }
    o.task_id = FieldString(fields, "task_id", "");
    o.split = FieldString(fields, "split", "train");
    return ResetSession(id, o);
  }

  // Reset with its fields read and checked.
  Reply ResetSession(const std::string& id, const ResetOptions& o) {
    if (!spec_.splits.empty() && !spec_.splits.count(o.split)) {
      std::string known;
      for (const auto& [name, n] : spec_.splits) known += (known.empty() ? "" : ", ") + name;
      throw BadRequest("unknown split '" + o.split + "'; known: " + known);
    }
    auto session = Find(id);
    std::lock_guard lock(session->mu);
    if (session->closed) throw ProtocolError{404, "not_found", "unknown session '" + id + "'"};
    session->last_used_ns = NowNs();
    StepResult s = RunEnv(id, *session, [&](Env& env) { return env.Reset(o); });
    session->active = !s.done();
    session->ever_reset = true;
    Reply r;
    r.text = s.ToJsonText();
    return r;
  }

  Reply StepOp(const std::string& id, const Json& fields, bool envelope) {
    CheckFields(fields, {"action"}, {"action"}, envelope);
    if (!fields["action"].is_string()) throw BadRequest("field 'action' must be a string");
    return StepSession(id, fields["action"].get_ref<const std::string&>());
  }

  // A step with its fields read and checked.
  Reply StepSession(const std::string& id, const std::string& action) {
    auto session = Find(id);
    std::lock_guard lock(session->mu);
    if (session->closed) throw ProtocolError{404, "not_found", "unknown session '" + id + "'"};
    session->last_used_ns = NowNs();
    if (!session->ever_reset)
      throw ProtocolError{409, "conflict", "session '" + id + "' was never reset"};
    if (!session->active) {
      throw ProtocolError{409, "conflict",
                          "the episode of session '" + id + "' has finished; reset it first"};
    }
    auto t0 = Clock::now();
    StepResult s = RunEnv(id, *session, [&](Env& env) { return env.Step(action); });
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    RecordStep(ns);
    if (s.done()) session->active = false;
    Reply r;
    r.text = s.ToJsonText();
    return r;
  }

  // Runs an env call; maps its errors to protocol answers. An unexpected failure closes the
  // session (its env may be in any state) and answers 500.
  template <typename F>
  StepResult RunEnv(const std::string& id, Session& session, F&& call) {
    try {
      return call(*session.env);
    } catch (const InvalidArgument& e) {
      throw BadRequest(e.what());
    } catch (const NotFound& e) {
      throw BadRequest(e.what());
    } catch (const FailedPrecondition& e) {
      throw ProtocolError{409, "conflict", e.what()};
    } catch (const std::exception& e) {
      TURNWISE_LOG_WARN("env server: session {} failed and is closed: {}", id, e.what());
      {
        std::lock_guard lock(table_mu_);
        sessions_.erase(id);
        sessions_active_.store(static_cast<int64_t>(sessions_.size()));
      }
      session.closed = true;
      throw ProtocolError{
          500, "internal",
          std::string("the environment failed: ") + e.what() + "; session '" + id + "' is closed"};
    }
  }

  Reply Close(const std::string& id) {
    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(table_mu_);
      auto it = sessions_.find(id);
      if (it == sessions_.end())
        throw ProtocolError{404, "not_found", "unknown session '" + id + "'"};
      session = it->second;
      sessions_.erase(it);
      sessions_active_.store(static_cast<int64_t>(sessions_.size()));
    }
    Retire(*session);
    Reply r;
    r.body = {{"closed", true}};
    return r;
  }

  // Marks a session removed from the table as closed (after any request running on it).
  void Retire(Session& s) {
    std::lock_guard lock(s.mu);
    s.closed = true;
    s.env.reset();
  }

  void RecordStep(int64_t ns) {
    steps_.fetch_add(1, std::memory_order_relaxed);
    step_ns_sum_.fetch_add(ns, std::memory_order_relaxed);
    double s = static_cast<double>(ns) * 1e-9;
    size_t i = 0;
    while (i < kBuckets.size() && s > kBuckets[i]) ++i;
    step_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }

  // Idle-session expiry: a sweep every second (or idle_timeout/4 when shorter).
  void ArmSweep() {
    auto period = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(1000),
        std::max<std::chrono::milliseconds>(std::chrono::milliseconds(10), opt_.idle_timeout / 4));
    sweep_timer_.expires_after(period);
    sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      Sweep();
      ArmSweep();
    });
  }

  void Sweep() {
    int64_t cutoff =
        NowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.idle_timeout).count();
    std::vector<std::shared_ptr<Session>> expired;
    {
      std::lock_guard lock(table_mu_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second->last_used_ns.load() < cutoff && it->second->mu.try_lock()) {
          it->second->mu.unlock();
          expired.push_back(it->second);
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
      sessions_active_.store(static_cast<int64_t>(sessions_.size()));
    }
    for (auto& s : expired) Retire(*s);
    sessions_expired_.fetch_add(static_cast<int64_t>(expired.size()));
  }

  void Accept();

  EnvServerOptions opt_;
  EnvSpec spec_;
  Json spec_json_;

  std::mutex table_mu_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  uint64_t next_session_ = 0;
  std::atomic<uint64_t> next_owner_{0};

  std::atomic<int64_t> sessions_active_{0}, sessions_created_{0}, sessions_expired_{0};
  std::atomic<int64_t> connections_active_{0};
  std::atomic<int64_t> steps_{0}, step_ns_sum_{0};
  std::array<std::array<std::atomic<int64_t>, kStatuses.size()>, kNumOps> counts_;
  std::array<std::atomic<int64_t>, kBuckets.size() + 1> step_buckets_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  bool signalled_ = false;
  bool started_ = false;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;

  // Declared last, destroyed first: pending handlers (and the connections they own) go away
  // while the session table they touch still exists.
  net::io_context ioc_{1};
  std::vector<std::unique_ptr<net::io_context>> extra_contexts_;
  std::vector<net::io_context*> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  size_t next_context_ = 0;
  tcp::acceptor acceptor_{ioc_};
  net::steady_timer sweep_timer_{ioc_};
  net::steady_timer accept_retry_{acceptor_.get_executor()};
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response MakeResponse(const Request& req, Reply reply) {
  Response res{static_cast<http::status>(reply.status), req.version()};
  res.set(http::field::server, "turnwise-env-server");
  res.set(http::field::content_type, "application/json");
  if (reply.retry_after_s > 0)
    res.set(http::field::retry_after, std::to_string(reply.retry_after_s));
  res.keep_alive(req.keep_alive());
  res.body() = TakeBodyText(reply);
  res.prepare_payload();
  return res;
}

Reply Error(int status, const char* code, std::string message) {
  return ErrorReply(ProtocolError{status, code, std::move(message)});
}

// One WebSocket client: each text message is a request with an `id`; answers echo it.
class WsConnection : public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(EnvServer::Impl* server, beast::tcp_stream&& stream)
      : server_(server), ws_(std::move(stream)), owner_(server->NextOwnerId()) {
    server_->ConnectionOpened();  // the HTTP connection it came from counts itself out
  }
  ~WsConnection() {
    server_->CloseOwnedSessions(owner_);
    server_->ConnectionClosed();
  }

  void Run(Request req) {
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = server_->options().read_timeout;
    t.idle_timeout = server_->options().keepalive_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(static_cast<size_t>(server_->options().max_body_bytes));
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "turnwise-env-server");
    }));
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Read();
    });
  }

 private:
  void Read() {
    buffer_.clear();
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == websocket::error::message_too_big) {
        self->server_->Count(kWs, 413);
        self->Write(
            DumpJson(Json{
                {"id", nullptr},
                {"status", 413},
                {"error", {{"code", "too_large"}, {"message", "message larger than the limit"}}}}),
            /*close_after=*/true);
        return;
      }
      if (ec) return;  // closed, reset or timed out: the destructor cleans up
      self->OnMessage();
    });
  }

  void OnMessage() {
    std::string text = beast::buffers_to_string(buffer_.data());
    Json request = Json::parse(text, nullptr, false);
    Json id = nullptr;
    Reply r;
    if (request.is_discarded()) {
      r = Error(400, "bad_request", "message is not valid JSON");
      server_->Count(kWs, 400);
    } else {
      if (request.is_object() && request.contains("id")) id = request["id"];
      r = server_->DispatchObject(request, owner_);
    }
    std::string answer;
    answer.reserve(64 + r.text.size());
    answer += R"({"id":)";
    answer += DumpJson(id);
    answer += R"(,"status":)";
    answer += std::to_string(r.status);
    if (r.status < 300) {
      answer += R"(,"body":)";
      if (r.text.empty()) {
        answer += DumpJson(r.body);
      } else {
        answer += r.text;
      }
    } else {
      answer += R"(,"error":)";
      answer += DumpJson(r.body["error"]);
    }
    answer += '}';
    Write(std::move(answer), false);
  }

  void Write(std::string answer, bool close_after) {
    out_ = std::move(answer);
    ws_.text(true);
    ws_.async_write(
        net::buffer(out_), [self = shared_from_this(), close_after](beast::error_code ec, size_t) {
          if (ec) return;
          if (close_after) {
            self->ws_.async_close(websocket::close_code::too_big, [self](beast::error_code) {});
            return;
          }
          self->Read();
        });
  }

  EnvServer::Impl* server_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::string out_;
  uint64_t owner_;
};

// One HTTP/1.1 connection: requests one after another (keep-alive), a deadline on each read.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(EnvServer::Impl* server, tcp::socket&& socket)
      : server_(server), stream_(std::move(socket)), ticker_(stream_.get_executor()) {
    server_->ConnectionOpened();
  }
  ~HttpConnection() { server_->ConnectionClosed(); }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->Tick();
      self->ReadRequest();
    });
  }

 private:
  // Deadlines without a timer operation per request: the connection notes what it is doing and
  // since when, and a ticker checks a few times per read timeout. Reading a request's first byte
  // may wait the keep-alive timeout (then the connection closes quietly); once bytes arrived, the
  // rest must come within the read timeout (then 408); a write must finish within it too.
  enum class Phase { kIdle, kReading, kBusy, kWriting, kClosed };

  void SetPhase(Phase p) {
    phase_ = p;
    phase_since_ = Clock::now();
  }

  void Tick() {
    const auto& o = server_->options();
    auto period = std::clamp<std::chrono::milliseconds>(
        o.read_timeout / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
    ticker_.expires_after(period);
    ticker_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->phase_ == Phase::kClosed) return;
      auto elapsed = Clock::now() - self->phase_since_;
      const auto& opt = self->server_->options();
      bool expired = (self->phase_ == Phase::kIdle && elapsed > opt.keepalive_timeout) ||
                     (self->phase_ == Phase::kReading && elapsed > opt.read_timeout) ||
                     (self->phase_ == Phase::kWriting && elapsed > opt.read_timeout);
      if (expired) {
        self->timed_out_ = self->phase_ == Phase::kReading;
        boost::system::error_code ignored;
        if (self->phase_ == Phase::kWriting) {
          self->stream_.socket().close(ignored);
        } else {
          self->stream_.socket().cancel(ignored);
        }
      }
      self->Tick();
    });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(static_cast<uint64_t>(server_->options().max_body_bytes));
    parser_->header_limit(static_cast<uint32_t>(server_->options().max_header_bytes));
    timed_out_ = false;
    SetPhase(Phase::kIdle);
    ReadSome();
  }

  void ReadSome() {
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (!ec && !self->parser_->is_done()) {
                              if (self->phase_ == Phase::kIdle && self->parser_->got_some())
                                self->SetPhase(Phase::kReading);
                              return self->ReadSome();
                            }
                            self->SetPhase(Phase::kBusy);
                            self->OnRead(ec, self->timed_out_);
                          });
  }

  void OnRead(beast::error_code ec, bool timed_out) {
    if (timed_out) {
      if (!parser_->got_some()) return Shutdown();
      server_->Count(kOther, 408);
      return WriteError(408, "timeout", "the request did not arrive within the read timeout");
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof) return Shutdown();
    if (ec == http::error::body_limit) {
      server_->Count(kOther, 413);
      return WriteError(413, "too_large",
                        "body larger than the limit of " +
                            std::to_string(server_->options().max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      server_->Count(kOther, 431);
      return WriteError(431, "too_large",
                        "headers larger than the limit of " +
                            std::to_string(server_->options().max_header_bytes) + " bytes");
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category()) {
      server_->Count(kOther, 400);
      return WriteError(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    if (ec) return Shutdown();

    Request req = parser_->release();
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);

    if (websocket::is_upgrade(req)) {
      if (target != "/v1/ws") {
        server_->Count(kWs, 404);
        return Write(MakeResponse(req, Error(404, "not_found", "WebSocket is served at /v1/ws")),
                     false);
      }
      if (!server_->Authorized(req)) {
        server_->Count(kWs, 401);
        return Write(MakeResponse(req, Error(401, "unauthorized", "missing or wrong bearer token")),
                     false);
      }
      server_->Count(kWs, 200);
      SetPhase(Phase::kClosed);
      ticker_.cancel();
      std::make_shared<WsConnection>(server_, std::move(stream_))->Run(std::move(req));
      return;
    }
    Respond(req, target);
  }

  void Respond(const Request& req, std::string_view target) {
    auto method = req.method();
    if (target == "/healthz") {
      if (method != http::verb::get) return WriteReply(req, MethodNotAllowed(kHealth, "GET"));
      server_->Count(kHealth, 200);
      return WriteReply(req, Reply{200, Json{{"status", "ok"}}, 0});
    }
    if (!server_->Authorized(req)) {
      server_->Count(kOther, 401);
      Response res = MakeResponse(req, Error(401, "unauthorized", "missing or wrong bearer token"));
      res.set(http::field::www_authenticate, "Bearer");
      return Write(std::move(res), false);
    }
    if (target == "/metrics") {
      if (method != http::verb::get) return WriteReply(req, MethodNotAllowed(kMetrics, "GET"));
      server_->Count(kMetrics, 200);
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.keep_alive(req.keep_alive());
      res.body() = server_->MetricsText();
      res.prepare_payload();
      return Write(std::move(res), false);
    }
    if (target == "/v1/spec") {
      if (method != http::verb::get) return WriteReply(req, MethodNotAllowed(kSpec, "GET"));
      server_->Count(kSpec, 200);
      return WriteReply(req, Reply{200, server_->SpecJson(), 0});
    }
    if (target == "/v1/ws") {
      server_->Count(kWs, 400);
      return WriteReply(req, Error(400, "bad_request", "/v1/ws needs a WebSocket upgrade request"));
    }
    if (target == "/v1/batch") {
      if (method != http::verb::post) return WriteReply(req, MethodNotAllowed(kBatch, "POST"));
      if (Reply fast; server_->FastBatch(req.body(), &fast))
        return WriteReply(req, std::move(fast));
      Json body;
      if (!ParseBody(req, &body)) {
        server_->Count(kBatch, 400);
        return WriteReply(req, Error(400, "bad_request", "body is not valid JSON"));
      }
      return WriteReply(req, server_->Batch(body));
    }
    if (target == "/v1/sessions") {
      if (method != http::verb::post) return WriteReply(req, MethodNotAllowed(kCreate, "POST"));
      return WriteReply(req, DispatchBody(req, "create", ""));
    }
    constexpr std::string_view kPrefix = "/v1/sessions/";
    if (target.substr(0, kPrefix.size()) == kPrefix) {
      std::string_view rest = target.substr(kPrefix.size());
      size_t slash = rest.find('/');
      std::string id(rest.substr(0, slash));
      std::string_view action =
          slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (!id.empty() && action.empty()) {
        if (method != http::verb::delete_)
          return WriteReply(req, MethodNotAllowed(kClose, "DELETE"));
        return WriteReply(req, server_->Dispatch("close", id, Json::object(), 0));
      }
      if (!id.empty() && (action == "reset" || action == "step")) {
        if (method != http::verb::post)
          return WriteReply(req, MethodNotAllowed(action == "reset" ? kReset : kStep, "POST"));
        return WriteReply(req, DispatchBody(req, std::string(action), id));
      }
    }
    server_->Count(kOther, 404);
    WriteReply(req, Error(404, "not_found", "no such endpoint: " + std::string(target)));
  }

  static bool ParseBody(const Request& req, Json* body) {
    if (req.body().empty()) {
      *body = Json::object();
      return true;
    }
    *body = Json::parse(req.body(), nullptr, false);
    return !body->is_discarded();
  }

  Reply DispatchBody(const Request& req, const std::string& op, const std::string& id) {
    Json body;
    if (!ParseBody(req, &body)) {
      server_->Count(op == "create" ? kCreate : op == "reset" ? kReset : kStep, 400);
      return Error(400, "bad_request", "body is not valid JSON");
    }
    if (!body.is_object()) {
      server_->Count(op == "create" ? kCreate : op == "reset" ? kReset : kStep, 400);
      return Error(400, "bad_request", "the body must be a JSON object");
    }
    return server_->Dispatch(op, id, body, 0);
  }

  Reply MethodNotAllowed(Op op, const char* allowed) {
    server_->Count(op, 405);
    return Error(405, "method_not_allowed", std::string("this endpoint takes ") + allowed);
  }

  void WriteReply(const Request& req, Reply reply) {
    Write(MakeResponse(req, std::move(reply)), false);
  }

  void WriteError(int status, const char* code, std::string message) {
    Request dummy;
    dummy.version(11);
    dummy.keep_alive(false);
    Write(MakeResponse(dummy, Error(status, code, std::move(message))), true);
  }

  void Write(Response res, bool close_after) {
    res_ = std::make_shared<Response>(std::move(res));
    if (close_after) res_->keep_alive(false);
    SetPhase(Phase::kWriting);
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->SetPhase(Phase::kBusy);
      bool keep = self->res_->keep_alive();
      self->res_.reset();
      if (ec || !keep) return self->Shutdown();
      self->ReadRequest();
    });
  }

  void Shutdown() {
    SetPhase(Phase::kClosed);
    boost::system::error_code ignored;
    ticker_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  EnvServer::Impl* server_;
  beast::tcp_stream stream_;
  net::steady_timer ticker_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> res_;
  Phase phase_ = Phase::kIdle;
  Clock::time_point phase_since_ = Clock::now();
  bool timed_out_ = false;
};

}  // namespace

void EnvServer::Impl::Accept() {
  net::io_context& target = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(target, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpConnection>(this, std::move(socket))->Start();
      Accept();
      return;
    }
    // Out of descriptors or similar: keep accepting, a little later.
    TURNWISE_LOG_WARN("env server: accept failed: {}", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](const boost::system::error_code& e) {
      if (!e) Accept();
    });
  });
}

EnvServer::EnvServer(EnvServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
EnvServer::~EnvServer() { impl_->Stop(); }
void EnvServer::Start() { impl_->Start(); }
void EnvServer::Stop() { impl_->Stop(); }
void EnvServer::Wait() { impl_->Wait(); }
uint16_t EnvServer::port() const { return impl_->port(); }
std::string EnvServer::base_url() const {
  return "http://" + impl_->options().host + ":" + std::to_string(impl_->port());
}
EnvServerCounters EnvServer::counters() const { return impl_->counters(); }

}  // namespace turnwise
