#include "envs/remote_env.h"

#include <httplib.h>

#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "envs/agentgym_env.h"
#include "envs/internal/remote_session.h"
#include "envs/internal/ws_client.h"
#include "envs/openenv_env.h"

namespace turnwise {
namespace {

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add("url", FieldType::kString, Json(), "env server base URL, http://host:port");
    s.Add("protocol", FieldType::kString, "turnwise", "turnwise, agentgym or openenv");
    s.Add("config", FieldType::kOpen, Json::object(), "env config sent when a session is created");
    s.Add({.path = "timeout_s",
           .type = FieldType::kNumber,
           .default_value = 30.0,
           .help = "per-request timeout",
           .min = 0.001});
    s.Add({.path = "retries",
           .type = FieldType::kInt,
           .default_value = 3,
           .help = "retries of transport failures",
           .min = 0,
           .max = 100});
    s.Add({.path = "backoff_s",
           .type = FieldType::kNumber,
           .default_value = 0.1,
           .help = "first retry delay, doubled each time",
           .min = 0.0});
    s.Add("token", FieldType::kString, "", "bearer token, when the server wants one");
    s.Add(
        {.path = "transport",
         .type = FieldType::kString,
         .default_value = "http",
         .help = "http (one request per call, keep-alive), websocket (one connection at /v1/ws) "
                 "or batch (in an EnvPool: the calls of all sessions on the server go "
                 "together through POST /v1/batch, driven without a thread per call; alone: "
                 "as http)",
         .choices = {"http", "websocket", "batch"}});
    s.Add({.path = "batch_connections",
           .type = FieldType::kInt,
           .default_value = 4,
           .help = "transport batch: keep-alive connections per server (a batch runs on one "
                   "server thread, so about the server's --threads)",
           .min = 1,
           .max = 64});
    s.Add({.path = "batch_max",
           .type = FieldType::kInt,
           .default_value = 256,
           .help = "transport batch: calls per HTTP request at most",
           .min = 1,
           .max = 4096});
    return s;
  }();
  return schema;
}

// Transport "http" (and "batch" outside an EnvPool). With "batch", EnvPool drives the session
// through RemoteSession instead of the blocking calls below; both share the session state.
class TurnwiseRemoteEnv : public Env, public envs_internal::RemoteSession {
 public:
  explicit TurnwiseRemoteEnv(const Json& c)
      : url_(c["url"].get<std::string>()),
        env_config_(c["config"]),
        retries_(c["retries"].get<int>()),
        backoff_(c["backoff_s"].get<double>()),
        token_(c["token"].get<std::string>()) {
    if (url_.rfind("http://", 0) != 0) {
      throw ConfigError("env.remote.url", "must start with http://, got '" + url_ + "'");
    }
    client_ = std::make_unique<httplib::Client>(url_);
    auto usec = static_cast<time_t>(c["timeout_s"].get<double>() * 1e6);
    client_->set_connection_timeout(usec / 1000000, usec % 1000000);
    client_->set_read_timeout(usec / 1000000, usec % 1000000);
    client_->set_write_timeout(usec / 1000000, usec % 1000000);
    client_->set_keep_alive(true);
    client_->set_tcp_nodelay(true);  // small requests: no Nagle delay against delayed ACKs
    if (!token_.empty()) client_->set_bearer_token_auth(token_);
    endpoint_.url = url_;
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
    endpoint_.token = token_;
    endpoint_.request_timeout = std::chrono::milliseconds(
        std::max<int64_t>(1, static_cast<int64_t>(c["timeout_s"].get<double>() * 1000)));
    endpoint_.connections = c["batch_connections"].get<int>();
    endpoint_.max_batch = c["batch_max"].get<int>();
    batched_ = c["transport"] == "batch";
  }

  ~TurnwiseRemoteEnv() override {
    if (!session_.empty() && !pool_managed_) client_->Delete("/v1/sessions/" + session_);
  }

  // RemoteSession
  bool batched() const override { return batched_; }
  const envs_internal::BatchEndpoint& endpoint() const override { return endpoint_; }
  const std::string& session_id() const override { return session_; }
  void set_session_id(std::string id) override { session_ = std::move(id); }
  const Json& create_config() const override { return env_config_; }
  void NoteReset(const ResetOptions& o, const StepResult& s) override {
    task_id_ = s.info.value("task_id", o.task_id);
    task_type_ = s.info.value("task_type", "");
  }
  void set_pool_managed() override { pool_managed_ = true; }

  StepResult Reset(const ResetOptions& o) override {
    if (session_.empty()) {
      Json r = Call("POST", "/v1/sessions", {{"config", env_config_}});
      session_ = r.at("session_id").get<std::string>();
    }
    StepResult s =
        StepResult::FromJson(Call("POST", "/v1/sessions/" + session_ + "/reset",
                                  {{"seed", o.seed}, {"task_id", o.task_id}, {"split", o.split}}));
    NoteReset(o, s);
    return s;
  }

  StepResult Step(const std::string& action) override {
    if (session_.empty()) throw FailedPrecondition("remote env: Step() before Reset()");
    return StepResult::FromJson(
        Call("POST", "/v1/sessions/" + session_ + "/step", {{"action", action}}));
  }

  EnvSpec Spec() const override {
    if (!spec_)
      spec_ =
          EnvSpec::FromJson(const_cast<TurnwiseRemoteEnv*>(this)->Call("GET", "/v1/spec", Json()));
    return *spec_;
  }

  std::string TaskId() const override { return task_id_; }
  std::string TaskType() const override { return task_type_; }

 private:
  Json Call(const std::string& method, const std::string& path, const Json& body) {
    double delay = backoff_;
    std::string reason;
    for (int attempt = 1;; ++attempt) {
      httplib::Result res = method == "GET"
                                ? client_->Get(path)
                                : client_->Post(path, DumpJson(body), "application/json");
      if (res && res->status < 500) {
        Json j = Json::parse(res->body, nullptr, false);
        if (j.is_discarded()) {
          throw FailedPrecondition("env server " + url_ + path + ": answer is not JSON (HTTP " +
                                   std::to_string(res->status) + ")");
        }
        if (res->status < 300) return j;
        std::string msg = "env server " + url_ + ": " + j["error"].value("message", res->body);
        if (res->status == 400 || res->status == 413) throw InvalidArgument(msg);
        if (res->status == 404) throw NotFound(msg);
        throw FailedPrecondition(msg);
      }
      if (res && res->status == 500) {
        Json j = Json::parse(res->body, nullptr, false);
        session_.clear();  // the server closed it
        throw FailedPrecondition(
            "env server " + url_ + ": the environment failed: " +
            (j.is_object() && j.contains("error") ? j["error"].value("message", "") : res->body));
      }
      reason = res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error());
      if (attempt > retries_) {
        throw Unavailable("env server " + url_ + ": " + reason + " after " +
                          std::to_string(attempt) + " attempts");
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      delay *= 2;
    }
  }

  std::string url_;
  Json env_config_;
  int retries_;
  double backoff_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
  std::string session_, task_id_, task_type_;
  mutable std::optional<EnvSpec> spec_;
  envs_internal::BatchEndpoint endpoint_;
  bool pool_managed_ = false;
  bool batched_ = false;
};

// The same protocol over one WebSocket (/v1/ws): each call is a message with an id, each answer
// echoes it. Sessions created on a WebSocket close with it, so a broken connection ends the
// episode: the next call throws FailedPrecondition (not retried), and the next Reset reconnects.
class TurnwiseWebSocketEnv : public Env {
 public:
  explicit TurnwiseWebSocketEnv(const Json& c)
      : url_(c["url"].get<std::string>()),
        env_config_(c["config"]),
        timeout_(
            std::chrono::milliseconds(static_cast<int64_t>(c["timeout_s"].get<double>() * 1000))),
        retries_(c["retries"].get<int>()),
        backoff_(c["backoff_s"].get<double>()),
        token_(c["token"].get<std::string>()) {
    if (url_.rfind("http://", 0) != 0) {
      throw ConfigError("env.remote.url", "must start with http://, got '" + url_ + "'");
    }
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
  }

  ~TurnwiseWebSocketEnv() override {
    if (ws_) ws_->Close();
  }

  StepResult Reset(const ResetOptions& o) override {
    if (!ws_ || !ws_->is_open()) {
      session_.clear();
      Connect();
    }
    if (session_.empty())
      session_ = Call({{"op", "create"}, {"config", env_config_}}).at("session_id");
    StepResult s = StepResult::FromJson(Call({{"op", "reset"},
                                              {"session_id", session_},
                                              {"seed", o.seed},
                                              {"task_id", o.task_id},
                                              {"split", o.split}}));
    task_id_ = s.info.value("task_id", o.task_id);
    task_type_ = s.info.value("task_type", "");
    return s;
  }

  StepResult Step(const std::string& action) override {
    if (session_.empty()) throw FailedPrecondition("remote env: Step() before Reset()");
    if (!ws_ || !ws_->is_open()) {
      session_.clear();
      throw FailedPrecondition("env server " + url_ +
                               ": the WebSocket closed, and its session with it");
    }
    return StepResult::FromJson(
        Call({{"op", "step"}, {"session_id", session_}, {"action", action}}));
  }

  EnvSpec Spec() const override {
    if (!spec_) {
      httplib::Client client(url_);
      if (!token_.empty()) client.set_bearer_token_auth(token_);
      auto r = client.Get("/v1/spec");
      if (!r || r->status != 200) throw Unavailable("env server " + url_ + ": GET /v1/spec failed");
      spec_ = EnvSpec::FromJson(Json::parse(r->body));
    }
    return *spec_;
  }

  std::string TaskId() const override { return task_id_; }
  std::string TaskType() const override { return task_type_; }

 private:
  void Connect() {
    envs_internal::WsClient::Headers headers;
    if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
    std::string ws_url = "ws://" + url_.substr(7) + "/v1/ws";
    double delay = backoff_;
    for (int attempt = 1;; ++attempt) {
      try {
        ws_ = envs_internal::WsClient::Connect(ws_url, headers, timeout_);
        return;
      } catch (const Unavailable& e) {
        if (attempt > retries_) {
          throw Unavailable("env server " + url_ + ": " + e.what() + " after " +
                            std::to_string(attempt) + " attempts");
        }
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      delay *= 2;
    }
  }

  Json Call(Json request) {
    int64_t id = ++next_id_;
    request["id"] = id;
    Json answer;
    try {
      ws_->SendText(DumpJson(request));
      answer = Json::parse(ws_->ReceiveText(timeout_), nullptr, false);
    } catch (const Unavailable& e) {
      session_.clear();
      throw FailedPrecondition(std::string("env server ") + url_ + ": " + e.what() +
                               "; the session closed with it");
    }
    if (!answer.is_object() || answer.value("id", Json()) != id) {
      throw FailedPrecondition("env server " + url_ + ": malformed WebSocket answer");
    }
    int status = answer.value("status", 0);
    if (status >= 200 && status < 300) return answer["body"];
    std::string msg = "env server " + url_ + ": " +
                      (answer.contains("error") ? answer["error"].value("message", "")
                                                : std::string("HTTP ") + std::to_string(status));
    if (status == 400 || status == 413) throw InvalidArgument(msg);
    if (status == 404) throw NotFound(msg);
    if (status == 500) session_.clear();
    throw FailedPrecondition(msg);
  }

  std::string url_;
  Json env_config_;
  std::chrono::milliseconds timeout_;
  int retries_;
  double backoff_;
  std::string token_;
  std::unique_ptr<envs_internal::WsClient> ws_;
  int64_t next_id_ = 0;
  std::string session_, task_id_, task_type_;
  mutable std::optional<EnvSpec> spec_;
};

}  // namespace

std::unique_ptr<Env> MakeRemoteEnv(const Json& remote) {
  if (!remote.is_object()) throw ConfigError("env.remote", "expected an object");
  std::string protocol = remote.value("protocol", "turnwise");
  if (protocol == "agentgym") return MakeAgentGymEnv(remote);
  if (protocol == "openenv") return MakeOpenEnvEnv(remote);
  if (protocol != "turnwise") {
    throw NotFound(
        UnknownNameMessage("env protocol", protocol, {"turnwise", "agentgym", "openenv"}));
  }
  Json c;
  try {
    c = Schema().Validate(remote);
  } catch (const ConfigError& e) {
    throw e.Under("env.remote");
  }
  if (c["url"].is_null()) throw ConfigError("env.remote.url", "is required");
  if (c["transport"] == "websocket") return std::make_unique<TurnwiseWebSocketEnv>(c);
  return std::make_unique<TurnwiseRemoteEnv>(c);
}

}  // namespace turnwise
