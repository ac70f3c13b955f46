#include "envs/agentgym_env.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

enum class Profile { kAlfworld, kWebshop, kSearchqa, kTextcraft, kSciworld, kBabyai };

Profile ProfileOf(const std::string& name) {
  static const std::map<std::string, Profile> kByName = {
      {"alfworld", Profile::kAlfworld}, {"webshop", Profile::kWebshop},
      {"searchqa", Profile::kSearchqa}, {"textcraft", Profile::kTextcraft},
      {"sciworld", Profile::kSciworld}, {"babyai", Profile::kBabyai}};
  return kByName.at(name);
}

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add("url", FieldType::kString, "http://127.0.0.1:36001", "AgentGym server base URL");
    s.Add({.path = "profile",
           .type = FieldType::kString,
           .default_value = "alfworld",
           .help = "which AgentGym server",
           .choices = AgentGymProfiles()});
    s.Add("protocol", FieldType::kString, "agentgym", "always agentgym here");
    s.Add({.path = "timeout_s",
           .type = FieldType::kNumber,
           .default_value = 30.0,
           .help = "per-request timeout",
           .min = 0.001});
    s.Add({.path = "max_turns",
           .type = FieldType::kInt,
           .default_value = 50,
           .help = "turns before truncation",
           .min = 1});
    return s;
  }();
  return schema;
}

// AgentGym's TextCraft and BabyAI clients send only letters, digits, commas and single spaces
// (they strip everything else before /step); the servers' action matching relies on it.
std::string CleanAction(const std::string& action) {
  std::string out;
  bool space = false;
  for (unsigned char c : action) {
    if (std::isalnum(c) || c == ',') {
      if (space && !out.empty()) out += ' ';
      space = false;
      out += static_cast<char>(c);
    } else if (std::isspace(c)) {
      space = true;
    }
  }
  return out;
}

// BabyAI's server appends the valid actions to every observation as
// `\nAvailable actions: ["turn left", "go to red ball 1", ...]` (quoted names, no escaping).
std::vector<std::string> BabyAiActions(const std::string& observation) {
  static constexpr std::string_view kMarker = "Available actions: [";
  std::vector<std::string> actions;
  size_t at = observation.rfind(kMarker);
  if (at == std::string::npos) return actions;
  size_t pos = at + kMarker.size();
  while (true) {
    size_t open = observation.find('"', pos);
    if (open == std::string::npos) break;
    size_t close = observation.find('"', open + 1);
    if (close == std::string::npos) break;
    actions.push_back(observation.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  return actions;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
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
    profile_name_ = c["profile"].get<std::string>();
    profile_ = ProfileOf(profile_name_);
    max_turns_ = c["max_turns"].get<int64_t>();
    double timeout = c["timeout_s"].get<double>();
    client_ = std::make_unique<httplib::Client>(url_);
    auto usec = static_cast<time_t>(timeout * 1e6);
    client_->set_connection_timeout(usec / 1000000, usec % 1000000);
    client_->set_read_timeout(usec / 1000000, usec % 1000000);
    client_->set_write_timeout(usec / 1000000, usec % 1000000);
    client_->set_keep_alive(true);
    client_->set_tcp_nodelay(true);
  }

  ~AgentGymEnv() override { CloseServerEnv(); }

  StepResult Reset(const ResetOptions& options) override {
    int64_t task = static_cast<int64_t>(options.seed);
    if (!options.task_id.empty()) {
      try {
        task = std::stoll(options.task_id);
      } catch (const std::exception&) {
        throw InvalidArgument("agentgym: task id '" + options.task_id + "' must be a number");
      }
    }
    // SearchQA binds the item to the env at /create, so each task needs its own env.
    if (profile_ == Profile::kSearchqa) CloseServerEnv();
    if (id_ < 0) Create(task);
    turn_ = 0;
    done_ = false;
    score_ = 0;
    StepResult s;
    switch (profile_) {
      case Profile::kAlfworld: {
        Json r = Call("/reset", {{"id", id_}, {"game", task}, {"world_type", "Text"}});
        s.observation.text = Field<std::string>(r, "observation");
        s.admissible_actions = Field<std::vector<std::string>>(r, "available_actions");
        task_type_ = r.value("task_type", "");
        break;
      }
      case Profile::kWebshop: {
        Json r = Call("/reset", {{"env_idx", id_}, {"session_id", task}});
        if (!r.is_array() || r.empty() || !r[0].is_string()) Malformed("/reset", r);
        s.observation.text = r[0].get<std::string>();
        s.admissible_actions = WebShopActions();
        break;
      }
      case Profile::kSearchqa: {
        Json r = Call("/reset", {{"env_idx", id_}, {"id", task}});
        if (!r.is_string()) Malformed("/reset", r);
        s.observation.text = r.get<std::string>();
        break;
      }
      case Profile::kTextcraft: {
        Json r = Call("/reset", {{"id", id_}, {"data_idx", task}});
        s.observation.text = Field<std::string>(r, "observation");
        break;
      }
      case Profile::kSciworld: {
        // The client shows the task description above the first "look around".
        Json r = Call("/reset", {{"id", id_}, {"data_idx", task}});
        s.observation.text =
            Field<std::string>(r, "task_description") + "\n" + Field<std::string>(r, "observation");
        score_ = Field<double>(r, "score");
        task_type_ = Field<std::string>(r, "task_name");
        s.info["variation"] = r.value("var_num", Json());
        break;
      }
      case Profile::kBabyai: {
        Json r = Call("/reset", {{"id", id_}, {"data_idx", task}});
        s.observation.text = Field<std::string>(r, "observation");
        s.admissible_actions = BabyAiActions(s.observation.text);
        // The server picks level data_idx % 40 + 1 of its 40 BabyAI levels, seed data_idx / 40.
        task_type_ = "level-" + std::to_string(task % 40 + 1);
        break;
      }
    }
    task_id_ = std::to_string(task);
    s.anchor_key = s.observation.text;
    s.info["won"] = false;
    s.info["is_action_valid"] = true;
    s.info["task_score"] = 0.0;
    std::sort(s.admissible_actions.begin(), s.admissible_actions.end());
    admissible_ = s.admissible_actions;
    return s;
  }

  StepResult Step(const std::string& raw_action) override {
    if (id_ < 0) throw FailedPrecondition("agentgym: Step() before Reset()");
    if (done_) throw FailedPrecondition("agentgym: the episode has finished; reset it first");
    const bool cleaned = profile_ == Profile::kTextcraft || profile_ == Profile::kBabyai;
    const std::string action = cleaned ? CleanAction(raw_action) : raw_action;
    const bool by_env_idx = profile_ == Profile::kWebshop || profile_ == Profile::kSearchqa;
    Json r = Call("/step", {{by_env_idx ? "env_idx" : "id", id_}, {"action", action}});

    StepResult s;
    s.observation.text =
        Field<std::string>(r, profile_ == Profile::kWebshop ? "state" : "observation");
    const double reward = Field<double>(r, "reward");
    const bool done = Field<bool>(r, "done");
    const std::string& obs = s.observation.text;
    bool won = done && reward > 0;
    double task_score = won ? 1.0 : 0.0;
    bool valid = obs != "Nothing happens.";
    s.reward = reward;
    switch (profile_) {
      case Profile::kAlfworld:
        s.admissible_actions = Field<std::vector<std::string>>(r, "available_actions");
        break;
      case Profile::kWebshop:
        if (!done) s.admissible_actions = WebShopActions();
        task_score = reward;
        break;
      case Profile::kSearchqa:
        break;
      case Profile::kTextcraft:
        // Failed actions answer "Could not find ...", "Could not execute ...", "Wrong item format:
        // ...".
        valid = !StartsWith(obs, "Could not") && !StartsWith(obs, "Wrong item format");
        break;
      case Profile::kSciworld: {
        // ScienceWorld scores 0..100 (negative when the task is failed); "reward" is the change.
        score_ = Field<double>(r, "score");
        s.reward = reward / 100.0;
        won = done && score_ >= 100;
        task_score = std::max(0.0, score_) / 100.0;
        valid = obs != "No known action matches that input.";
        s.info["score"] = score_;
        break;
      }
      case Profile::kBabyai: {
        // The server marks an action valid when it is listed (or mentions "check"); it
        // lower-cases and trims it first.
        std::string key = Lower(std::string(Trim(action)));
        valid = key.find("check") != std::string::npos ||
                std::binary_search(admissible_.begin(), admissible_.end(), key);
        s.admissible_actions = BabyAiActions(obs);
        task_score = won ? reward : 0.0;
        break;
      }
    }
    std::sort(s.admissible_actions.begin(), s.admissible_actions.end());
    admissible_ = s.admissible_actions;
    ++turn_;
    s.turn = turn_;
    s.terminated = done;
    s.truncated = !done && turn_ >= max_turns_;
    done_ = s.terminated || s.truncated;
    s.anchor_key = obs;
    s.info["won"] = won;
    s.info["is_action_valid"] = valid;
    s.info["task_score"] = task_score;
    return s;
  }

  EnvSpec Spec() const override {
    EnvSpec spec;
    spec.name = "agentgym/" + profile_name_;
    spec.version = "AgentGym server at " + url_;
    spec.description = "An AgentGym " + profile_name_ + " server driven through its HTTP API.";
    spec.max_turns = max_turns_;
    switch (profile_) {
      case Profile::kWebshop:
        spec.action_format = "search[query] or click[item]";
        break;
      case Profile::kTextcraft:
        spec.action_format = "get N item | craft N item using M ingredient, ... | inventory";
        break;
      case Profile::kSciworld:
        spec.action_format = "a ScienceWorld command (look around, go to kitchen, focus on X, ...)";
        break;
      case Profile::kBabyai:
        spec.action_format =
            "one of the listed available actions (turn left, go to red ball 1, ...)";
        break;
      default:
        spec.action_format = "text command";
    }
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
    throw FailedPrecondition("agentgym " + profile_name_ + " server " + url_ +
                             ": unexpected answer for " + what + ": " + text);
  }

  void Create(int64_t task) {
    Json r;
    switch (profile_) {
      case Profile::kSearchqa:
        r = Call("/create", {{"id", task}});
        break;
      case Profile::kTextcraft:
        // FastAPI requires the (all-optional) body: {"commands", "goal"}; an empty object will do.
        r = Call("/create", Json::object());
        break;
      default:
        r = Call("/create", Json());
    }
    if (profile_ == Profile::kWebshop || profile_ == Profile::kSearchqa) {
      if (!r.is_number_integer()) Malformed("/create", r);
      id_ = r.get<int64_t>();
    } else {
      id_ = Field<int64_t>(r, "id");
    }
  }

  // Frees the server-side env where the server has /close (ALFWorld's and WebShop's do not).
  // Best effort: the answer (a bare bool, or HTTP 500 from SciWorld for an unknown id) is not read.
  void CloseServerEnv() {
    if (id_ < 0) return;
    if (profile_ == Profile::kSearchqa) {
      client_->Post("/close", DumpJson({{"env_idx", id_}}), "application/json");
    } else if (profile_ != Profile::kAlfworld && profile_ != Profile::kWebshop) {
      client_->Post("/close", DumpJson({{"id", id_}}), "application/json");
    }
    id_ = -1;
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
    httplib::Result res = body.is_null() ? client_->Post(path)
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
    if (j.is_discarded()) {
      Malformed(path + " (not JSON, HTTP " + std::to_string(res->status) + ")", Json(res->body));
    }
    // AgentGym reports errors as HTTP 200 with {"error": "..."}.
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      throw FailedPrecondition("agentgym " + profile_name_ +
                               " server: " + j["error"].get<std::string>());
    }
    if (res->status >= 400) {
      // FastAPI's 422 names the missing or mistyped request field in "detail".
      std::string detail =
          j.is_object() && j.contains("detail") ? ": " + DumpJson(j["detail"]) : "";
      if (detail.size() > 300) detail = detail.substr(0, 300) + "...";
      throw FailedPrecondition("agentgym server " + url_ + path + ": HTTP " +
                               std::to_string(res->status) + detail);
    }
    return j;
  }

  std::string url_, profile_name_, task_id_, task_type_;
  Profile profile_ = Profile::kAlfworld;
  int64_t max_turns_ = 50;
  int64_t id_ = -1;
  int64_t turn_ = 0;
  bool done_ = true;
  double score_ = 0;                     // SciWorld's running score
  std::vector<std::string> admissible_;  // of the current state, sorted
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

const std::vector<std::string>& AgentGymProfiles() {
  static const std::vector<std::string> kProfiles = {"alfworld",  "webshop",  "searchqa",
                                                     "textcraft", "sciworld", "babyai"};
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
