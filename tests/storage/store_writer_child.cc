// Child process for the durability test: writes episodes forever and reports, on stdout, every
// committed sequence number as it is committed. The parent kills it with SIGKILL mid-stream.
// Usage: store_writer_child DB_PATH TURNS_PER_EPISODE
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "storage/store.h"
#include "tests/storage/store_test_util.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB TURNS\n", argv[0]);
    return 2;
  }
  int turns = std::atoi(argv[2]);
  turnwise::StoreWriter::Options options;
  options.max_batch = 16;
  options.on_commit = [](uint64_t seq) {
    // One write(2) per line: the parent reads whole lines even if we die right after.
    std::string line = "committed " + std::to_string(seq) + "\n";
    if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(3);
  };
  auto writer = turnwise::StoreWriter::Open(argv[1], options);
  int64_t run = writer->CreateRun({.name = "durability"});
  for (int64_t i = 0;; ++i) {
    // Sequence numbers: run = 1, episode i = i + 2.
    writer->AppendEpisode(turnwise::testing_util::MakeEpisode(run, i, turns));
  }
}
