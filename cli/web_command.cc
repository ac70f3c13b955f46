// `turnwise web --db FILE`: serve the web UI (embedded in the binary) and its JSON API over a
// trajectory store, read-only.
#include <iostream>

#include "cli/commands.h"
#include "web/server.h"

namespace turnwise::cli {

void AddWebCommand(CLI::App& app) {
  struct Options {
    std::string db = "runs/turnwise.db";
    std::string host = "127.0.0.1";
    int port = 8080;
    int threads = 8;
    std::string tokenizer;
  };
  auto o = std::make_shared<Options>();
  CLI::App* web = app.add_subcommand(
      "web", "Serve the web UI and its JSON API over a trajectory store (read-only)");
  web->add_option("--db", o->db, "SQLite trajectory store")->capture_default_str();
  web->add_option("--host", o->host, "Address to bind (loopback unless told)")
      ->capture_default_str();
  web->add_option("--port", o->port, "Port (0 = any free port)")->capture_default_str();
  web->add_option("--threads", o->threads, "Worker threads (each open live view holds one)")
      ->capture_default_str()
      ->check(CLI::Range(2, 256));
  web->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json for token text in replays (default: the run's checkpoints)")
      ->check(CLI::ExistingFile);
  web->callback([o] {
    WebServer server(
        o->db,
        {.host = o->host, .port = o->port, .threads = o->threads, .tokenizer = o->tokenizer});
    int port = server.Start();
    // Tests and scripts read the port from this line (--port 0 picks a free one).
    std::cout << "serving " << o->db << " on http://" << o->host << ":" << port << "/" << std::endl;
    server.Wait();
  });
}

}  // namespace turnwise::cli
