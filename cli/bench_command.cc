// `turnwise bench <name>`: benchmarks that print a same-run baseline and the ratio to it.
#include <iostream>

#include "cli/commands.h"
#include "envs/env_bench.h"
#include "storage/store_bench.h"

namespace turnwise::cli {

void AddBenchCommand(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks with same-run baselines");
  bench->require_subcommand(1);

  auto store = std::make_shared<StoreBenchOptions>();
  CLI::App* s = bench->add_subcommand(
      "store", "Trajectory store: batched writer vs one transaction per turn vs JSONL append");
  s->add_option("--episodes", store->episodes, "Episodes written by the batched writer and JSONL")
      ->capture_default_str();
  s->add_option("--turns", store->turns_per_episode, "Turns per episode")->capture_default_str();
  s->add_option("--tokens", store->tokens_per_turn, "Tokens per turn")->capture_default_str();
  s->add_option("--per-turn-episodes", store->per_turn_episodes,
                "Episodes for the one-transaction-per-turn baseline")
      ->capture_default_str();
  s->add_option("--repeats", store->repeats, "Repeats (median reported)")->capture_default_str();
  s->add_option("--dir", store->dir, "Scratch directory (default: a temp dir)");
  s->callback([store] { RunStoreBench(*store, std::cout); });

  auto envs = std::make_shared<EnvBenchOptions>();
  CLI::App* e = bench->add_subcommand(
      "envs", "Environment steps/s: one env on one thread vs an EnvPool");
  e->add_option("--env", envs->env, "Environment")->capture_default_str();
  e->add_option("--steps", envs->steps, "Steps per variant")->capture_default_str();
  e->add_option("--pool-envs", envs->pool_envs, "Envs in the pool")->capture_default_str();
  e->add_option("--pool-threads", envs->pool_threads, "Pool worker threads")->capture_default_str();
  e->add_option("--repeats", envs->repeats, "Repeats (median reported)")->capture_default_str();
  e->callback([envs] { RunEnvBench(*envs, std::cout); });
}

}  // namespace turnwise::cli
