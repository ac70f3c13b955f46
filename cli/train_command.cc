// `turnwise train --config FILE [--method NAME|FILE] [--set key=value …] [--resume RUN_DIR]
// [--web-port P]`: multi-turn RL training (training/trainer.h). Prints a before/after success
// table and how to open the UI.
#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/error.h"
#include "core/stats.h"
#include "storage/store.h"
#include "training/trainer.h"
#include "web/server.h"

namespace turnwise::cli {
namespace {

// One line per evaluated split that a script can read:
//   held-out success: 21.0% -> 55.5% (+34.5 points, 400 episodes, SE 3.4 points)
// (with the split's name after "success" when there are several). SE is the standard error of the
// gain: both rates binomial over their own episodes.
void PrintHeldOutLine(const TrainResult& r, std::ostream& out) {
  for (auto it = r.after.begin(); it != r.after.end(); ++it) {
    if (!r.before.contains(it.key())) continue;
    const Json& b = r.before[it.key()];
    const double before = b.value("success_rate", 0.0), after = it.value().value("success_rate", 0.0);
    const int64_t nb = b.value("episodes", int64_t{0}), na = it.value().value("episodes", int64_t{0});
    const double se = std::hypot(BinomialStandardError(before, nb), BinomialStandardError(after, na));
    const double gain = 100 * (after - before);
    out << "held-out success" << (r.after.size() > 1 ? " (" + it.key() + ")" : std::string()) << ": "
        << FormatNumber(100 * before, 1) << "% -> " << FormatNumber(100 * after, 1) << "% ("
        << (gain >= 0 ? "+" : "") << FormatNumber(gain, 1) << " points, " << na << " episodes, SE "
        << FormatNumber(100 * se, 1) << " points)\n";
  }
}

void PrintBeforeAfter(const TrainResult& r, std::ostream& out) {
  if (r.after.empty()) return;
  TextTable table({"split", "success before", "success after", "change", "invalid actions before", "after"});
  auto pct = [](double v) { return FormatNumber(100 * v, 1) + "%"; };
  for (auto it = r.after.begin(); it != r.after.end(); ++it) {
    double after = it.value().value("success_rate", 0.0);
    bool has_before = r.before.contains(it.key());
    const Json& b = has_before ? r.before[it.key()] : Json::object();
    double before = b.value("success_rate", 0.0);
    auto rate = [](const Json& e) { return FormatRate(e.value("success_rate", 0.0), e.value("episodes", int64_t{0})); };
    table.AddRow({it.key(), has_before ? rate(b) : "-", rate(it.value()),
                  has_before ? (after >= before ? "+" : "") + FormatNumber(100 * (after - before), 1) + " points" : "-",
                  has_before ? pct(b.value("invalid_action_rate", 0.0)) : "-",
                  pct(it.value().value("invalid_action_rate", 0.0))});
  }
  out << "\n";
  table.Print(out);
  PrintHeldOutLine(r, out);
}

}  // namespace

void AddTrainCommand(CLI::App& app) {
  struct Options {
    std::string config;
    std::string method;
    std::vector<std::string> sets;
    std::string resume;
    int web_port = -1;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("train", "Multi-turn RL training (rollout, advantages, PPO updates, checkpoints)");
  cmd->add_option("--config", o->config, "Run config (JSON; see configs/)");
  cmd->add_option("--method", o->method,
                  "Method preset merged under the config's algorithm keys: a name in configs/methods or a .json "
                  "path (the same as --set algorithm.preset=NAME)");
  cmd->add_option("--set", o->sets, "Override a config key, e.g. --set optim.lr=1e-5");
  cmd->add_option("--resume", o->resume, "Continue the run in this directory from its latest checkpoint");
  cmd->add_option("--web-port", o->web_port, "Also serve the web UI API on this port while training");
  cmd->callback([o] {
    if (o->config.empty() && o->resume.empty()) throw InvalidArgument("train: give --config FILE or --resume RUN_DIR");
    if (!o->resume.empty() && (!o->config.empty() || !o->sets.empty() || !o->method.empty())) {
      throw InvalidArgument("train: --resume takes the run's own config.json; drop --config/--set/--method");
    }
    std::vector<std::string> sets = o->sets;
    if (!o->method.empty()) {
      for (const auto& s : sets) {
        if (s.rfind("algorithm.preset=", 0) == 0) {
          throw InvalidArgument("train: --method and --set algorithm.preset both name a preset; give one");
        }
      }
      // Replaces an algorithm.preset the config file names. JSON-quoted, so a file name that
      // starts with a quote is still taken as written.
      sets.push_back("algorithm.preset=" + DumpJson(o->method));
    }
    Json config = o->config.empty() ? Json::object() : LoadConfig(o->config, sets, TrainConfigSchema());
    std::unique_ptr<WebServer> web;
    if (o->web_port >= 0) {
      std::string db = o->resume.empty() ? config["output"]["db"].get<std::string>()
                                         : ReadJsonFile(o->resume + "/config.json")["output"]["db"].get<std::string>();
      if (std::filesystem::path(db).has_parent_path()) std::filesystem::create_directories(std::filesystem::path(db).parent_path());
      StoreWriter::Open(db)->Close();  // the schema must exist before a read-only server opens it
      web = std::make_unique<WebServer>(db, WebServer::Options{.port = o->web_port});
      int port = web->Start();
      std::cout << "web: live run at http://127.0.0.1:" << port << "/" << std::endl;
    }
    TrainOptions options;
    options.resume_dir = o->resume;
    TrainResult r = Train(config, options, std::cout);
    PrintBeforeAfter(r, std::cout);
    std::cout << "\nrun " << r.run_id << " in " << r.run_dir << "; open it with:\n  turnwise web --db " << r.db
              << "\n";
    if (web) web->Stop();
  });
}

}  // namespace turnwise::cli
