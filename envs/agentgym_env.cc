#include "envs/agentgym_env.h"

#include <httplib.h>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add("url", FieldType::kString, "http://127.0.0.1:36001", "AgentGym server base URL");
    s.Add({.path = "profile", .type = FieldType::kString, .default_value = "alfworld",
           .help = "which AgentGym server", .choices = AgentGymProfiles()});
    s.Add("protocol", FieldType::kString, "agentgym", "always agentgym here");
    s.Add({.path = "timeout_s", .type = FieldType::kNumber, .default_value = 30.0,
           .help = "per-request timeout", .min = 0.001});
    s.Add({.path = "max_turns", .type = FieldType::kInt, .default_value = 50,
           .help = "turns before truncation", .min = 1});
    return s;
  }();
  return schema;
}

class AgentGymEnv : public Env {
 public:
  explicit AgentGymEnv(const Json& config) {
    Json c;
    try {
      c = Schema().Validate(config);
    } catch (const ConfigError& e) {
      throw e.Under("env.remote");
    }
    url_ = c["url"].get<std::string>();
    profile_ = c["profile"].get<std::string>();
    max_turns_ = c["max_turns"].get<int64_t>();
    double timeout = c["timeout_s"].get<double>();
    client_ = std::make_unique<httplib::Client>(url_);
    auto usec = static_cast<time_t>(timeout * 1e6);
    client_->set_connection_timeout(usec / 1000000, usec % 1000000);
    client_->set_read_timeout(usec / 1000000, usec % 1000000);
    client_->set_write_timeout(usec / 1000000, usec % 1000000);
    client_->set_keep_alive(true);
  }

  ~AgentGymEnv() override {
    if (profile_ == "searchqa" && id_ >= 0) {
      client_->Post("/close", DumpJson({{"env_idx", id_}}), "application/json");
    }
  }

  StepResult Reset(const ResetOptions& options) override {
    int64_t task = static_cast<int64_t>(options.seed);
    if (!options.task_id.empty()) {
      try {
        task = std::stoll(options.task_id);
      } catch (const std::exception&) {
        throw InvalidArgument("agentgym: task id '" + options.task_id + "' must be a number");
      }
    }
    if (id_ < 0 || profile_ == "searchqa") Create(task);
    turn_ = 0;
    done_ = false;
    StepResult s;
    if (profile_ == "alfworld") {
      Json r = Call("/reset", {{"id", id_}, {"game", task}, {"world_type", "Text"}});
      s.observation.text = Field<std::string>(r, "observation");
      s.admissible_actions = Field<std::vector<std::string>>(r, "available_actions");
      task_type_ = r.value("task_type", "");
    } else if (profile_ == "webshop") {
      Json r = Call("/reset", {{"env_idx", id_}, {"session_id", task}});
      if (!r.is_array() || r.empty() || !r[0].is_string()) Malformed("/reset", r);
      s.observation.text = r[0].get<std::string>();
      s.admissible_actions = WebShopActions();
    } else {
      Json r = Call("/reset", {{"env_idx", id_}, {"id", task}});
      if (!r.is_string()) Malformed("/reset", r);
      s.observation.text = r.get<std::string>();
    }
    task_id_ = std::to_string(task);
    s.anchor_key = s.observation.text;
    s.info = {{"won", false}, {"is_action_valid", true}, {"task_score", 0.0}};
    std::sort(s.admissible_actions.begin(), s.admissible_actions.end());
    return s;
  }

  StepResult Step(const std::string& action) override {
    if (id_ < 0) throw FailedPrecondition("agentgym: Step() before Reset()");
    if (done_) throw FailedPrecondition("agentgym: the episode has finished; reset it first");
    StepResult s;
    const char* id_field = profile_ == "alfworld" ? "id" : "env_idx";
    Json r = Call("/step", {{id_field, id_}, {"action", action}});
    s.observation.text = Field<std::string>(r, profile_ == "webshop" ? "state" : "observation");
    s.reward = Field<double>(r, "reward");
    bool done = Field<bool>(r, "done");
    if (profile_ == "alfworld") {
      s.admissible_actions = Field<std::vector<std::string>>(r, "available_actions");
    } else if (profile_ == "webshop" && !done) {
      s.admissible_actions = WebShopActions();
    }
    std::sort(s.admissible_actions.begin(), s.admissible_actions.end());
    ++turn_;
    s.turn = turn_;
    s.terminated = done;
    s.truncated = !done && turn_ >= max_turns_;
    done_ = s.terminated || s.truncated;
    bool won = done && s.reward > 0;
    s.anchor_key = s.observation.text;
    s.info = {{"won", won},
              {"is_action_valid", s.observation.text != "Nothing happens."},
              {"task_score", profile_ == "webshop" ? s.reward : (won ? 1.0 : 0.0)}};
    return s;
  }

  EnvSpec Spec() const override {
    EnvSpec spec;
    spec.name = "agentgym/" + profile_;
    spec.version = "AgentGym server at " + url_;
    spec.description = "An AgentGym " + profile_ + " server driven through its HTTP API.";
    spec.max_turns = max_turns_;
    spec.action_format = profile_ == "webshop" ? "search[query] or click[item]" : "text command";
    return spec;
  }

  std::string TaskId() const override { return task_id_; }
  std::string TaskType() const override { return task_type_; }

 private:
  template <class T>
  T Field(const Json& j, const char* key) {
    if (!j.is_object() || !j.contains(key)) Malformed(std::string("field '") + key + "'", j);
    try {
      return j[key].get<T>();
    } catch (const Json::exception&) {
      Malformed(std::string("field '") + key + "'", j);
    }
  }

  [[noreturn]] void Malformed(const std::string& what, const Json& j) {
    std::string text = DumpJson(j);
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    throw FailedPrecondition("agentgym " + profile_ + " server " + url_ + ": unexpected answer for " +
                             what + ": " + text);
  }

  void Create(int64_t task) {
    Json r = profile_ == "searchqa" ? Call("/create", {{"id", task}}) : Call("/create", Json());
    if (profile_ == "alfworld") {
      id_ = Field<int64_t>(r, "id");
    } else {
      if (!r.is_number_integer()) Malformed("/create", r);
      id_ = r.get<int64_t>();
    }
  }

  std::vector<std::string> WebShopActions() {
    httplib::Result res = client_->Get("/available_actions?env_idx=" + std::to_string(id_));
    Json r = Parse("/available_actions", res);
    std::vector<std::string> actions;
    if (r.value("has_search_bar", false)) actions.push_back("search[...]");
    for (const auto& c : r.value("clickables", Json::array())) {
      if (c.is_string()) actions.push_back("click[" + c.get<std::string>() + "]");
    }
    return actions;
  }

  Json Call(const std::string& path, const Json& body) {
    httplib::Result res = body.is_null()
                              ? client_->Post(path)
                              : client_->Post(path, DumpJson(body), "application/json");
    return Parse(path, res);
  }

  Json Parse(const std::string& path, const httplib::Result& res) {
    if (!res) {
      throw Unavailable("agentgym server " + url_ + path + ": " + httplib::to_string(res.error()));
    }
    if (res->status >= 500) {
      throw Unavailable("agentgym server " + url_ + path + ": HTTP " + std::to_string(res->status));
    }
    Json j = Json::parse(res->body, nullptr, false);
    if (j.is_discarded()) Malformed(path + " (not JSON, HTTP " + std::to_string(res->status) + ")", Json(res->body));
    // AgentGym reports errors as HTTP 200 with {"error": "..."}.
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      throw FailedPrecondition("agentgym " + profile_ + " server: " + j["error"].get<std::string>());
    }
    if (res->status >= 400) {
      throw FailedPrecondition("agentgym server " + url_ + path + ": HTTP " + std::to_string(res->status));
    }
    return j;
  }

  std::string url_, profile_, task_id_, task_type_;
  int64_t max_turns_ = 50;
  int64_t id_ = -1;
  int64_t turn_ = 0;
  bool done_ = true;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

const std::vector<std::string>& AgentGymProfiles() {
  static const std::vector<std::string> kProfiles = {"alfworld", "webshop", "searchqa"};
  return kProfiles;
}

std::unique_ptr<Env> MakeAgentGymEnv(const Json& config) {
  if (config.contains("profile") && config["profile"].is_string()) {
    const auto& known = AgentGymProfiles();
    std::string p = config["profile"].get<std::string>();
    if (std::find(known.begin(), known.end(), p) == known.end()) {
      throw NotFound(UnknownNameMessage("agentgym profile", p, known));
    }
  }
  return std::make_unique<AgentGymEnv>(config);
}

}  // namespace turnwise
