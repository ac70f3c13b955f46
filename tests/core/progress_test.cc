#include <gtest/gtest.h>

#include <sstream>

#include "core/progress.h"

namespace turnwise {
namespace {

struct FakeClock {
  double now = 100.0;
};

ProgressReporter::Options Lines(FakeClock& clock, double interval) {
  ProgressReporter::Options o;
  o.mode = ProgressReporter::Mode::kLines;
  o.interval_seconds = interval;
  o.clock = [&clock] { return clock.now; };
  return o;
}

TEST(Progress, LinesModePrintsOneLinePerInterval) {
  FakeClock clock;
  std::ostringstream out;
  {
    ProgressReporter p("collect", 100, out, Lines(clock, 5.0));
    for (int i = 0; i < 100; ++i) {
      clock.now += 0.5;  // 50 s in total -> a line every 5 s -> 10 lines, then Finish's
      p.Advance();
    }
  }
  std::string text = out.str();
  size_t lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_EQ(lines, 11u);
  EXPECT_EQ(text.find('\r'), std::string::npos);  // no terminal control in logs
  EXPECT_NE(text.find("collect 100/100 100%"), std::string::npos);
}

TEST(Progress, RenderShowsRateAndEta) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter p("train", 40, out, Lines(clock, 1000));
  clock.now += 10;
  p.Set(10);  // 1 it/s, 30 left -> eta 30 s
  p.SetStatus("loss 0.25");
  EXPECT_EQ(p.Render(), "train 10/40  25% 1 it/s elapsed 10.0s eta 30.0s | loss 0.25");
}

TEST(Progress, TerminalModeRedrawsInPlaceWithBar) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter::Options o = Lines(clock, 5);
  o.mode = ProgressReporter::Mode::kTerminal;
  ProgressReporter p("eval", 4, out, o);
  clock.now += 1;
  p.Advance(2);
  EXPECT_TRUE(p.is_terminal());
  EXPECT_NE(out.str().find("\r\033[K"), std::string::npos);
  EXPECT_NE(out.str().find("[############............]"), std::string::npos);
  p.Finish();
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(Progress, UnknownTotalShowsCountOnly) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter p("steps", 0, out, Lines(clock, 1000));
  clock.now += 2;
  p.Set(7);
  EXPECT_EQ(p.Render(), "steps 7 3.50 it/s elapsed 2.0s");
}

}  // namespace
}  // namespace turnwise
