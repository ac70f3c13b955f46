// Plain-text tables for terminal output: columns sized to their widest cell.
#ifndef TURNWISE_CLI_TABLE_H_
#define TURNWISE_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

namespace turnwise::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-24 01:31" in UTC from Unix seconds; "-" for 0.
std::string FormatTime(double unix_seconds);
// Fixed-point with `digits` decimals.
std::string FormatNumber(double value, int digits = 3);
// A success rate with its binomial standard error over `episodes`: "30.0% ± 4.6".
std::string FormatRate(double rate, int64_t episodes);

}  // namespace turnwise::cli

#endif  // TURNWISE_CLI_TABLE_H_
