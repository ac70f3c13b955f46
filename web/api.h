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
//
// Errors are {"error": {"code": ..., "message": ...}}: 400 for bad parameters (the message
// names the parameter), 404 for unknown ids and paths, 405 for other methods.
// Thread safety: Handle() may be called from many threads at once; each thread gets its own
// read-only connection to the database.
#ifndef TURNWISE_WEB_API_H_
#define TURNWISE_WEB_API_H_

#include <map>
#include <memory>
#include <string>

#include "core/json.h"

namespace turnwise {

class TrajectoryStore;

struct ApiResponse {
  int status = 200;
  Json body;
};

class WebApi {
 public:
  // Opens nothing yet; connections are opened read-only on first use per thread. Throws nothing.
  explicit WebApi(std::string db_path);
  ~WebApi();

  ApiResponse Handle(const std::string& method, const std::string& path,
                     const std::map<std::string, std::string>& query);

  const std::string& db_path() const { return db_path_; }

  // The calling thread's read-only store connection (opened on first use). Throws IoError /
  // FailedPrecondition when the database cannot be opened.
  TrajectoryStore& Store();

 private:
  std::string db_path_;
};

}  // namespace turnwise

#endif  // TURNWISE_WEB_API_H_
