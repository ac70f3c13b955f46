// `turnwise eval`: evaluate a policy on an environment split; every episode goes to the store.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "envs/episode_runner.h"
#include "envs/registry.h"
#include "storage/store.h"
#ifdef TURNWISE_WITH_TORCH
#include "agents/policy.h"
#include "training/evaluate.h"
#endif

namespace turnwise::cli {
namespace {

struct EvalOptions {
  std::string env = "household";
  std::vector<std::string> policies = {"expert"};
  std::vector<std::string> splits = {"valid_seen"};
  int64_t episodes = 0;  // 0 = every task of the split
  uint64_t seed = 0;
  double noise = 0.2;
  std::vector<std::string> sets;
  std::vector<std::string> policy_sets;  // policy config key=value (lm, openai)
  std::string checkpoint;                // lm: the checkpoint folder
  int64_t batch_size = 64;               // episodes in flight (model policies batch over them)
  int64_t max_turns = 0;                 // 0 = the env's limit
  std::string db = "runs/turnwise.db";
  std::string name;
};

struct Tally {
  int64_t episodes = 0, wins = 0, turns = 0, invalid = 0;
  double ret = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> by_type;
};

void RunEval(const EvalOptions& o) {
  Json env_config = Json::object();
  for (const auto& s : o.sets) ApplyOverride(env_config, s, nullptr);
  auto env = EnvRegistry::Make(o.env, env_config);  // fails early on a bad name or config
  EnvSpec spec = env->Spec();
  for (const auto& split : o.splits) {
    if (!spec.splits.count(split)) {
      std::vector<std::string> known;
      for (const auto& [k, v] : spec.splits) known.push_back(k);
      throw NotFound(UnknownNameMessage("split", split, known));
    }
  }
  auto writer = StoreWriter::Open(o.db);
  std::map<std::pair<std::string, std::string>, Tally> tallies;
  auto count = [&](Tally& t, const EpisodeRecord& e) {
    t.episodes++;
    t.wins += e.success;
    t.turns += static_cast<int64_t>(e.turns.size());
    t.ret += e.episode_return;
    for (const auto& turn : e.turns) t.invalid += !turn.action_valid;
    auto& cell = t.by_type[e.task_type];
    cell.first++;
    cell.second += e.success;
  };
  for (const std::string& policy : o.policies) {
    Json policy_config = Json::object();
#ifdef TURNWISE_WITH_TORCH
    if (policy == "noisy_expert") policy_config["noise"] = o.noise;
    if (policy == "lm") {
      policy_config["temperature"] = 0.0;  // greedy unless --policy-set temperature=...
      if (!o.checkpoint.empty()) policy_config["checkpoint"] = o.checkpoint;
    }
    if (policy == "lm" || policy == "openai") {
      for (const auto& s : o.policy_sets) ApplyOverride(policy_config, s, nullptr);
      if (policy == "lm" && !policy_config.contains("seed")) policy_config["seed"] = o.seed;
    }
    std::unique_ptr<Policy> actor = MakePolicy(policy, policy_config);
#else
    if (policy == "lm" || policy == "openai") {
      throw FailedPrecondition("policy '" + policy + "' needs a build with LibTorch "
                               "(this turnwise was built with TURNWISE_WITH_TORCH=OFF)");
    }
    ActionChooser chooser = MakeScriptedPolicy(policy, o.noise);
#endif
    Json config = {{"env", {{"name", o.env}, {"config", env_config}}},
                   {"policy", policy},
                   {"policy_config", policy_config},
                   {"noise", o.noise},
                   {"splits", o.splits},
                   {"episodes", o.episodes},
                   {"max_turns", o.max_turns},
                   {"seed", o.seed}};
    int64_t run = writer->CreateRun({.name = o.name.empty() ? "eval " + policy + " on " + o.env : o.name,
                                     .env = o.env, .method = "eval:" + policy,
                                     .seed = static_cast<int64_t>(o.seed), .config = config});
    for (const auto& split : o.splits) {
      int64_t n = o.episodes > 0 ? o.episodes : spec.splits.at(split);
      Tally& t = tallies[{policy, split}];
      ProgressReporter progress(policy + " " + split, n, std::cerr);
#ifdef TURNWISE_WITH_TORCH
      EvaluatePolicy(*actor, o.env, env_config, split, n, o.max_turns, o.batch_size, o.seed,
                     [&](EpisodeRecord&& e) {
                       e.run_id = run;
                       count(t, e);
                       writer->AppendEpisode(std::move(e));
                       progress.Advance();
                     });
#else
      RngStreams streams(o.seed);
      Rng rng = streams.Stream("eval/" + policy + "/" + split);
      for (int64_t i = 0; i < n; ++i) {
        EpisodeRunOptions run_options;
        run_options.reset = {.seed = static_cast<uint64_t>(i), .task_id = split + "/" +
                             std::to_string(i % spec.splits.at(split)), .split = split};
        if (o.max_turns > 0) run_options.max_turns = o.max_turns;
        EpisodeRecord e = PlayEpisode(*env, run_options, chooser, rng);
        e.run_id = run;
        e.group_id = e.task_id;
        e.policy = policy;
        count(t, e);
        writer->AppendEpisode(std::move(e));
        progress.Advance();
      }
#endif
    }
    for (const auto& split : o.splits) {
      const Tally& t = tallies[{policy, split}];
      writer->AppendMetrics(run, 0, {{"success/" + split, double(t.wins) / double(t.episodes)},
                                     {"return/" + split, t.ret / double(t.episodes)},
                                     {"episode_length/" + split, double(t.turns) / double(t.episodes)}});
    }
    writer->UpdateRunStatus(run, "finished");
  }
  writer->Close();

  TextTable table({"policy", "split", "episodes", "success", "mean return", "mean turns", "invalid actions"});
  for (const auto& [key, t] : tallies) {
    table.AddRow({key.first, key.second, std::to_string(t.episodes),
                  FormatRate(double(t.wins) / double(t.episodes), t.episodes),
                  FormatNumber(t.ret / double(t.episodes), 2),
                  FormatNumber(double(t.turns) / double(t.episodes), 1),
                  FormatNumber(100.0 * double(t.invalid) / double(std::max<int64_t>(1, t.turns)), 1) + "%"});
  }
  std::cout << "\n";
  table.Print(std::cout);
  std::cout << "\nsuccess by task type\n";
  TextTable types({"policy", "split", "task type", "episodes", "success"});
  for (const auto& [key, t] : tallies) {
    for (const auto& [type, cell] : t.by_type) {
      types.AddRow({key.first, key.second, type, std::to_string(cell.first),
                    FormatRate(double(cell.second) / double(cell.first), cell.first)});
    }
  }
  types.Print(std::cout);
  std::cout << "\nepisodes stored in " << o.db << "; inspect with:\n  turnwise runs list --db "
            << o.db << "\n  turnwise web --db " << o.db << "\n";
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* eval = app.add_subcommand(
      "eval", "Evaluate a policy (a model checkpoint, a served model, or a scripted one) on an "
              "environment's splits; every episode is stored and a success table printed");
  eval->add_option("--env", o->env, "Environment name")->capture_default_str();
  eval->add_option("--policy", o->policies,
                   "expert, noisy_expert, random, lm (--checkpoint), openai (--policy-set "
                   "base_url=... --policy-set model=...); several allowed")
      ->capture_default_str();
  eval->add_option("--checkpoint", o->checkpoint, "lm: checkpoint folder (model + tokenizer)");
  eval->add_option("--policy-set", o->policy_sets,
                   "lm/openai config key=value, e.g. temperature=0.7, history_length=2, "
                   "base_url=http://127.0.0.1:8000/v1 (lm is greedy by default)");
  eval->add_option("--batch-size", o->batch_size,
                   "Episodes in flight; the lm policy generates for all of them in one batch")
      ->capture_default_str();
  eval->add_option("--max-turns", o->max_turns, "Turn limit per episode (0 = the env's)")
      ->capture_default_str();
  eval->add_option("--split", o->splits, "Splits to evaluate")->capture_default_str();
  eval->add_option("--episodes", o->episodes, "Episodes per split (0 = every task)")
      ->capture_default_str();
  eval->add_option("--seed", o->seed, "Seed of the policies' randomness")->capture_default_str();
  eval->add_option("--noise", o->noise, "noisy_expert: chance of a random action")
      ->capture_default_str();
  eval->add_option("--set", o->sets, "Env config key=value, e.g. grammar_version=0.3");
  eval->add_option("--db", o->db, "SQLite trajectory store")->capture_default_str();
  eval->add_option("--name", o->name, "Run name");
  eval->callback([o] { RunEval(*o); });
}

}  // namespace turnwise::cli
