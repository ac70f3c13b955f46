#include "web/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

namespace turnwise {
namespace {

// Eight colours that stay apart for colour-blind readers (Okabe–Ito, black replaced).
const char* const kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#7F7F7F", "#F0E442"};

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

constexpr int kLeft = 62, kRight = 14, kTop = 26, kBottom = 44;

void DrawPanel(const ChartPanel& panel, const std::map<std::string, int>& color_of, int x0, int y0,
               const ChartOptions& o, std::string& svg) {
  const double w = o.panel_width - kLeft - kRight, h = o.panel_height - kTop - kBottom;
  const double px = x0 + kLeft, py = y0 + kTop;
  svg += "<text x=\"" + Num(x0 + o.panel_width / 2.0) + "\" y=\"" + Num(y0 + 16) +
         "\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" + Escape(panel.title) + "</text>\n";
  Range xr, yr;
  for (const ChartSeries& s : panel.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      xr.Add(s.x[i]);
      yr.Add(s.y[i]);
      if (i < s.lower.size()) yr.Add(s.lower[i]);
      if (i < s.upper.size()) yr.Add(s.upper[i]);
    }
  }
  svg += "<rect x=\"" + Num(px) + "\" y=\"" + Num(py) + "\" width=\"" + Num(w) + "\" height=\"" + Num(h) +
         "\" fill=\"none\" stroke=\"#999\"/>\n";
  if (xr.empty()) {
    svg += "<text x=\"" + Num(px + w / 2) + "\" y=\"" + Num(py + h / 2) +
           "\" text-anchor=\"middle\" font-size=\"12\" fill=\"#777\">no data</text>\n";
    return;
  }
  if (panel.y_min) yr.lo = *panel.y_min;
  if (panel.y_max) yr.hi = *panel.y_max;
  const std::vector<double> xt = NiceTicks(xr.lo, xr.hi, 6, panel.integer_x);
  const std::vector<double> yt = NiceTicks(yr.lo, yr.hi, 6, false);
  const double xlo = std::min(xt.front(), xr.lo), xhi = std::max(xt.back(), xr.hi);
  const double ylo = panel.y_min ? *panel.y_min : std::min(yt.front(), yr.lo);
  const double yhi = panel.y_max ? *panel.y_max : std::max(yt.back(), yr.hi);
  auto X = [&](double v) { return px + (xhi > xlo ? (v - xlo) / (xhi - xlo) : 0.5) * w; };
  auto Y = [&](double v) { return py + h - (yhi > ylo ? (v - ylo) / (yhi - ylo) : 0.5) * h; };
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double t : xt) {
    if (t < xlo - 1e-12 || t > xhi + 1e-12) continue;
    svg += "<line x1=\"" + Num(X(t)) + "\" y1=\"" + Num(py + h) + "\" x2=\"" + Num(X(t)) + "\" y2=\"" +
           Num(py + h + 4) + "\" stroke=\"#666\"/><text x=\"" + Num(X(t)) + "\" y=\"" + Num(py + h + 16) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + FormatTick(t, xstep) + "</text>\n";
  }
  for (double t : yt) {
    if (t < ylo - 1e-12 || t > yhi + 1e-12) continue;
    svg += "<line x1=\"" + Num(px) + "\" y1=\"" + Num(Y(t)) + "\" x2=\"" + Num(px + w) + "\" y2=\"" + Num(Y(t)) +
           "\" stroke=\"#eee\"/><text x=\"" + Num(px - 6) + "\" y=\"" + Num(Y(t) + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + FormatTick(t, ystep) + "</text>\n";
  }
  svg += "<text x=\"" + Num(px + w / 2) + "\" y=\"" + Num(py + h + 34) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + Escape(panel.x_label) + "</text>\n";
  svg += "<text transform=\"translate(" + Num(x0 + 14) + "," + Num(py + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + Escape(panel.y_label) + "</text>\n";
  for (const ChartSeries& s : panel.series) {
    const char* color = kColors[color_of.at(s.label) % 8];
    const size_t n = std::min(s.x.size(), s.y.size());
    if (s.lower.size() == n && s.upper.size() == n && n > 0) {
      std::string band;
      for (size_t i = 0; i < n; ++i) band += Num(X(s.x[i])) + "," + Num(Y(std::clamp(s.upper[i], ylo, yhi))) + " ";
      for (size_t i = n; i-- > 0;) band += Num(X(s.x[i])) + "," + Num(Y(std::clamp(s.lower[i], ylo, yhi))) + " ";
      svg += "<polygon points=\"" + band + "\" fill=\"" + color + "\" fill-opacity=\"0.15\" stroke=\"none\"/>\n";
    }
    std::string line;
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(s.y[i])) line += Num(X(s.x[i])) + "," + Num(Y(std::clamp(s.y[i], ylo, yhi))) + " ";
    }
    svg += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\"/>\n";
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.y[i])) continue;
      svg += "<circle cx=\"" + Num(X(s.x[i])) + "\" cy=\"" + Num(Y(std::clamp(s.y[i], ylo, yhi))) +
             "\" r=\"2.2\" fill=\"" + color + "\"><title>" + Escape(s.label) + ": (" + FormatTick(s.x[i], xstep / 10) +
             ", " + FormatTick(s.y[i], ystep / 100) + ")</title></circle>\n";
    }
  }
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int max_ticks, bool integer) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = integer ? 1.0 : std::max(std::abs(lo) * 0.1, 1e-12);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, max_ticks - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  double step = (norm <= 1.0 ? 1.0 : norm <= 2.0 ? 2.0 : norm <= 5.0 ? 5.0 : 10.0) * mag;
  if (integer) step = std::max(1.0, std::round(step));
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last + 0.5 && ticks.size() < 1000; k += 1.0) {
    double v = k * step;
    if (std::abs(v) < step * 1e-9) v = 0.0;
    ticks.push_back(v);
  }
  return ticks;
}

std::string FormatTick(double value, double step) {
  char buf[48];
  if (value == 0.0) return "0";
  step = std::abs(step) > 0 ? std::abs(step) : std::abs(value);
  const double magnitude = std::max(std::abs(value), step);
  if (magnitude < 1e-3 || magnitude >= 1e6) {
    const int digits = std::max(0, static_cast<int>(std::floor(std::log10(magnitude)) -
                                                    std::floor(std::log10(step) + 1e-9)));
    std::snprintf(buf, sizeof(buf), "%.*e", digits, value);
    return buf;
  }
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

std::string RenderSvgChart(const std::vector<ChartPanel>& panels, const ChartOptions& o) {
  std::map<std::string, int> color_of;
  std::vector<std::string> labels;
  for (const ChartPanel& p : panels) {
    for (const ChartSeries& s : p.series) {
      if (color_of.emplace(s.label, static_cast<int>(labels.size())).second) labels.push_back(s.label);
    }
  }
  const int columns = std::max<int>(1, static_cast<int>(panels.size()));
  const int width = columns * o.panel_width;
  const int title_h = o.title.empty() ? 8 : 30;
  // Legend entries wrap to rows of the figure's width.
  std::vector<std::vector<std::string>> rows(1);
  double used = 0;
  for (const std::string& l : labels) {
    const double need = 34 + 7.0 * static_cast<double>(l.size());
    if (used + need > width - 20 && !rows.back().empty()) {
      rows.emplace_back();
      used = 0;
    }
    rows.back().push_back(l);
    used += need;
  }
  const int legend_h = labels.empty() ? 0 : 20 * static_cast<int>(rows.size()) + 4;
  const int height = title_h + legend_h + o.panel_height;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!o.title.empty()) {
    svg += "<text x=\"" + Num(width / 2.0) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" +
           Escape(o.title) + "</text>\n";
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    double x = 20;
    const double y = title_h + 14 + 20.0 * static_cast<double>(r);
    for (const std::string& l : rows[r]) {
      const char* color = kColors[color_of[l] % 8];
      svg += "<line x1=\"" + Num(x) + "\" y1=\"" + Num(y - 4) + "\" x2=\"" + Num(x + 22) + "\" y2=\"" + Num(y - 4) +
             "\" stroke=\"" + color + "\" stroke-width=\"3\"/><text x=\"" + Num(x + 28) + "\" y=\"" + Num(y) +
             "\" font-size=\"12\">" + Escape(l) + "</text>\n";
      x += 34 + 7.0 * static_cast<double>(l.size());
    }
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    DrawPanel(panels[i], color_of, static_cast<int>(i) * o.panel_width, title_h + legend_h, o, svg);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace turnwise
