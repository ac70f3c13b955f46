#include "envs/openenv_env.h"

#include <algorithm>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "envs/internal/ws_client.h"

namespace turnwise {
namespace {

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add("url", FieldType::kString, Json(), "OpenEnv server, ws://host:port or http://host:port");
    s.Add("protocol", FieldType::kString, "openenv", "always openenv here");
    s.Add("action_field", FieldType::kString, "message", "action object field that gets the text");
    s.Add("action_json", FieldType::kBool, false, "the action text is the JSON action object");
    s.Add("action_extra", FieldType::kOpen, Json::object(), "fixed fields added to every action");
    s.Add("observation_field", FieldType::kString, "",
          "dotted path of the observation text; empty = the whole observation as JSON");
    s.Add("admissible_field", FieldType::kString, "",
          "observation field listing the valid actions; empty = none");
    s.Add("reset_data", FieldType::kOpen, Json::object(), "extra reset kwargs");
    s.Add("task_field", FieldType::kString, "task_id", "reset kwarg that carries the task id");
    s.Add({.path = "timeout_s",
           .type = FieldType::kNumber,
           .default_value = 30.0,
           .help = "connect timeout and per-reply timeout",
           .min = 0.001});
    s.Add({.path = "retries",
           .type = FieldType::kInt,
           .default_value = 3,
           .help = "retries of a reset that failed in transport or found the server full",
           .min = 0,
           .max = 100});
    s.Add({.path = "backoff_s",
           .type = FieldType::kNumber,
           .default_value = 0.1,
           .help = "first retry delay, doubled each time",
           .min = 0.0});
    s.Add({.path = "max_turns",
           .type = FieldType::kInt,
           .default_value = 50,
           .help = "turns before truncation",
           .min = 1});
    s.Add("token", FieldType::kString, "", "bearer token, when the server wants one");
    return s;
  }();
  return schema;
}

// OpenEnv's own client turns http:// into ws:// and appends /ws to the base URL; so do we,
// unless the user already wrote a path.
std::string WebSocketUrl(const std::string& url) {
  std::string u = url;
  if (StartsWith(u, "http://")) {
    u = "ws://" + u.substr(7);
  } else if (!StartsWith(u, "ws://")) {
    throw ConfigError("env.remote.url",
                      "must start with ws:// or http:// (no TLS), got '" + url + "'");
  }
  while (EndsWith(u, "/")) u.pop_back();
  if (u.find('/', 5) == std::string::npos) u += "/ws";
  return u;
}

std::string Shorten(std::string text, size_t max = 300) {
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

// Pydantic's error list ([{"loc": [...], "msg": ...}, ...]) as "loc: msg; loc: msg".
std::string ValidationDetails(const Json& data) {
  std::vector<std::string> parts;
  if (data.contains("errors") && data["errors"].is_array()) {
    for (const Json& e : data["errors"]) {
      if (!e.is_object()) continue;
      std::vector<std::string> loc;
      for (const Json& l : e.value("loc", Json::array())) {
        loc.push_back(l.is_string() ? l.get<std::string>() : DumpJson(l));
      }
      parts.push_back((loc.empty() ? "" : Join(loc, ".") + ": ") + e.value("msg", ""));
    }
  }
  return Join(parts, "; ");
}

}  // namespace

OpenEnvEnv::OpenEnvEnv(const Json& config) {
  try {
    config_ = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("env.remote");
  }
  if (config_["url"].is_null()) throw ConfigError("env.remote.url", "is required");
  if (!config_["action_json"].get<bool>() && config_["action_field"].get<std::string>().empty()) {
    throw ConfigError("env.remote.action_field", "must not be empty (or set action_json)");
  }
  ws_url_ = WebSocketUrl(config_["url"].get<std::string>());
}

OpenEnvEnv::~OpenEnvEnv() { Disconnect(); }

void OpenEnvEnv::Connect() {
  envs_internal::WsClient::Headers headers;
  const std::string& token = config_["token"].get_ref<const std::string&>();
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto timeout = std::chrono::milliseconds(
      static_cast<int64_t>(config_["timeout_s"].get<double>() * 1000.0 + 0.5));
  ws_ = envs_internal::WsClient::Connect(ws_url_, headers,
                                         std::max(timeout, std::chrono::milliseconds(1)));
}

void OpenEnvEnv::Disconnect() {
  if (!ws_) return;
  if (ws_->is_open()) {
    // OpenEnv ends the session (and frees its slot) on {"type": "close"}; the close frame
    // after it covers servers that only watch the socket.
    try {
      ws_->SendText(R"({"type":"close"})");
    } catch (const Unavailable&) {
    }
  }
  ws_->Close();
  ws_.reset();
}

Json OpenEnvEnv::Request(const Json& message, const char* what) {
  auto timeout = std::chrono::milliseconds(std::max<int64_t>(
      1, static_cast<int64_t>(config_["timeout_s"].get<double>() * 1000.0 + 0.5)));
  std::string raw;
  try {
    ws_->SendText(DumpJson(message));
    raw = ws_->ReceiveText(timeout);
  } catch (const Unavailable& e) {
    throw Unavailable(std::string("openenv ") + what + ": " + e.what());
  }
  Json reply = Json::parse(raw, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("type") ||
      !reply["type"].is_string() || !reply.contains("data") || !reply["data"].is_object()) {
    Disconnect();  // replies and requests may no longer line up
    throw FailedPrecondition("openenv server " + ws_url_ + ": " + what +
                             ": the reply is not an OpenEnv message: " + Shorten(raw));
  }
  return reply;
}

void OpenEnvEnv::ThrowServerError(const Json& data, const char* what) {
  const std::string code = data.contains("code") && data["code"].is_string()
                               ? data["code"].get<std::string>()
                               : "no code";
  const std::string message = data.contains("message") && data["message"].is_string()
                                  ? data["message"].get<std::string>()
                                  : DumpJson(data);
  const std::string where = "openenv server " + ws_url_ + ": " + what + ": ";
  if (code == "EXECUTION_ERROR") {
    throw FailedPrecondition(where + "the environment failed: " + message + " (EXECUTION_ERROR)");
  }
  if (code == "VALIDATION_ERROR") {
    std::string details = ValidationDetails(data);
    throw InvalidArgument(where + message + (details.empty() ? "" : ": " + details) +
                          " (VALIDATION_ERROR)");
  }
  if (code == "FACTORY_ERROR" || code == "SESSION_ERROR") {
    Disconnect();  // the server closes the socket after these
    throw FailedPrecondition(where + "the server could not create the environment: " + message +
                             " (" + code + ")");
  }
  if (code == "CAPACITY_REACHED") {
    Disconnect();
    throw Unavailable(where + "no free session: " + message + " (CAPACITY_REACHED)");
  }
  throw FailedPrecondition(where + message + " (" + code +
                           "; a protocol mismatch: does the server speak OpenEnv's /ws messages?)");
}

StepResult OpenEnvEnv::FromObservation(const Json& data) {
  if (!data.contains("observation") || !data["observation"].is_object()) {
    throw FailedPrecondition(
        "openenv server " + ws_url_ +
        ": observation reply without an observation object: " + Shorten(DumpJson(data)));
  }
  const Json& obs = data["observation"];
  StepResult s;
  const std::string& field = config_["observation_field"].get_ref<const std::string&>();
  if (field.empty()) {
    s.observation.text = DumpJson(obs);
  } else {
    const Json* value = FindPath(obs, field);
    if (!value) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : obs.items()) keys.push_back(k);
      throw ConfigError("env.remote.observation_field",
                        "the observation has no '" + field + "'; its fields: " + Join(keys, ", "));
    }
    s.observation.text = value->is_string() ? value->get<std::string>() : DumpJson(*value);
  }
  const std::string& admissible = config_["admissible_field"].get_ref<const std::string&>();
  if (!admissible.empty()) {
    const Json* list = FindPath(obs, admissible);
    if (list && list->is_array()) {
      for (const Json& a : *list) {
        if (a.is_string()) s.admissible_actions.push_back(a.get<std::string>());
      }
      std::sort(s.admissible_actions.begin(), s.admissible_actions.end());
    }
  }
  const Json reward = data.value("reward", Json());
  if (reward.is_boolean()) {
    s.reward = reward.get<bool>() ? 1.0 : 0.0;
  } else if (reward.is_number()) {
    s.reward = reward.get<double>();
  }
  s.terminated = data.value("done", false);
  s.anchor_key = s.observation.text;
  s.info = {{"won", s.terminated && s.reward > 0},
            {"is_action_valid", true},
            {"task_score", s.terminated ? s.reward : 0.0}};
  return s;
}

StepResult OpenEnvEnv::Reset(const ResetOptions& options) {
  Json data = config_["reset_data"];
  data["seed"] = options.seed;
  const std::string& task_field = config_["task_field"].get_ref<const std::string&>();
  if (!task_field.empty() && !options.task_id.empty()) data[task_field] = options.task_id;
  const Json message = {{"type", "reset"}, {"data", data}};

  const int retries = config_["retries"].get<int>();
  double delay = config_["backoff_s"].get<double>();
  std::string reason;
  for (int attempt = 1;; ++attempt) {
    Json reply;
    bool got_reply = false;
    try {
      if (!ws_ || !ws_->is_open()) Connect();
      reply = Request(message, "reset");
      got_reply = true;
    } catch (const Unavailable& e) {
      Disconnect();
      reason = e.what();
    }
    if (got_reply) {
      const std::string type = reply["type"].get<std::string>();
      const Json& d = reply["data"];
      if (type == "observation") {
        StepResult s = FromObservation(d);
        s.terminated = false;  // a reset result is never terminal in Turnwise
        s.reward = 0;
        s.info["won"] = false;
        s.info["task_score"] = 0.0;
        last_ = s;
        turn_ = 0;
        done_ = false;
        reset_once_ = true;
        task_id_ = options.task_id.empty() ? std::to_string(options.seed) : options.task_id;
        return s;
      }
      if (type != "error") {
        Disconnect();
        throw FailedPrecondition("openenv server " + ws_url_ + ": reset: unexpected reply type '" +
                                 type + "'");
      }
      if (d.value("code", "") != "CAPACITY_REACHED") ThrowServerError(d, "reset");
      // The server is full; it closes this connection. Wait for a slot like for a transport
      // failure.
      Disconnect();
      reason = "openenv server " + ws_url_ +
               ": no free session (CAPACITY_REACHED: " + d.value("message", "") + "; " +
               std::to_string(d.value("active_sessions", 0)) + "/" +
               std::to_string(d.value("max_sessions", 0)) + " sessions in use)";
    }
    if (attempt > retries) {
      throw Unavailable(reason + " after " + std::to_string(attempt) + " attempt" +
                        (attempt > 1 ? "s" : ""));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    delay *= 2;
  }
}

StepResult OpenEnvEnv::Step(const std::string& action) {
  if (!reset_once_) throw FailedPrecondition("openenv: Step() before Reset()");
  if (done_) throw FailedPrecondition("openenv: the episode has finished; reset it first");
  if (!ws_ || !ws_->is_open()) {
    done_ = true;
    throw Unavailable("openenv server " + ws_url_ +
                      ": the connection was lost; the episode cannot continue");
  }
  const bool action_json = config_["action_json"].get<bool>();
  auto invalid = [&](const std::string& why) {
    StepResult s = last_;
    s.reward = 0;
    s.terminated = false;
    s.turn = ++turn_;
    s.truncated = turn_ >= config_["max_turns"].get<int64_t>();
    done_ = s.truncated;
    s.info = {{"won", false}, {"is_action_valid", false}, {"task_score", 0.0}, {"error", why}};
    return s;
  };
  Json act;
  if (action_json) {
    act = Json::parse(action, nullptr, false);
    if (act.is_discarded() || !act.is_object()) return invalid("the action is not a JSON object");
  } else {
    act = config_["action_extra"];
    act[config_["action_field"].get<std::string>()] = action;
  }
  Json reply;
  try {
    reply = Request({{"type", "step"}, {"data", act}}, "step");
  } catch (const Unavailable&) {
    Disconnect();
    done_ = true;
    throw;
  }
  const std::string type = reply["type"].get<std::string>();
  const Json& d = reply["data"];
  if (type == "error") {
    if (d.value("code", "") == "VALIDATION_ERROR") {
      std::string details = ValidationDetails(d);
      if (action_json)
        return invalid(details.empty() ? d.value("message", "invalid action") : details);
      throw InvalidArgument("openenv server " + ws_url_ +
                            ": the environment rejected the action object " +
                            Shorten(DumpJson(act), 120) + ": " + details +
                            " (VALIDATION_ERROR; check env.remote.action_field and action_extra)");
    }
    done_ = true;  // the environment is in an unknown state
    ThrowServerError(d, "step");
  }
  if (type != "observation") {
    Disconnect();
    done_ = true;
    throw FailedPrecondition("openenv server " + ws_url_ + ": step: unexpected reply type '" +
                             type + "'");
  }
  StepResult s = FromObservation(d);
  s.turn = ++turn_;
  s.truncated = !s.terminated && turn_ >= config_["max_turns"].get<int64_t>();
  done_ = s.done();
  last_ = s;
  return s;
}

Json OpenEnvEnv::State() {
  if (!reset_once_ || !ws_ || !ws_->is_open()) {
    throw FailedPrecondition("openenv: State() needs a live session; reset first");
  }
  Json reply = Request({{"type", "state"}}, "state");
  if (reply["type"] == "error") ThrowServerError(reply["data"], "state");
  if (reply["type"] != "state") {
    throw FailedPrecondition("openenv server " + ws_url_ + ": state: unexpected reply type " +
                             DumpJson(reply["type"]));
  }
  return reply["data"];
}

EnvSpec OpenEnvEnv::Spec() const {
  EnvSpec spec;
  spec.name = "openenv";
  spec.version = "OpenEnv server at " + ws_url_;
  spec.description = "An OpenEnv environment driven through its WebSocket session endpoint.";
  spec.max_turns = config_["max_turns"].get<int64_t>();
  spec.action_format =
      config_["action_json"].get<bool>()
          ? "a JSON action object"
          : "text (sent as {\"" + config_["action_field"].get<std::string>() + "\": text})";
  return spec;
}

std::unique_ptr<Env> MakeOpenEnvEnv(const Json& config) {
  return std::make_unique<OpenEnvEnv>(config);
}

}  // namespace turnwise
