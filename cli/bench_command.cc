// `turnwise bench <name>`: benchmarks that print a same-run baseline and the ratio to it.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "envs/env_bench.h"
#include "envs/server_bench.h"
#include "storage/store_bench.h"
#ifdef TURNWISE_WITH_TORCH
#include "agents/model_bench.h"
#include "training/layout_bench.h"
#include "training/rollout_bench.h"
#endif

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

  auto server = std::make_shared<ServerBenchOptions>();
  CLI::App* v = bench->add_subcommand(
      "env-server", "household steps/s through turnwise env-server vs a FastAPI/uvicorn server, 1..512 sessions");
  v->add_option("--sessions", server->sessions, "Concurrent sessions, e.g. 1,64,512")->delimiter(',')
      ->capture_default_str();
  v->add_option("--server-threads", server->server_threads, "Env server I/O threads")->capture_default_str();
  v->add_option("--client-threads", server->client_threads, "Load generator threads")->capture_default_str();
  v->add_option("--seconds", server->seconds, "Measuring window per run")->capture_default_str();
  v->add_option("--warmup", server->warmup_s, "Warm-up before each window, seconds")->capture_default_str();
  v->add_option("--repeats", server->repeats, "Repeats (median reported)")->capture_default_str();
  v->add_option("--batch-size", server->batch_size, "Sessions per /v1/batch request")->capture_default_str();
  v->add_option("--python", server->python, "Python interpreter with fastapi and uvicorn")->capture_default_str();
  v->add_option("--baseline", server->baseline_script, "FastAPI baseline script ('' skips it)")
      ->capture_default_str();
  v->callback([server] { RunServerBench(*server, std::cout); });

#ifdef TURNWISE_WITH_TORCH
  auto model = std::make_shared<ModelBenchOptions>();
  auto quick = std::make_shared<bool>(false);
  auto no_python = std::make_shared<bool>(false);
  CLI::App* m = bench->add_subcommand(
      "model", "Policy model: decode with vs without KV cache, SFT step vs Python torch, FLOP/s vs "
               "matmul peak");
  m->add_option("--preset", model->preset, "Model preset")->capture_default_str();
  m->add_option("--vocab-size", model->vocab_size, "Vocabulary size")->capture_default_str();
  m->add_option("--threads", model->threads, "LibTorch intra-op threads (both sides)")
      ->capture_default_str();
  m->add_option("--repeats", model->repeats, "Repeats (median reported)")->capture_default_str();
  m->add_option("--batches", model->decode_batches, "Decode batch sizes, e.g. 1,16,64 ('' none)")
      ->delimiter(',')
      ->capture_default_str();
  m->add_option("--prompt-tokens", model->prompt_tokens, "Decode prompt length")->capture_default_str();
  m->add_option("--new-tokens", model->new_tokens, "Tokens decoded per row")->capture_default_str();
  m->add_option("--train-batch", model->train_batch, "Rows of the training step")->capture_default_str();
  m->add_option("--train-tokens", model->train_tokens, "Sequence length of the training step")
      ->capture_default_str();
  m->add_option("--python", model->python, "Python with torch for the baseline")->capture_default_str();
  m->add_option("--python-script", model->python_script, "Baseline script (default: the source tree's)");
  m->add_flag("--no-python", *no_python, "Skip the Python baseline");
  m->add_flag("--quick", *quick, "A fast smoke run (1 repeat, small sizes)");
  m->callback([model, quick, no_python] {
    ModelBenchOptions o = *model;
    if (*quick) {
      o.repeats = 1;
      o.no_cache_repeats = 1;
      o.decode_batches = {1, 4};
      o.train_tokens = 64;
      o.matmul_size = 512;
    }
    if (*no_python) o.python.clear();
    if (RunModelBench(o, std::cout) != 0) throw Error(ErrorCode::kInternal, "bench model failed");
  });

  auto rollout = std::make_shared<RolloutBenchOptions>();
  CLI::App* r = bench->add_subcommand(
      "rollout", "Rollout engine: continuous batching vs lock-step on household with simulated step latency");
  r->add_option("--model", rollout->model, "HF-layout checkpoint folder (e.g. runs/demo/sft/final)")->required();
  r->add_option("--groups", rollout->groups, "Tasks")->capture_default_str();
  r->add_option("--group-size", rollout->group_size, "Episodes per task")->capture_default_str();
  r->add_option("--max-turns", rollout->max_turns, "Turn limit")->capture_default_str();
  r->add_option("--max-active", rollout->max_active, "Episodes in flight")->capture_default_str();
  r->add_option("--env-threads", rollout->env_threads, "EnvPool threads")->capture_default_str();
  r->add_option("--step-ms", rollout->step_ms, "Simulated latency per step")->capture_default_str();
  r->add_option("--jitter-ms", rollout->jitter_ms, "Extra uniform latency per step")->capture_default_str();
  r->add_option("--max-new-tokens", rollout->max_new_tokens, "Tokens per turn")->capture_default_str();
  r->add_option("--history-length", rollout->history_length, "Prompt history turns")->capture_default_str();
  r->add_option("--threads", rollout->threads, "LibTorch intra-op threads")->capture_default_str();
  r->add_option("--repeats", rollout->repeats, "Repeats (median reported)")->capture_default_str();
  r->add_option("--layout", rollout->layout, "Policy layout: steps or episode")
      ->check(CLI::IsMember({"steps", "episode"}))
      ->capture_default_str();
  r->callback([rollout] { RunRolloutBench(*rollout, std::cout); });

  auto layout = std::make_shared<LayoutBenchOptions>();
  CLI::App* l = bench->add_subcommand(
      "layout", "Episode layout vs steps layout: rollout and update tokens/s on the same model and tasks");
  l->add_option("--model", layout->model, "HF-layout checkpoint folder")->required();
  l->add_option("--env", layout->env, "Environment")->capture_default_str();
  l->add_option("--groups", layout->groups, "Tasks")->capture_default_str();
  l->add_option("--group-size", layout->group_size, "Episodes per task")->capture_default_str();
  l->add_option("--max-turns", layout->max_turns, "Turn limit")->capture_default_str();
  l->add_option("--max-new-tokens", layout->max_new_tokens, "Tokens per turn")->capture_default_str();
  l->add_option("--history-length", layout->history_length, "Steps layout: turns of history")->capture_default_str();
  l->add_option("--micro-batch-rows", layout->micro_batch_rows, "Rows per forward/backward")->capture_default_str();
  l->add_option("--threads", layout->threads, "LibTorch intra-op threads")->capture_default_str();
  l->add_option("--repeats", layout->repeats, "Repeats (median reported)")->capture_default_str();
  l->callback([layout] { RunLayoutBench(*layout, std::cout); });
#endif
}

}  // namespace turnwise::cli
