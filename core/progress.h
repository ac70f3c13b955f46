// Progress reporting for long work (training iterations, data collection, benchmarks).
//
// On a terminal it redraws one line in place: label, a bar, done/total, rate and ETA.
// Elsewhere (CI logs, files, pipes) it prints one plain line per `interval_seconds`, and a final
// line from Finish(), so logs stay readable and small.
//
// Not thread-safe: call from one thread (the one that owns the loop). The clock is injectable
// so that tests can drive time.
#ifndef TURNWISE_CORE_PROGRESS_H_
#define TURNWISE_CORE_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace turnwise {

class ProgressReporter {
 public:
  enum class Mode { kAuto, kTerminal, kLines };
  struct Options {
    Mode mode = Mode::kAuto;       // kAuto: kTerminal when stderr is a TTY, else kLines
    double interval_seconds = 5.0; // kLines: seconds between lines; kTerminal: 0.1 s redraws
    std::string unit = "it";       // shown in the rate: "12.5 it/s"
    std::function<double()> clock; // seconds, monotonic; default steady_clock
  };

  // `total` <= 0 means unknown: no bar and no ETA, only count and rate.
  ProgressReporter(std::string label, int64_t total, std::ostream& out, Options options);
  ProgressReporter(std::string label, int64_t total, std::ostream& out);
  ~ProgressReporter();

  void Advance(int64_t n = 1);
  void Set(int64_t done);
  // Free text appended to the line ("loss 0.31 success 42%").
  void SetStatus(std::string status);
  // Prints the final line (once). Called by the destructor if not called before.
  void Finish();

  bool is_terminal() const { return terminal_; }
  int64_t done() const { return done_; }

  // Renders the current line without printing it (used by tests and by Finish).
  std::string Render() const;

  static bool StderrIsTerminal();

 private:
  void MaybePrint(bool force);

  std::string label_;
  int64_t total_;
  std::ostream& out_;
  Options options_;
  bool terminal_;
  int64_t done_ = 0;
  std::string status_;
  double start_;
  double last_print_;
  bool finished_ = false;
};

}  // namespace turnwise

#endif  // TURNWISE_CORE_PROGRESS_H_
