// The JSON API of the web UI over a trajectory store (read-only).
//
// WebApi maps one request (method, path, query parameters) to one response (status, JSON body)
// without any networking, so every endpoint is testable in process; WebServer (web/server.h)
// puts it behind HTTP. Endpoints (all GET; documented with examples in docs/web-api.md):
//
//   /api/runs                              runs with episode counts and best success
//   /api/runs/{id}                         one run: config, iterations, checkpoints, metric keys
//   /api/runs/{id}/metrics?keys=a,b        metric series
//   /api/runs/{id}/groups/{group_id}       the episodes of one group, with turns
//   /api/episodes?run=&split=&...          filtered, sorted, paginated episode list
//   /api/episodes/{id}                     one episode with turns and each turn's anchor peers
//   /api/envs                              the registered environments with their specs
//   /api/envs/{name}                       one environment's spec
//   /api/methods                           the method presets (configs/methods, built in)
//   /api/methods/{name}                    one preset: description, comment, algorithm block
//
// Token text: each turn of an episode or group carries `tokens`, the text of each generated
// token id, when a tokenizer.json is known for the run: Options::tokenizer when set, else the
// run's newest checkpoint that has one, else the run config's model.checkpoint folder (paths
// as written, or relative to the database's folder). Otherwise `tokens` is null and the UI
// shows the ids. A tokenizer file is read once per path and kept.
//
// Errors are {"error": {"code": ..., "message": ...}}: 400 for bad parameters (the message
// names the parameter), 404 for unknown ids and paths, 405 for other methods.
// Thread safety: Handle() may be called from many threads at once; each thread gets its own
// read-only connection to the database.
#ifndef TURNWISE_WEB_API_H_
#define TURNWISE_WEB_API_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/json.h"

namespace turnwise {

class TrajectoryStore;
namespace web_internal {
class TokenText;
}

struct ApiResponse {
  int status = 200;
  Json body;
  // A document that is not JSON (a chart's SVG): sent as is, with this type, when set.
  std::string content_type;
  std::string document;
};

class WebApi {
 public:
  struct Options {
    // tokenizer.json used for the token text of every run; empty = look it up per run.
    std::string tokenizer;
  };

  // Opens nothing yet; connections are opened read-only on first use per thread. Throws nothing.
  explicit WebApi(std::string db_path);
  WebApi(std::string db_path, Options options);
  ~WebApi();

  ApiResponse Handle(const std::string& method, const std::string& path,
                     const std::map<std::string, std::string>& query);

  const std::string& db_path() const { return db_path_; }

  // The calling thread's read-only store connection (opened on first use). Throws IoError /
  // FailedPrecondition when the database cannot be opened.
  TrajectoryStore& Store();

 private:
  // (episodes, turns) of a run. Counting scans the run's rows (~100 ms at 100,000 episodes), so
  // the answer is kept until the run's newest episode id changes: episodes are only ever
  // appended, with increasing ids, so an unchanged newest id means unchanged counts.
  std::pair<int64_t, int64_t> EpisodeAndTurnCounts(TrajectoryStore& store, int64_t run_id,
                                                   int64_t latest_episode);

  // The token decoder of a run (nullptr when none is found) and the file it came from.
  std::pair<std::shared_ptr<const web_internal::TokenText>, std::string> TokenTextFor(
      TrajectoryStore& store, int64_t run_id);

  std::string db_path_;
  Options options_;
  std::mutex tokens_mu_;
  // Per run: the decoder and its source path; per path: the decoder (files are read once).
  std::map<int64_t, std::pair<std::shared_ptr<const web_internal::TokenText>, std::string>>
      run_tokens_;
  std::map<std::string, std::shared_ptr<const web_internal::TokenText>> path_tokens_;
  struct RunCounts {
    int64_t latest_episode = -1;
    std::pair<int64_t, int64_t> counts;
  };
  std::mutex counts_mu_;
  std::map<int64_t, RunCounts> run_counts_;
};

}  // namespace turnwise

#endif  // TURNWISE_WEB_API_H_
