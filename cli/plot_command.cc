// `turnwise plot`: learning curves of runs in a store as an SVG file (and as text).
//
//   turnwise plot --db runs/demo.db --run 2 --metric eval/valid/success --x env_steps --out c.svg
//   turnwise plot --db m.db --series "GRPO=1,2,3" --series "GiGPO=4,5,6" --metric ... --text
//
// One panel per metric, one line per run or series; a series is the mean over its runs (seeds)
// at each iteration they all reached, with a band of ± one standard error.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/text.h"
#include "storage/store.h"
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

struct Group {
  std::string label;
  std::vector<int64_t> runs;
};

std::vector<Group> Groups(const PlotOptions& o, TrajectoryStore& store) {
  std::vector<Group> groups;
  for (int64_t id : o.runs) groups.push_back({store.GetRun(id).name + " (run " + std::to_string(id) + ")", {id}});
  for (const std::string& spec : o.series) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw InvalidArgument("--series '" + spec + "' must look like LABEL=ID,ID,...");
    }
    Group g{spec.substr(0, eq), {}};
    for (const std::string& id : Split(spec.substr(eq + 1), ',')) {
      try {
        size_t used = 0;
        g.runs.push_back(std::stoll(std::string(Trim(id)), &used));
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

// iteration -> cumulative env steps after it (0 before the first).
std::map<int64_t, double> EnvSteps(TrajectoryStore& store, int64_t run) {
  std::map<int64_t, double> out{{0, 0.0}};
  double total = 0;
  for (const MetricPoint& p : store.MetricSeries(run, "train/env_steps")) {
    total += p.value;
    out[p.iter] = total;
  }
  return out;
}

// The runs' values of `key` at the iterations every run has, averaged, with the standard error.
ChartSeries Aggregate(TrajectoryStore& store, const Group& g, const std::string& key, const PlotOptions& o) {
  std::map<int64_t, std::vector<double>> ys, xs;
  for (int64_t run : g.runs) {
    std::vector<MetricPoint> points = store.MetricSeries(run, key);
    if (o.smooth > 1) {
      std::vector<MetricPoint> smoothed = points;
      for (size_t i = 0; i < points.size(); ++i) {
        double sum = 0;
        size_t n = 0;
        for (size_t k = i + 1 > static_cast<size_t>(o.smooth) ? i + 1 - static_cast<size_t>(o.smooth) : 0; k <= i; ++k, ++n) {
          sum += points[k].value;
        }
        smoothed[i].value = sum / static_cast<double>(n);
      }
      points.swap(smoothed);
    }
    const std::map<int64_t, double> steps = o.x == "env_steps" ? EnvSteps(store, run) : std::map<int64_t, double>{};
    for (const MetricPoint& p : points) {
      double x = static_cast<double>(p.iter);
      if (o.x == "env_steps") {
        auto it = steps.upper_bound(p.iter);
        x = it == steps.begin() ? 0.0 : std::prev(it)->second;
      }
      ys[p.iter].push_back(p.value);
      xs[p.iter].push_back(x);
    }
  }
  ChartSeries s;
  s.label = g.label;
  for (const auto& [iter, values] : ys) {
    if (values.size() != g.runs.size()) continue;  // every run must have reached it
    const double n = static_cast<double>(values.size());
    double mean = 0, x = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      mean += values[i] / n;
      x += xs[iter][i] / n;
    }
    double var = 0;
    for (double v : values) var += (v - mean) * (v - mean);
    const double se = values.size() > 1 ? std::sqrt(var / (n - 1) / n) : 0.0;
    s.x.push_back(x);
    s.y.push_back(mean);
    if (g.runs.size() > 1) {
      s.lower.push_back(mean - se);
      s.upper.push_back(mean + se);
    }
  }
  return s;
}

void Plot(const PlotOptions& o) {
  if (o.metrics.empty()) throw InvalidArgument("give at least one --metric KEY (e.g. eval/valid/success)");
  if (o.out.empty() && !o.text) throw InvalidArgument("give --out FILE.svg, --text, or both");
  auto store = TrajectoryStore::OpenReadOnly(o.db);
  const std::vector<Group> groups = Groups(o, *store);
  std::vector<ChartPanel> panels;
  for (const std::string& key : o.metrics) {
    ChartPanel panel;
    panel.title = key;
    panel.y_label = key;
    panel.x_label = o.x == "env_steps" ? "env steps" : "iteration";
    panel.integer_x = o.x == "iteration";
    if (!o.y_range.empty()) {
      const auto parts = Split(o.y_range, ',');
      try {
        if (parts.size() != 2) throw std::invalid_argument("two numbers");
        panel.y_min = std::stod(parts[0]);
        panel.y_max = std::stod(parts[1]);
      } catch (const std::exception&) {
        throw InvalidArgument("--y-range '" + o.y_range + "' must be LO,HI");
      }
    }
    bool any = false;
    for (const Group& g : groups) {
      panel.series.push_back(Aggregate(*store, g, key, o));
      any = any || !panel.series.back().x.empty();
    }
    if (!any) {
      throw NotFound(UnknownNameMessage("metric of run " + std::to_string(groups[0].runs[0]), key,
                                        store->MetricKeys(groups[0].runs[0])));
    }
    panels.push_back(std::move(panel));
  }
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
