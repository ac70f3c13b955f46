// EnvServer: serves one registered environment over the Turnwise protocol v1 (docs/protocol.md)
// — HTTP/1.1 keep-alive, a batch endpoint and one WebSocket per client — on Boost.Asio/Beast.
//
// Each session owns one Env instance made by the registry. Requests for one session run one at
// a time (a per-session lock); requests for different sessions run in parallel on `threads` I/O
// threads. An env step runs on the I/O thread that read its request: household steps take
// microseconds, so this is the fastest arrangement; an env whose steps block for long wants more
// threads than cores.
//
// Limits and answers: more than `max_sessions` sessions → 503 (Retry-After); a body over
// `max_body_bytes` → 413; headers over `max_header_bytes` → 431; a request whose bytes stop
// arriving for `read_timeout` → 408; malformed JSON, unknown or mistyped fields → 400; unknown
// session → 404; stepping a finished or never-reset episode → 409; a configured token missing
// → 401; the env throwing → 500 and the session is closed. Idle sessions expire after
// `idle_timeout`. Nothing a client sends stops the server or disturbs other sessions.
//
// Thread safety: Start/Stop from one thread; port() and counters from any.
#ifndef TURNWISE_ENVS_ENV_SERVER_H_
#define TURNWISE_ENVS_ENV_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/json.h"

namespace turnwise {

struct EnvServerOptions {
  std::string env;                   // registered env name
  Json env_config = Json::object();  // base config; a session's own config is merged over it
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port (see EnvServer::port())
  int threads = 2;
  std::string token;  // when set, requests need "Authorization: Bearer <token>"
  int64_t max_sessions = 4096;
  int64_t max_body_bytes = 1 << 20;
  int64_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds keepalive_timeout{300000};  // an idle connection is closed after it
  std::chrono::milliseconds idle_timeout{600000};       // an idle session is closed after it
};

struct EnvServerCounters {
  int64_t sessions_active = 0;
  int64_t sessions_created = 0;
  int64_t sessions_expired = 0;
  int64_t connections_active = 0;
  int64_t requests = 0;
  int64_t steps = 0;
  int64_t errors_4xx = 0;
  int64_t errors_5xx = 0;
};

class EnvServer {
 public:
  // Validates the options (unknown env → NotFound listing the known ones; bad env config →
  // ConfigError) by making one env; does not bind yet.
  explicit EnvServer(EnvServerOptions options);
  ~EnvServer();  // Stop()s
  EnvServer(const EnvServer&) = delete;
  EnvServer& operator=(const EnvServer&) = delete;

  // Binds and starts the I/O threads. Throws Unavailable when the address cannot be bound.
  void Start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void Stop();
  // Blocks until Stop() is called from another thread or a signal handler flag is raised.
  void Wait();

  uint16_t port() const;
  std::string base_url() const;  // http://host:port
  EnvServerCounters counters() const;

  class Impl;  // implementation (envs/env_server.cc); public only so its connections can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_ENV_SERVER_H_
