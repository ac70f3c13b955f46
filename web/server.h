// HTTP server for the web UI: the JSON API of web/api.h plus server-sent events for live runs.
//
// Binds 127.0.0.1 unless told otherwise. Every response carries strict headers
// (Content-Security-Policy without inline script, nosniff, no framing, no referrer). The server
// opens the database read-only and never writes to it; it serves no file from disk: the UI's
// files are embedded in the binary (web/assets.h) and matched by exact path.
//
//   GET /api/...            see web/api.h and docs/web-api.md
//   GET /, /assets/...      the UI (web/ui); any other path that is not under /api/ answers the
//                           UI's index.html, whose script routes on the client
//   GET /api/events?run=ID  text/event-stream: "episodes" and "iteration" events as the run's
//                           database grows (polled every `poll_interval`), "ping" every 15 s,
//                           a comment line every 2 s so a departed browser frees its worker
//
// Thread safety: Start/Stop from one thread. Requests run on a pool of `threads` workers; each
// open event stream holds one worker for its lifetime, so size the pool for the expected number
// of open browser tabs plus a few.
#ifndef TURNWISE_WEB_SERVER_H_
#define TURNWISE_WEB_SERVER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace turnwise {

class WebApi;

class WebServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0 = any free port (see Start's result)
    int threads = 8;
    std::chrono::milliseconds poll_interval{500};
    std::string tokenizer;  // tokenizer.json for token text; empty = per run (web/api.h)
  };

  WebServer(std::string db_path, Options options);
  ~WebServer();  // Stop()s

  // Binds and starts serving on a background thread; returns the bound port. Throws
  // Unavailable naming host:port when it cannot bind, IoError/FailedPrecondition when the
  // database cannot be opened read-only.
  int Start();
  // Blocks until Stop() is called from another thread or a signal handler path.
  void Wait();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnwise

#endif  // TURNWISE_WEB_SERVER_H_
