// `turnwise runs list|show|export|import`: look into a trajectory store from the terminal.
#include <fstream>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/error.h"
#include "storage/store.h"

namespace turnwise::cli {
namespace {

struct RunsOptions {
  std::string db = "runs/turnwise.db";
  int64_t run_id = 0;
  std::string out;
  std::string in;
};

void ListRuns(const RunsOptions& o) {
  auto store = TrajectoryStore::OpenReadOnly(o.db);
  auto runs = store->ListRuns();
  if (runs.empty()) {
    std::cout << "no runs in " << o.db << "\n";
    return;
  }
  TextTable table({"id", "name", "env", "method", "status", "episodes", "turns", "created (UTC)"});
  for (const auto& r : runs) {
    auto [episodes, turns] = store->CountEpisodesAndTurns(r.id);
    table.AddRow({std::to_string(r.id), r.name, r.env, r.method, r.status,
                  std::to_string(episodes), std::to_string(turns), FormatTime(r.created_at)});
  }
  table.Print(std::cout);
}

void ShowRun(const RunsOptions& o) {
  auto store = TrajectoryStore::OpenReadOnly(o.db);
  RunRecord r = store->GetRun(o.run_id);
  auto [episodes, turns] = store->CountEpisodesAndTurns(r.id);
  std::cout << "run " << r.id << ": " << r.name << "\n"
            << "  status    " << r.status << "\n"
            << "  env       " << r.env << "\n"
            << "  method    " << r.method << "\n"
            << "  seed      " << r.seed << "\n"
            << "  created   " << FormatTime(r.created_at) << " UTC\n"
            << "  finished  " << FormatTime(r.finished_at) << "\n"
            << "  episodes  " << episodes << " (" << turns << " turns)\n";
  if (!r.notes.empty()) std::cout << "  notes     " << r.notes << "\n";

  // Success by split and policy, from the store's own filters.
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> by_split;
  EpisodeQuery q{.run_id = r.id, .limit = 10000};
  for (q.offset = 0;; q.offset += q.limit) {
    auto page = store->QueryEpisodes(q);
    for (const auto& e : page.episodes) {
      auto& cell = by_split[{e.split, e.policy}];
      cell.first += 1;
      cell.second += e.success ? 1 : 0;
    }
    if (q.offset + q.limit >= page.total) break;
  }
  if (!by_split.empty()) {
    std::cout << "\n";
    TextTable table({"split", "policy", "episodes", "success"});
    for (const auto& [key, cell] : by_split) {
      table.AddRow({key.first, key.second.empty() ? "-" : key.second, std::to_string(cell.first),
                    FormatNumber(100.0 * static_cast<double>(cell.second) /
                                     static_cast<double>(cell.first), 1) + "%"});
    }
    table.Print(std::cout);
  }
  auto iterations = store->Iterations(r.id);
  auto latest = store->LatestMetrics(r.id);
  if (!latest.empty()) {
    std::cout << "\nlatest metrics (" << iterations.size() << " iterations)\n";
    TextTable table({"metric", "value"});
    for (const auto& [key, value] : latest) table.AddRow({key, FormatNumber(value, 4)});
    table.Print(std::cout);
  }
  auto checkpoints = store->Checkpoints(r.id);
  if (!checkpoints.empty()) {
    std::cout << "\ncheckpoints\n";
    for (const auto& c : checkpoints) std::cout << "  iter " << c.iter << "  " << c.path << "\n";
  }
  std::cout << "\nconfig\n" << DumpJson(r.config, 2) << "\n";
}

void ExportRun(const RunsOptions& o) {
  auto store = TrajectoryStore::OpenReadOnly(o.db);
  store->GetRun(o.run_id);  // fail on an unknown id before creating the output file
  if (o.out.empty() || o.out == "-") {
    store->ExportRun(o.run_id, std::cout);
    return;
  }
  std::ofstream out(o.out, std::ios::trunc);
  if (!out) throw IoError("cannot write '" + o.out + "'");
  int64_t lines = store->ExportRun(o.run_id, out);
  std::cerr << "wrote " << lines << " lines to " << o.out << "\n";
}

void ImportRun(const RunsOptions& o) {
  std::ifstream in(o.in);
  if (!in) throw IoError("cannot read '" + o.in + "'");
  auto writer = StoreWriter::Open(o.db);
  int64_t id = writer->ImportRun(in);
  writer->Close();
  std::cout << "imported as run " << id << " into " << o.db << "\n";
}

}  // namespace

void AddRunsCommand(CLI::App& app) {
  auto opts = std::make_shared<RunsOptions>();
  CLI::App* runs = app.add_subcommand("runs", "Inspect, export and import runs in a trajectory store");
  runs->require_subcommand(1);
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--db", opts->db, "SQLite trajectory store")->capture_default_str();
  };

  CLI::App* list = runs->add_subcommand("list", "List the runs of a store");
  add_db(list);
  list->callback([opts] { ListRuns(*opts); });

  CLI::App* show = runs->add_subcommand("show", "Show one run: status, success by split, metrics, config");
  add_db(show);
  show->add_option("run_id", opts->run_id, "Run id (see `runs list`)")->required();
  show->callback([opts] { ShowRun(*opts); });

  CLI::App* exp = runs->add_subcommand("export", "Export a run as JSONL (run, iterations, metrics, checkpoints, episodes with turns)");
  add_db(exp);
  exp->add_option("run_id", opts->run_id, "Run id")->required();
  exp->add_option("--out", opts->out, "Output file (default: stdout)");
  exp->callback([opts] { ExportRun(*opts); });

  CLI::App* imp = runs->add_subcommand("import", "Import a JSONL export as a new run");
  add_db(imp);
  imp->add_option("--in", opts->in, "JSONL file written by `runs export`")->required();
  imp->callback([opts] { ImportRun(*opts); });
}

}  // namespace turnwise::cli
