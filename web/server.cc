#include "web/server.h"

#include <httplib.h>

#include <mutex>

#include "core/error.h"
#include "core/json.h"
#include "core/logging.h"
#include "core/text.h"
#include "storage/store.h"
#include "web/api.h"
#include "web/assets.h"

namespace turnwise {

struct WebServer::Impl {
  Impl(std::string db_path, Options o)
      : api(std::move(db_path), {.tokenizer = o.tokenizer}), options(std::move(o)) {}
  WebApi api;
  Options options;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> stopping{false};
  int port = 0;
};

namespace {

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json; charset=utf-8");
}

}  // namespace

WebServer::WebServer(std::string db_path, Options options)
    : impl_(std::make_unique<Impl>(std::move(db_path), std::move(options))) {}

WebServer::~WebServer() { Stop(); }

int WebServer::Start() {
  Impl& s = *impl_;
  // Fail before binding when the database is unusable, with the store's own message.
  s.api.Store();

  s.server.new_task_queue = [n = s.options.threads] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  s.server.set_payload_max_length(64 * 1024);
  // httplib writes headers and body separately: without TCP_NODELAY, Nagle's algorithm and the
  // peer's delayed ACK hold every small answer back ~40 ms.
  s.server.set_tcp_nodelay(true);
  s.server.set_default_headers({
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  });
  s.server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string msg = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          msg = e.what();
        } catch (...) {
        }
        SendJson(res, 500, {{"error", {{"code", "internal"}, {"message", msg}}}});
      });

  s.server.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& s = *impl_;
    int64_t run_id = 0;
    try {
      run_id = std::stoll(req.get_param_value("run"));
      s.api.Store().GetRun(run_id);
    } catch (const NotFound& e) {
      return SendJson(res, 404, {{"error", {{"code", "not_found"}, {"message", e.what()}}}});
    } catch (const std::exception&) {
      return SendJson(
          res, 400,
          {{"error", {{"code", "bad_request"}, {"message", "parameter 'run' must be a run id"}}}});
    }
    auto last = std::make_shared<std::pair<int64_t, int64_t>>(-1, -1);
    auto last_ping =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto last_write = std::make_shared<std::chrono::steady_clock::time_point>(*last_ping);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, run_id, last, last_ping, last_write](size_t, httplib::DataSink& sink) {
          Impl& s = *impl_;
          if (s.stopping) return false;
          auto now = s.api.Store().LatestEpisodeAndIteration(run_id);
          std::string frames;
          if (now.first != last->first) {
            frames += "event: episodes\ndata: " +
                      DumpJson({{"run_id", run_id}, {"latest_episode_id", now.first}}) + "\n\n";
          }
          if (now.second != last->second) {
            frames += "event: iteration\ndata: " +
                      DumpJson({{"run_id", run_id}, {"latest_iteration", now.second}}) + "\n\n";
          }
          auto t = std::chrono::steady_clock::now();
          if (frames.empty() && t - *last_ping > std::chrono::seconds(15)) {
            frames = "event: ping\ndata: {}\n\n";
          }
          if (!frames.empty()) {
            *last_ping = t;
            *last_write = t;
            if (!sink.write(frames.data(), frames.size())) return false;
          } else if (t - *last_write > std::chrono::seconds(2)) {
            // A comment line, ignored by EventSource: writing is the only way to notice a
            // browser that left (the write fails once the peer has closed), which frees this
            // worker within seconds instead of at the next ping.
            *last_write = t;
            if (!sink.write(":\n\n", 3)) return false;
          }
          *last = now;
          std::this_thread::sleep_for(s.options.poll_interval);
          return !s.stopping.load();
        });
  });

  s.server.Get(R"(/api/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    std::map<std::string, std::string> query;
    for (const auto& [k, v] : req.params) query[k] = v;  // last value wins for repeated keys
    ApiResponse r = impl_->api.Handle("GET", req.path, query);
    if (r.content_type.empty()) return SendJson(res, r.status, r.body);
    res.status = r.status;
    res.set_content(r.document, r.content_type);
  });
  auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
    SendJson(res, 405,
             {{"error",
               {{"code", "method_not_allowed"}, {"message", "the API is read-only; use GET"}}}});
  };
  s.server.Post(R"(/.*)", not_allowed);
  s.server.Put(R"(/.*)", not_allowed);
  s.server.Delete(R"(/.*)", not_allowed);
  s.server.Patch(R"(/.*)", not_allowed);
  // The UI: embedded files by exact path; any other non-API path is a page of the single-page
  // app, answered with index.html (the app routes on the client). A missing /assets/ file is a
  // 404, not HTML, so a stale page fails visibly instead of executing the wrong type.
  s.server.Get(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/api" || StartsWith(req.path, "/api/")) {
      return SendJson(
          res, 404, {{"error", {{"code", "not_found"}, {"message", "no such path: " + req.path}}}});
    }
    const EmbeddedAsset* asset = FindEmbeddedAsset(req.path == "/" ? "/index.html" : req.path);
    if (!asset && StartsWith(req.path, "/assets/")) {
      res.status = 404;
      res.set_content("not found", "text/plain; charset=utf-8");
      return;
    }
    if (!asset) asset = FindEmbeddedAsset("/index.html");
    if (!asset) {
      return SendJson(
          res, 404,
          {{"error",
            {{"code", "not_found"}, {"message", "this binary was built without the UI"}}}});
    }
    if (StartsWith(asset->path, "/assets/")) {
      // Vite names these by content hash: a name never changes meaning. (Replaces the default
      // no-store; two Cache-Control headers would contradict each other.)
      res.headers.erase("Cache-Control");
      res.set_header("Cache-Control", "public, max-age=31536000, immutable");
    }
    res.set_content(asset->data.data(), asset->data.size(), std::string(asset->content_type));
  });
  s.server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) {
      SendJson(res, 404,
               {{"error", {{"code", "not_found"}, {"message", "no such path: " + req.path}}}});
    }
  });

  if (s.options.port == 0) {
    s.port = s.server.bind_to_any_port(s.options.host);
  } else {
    s.port = s.server.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1;
  }
  if (s.port <= 0) {
    throw Unavailable("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                      " (address in use or not local?)");
  }
  s.thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return s.port;
}

void WebServer::Wait() {
  if (impl_->thread.joinable()) impl_->thread.join();
}

void WebServer::Stop() {
  Impl& s = *impl_;
  s.stopping = true;
  // The socket is already listening after bind, so stop() cannot race the listen loop's start.
  if (s.thread.joinable()) {
    while (!s.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s.server.stop();
    s.thread.join();
  }
}

}  // namespace turnwise
