#include "web/metric_charts.h"

#include <iterator>
#include <map>

#include "core/error.h"
#include "core/stats.h"
#include "core/text.h"

namespace turnwise {
namespace {

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

// Each point replaced by the mean of the last `window` points up to it.
std::vector<MetricPoint> Smoothed(std::vector<MetricPoint> points, int window) {
  if (window <= 1) return points;
  std::vector<MetricPoint> out = points;
  for (size_t i = 0; i < points.size(); ++i) {
    const size_t first = i + 1 > static_cast<size_t>(window) ? i + 1 - static_cast<size_t>(window) : 0;
    double sum = 0;
    for (size_t k = first; k <= i; ++k) sum += points[k].value;
    out[i].value = sum / static_cast<double>(i + 1 - first);
  }
  return out;
}

// The runs' values of `key` at the iterations every run has, averaged, with the standard error.
ChartSeries Aggregate(TrajectoryStore& store, const CurveGroup& g, const std::string& key, const CurveOptions& o) {
  std::map<int64_t, std::vector<double>> ys, xs;
  for (int64_t run : g.runs) {
    const std::map<int64_t, double> steps = o.x == "env_steps" ? EnvSteps(store, run) : std::map<int64_t, double>{};
    for (const MetricPoint& p : Smoothed(store.MetricSeries(run, key), o.smooth)) {
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
    const MeanAndError y = MeanWithStandardError(values);
    s.x.push_back(MeanWithStandardError(xs[iter]).mean);
    s.y.push_back(y.mean);
    if (g.runs.size() > 1) {
      s.lower.push_back(y.mean - y.standard_error);
      s.upper.push_back(y.mean + y.standard_error);
    }
  }
  return s;
}

}  // namespace

std::vector<CurveGroup> RunGroups(TrajectoryStore& store, const std::vector<int64_t>& runs) {
  std::vector<CurveGroup> groups;
  for (int64_t id : runs) groups.push_back({store.GetRun(id).name + " (run " + std::to_string(id) + ")", {id}});
  return groups;
}

std::vector<ChartPanel> CurvePanels(TrajectoryStore& store, const std::vector<CurveGroup>& groups,
                                    const CurveOptions& o) {
  if (o.x != "iteration" && o.x != "env_steps") {
    throw InvalidArgument(UnknownNameMessage("x axis", o.x, {"iteration", "env_steps"}));
  }
  if (o.metrics.empty()) throw InvalidArgument("give at least one metric key (e.g. eval/valid/success)");
  if (groups.empty() || groups[0].runs.empty()) throw InvalidArgument("give at least one run");
  std::vector<ChartPanel> panels;
  for (const std::string& key : o.metrics) {
    ChartPanel panel;
    panel.title = key;
    panel.y_label = key;
    panel.x_label = o.x == "env_steps" ? "env steps" : "iteration";
    panel.integer_x = o.x == "iteration";
    if (o.y_range) {
      panel.y_min = o.y_range->first;
      panel.y_max = o.y_range->second;
    }
    bool any = false;
    for (const CurveGroup& g : groups) {
      panel.series.push_back(Aggregate(store, g, key, o));
      any = any || !panel.series.back().x.empty();
    }
    if (!any) {
      throw NotFound(UnknownNameMessage("metric of run " + std::to_string(groups[0].runs[0]), key,
                                        store.MetricKeys(groups[0].runs[0])));
    }
    panels.push_back(std::move(panel));
  }
  return panels;
}

}  // namespace turnwise
