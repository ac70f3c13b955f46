// Line charts written as standalone SVG files: the learning curves of bench/RESULTS.md and docs
// (`turnwise plot`). Several panels side by side, each with its own axes; every series a line
// with markers, optionally a shaded band (mean ± standard error over seeds).
//
// Axes label themselves honestly: integer axes (iterations) get integer ticks only; tick labels
// carry as many significant digits as their spacing needs, so neighbouring labels always differ
// and small values are not rounded to 0 (exponent form below 1e-3).
//
// Pure functions; thread-safe. Text is XML-escaped.
#ifndef TURNWISE_WEB_SVG_CHART_H_
#define TURNWISE_WEB_SVG_CHART_H_

#include <optional>
#include <string>
#include <vector>

namespace turnwise {

struct ChartSeries {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  // Optional band around the line (same length as x), e.g. mean ± SE; empty for none.
  std::vector<double> lower;
  std::vector<double> upper;
};

struct ChartPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  bool integer_x = false;             // x takes integer values (iterations): integer ticks
  std::optional<double> y_min, y_max;  // fixed y range; unset = from the data
};

struct ChartOptions {
  std::string title;        // above all panels; may be empty
  int panel_width = 440;    // pixels
  int panel_height = 300;
};

// The whole SVG document. Panels without any point draw empty axes with "no data".
std::string RenderSvgChart(const std::vector<ChartPanel>& panels, const ChartOptions& options = {});

// Tick positions covering [lo, hi]: "nice" steps (1, 2, 5 × 10^k), at most about `max_ticks`;
// with `integer` the step is a whole number >= 1. lo == hi widens the range around the value.
std::vector<double> NiceTicks(double lo, double hi, int max_ticks, bool integer);

// A tick label for `value` on an axis whose ticks are `step` apart: the fewest decimals that
// tell neighbouring ticks apart ("0.25", "1200", "3"), exponent form ("2e-05") when |step| < 1e-3
// or the values pass 1e6.
std::string FormatTick(double value, double step);

}  // namespace turnwise

#endif  // TURNWISE_WEB_SVG_CHART_H_
