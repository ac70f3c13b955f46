// Encode throughput of turnwise::Tokenizer, in the same shape as `node parity.mjs --bench`:
//   tokenizer_bench <tokenizer.json> <corpus.jsonl> <repeats>
// encodes every corpus record <repeats> times per round, 5 rounds, single thread, and prints
// {"tokens_per_round": N, "tokens_per_second_median": R, "tokens_per_second": [...]}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "agents/tokenizer.h"
#include "core/json.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: tokenizer_bench <tokenizer.json> <corpus.jsonl> <repeats>\n");
    return 2;
  }
  try {
    const turnwise::Tokenizer tokenizer = turnwise::Tokenizer::FromFile(argv[1]);
    std::vector<std::string> records;
    std::ifstream in(argv[2], std::ios::binary);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) records.push_back(turnwise::ParseJson(line).get<std::string>());
    }
    const int repeats = std::stoi(argv[3]);
    for (const std::string& r : records) tokenizer.Encode(r);  // warm-up, as the JS side does
    std::vector<double> rates;
    size_t tokens = 0;
    for (int round = 0; round < 5; ++round) {
      tokens = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int k = 0; k < repeats; ++k) {
        for (const std::string& r : records) tokens += tokenizer.Encode(r).size();
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates.push_back(static_cast<double>(tokens) / seconds);
    }
    std::sort(rates.begin(), rates.end());
    std::printf("%s\n", turnwise::DumpJson(turnwise::Json{{"tokens_per_round", tokens},
                                                          {"tokens_per_second_median", rates[2]},
                                                          {"tokens_per_second", rates}})
                            .c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
