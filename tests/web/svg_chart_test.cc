// The SVG line chart: ticks that do not lie (integer axes, labels that differ, small values
// not rounded to zero), the document's structure, and escaping.
#include "web/svg_chart.h"

#include <gtest/gtest.h>

#include <set>

namespace turnwise {
namespace {

std::vector<std::string> Labels(double lo, double hi, bool integer) {
  std::vector<double> ticks = NiceTicks(lo, hi, 6, integer);
  std::vector<std::string> out;
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
  for (double t : ticks) out.push_back(FormatTick(t, step));
  return out;
}

TEST(NiceTicks, IntegerAxesGetIntegerTicks) {
  EXPECT_EQ(Labels(1, 5, true), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Labels(1, 2, true), (std::vector<std::string>{"1", "2"}));
  for (const std::string& l : Labels(0, 3, true)) EXPECT_EQ(l.find('.'), std::string::npos) << l;
  EXPECT_EQ(Labels(0, 100, true), (std::vector<std::string>{"0", "20", "40", "60", "80", "100"}));
}

TEST(NiceTicks, LabelsOfTinyAndNarrowRangesDiffer) {
  // loss/kl ~6e-5: never "0, 0, 0".
  std::vector<std::string> kl = Labels(1e-5, 6.2e-5, false);
  EXPECT_EQ(std::set<std::string>(kl.begin(), kl.end()).size(), kl.size());
  for (const std::string& l : kl) EXPECT_TRUE(l == "0" || l.find('e') != std::string::npos) << l;
  // An entropy that moves in the fourth decimal (6.3710..6.3721).
  std::vector<std::string> ent = Labels(6.3710, 6.3721, false);
  EXPECT_EQ(std::set<std::string>(ent.begin(), ent.end()).size(), ent.size());
  EXPECT_EQ(ent.front(), "6.3710");
  // Success rates.
  EXPECT_EQ(Labels(0, 1, false), (std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  // One value only: a range around it, still distinct labels.
  std::vector<std::string> one = Labels(0.5, 0.5, false);
  EXPECT_GE(one.size(), 2u);
  EXPECT_EQ(std::set<std::string>(one.begin(), one.end()).size(), one.size());
}

TEST(NiceTicks, CoverTheRange) {
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{{-3.2, 7.9}, {0.001, 0.0013}, {12345, 98765}}) {
    std::vector<double> t = NiceTicks(lo, hi, 6, false);
    EXPECT_LE(t.front(), lo);
    EXPECT_GE(t.back(), hi);
    EXPECT_LE(t.size(), 12u);
  }
  EXPECT_EQ(FormatTick(2500000, 500000), "2.5e+06");
}

TEST(RenderSvgChart, PanelsSeriesBandsAndLegend) {
  ChartPanel a{.title = "eval/valid/success", .x_label = "iteration", .y_label = "success", .integer_x = true};
  a.series.push_back({.label = "GiGPO <3 seeds>", .x = {0, 10, 20}, .y = {0.2, 0.4, 0.6},
                      .lower = {0.15, 0.35, 0.5}, .upper = {0.25, 0.45, 0.7}});
  a.series.push_back({.label = "GRPO", .x = {0, 10, 20}, .y = {0.2, 0.3, 0.35}});
  ChartPanel empty{.title = "nothing"};
  std::string svg = RenderSvgChart({a, empty}, {.title = "Learning & curves"});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"880\"", 0), 0u);
  EXPECT_NE(svg.find("Learning &amp; curves"), std::string::npos);
  EXPECT_NE(svg.find("GiGPO &lt;3 seeds&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<3 seeds>"), std::string::npos) << "labels are escaped";
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t p = svg.find(what); p != std::string::npos; p = svg.find(what, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<polyline"), 2u);
  EXPECT_EQ(count("<polygon"), 1u);  // one band
  EXPECT_EQ(count("<circle"), 6u);
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

}  // namespace
}  // namespace turnwise
