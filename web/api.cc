#include "web/api.h"

#include <charconv>
#include <filesystem>
#include <mutex>
#include <regex>
#include <unordered_map>

#include "core/error.h"
#include "core/logging.h"
#include "core/text.h"
#include "envs/registry.h"
#include "storage/store.h"
#include "web/internal/token_text.h"
#include "web/method_presets.h"
#include "web/metric_charts.h"
#include "web/svg_chart.h"

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
  return {{"id", r.id},
          {"name", r.name},
          {"status", r.status},
          {"env", r.env},
          {"method", r.method},
          {"seed", r.seed},
          {"created_at", r.created_at},
          {"finished_at", r.finished_at},
          {"notes", r.notes}};
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

Json EpisodeWithTurnsJson(TrajectoryStore& store, const EpisodeRecord& e, bool peers,
                          const web_internal::TokenText* tokens) {
  Json j = EpisodeSummaryJson(e);
  Json turns = Json::array();
  for (const auto& t : e.turns) {
    Json tj = TurnJson(t);
    tj["tokens"] = tokens ? tokens->DecodeAll(t.token_ids) : Json();
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
      "run",       "iteration", "min_iteration", "max_iteration", "split",      "env",   "task",
      "task_type", "status",    "success",       "min_return",    "max_return", "group", "policy",
      "q",         "sort",      "order",         "limit",         "offset"};
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

// GET /api/runs/{id}/chart.svg?keys=K1,K2[&compare=ID,ID][&x=iteration|env_steps]: the run's
// curves (and the compared runs') as the SVG figure `turnwise plot` writes, one panel per key.
ApiResponse RunChart(TrajectoryStore& store, int64_t run, const std::map<std::string, std::string>& query) {
  RejectParams(query, {"keys", "compare", "x"});
  std::vector<int64_t> runs{run};
  if (auto it = query.find("compare"); it != query.end() && !it->second.empty()) {
    for (const std::string& id : Split(it->second, ',')) {
      const int64_t other = ParseInt("compare", id);
      if (other != run) runs.push_back(other);
    }
  }
  CurveOptions options;
  if (auto it = query.find("keys"); it != query.end() && !it->second.empty()) options.metrics = Split(it->second, ',');
  if (options.metrics.empty()) throw BadRequest("keys: give the metric keys to draw, e.g. keys=train/success");
  if (auto it = query.find("x"); it != query.end()) options.x = it->second;
  std::vector<ChartPanel> panels;
  try {
    panels = CurvePanels(store, RunGroups(store, runs), options);
  } catch (const InvalidArgument& e) {
    throw BadRequest(e.what());
  }
  ApiResponse r;
  r.content_type = "image/svg+xml; charset=utf-8";
  r.document = RenderSvgChart(panels, {.title = store.GetRun(run).name});
  return r;
}

// The registered environments with their specs, computed once: making an env to read its spec
// can take milliseconds (household builds its task set), and the registry is fixed at start.
const Json& EnvSpecs() {
  static const Json* const kSpecs = [] {
    auto* list = new Json(Json::array());
    for (const auto& name : EnvRegistry::Names()) {
      try {
        list->push_back(EnvRegistry::Spec(name).ToJson());
      } catch (const std::exception& e) {
        // An env whose default config cannot be made (one that needs a server, say) is listed
        // with the reason instead of hiding it.
        list->push_back({{"name", name}, {"error", e.what()}});
      }
    }
    return list;
  }();
  return *kSpecs;
}

}  // namespace

WebApi::WebApi(std::string db_path) : WebApi(std::move(db_path), Options{}) {}
WebApi::WebApi(std::string db_path, Options options)
    : db_path_(std::move(db_path)), options_(std::move(options)) {}
WebApi::~WebApi() = default;

std::pair<int64_t, int64_t> WebApi::EpisodeAndTurnCounts(TrajectoryStore& store, int64_t run_id,
                                                         int64_t latest_episode) {
  {
    std::lock_guard<std::mutex> lock(counts_mu_);
    auto it = run_counts_.find(run_id);
    if (it != run_counts_.end() && it->second.latest_episode == latest_episode) {
      return it->second.counts;
    }
  }
  // Counted outside the lock; a race only counts twice. The newest id is read before counting,
  // so a count that already includes later episodes is merely refreshed on the next request.
  auto counts = store.CountEpisodesAndTurns(run_id);
  std::lock_guard<std::mutex> lock(counts_mu_);
  run_counts_[run_id] = {latest_episode, counts};
  return counts;
}

std::pair<std::shared_ptr<const web_internal::TokenText>, std::string> WebApi::TokenTextFor(
    TrajectoryStore& store, int64_t run_id) {
  namespace fs = std::filesystem;
  {
    std::lock_guard<std::mutex> lock(tokens_mu_);
    auto it = run_tokens_.find(run_id);
    if (it != run_tokens_.end()) return it->second;
  }
  std::vector<std::string> candidates;
  if (!options_.tokenizer.empty()) {
    candidates.push_back(options_.tokenizer);
  } else {
    auto checkpoints = store.Checkpoints(run_id);
    for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
      candidates.push_back((fs::path(it->path) / "tokenizer.json").string());
    }
    RunRecord run = store.GetRun(run_id);
    const Json* model =
        run.config.is_object() && run.config.contains("model") ? &run.config["model"] : nullptr;
    if (model && model->is_object() && model->contains("checkpoint") &&
        (*model)["checkpoint"].is_string() && !(*model)["checkpoint"].get<std::string>().empty()) {
      candidates.push_back(
          (fs::path((*model)["checkpoint"].get<std::string>()) / "tokenizer.json").string());
    }
    // Relative paths were written relative to the trainer's working folder, usually the one
    // above the database's (runs/demo.db next to runs/<run>/...): try the database's folder too.
    size_t n = candidates.size();
    fs::path db_dir = fs::path(db_path_).parent_path();
    for (size_t i = 0; i < n; ++i) {
      if (fs::path(candidates[i]).is_relative() && !db_dir.empty()) {
        candidates.push_back((db_dir / candidates[i]).string());
        candidates.push_back((db_dir.parent_path() / candidates[i]).string());
      }
    }
  }
  for (const auto& path : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) continue;
    std::shared_ptr<const web_internal::TokenText> decoder;
    {
      std::lock_guard<std::mutex> lock(tokens_mu_);
      auto it = path_tokens_.find(path);
      if (it != path_tokens_.end()) decoder = it->second;
    }
    if (!decoder) {
      try {
        decoder = std::make_shared<const web_internal::TokenText>(
            web_internal::TokenText::FromFile(path));
      } catch (const Error& e) {
        TURNWISE_LOG_WARN("web: token text unavailable from {}: {}", path, e.what());
        continue;
      }
    }
    std::lock_guard<std::mutex> lock(tokens_mu_);
    path_tokens_[path] = decoder;
    // Only found decoders are kept per run: a live run may write its first checkpoint later.
    return run_tokens_[run_id] = {decoder, path};
  }
  return {nullptr, ""};
}

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
  static const std::regex kRunChart(R"(^/api/runs/(\d+)/chart\.svg$)");
  static const std::regex kRunGroup(R"(^/api/runs/(\d+)/groups/([^/]+)$)");
  static const std::regex kEpisode(R"(^/api/episodes/(\d+)$)");
  static const std::regex kEnv(R"(^/api/envs/([^/]+)$)");
  static const std::regex kMethod(R"(^/api/methods/([^/]+)$)");
  if (!StartsWith(path, "/api/")) return ErrorResponse(404, "not_found", "no such path: " + path);
  if (method != "GET") {
    return ErrorResponse(405, "method_not_allowed", "the API is read-only; use GET");
  }
  try {
    std::smatch m;
    // The method presets are built into the binary: answered without the database.
    if (path == "/api/methods") {
      RejectParams(query, {});
      Json list = Json::array();
      for (const auto& p : EmbeddedMethodPresets()) list.push_back(p.ToJson());
      return {200, {{"methods", list}}};
    }
    if (std::regex_match(path, m, kMethod)) {
      RejectParams(query, {});
      if (const MethodPreset* p = FindEmbeddedMethodPreset(m[1].str())) return {200, p->ToJson()};
      return ErrorResponse(
          404, "not_found",
          UnknownNameMessage("method preset", m[1].str(), EmbeddedMethodPresetNames()));
    }
    TrajectoryStore& store = Store();
    if (path == "/api/runs") {
      RejectParams(query, {});
      Json runs = Json::array();
      for (const auto& r : store.ListRuns()) {
        Json j = RunJson(r);
        auto [episodes, turns] =
            EpisodeAndTurnCounts(store, r.id, store.LatestEpisodeAndIteration(r.id).first);
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
        iterations.push_back({{"iter", it.iter},
                              {"started_at", it.started_at},
                              {"finished_at", it.finished_at},
                              {"summary", it.summary}});
      }
      j["iterations"] = iterations;
      Json checkpoints = Json::array();
      for (const auto& c : store.Checkpoints(r.id)) {
        checkpoints.push_back({{"iter", c.iter},
                               {"path", c.path},
                               {"created_at", c.created_at},
                               {"metrics", c.metrics}});
      }
      j["checkpoints"] = checkpoints;
      j["metric_keys"] = store.MetricKeys(r.id);
      Json latest = Json::object();
      for (const auto& [key, value] : store.LatestMetrics(r.id)) latest[key] = value;
      j["latest_metrics"] = latest;
      auto [episodes, turns] =
          EpisodeAndTurnCounts(store, r.id, store.LatestEpisodeAndIteration(r.id).first);
      j["episodes"] = episodes;
      j["turns"] = turns;
      return {200, j};
    }
    if (std::regex_match(path, m, kRunChart)) return RunChart(store, std::stoll(m[1]), query);
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
      auto [tokens, source] = TokenTextFor(store, run_id);
      for (const auto& e : episodes) {
        list.push_back(EpisodeWithTurnsJson(store, e, false, tokens.get()));
      }
      return {200,
              {{"run_id", run_id},
               {"group_id", group},
               {"episodes", list},
               {"token_source", tokens ? Json(source) : Json()}}};
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
      return {
          200,
          {{"total", page.total}, {"limit", q.limit}, {"offset", q.offset}, {"episodes", list}}};
    }
    if (std::regex_match(path, m, kEpisode)) {
      RejectParams(query, {});
      EpisodeRecord e = store.GetEpisode(std::stoll(m[1]));
      auto [tokens, source] = TokenTextFor(store, e.run_id);
      Json j = EpisodeWithTurnsJson(store, e, true, tokens.get());
      j["token_source"] = tokens ? Json(source) : Json();
      return {200, j};
    }
    if (path == "/api/envs") {
      RejectParams(query, {});
      return {200, {{"envs", EnvSpecs()}}};
    }
    if (std::regex_match(path, m, kEnv)) {
      RejectParams(query, {});
      std::vector<std::string> names;
      for (const auto& spec : EnvSpecs()) {
        if (spec["name"] == m[1].str()) return {200, spec};
        names.push_back(spec["name"].get<std::string>());
      }
      return ErrorResponse(404, "not_found", UnknownNameMessage("environment", m[1].str(), names));
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
