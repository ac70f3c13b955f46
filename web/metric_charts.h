// Learning-curve figures from a store: one panel per metric key, one line per run or group of
// runs (seeds), a group being the mean at each iteration all its runs reached with a band of ±
// one standard error. `turnwise plot` and the web UI's "save as SVG" draw the same figures with
// this (rendered by web/svg_chart.h).
#ifndef TURNWISE_WEB_METRIC_CHARTS_H_
#define TURNWISE_WEB_METRIC_CHARTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/store.h"
#include "web/svg_chart.h"

namespace turnwise {

struct CurveGroup {
  std::string label;
  std::vector<int64_t> runs;  // one run: its curve; several: their mean ± SE
};

struct CurveOptions {
  std::vector<std::string> metrics;  // one panel each
  std::string x = "iteration";       // "iteration" or "env_steps" (cumulative train/env_steps)
  int smooth = 1;                    // moving average over this many iterations
  std::optional<std::pair<double, double>> y_range;
};

// A line per run, labelled "NAME (run ID)". NotFound for an unknown run.
std::vector<CurveGroup> RunGroups(TrajectoryStore& store, const std::vector<int64_t>& runs);

// The panels. InvalidArgument for an unknown x axis or no metric; NotFound (listing the first
// run's metric keys) for a metric no run has.
std::vector<ChartPanel> CurvePanels(TrajectoryStore& store, const std::vector<CurveGroup>& groups,
                                    const CurveOptions& options);

}  // namespace turnwise

#endif  // TURNWISE_WEB_METRIC_CHARTS_H_
