#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/text.h"

namespace turnwise {
namespace {

double SteadySeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

bool ProgressReporter::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressReporter::ProgressReporter(std::string label, int64_t total, std::ostream& out)
    : ProgressReporter(std::move(label), total, out, Options()) {}

ProgressReporter::ProgressReporter(std::string label, int64_t total, std::ostream& out,
                                   Options options)
    : label_(std::move(label)), total_(total), out_(out), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SteadySeconds;
  terminal_ = options_.mode == Mode::kTerminal ||
              (options_.mode == Mode::kAuto && StderrIsTerminal());
  start_ = options_.clock();
  last_print_ = start_;
}

ProgressReporter::~ProgressReporter() { Finish(); }

void ProgressReporter::Advance(int64_t n) {
  done_ += n;
  MaybePrint(false);
}

void ProgressReporter::Set(int64_t done) {
  done_ = done;
  MaybePrint(false);
}

void ProgressReporter::SetStatus(std::string status) { status_ = std::move(status); }

std::string ProgressReporter::Render() const {
  double elapsed = options_.clock() - start_;
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line = label_;
  if (total_ > 0) {
    double frac = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    if (terminal_) {
      constexpr int kWidth = 24;
      int filled = static_cast<int>(frac * kWidth);
      line += " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
    }
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%3.0f%%", frac * 100.0);
    line += " " + std::to_string(done_) + "/" + std::to_string(total_) + " " + pct;
  } else {
    line += " " + std::to_string(done_);
  }
  line += " " + HumanCount(rate) + " " + options_.unit + "/s";
  line += " elapsed " + HumanDuration(elapsed);
  if (total_ > 0 && done_ < total_ && rate > 0) {
    line += " eta " + HumanDuration(static_cast<double>(total_ - done_) / rate);
  }
  if (!status_.empty()) line += " | " + status_;
  return line;
}

void ProgressReporter::MaybePrint(bool force) {
  double now = options_.clock();
  double interval = terminal_ ? 0.1 : options_.interval_seconds;
  if (!force && now - last_print_ < interval) return;
  last_print_ = now;
  if (terminal_) {
    out_ << "\r\033[K" << Render() << std::flush;
  } else {
    out_ << Render() << "\n" << std::flush;
  }
}

void ProgressReporter::Finish() {
  if (finished_) return;
  finished_ = true;
  MaybePrint(true);
  if (terminal_) out_ << "\n" << std::flush;
}

}  // namespace turnwise
