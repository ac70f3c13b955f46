// `turnwise plot`: learning curves of runs in a store as an SVG file (and as text).
//
//   turnwise plot --db runs/demo.db --run 2 --metric eval/valid/success --x env_steps --out c.svg
//   turnwise plot --db m.db --series "GRPO=1,2,3" --series "GiGPO=4,5,6" --metric ... --text
//
// One panel per metric, one line per run or series; a series is the mean over its runs (seeds)
// at each iteration they all reached, with a band of ± one standard error.
#include <fstream>
#include <iostream>
#include <optional>
#include <utility>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/text.h"
#include "storage/store.h"
#include "web/metric_charts.h"
#include "web/svg_chart.h"

namespace turnwise::cli {
namespace {

struct PlotOptions {
  std::string db;
  std::vector<int64_t> runs;
  std::vector<std::string> series;  // "LABEL=ID,ID,..."
  std::vector<std::string> metrics;
  std::string x = "iteration";
  int smooth = 1;
  std::string out;
  std::string title;
  std::string y_range;
  bool text = false;
};

std::vector<CurveGroup> Groups(const PlotOptions& o, TrajectoryStore& store) {
  std::vector<CurveGroup> groups = RunGroups(store, o.runs);
  for (const std::string& spec : o.series) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw InvalidArgument("--series '" + spec + "' must look like LABEL=ID,ID,...");
    }
    CurveGroup g{spec.substr(0, eq), {}};
    for (const std::string& id : Split(spec.substr(eq + 1), ',')) {
      try {
        g.runs.push_back(std::stoll(std::string(Trim(id))));
      } catch (const std::exception&) {
        throw InvalidArgument("--series '" + spec + "': '" + id + "' is not a run id");
      }
    }
    for (int64_t id : g.runs) store.GetRun(id);  // NotFound for an unknown run
    groups.push_back(std::move(g));
  }
  if (groups.empty()) throw InvalidArgument("give at least one --run ID or --series LABEL=ID,...");
  return groups;
}

std::optional<std::pair<double, double>> YRange(const std::string& text) {
  if (text.empty()) return std::nullopt;
  const auto parts = Split(text, ',');
  try {
    if (parts.size() != 2) throw std::invalid_argument("two numbers");
    return std::pair<double, double>(std::stod(parts[0]), std::stod(parts[1]));
  } catch (const std::exception&) {
    throw InvalidArgument("--y-range '" + text + "' must be LO,HI");
  }
}

void Plot(const PlotOptions& o) {
  if (o.metrics.empty()) throw InvalidArgument("give at least one --metric KEY (e.g. eval/valid/success)");
  if (o.out.empty() && !o.text) throw InvalidArgument("give --out FILE.svg, --text, or both");
  auto store = TrajectoryStore::OpenReadOnly(o.db);
  const std::vector<CurveGroup> groups = Groups(o, *store);
  const std::vector<ChartPanel> panels =
      CurvePanels(*store, groups, {.metrics = o.metrics, .x = o.x, .smooth = o.smooth, .y_range = YRange(o.y_range)});
  if (!o.out.empty()) {
    ChartOptions co;
    co.title = o.title;
    std::ofstream out(o.out, std::ios::trunc);
    out << RenderSvgChart(panels, co);
    if (!out.flush()) throw IoError("cannot write '" + o.out + "'");
    std::cout << "wrote " << o.out << " (" << panels.size() << " panel" << (panels.size() == 1 ? "" : "s") << ", "
              << groups.size() << " line" << (groups.size() == 1 ? "" : "s") << " each)\n";
  }
  if (o.text) {
    for (const ChartPanel& p : panels) {
      std::cout << p.title << " by " << p.x_label << "\n";
      for (const ChartSeries& s : p.series) {
        TextTable table({s.label + " " + p.x_label, "value", "± SE"});
        for (size_t i = 0; i < s.x.size(); ++i) {
          table.AddRow({FormatNumber(s.x[i], 0), FormatNumber(s.y[i], 3),
                        s.upper.empty() ? "" : FormatNumber(s.upper[i] - s.y[i], 3)});
        }
        table.Print(std::cout);
      }
    }
  }
}

}  // namespace

void AddPlotCommand(CLI::App& app) {
  auto o = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand("plot", "Learning curves of runs as an SVG file (and text)");
  cmd->add_option("--db", o->db, "trajectory store")->required();
  cmd->add_option("--run", o->runs, "a run id (repeatable): one line labelled by the run's name");
  cmd->add_option("--series", o->series,
                  "LABEL=ID,ID,... (repeatable): the mean over these runs (seeds) with a ± SE band");
  cmd->add_option("--metric", o->metrics, "metric key, one panel each (repeatable), e.g. eval/valid/success")
      ->required();
  cmd->add_option("--x", o->x, "x axis: iteration or env_steps (cumulative environment steps)")
      ->check(CLI::IsMember({"iteration", "env_steps"}))
      ->capture_default_str();
  cmd->add_option("--smooth", o->smooth, "moving average over this many iterations")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--y-range", o->y_range, "fixed y axis LO,HI (e.g. 0,1)");
  cmd->add_option("--title", o->title, "figure title");
  cmd->add_option("--out", o->out, "SVG file to write");
  cmd->add_flag("--text", o->text, "print the curves as tables");
  cmd->callback([o] { Plot(*o); });
}

}  // namespace turnwise::cli
