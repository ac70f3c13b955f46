#include "web/api.h"

#include <charconv>
#include <mutex>
#include <regex>
#include <unordered_map>

#include "core/error.h"
#include "core/text.h"
#include "storage/store.h"

namespace turnwise {
namespace {

// A 400 with a message that names the parameter.
class BadRequest : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

ApiResponse ErrorResponse(int status, const std::string& code, const std::string& message) {
  return {status, {{"error", {{"code", code}, {"message", message}}}}};
}

int64_t ParseInt(const std::string& name, const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    throw BadRequest("parameter '" + name + "' must be an integer, got '" + text + "'");
  }
  return value;
}

double ParseDouble(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw BadRequest("parameter '" + name + "' must be a number, got '" + text + "'");
  }
}

bool ParseBool(const std::string& name, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw BadRequest("parameter '" + name + "' must be true or false, got '" + text + "'");
}

Json RunJson(const RunRecord& r) {
  return {{"id", r.id},           {"name", r.name},       {"status", r.status},
          {"env", r.env},         {"method", r.method},   {"seed", r.seed},
          {"created_at", r.created_at}, {"finished_at", r.finished_at}, {"notes", r.notes}};
}

Json EpisodeSummaryJson(const EpisodeRecord& e) {
  return {{"id", e.id},
          {"run_id", e.run_id},
          {"iteration", e.iteration},
          {"group_id", e.group_id},
          {"env", e.env},
          {"task_id", e.task_id},
          {"task_type", e.task_type},
          {"seed", e.seed},
          {"split", e.split},
          {"status", EpisodeStatusName(e.status)},
          {"abort_reason", e.abort_reason},
          {"return", e.episode_return},
          {"success", e.success},
          {"num_turns", e.num_turns},
          {"created_at", e.created_at},
          {"policy", e.policy},
          {"info", e.info}};
}

Json TurnJson(const TurnRecord& t) {
  return {{"turn_index", t.turn_index},
          {"observation", t.observation},
          {"prompt", t.prompt},
          {"response", t.response},
          {"action", t.action},
          {"action_valid", t.action_valid},
          {"reward", t.reward},
          {"terminated", t.terminated},
          {"truncated", t.truncated},
          {"anchor_key", t.anchor_key},
          // As a string: JavaScript numbers cannot hold 64-bit hashes exactly.
          {"anchor_hash", std::to_string(t.anchor_hash)},
          {"token_ids", t.token_ids},
          {"logprobs", t.logprobs},
          {"entropies", t.entropies},
          {"advantage", t.advantage ? Json(*t.advantage) : Json()},
          {"advantage_parts", t.advantage_parts},
          {"image_ref", t.image_ref},
          {"timings", t.timings},
          {"info", t.info}};
}

Json EpisodeWithTurnsJson(TrajectoryStore& store, const EpisodeRecord& e, bool peers) {
  Json j = EpisodeSummaryJson(e);
  Json turns = Json::array();
  for (const auto& t : e.turns) {
    Json tj = TurnJson(t);
    if (peers) {
      Json list = Json::array();
      for (auto [episode_id, turn_index] : store.AnchorPeers(e.run_id, e.group_id, t.anchor_hash)) {
        if (episode_id == e.id && turn_index == t.turn_index) continue;
        list.push_back({{"episode_id", episode_id}, {"turn_index", turn_index}});
      }
      tj["anchor_peers"] = std::move(list);
    }
    turns.push_back(std::move(tj));
  }
  j["turns"] = std::move(turns);
  return j;
}

const std::vector<std::string>& EpisodeParams() {
  static const std::vector<std::string> kParams = {
      "run",        "iteration", "min_iteration", "max_iteration", "split",  "env",
      "task",       "task_type", "status",        "success",       "min_return", "max_return",
      "group",      "policy",    "q",             "sort",          "order",  "limit",
      "offset"};
  return kParams;
}

EpisodeQuery ParseEpisodeQuery(const std::map<std::string, std::string>& query) {
  EpisodeQuery q;
  const auto& known = EpisodeParams();
  for (const auto& [key, value] : query) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw BadRequest(UnknownNameMessage("parameter", key, known));
    }
    if (key == "run") q.run_id = ParseInt(key, value);
    if (key == "iteration") q.iteration = ParseInt(key, value);
    if (key == "min_iteration") q.min_iteration = ParseInt(key, value);
    if (key == "max_iteration") q.max_iteration = ParseInt(key, value);
    if (key == "split") q.split = value;
    if (key == "env") q.env = value;
    if (key == "task") q.task_id = value;
    if (key == "task_type") q.task_type = value;
    if (key == "status") {
      try {
        q.status = ParseEpisodeStatus(value);
      } catch (const InvalidArgument& e) {
        throw BadRequest(std::string("parameter 'status': ") + e.what());
      }
    }
    if (key == "success") q.success = ParseBool(key, value);
    if (key == "min_return") q.min_return = ParseDouble(key, value);
    if (key == "max_return") q.max_return = ParseDouble(key, value);
    if (key == "group") q.group_id = value;
    if (key == "policy") q.policy = value;
    if (key == "q") q.text = value;
    if (key == "sort") q.sort = value;
    if (key == "order") {
      if (value != "asc" && value != "desc") {
        throw BadRequest("parameter 'order' must be asc or desc, got '" + value + "'");
      }
      q.descending = value == "desc";
    }
    if (key == "limit") q.limit = ParseInt(key, value);
    if (key == "offset") q.offset = ParseInt(key, value);
  }
  return q;
}

void RejectParams(const std::map<std::string, std::string>& query,
                  const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw BadRequest(UnknownNameMessage("parameter", key, allowed));
    }
  }
}

}  // namespace

WebApi::WebApi(std::string db_path) : db_path_(std::move(db_path)) {}
WebApi::~WebApi() = default;

TrajectoryStore& WebApi::Store() {
  // One read-only connection per (thread, database): SQLite connections are single-threaded
  // here, and readers in WAL mode never block each other or the writer.
  thread_local std::unordered_map<std::string, std::unique_ptr<TrajectoryStore>> stores;
  auto& slot = stores[db_path_];
  if (!slot) slot = TrajectoryStore::OpenReadOnly(db_path_);
  return *slot;
}

ApiResponse WebApi::Handle(const std::string& method, const std::string& path,
                           const std::map<std::string, std::string>& query) {
  static const std::regex kRun(R"(^/api/runs/(\d+)$)");
  static const std::regex kRunMetrics(R"(^/api/runs/(\d+)/metrics$)");
  static const std::regex kRunGroup(R"(^/api/runs/(\d+)/groups/([^/]+)$)");
  static const std::regex kEpisode(R"(^/api/episodes/(\d+)$)");
  if (!StartsWith(path, "/api/")) return ErrorResponse(404, "not_found", "no such path: " + path);
  if (method != "GET") {
    return ErrorResponse(405, "method_not_allowed", "the API is read-only; use GET");
  }
  try {
    std::smatch m;
    TrajectoryStore& store = Store();
    if (path == "/api/runs") {
      RejectParams(query, {});
      Json runs = Json::array();
      for (const auto& r : store.ListRuns()) {
        Json j = RunJson(r);
        auto [episodes, turns] = store.CountEpisodesAndTurns(r.id);
        j["episodes"] = episodes;
        j["turns"] = turns;
        // Best success over the run's success metrics (success/<split>, as the trainer logs).
        std::optional<double> best;
        for (const auto& [key, value] : store.LatestMetrics(r.id)) {
          if (StartsWith(key, "success")) best = std::max(best.value_or(value), value);
        }
        j["best_success"] = best ? Json(*best) : Json();
        j["iterations"] = store.Iterations(r.id).size();
        runs.push_back(std::move(j));
      }
      return {200, {{"runs", runs}}};
    }
    if (std::regex_match(path, m, kRun)) {
      RejectParams(query, {});
      RunRecord r = store.GetRun(std::stoll(m[1]));
      Json j = RunJson(r);
      j["config"] = r.config;
      Json iterations = Json::array();
      for (const auto& it : store.Iterations(r.id)) {
        iterations.push_back({{"iter", it.iter}, {"started_at", it.started_at},
                              {"finished_at", it.finished_at}, {"summary", it.summary}});
      }
      j["iterations"] = iterations;
      Json checkpoints = Json::array();
      for (const auto& c : store.Checkpoints(r.id)) {
        checkpoints.push_back({{"iter", c.iter}, {"path", c.path}, {"created_at", c.created_at},
                               {"metrics", c.metrics}});
      }
      j["checkpoints"] = checkpoints;
      j["metric_keys"] = store.MetricKeys(r.id);
      Json latest = Json::object();
      for (const auto& [key, value] : store.LatestMetrics(r.id)) latest[key] = value;
      j["latest_metrics"] = latest;
      auto [episodes, turns] = store.CountEpisodesAndTurns(r.id);
      j["episodes"] = episodes;
      j["turns"] = turns;
      return {200, j};
    }
    if (std::regex_match(path, m, kRunMetrics)) {
      RejectParams(query, {"keys"});
      int64_t run_id = std::stoll(m[1]);
      store.GetRun(run_id);
      std::vector<std::string> keys;
      auto it = query.find("keys");
      if (it == query.end() || it->second.empty()) {
        keys = store.MetricKeys(run_id);
      } else {
        keys = Split(it->second, ',');
      }
      Json series = Json::object();
      for (const auto& key : keys) {
        Json points = Json::array();
        for (const auto& p : store.MetricSeries(run_id, key)) {
          points.push_back({p.iter, p.value, p.wall_time});
        }
        series[key] = std::move(points);
      }
      return {200, {{"run_id", run_id}, {"series", series}}};
    }
    if (std::regex_match(path, m, kRunGroup)) {
      RejectParams(query, {});
      int64_t run_id = std::stoll(m[1]);
      store.GetRun(run_id);
      std::string group = m[2];
      auto episodes = store.GetGroup(run_id, group);
      if (episodes.empty()) {
        return ErrorResponse(404, "not_found",
                             "no group '" + group + "' in run " + std::to_string(run_id));
      }
      Json list = Json::array();
      for (const auto& e : episodes) list.push_back(EpisodeWithTurnsJson(store, e, false));
      return {200, {{"run_id", run_id}, {"group_id", group}, {"episodes", list}}};
    }
    if (path == "/api/episodes") {
      EpisodeQuery q = ParseEpisodeQuery(query);
      EpisodePage page;
      try {
        page = store.QueryEpisodes(q);
      } catch (const InvalidArgument& e) {
        throw BadRequest(e.what());
      }
      Json list = Json::array();
      for (const auto& e : page.episodes) list.push_back(EpisodeSummaryJson(e));
      return {200, {{"total", page.total}, {"limit", q.limit}, {"offset", q.offset},
                    {"episodes", list}}};
    }
    if (std::regex_match(path, m, kEpisode)) {
      RejectParams(query, {});
      EpisodeRecord e = store.GetEpisode(std::stoll(m[1]));
      return {200, EpisodeWithTurnsJson(store, e, true)};
    }
    return ErrorResponse(404, "not_found", "no such path: " + path);
  } catch (const BadRequest& e) {
    return ErrorResponse(400, "bad_request", e.what());
  } catch (const NotFound& e) {
    return ErrorResponse(404, "not_found", e.what());
  } catch (const std::out_of_range&) {
    return ErrorResponse(404, "not_found", "id out of range in " + path);
  } catch (const Error& e) {
    return ErrorResponse(500, "internal", e.what());
  }
}

}  // namespace turnwise
