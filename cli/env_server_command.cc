// `turnwise env-server --env NAME`: serve a registered environment over protocol v1
// (docs/protocol.md) until interrupted.
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "envs/env_server.h"

namespace turnwise::cli {

void AddEnvServerCommand(CLI::App& app) {
  struct Options {
    EnvServerOptions server;
    std::vector<std::string> sets;
    double idle_timeout_s = 600;
    double read_timeout_s = 30;
    int port = 8123;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("env-server", "Serve a registered environment over HTTP and WebSocket");
  cmd->add_option("--env", o->server.env, "Registered environment name (see `turnwise envs list`)")
      ->required();
  cmd->add_option("--port", o->port, "TCP port (0 picks a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", o->server.host, "Address to bind; 0.0.0.0 exposes it to the network")
      ->capture_default_str();
  cmd->add_option("--threads", o->server.threads, "I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--token", o->server.token,
                  "Require 'Authorization: Bearer TOKEN' (default: $TURNWISE_ENV_TOKEN when set)");
  cmd->add_option("--set", o->sets,
                  "Env config key=value applied to every session, e.g. grammar_version=0.3");
  cmd->add_option("--max-sessions", o->server.max_sessions, "Session limit (503 beyond it)")
      ->capture_default_str();
  cmd->add_option("--max-body", o->server.max_body_bytes,
                  "Body size limit in bytes (413 beyond it)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", o->idle_timeout_s, "Seconds before an idle session is closed")
      ->capture_default_str();
  cmd->add_option("--read-timeout", o->read_timeout_s,
                  "Seconds a request may take to arrive (408 beyond it)")
      ->capture_default_str();
  cmd->callback([o] {
    EnvServerOptions opt = o->server;
    opt.port = static_cast<uint16_t>(o->port);
    if (opt.token.empty()) {
      if (const char* t = std::getenv("TURNWISE_ENV_TOKEN")) opt.token = t;
    }
    for (const auto& s : o->sets) ApplyOverride(opt.env_config, s, nullptr);
    if (o->idle_timeout_s <= 0) throw ConfigError("--idle-timeout", "must be positive");
    if (o->read_timeout_s <= 0) throw ConfigError("--read-timeout", "must be positive");
    opt.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->idle_timeout_s * 1000));
    opt.read_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->read_timeout_s * 1000));
    EnvServer server(opt);
    server.Start();
    std::cout << "turnwise env-server: serving '" << opt.env << "' on " << server.base_url()
              << " (protocol turnwise/v1, HTTP and WebSocket at /v1/ws, " << opt.threads
              << " threads" << (opt.token.empty() ? "" : ", bearer token required")
              << "); Ctrl-C stops" << std::endl;
    server.Wait();
    auto c = server.counters();
    server.Stop();
    std::cout << "turnwise env-server: stopped after " << c.requests << " requests, " << c.steps
              << " steps, " << c.sessions_created << " sessions" << std::endl;
  });
}

}  // namespace turnwise::cli
