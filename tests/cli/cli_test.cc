// End-to-end tests of the `turnwise` command: real binary, real files, exit codes and the one
// readable line on stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "envs/household/household_env.h"
#include "storage/store.h"
#include "tests/storage/store_test_util.h"

namespace turnwise {
namespace {

using testing_util::TempDir;

struct Result {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

Result RunTurnwise(const std::string& args, const TempDir& dir) {
  std::string err_file = dir.File("stderr.txt");
  std::string cmd = std::string(TURNWISE_BINARY) + " " + args + " 2>" + err_file;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  std::ifstream e(err_file);
  std::stringstream err;
  err << e.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err.str()};
}

std::string MakeDb(const TempDir& dir) {
  std::string path = dir.File("runs.db");
  auto w = StoreWriter::Open(path);
  int64_t run = w->CreateRun({.name = "cli-run", .env = "household", .method = "grpo",
                              .config = {{"seed", 5}}});
  for (int i = 0; i < 12; ++i) w->AppendEpisode(testing_util::MakeEpisode(run, i, 2));
  w->AppendMetrics(run, 0, {{"success/train", 0.5}});
  w->Close();
  return path;
}

TEST(Cli, VersionAndHelp) {
  TempDir dir;
  Result v = RunTurnwise("version", dir);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("turnwise ", 0), 0u);
  Result h = RunTurnwise("runs export --help", dir);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--out"), std::string::npos);
}

TEST(Cli, RunsListAndShowReadTheStore) {
  TempDir dir;
  std::string db = MakeDb(dir);
  Result list = RunTurnwise("runs list --db " + db, dir);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("cli-run"), std::string::npos);
  EXPECT_NE(list.out.find("12"), std::string::npos);  // episodes
  Result show = RunTurnwise("runs show --db " + db + " 1", dir);
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("episodes  12 (24 turns)"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("success/train"), std::string::npos);
  // Episodes 0,5,10 are valid_seen, two of them successful (even indices).
  EXPECT_NE(show.out.find("valid_seen  lm      3         66.7%"), std::string::npos) << show.out;
}

TEST(Cli, ExportThenImportRoundTrips) {
  TempDir dir;
  std::string db = MakeDb(dir);
  std::string file = dir.File("run.jsonl");
  ASSERT_EQ(RunTurnwise("runs export --db " + db + " 1 --out " + file, dir).exit_code, 0);
  std::string other = dir.File("other.db");
  Result imp = RunTurnwise("runs import --db " + other + " --in " + file, dir);
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.out, "imported as run 1 into " + other + "\n");
  Result a = RunTurnwise("runs export --db " + db + " 1", dir);
  Result b = RunTurnwise("runs export --db " + other + " 1", dir);
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), 1000u);
}

TEST(Cli, ErrorsAreOneReadableLineAndNonZero) {
  TempDir dir;
  Result missing = RunTurnwise("runs list --db " + dir.File("nope.db"), dir);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "turnwise: cannot open database '" + dir.File("nope.db") +
                             "': unable to open database file\n");
  std::string db = MakeDb(dir);
  Result unknown = RunTurnwise("runs show --db " + db + " 42", dir);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "turnwise: no run with id 42\n");
  Result usage = RunTurnwise("runs show --db " + db, dir);
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("run_id is required"), std::string::npos) << usage.err;
  EXPECT_EQ(std::count(usage.err.begin(), usage.err.end(), '\n'), 1);
  Result level = RunTurnwise("--log-level loud version", dir);
  EXPECT_EQ(level.exit_code, 1);
  EXPECT_EQ(level.err,
            "turnwise: unknown log level 'loud'; known: trace, debug, info, warn, error, off\n");
  std::ofstream(dir.File("bad.jsonl")) << "{\"type\":\"episode\"}\n";
  Result bad_import = RunTurnwise("runs import --db " + db + " --in " + dir.File("bad.jsonl"), dir);
  EXPECT_EQ(bad_import.exit_code, 1);
  EXPECT_EQ(bad_import.err,
            "turnwise: import line 1: the first line must be the run (type \"run\")\n");
}

TEST(Cli, EnvsListDescribeAndPlay) {
  TempDir dir;
  Result list = RunTurnwise("envs list", dir);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("household"), std::string::npos);
  EXPECT_NE(list.out.find("train 3553, valid_seen 140, valid_unseen 134"), std::string::npos);
  Result describe = RunTurnwise("envs describe household", dir);
  ASSERT_EQ(describe.exit_code, 0);
  EXPECT_EQ(Json::parse(describe.out)["splits"]["valid_unseen"], 134);
  // Play by typing: the expert's moves fed through stdin win the episode.
  std::string script = dir.File("moves.txt");
  {
    HouseholdEnv env(Json::object());
    StepResult s = env.Reset({.task_id = "valid_seen/3"});
    std::ofstream moves(script);
    while (!s.done()) {
      std::string a = *env.ExpertAction();
      moves << a << "\n";
      s = env.Step(a);
    }
  }
  Result play = RunTurnwise("envs play household --task valid_seen/3 < " + script, dir);
  ASSERT_EQ(play.exit_code, 0) << play.err;
  EXPECT_NE(play.out.find(": won, return 10.00"), std::string::npos) << play.out;
  Result unknown = RunTurnwise("envs describe housework", dir);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err,
            "turnwise: unknown environment 'housework' (did you mean 'household'?); known: "
            "delayed, frozenlake, household, sokoban\n");
}

TEST(Cli, EvalStoresEveryEpisodeAndPrintsSuccess) {
  TempDir dir;
  std::string db = dir.File("eval.db");
  Result r = RunTurnwise("eval --policy expert --policy random --split valid_unseen --db " + db, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("expert  valid_unseen  134       100.0%"), std::string::npos) << r.out;
  auto store = TrajectoryStore::OpenReadOnly(db);
  auto runs = store->ListRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].method, "eval:expert");
  auto counts = store->CountEpisodesAndTurns(runs[0].id);
  EXPECT_EQ(counts.first, 134);
  EXPECT_GT(counts.second, 134 * 3);
  EXPECT_EQ(store->QueryEpisodes({.run_id = runs[0].id, .success = true}).total, 134);
  EXPECT_DOUBLE_EQ(store->MetricSeries(runs[0].id, "success/valid_unseen")[0].value, 1.0);
  Result bad = RunTurnwise("eval --set grammar=0.3 --db " + db, dir);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("config: env.config.grammar: unknown key (did you mean "
                         "'grammar_version'?)"),
            std::string::npos)
      << bad.err;
}

// `turnwise eval` plays a model checkpoint (the lm policy, batched greedy decoding) like any
// other policy: episodes with their generated tokens in the store, a success table on stdout.
TEST(Cli, EvalPlaysAModelCheckpoint) {
  TempDir dir;
  // Without LibTorch there is no model command, and `model --help` prints the app's help (exit 0).
  if (RunTurnwise("model --help", dir).out.find("\n  init ") == std::string::npos) {
    GTEST_SKIP() << "built without LibTorch";
  }
  {
    std::ofstream corpus(dir.File("corpus.txt"));
    for (int i = 0; i < 50; ++i) {
      corpus << "<think>find the mug</think><action>go to cabinet " << i % 7
             << "</action> You arrive at countertop 1. On the countertop 1, you see a mug 1.\n";
    }
  }
  ASSERT_EQ(RunTurnwise("tokenizer train --corpus " + dir.File("corpus.txt") + " --vocab-size 400 --out " +
                            dir.File("tok.json"), dir).exit_code, 0);
  Result init = RunTurnwise("model init --preset tiny --tokenizer " + dir.File("tok.json") + " --out " +
                                dir.File("model"), dir);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  std::string db = dir.File("eval.db");
  Result r = RunTurnwise("eval --policy lm --checkpoint " + dir.File("model") +
                             " --split valid_seen --episodes 4 --max-turns 3 --batch-size 4"
                             " --policy-set max_new_tokens=8 --db " + db, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lm      valid_seen  4"), std::string::npos) << r.out;
  auto store = TrajectoryStore::OpenReadOnly(db);
  auto runs = store->ListRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].method, "eval:lm");
  EXPECT_EQ(runs[0].config["policy_config"]["checkpoint"], dir.File("model"));
  EXPECT_EQ(runs[0].config["policy_config"]["temperature"], 0.0);
  auto page = store->QueryEpisodes({.run_id = runs[0].id});
  ASSERT_EQ(page.total, 4);
  EpisodeRecord episode = store->GetEpisode(page.episodes[0].id);
  ASSERT_EQ(episode.turns.size(), 3u);  // an untrained model wins nothing in 3 turns
  for (const auto& turn : episode.turns) {
    EXPECT_FALSE(turn.token_ids.empty());
    EXPECT_LE(turn.token_ids.size(), 8u);
    EXPECT_EQ(turn.logprobs.size(), turn.token_ids.size());
    EXPECT_NE(turn.prompt.find("Your task is to"), std::string::npos) << turn.prompt;
  }
  // A model policy without its checkpoint, and an openai policy without its server, fail in one
  // line naming the key.
  Result missing = RunTurnwise("eval --policy lm --db " + db, dir);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("policy.checkpoint"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  Result openai = RunTurnwise("eval --policy openai --policy-set model=m --db " + db, dir);
  EXPECT_EQ(openai.exit_code, 1);
  EXPECT_NE(openai.err.find("policy.base_url"), std::string::npos) << openai.err;
}

}  // namespace
}  // namespace turnwise

namespace turnwise {
namespace {

// `turnwise advantages` reproduces the hand-computed GiGPO worked example (the kMeanNormCode table
// of tests/training/gigpo_test.cc: code statistics, mean_norm, γ = 0.95) from the toy rows shipped
// in examples/advantages/.
TEST(Cli, AdvantagesExplainTheGigpoWorkedExample) {
  testing_util::TempDir dir;
  std::string ex = std::string(TURNWISE_SOURCE_DIR) + "/examples/advantages/";
  Result r = RunTurnwise("advantages --config " + ex + "gigpo_toy.json --input " + ex + "toy_rows.jsonl", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Json> by_row;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    Json j = Json::parse(line);
    by_row[j["trajectory_id"].get<std::string>() + "/" + std::to_string(j["turn"].get<int>())] = j;
  }
  ASSERT_EQ(by_row.size(), 15u);
  const std::map<std::string, double> want = {{"t1/0", 1.2267}, {"t1/1", 1.1000},  {"t1/2", 1.1250},
                                              {"t2/0", -0.6758}, {"t2/1", -0.8500}, {"t3/0", -0.6758},
                                              {"t3/1", -0.3750}, {"t3/2", -0.8750}, {"t4/0", 0.0158},
                                              {"t4/1", 0.0},     {"t6/0", -0.0317}, {"t6/1", 0.0}};
  for (const auto& [row, a] : want) EXPECT_NEAR(by_row[row]["advantage"].get<double>(), a, 1e-4) << row;
  // The parts explain the number: episode term + ω × step term.
  const Json& p = by_row["t1/0"]["parts"];
  EXPECT_NEAR(p["episode_advantage"].get<double>() + p["step_advantage"].get<double>(), 1.2267, 1e-4);

  // A row with an unknown field is refused with its line number and the known fields.
  std::ofstream(dir.File("bad.jsonl")) << "{\"group_id\": \"A\", \"trajectory_id\": \"x\", \"rewrd\": 1}\n";
  Result bad = RunTurnwise("advantages --config " + ex + "gigpo_toy.json --input " + dir.File("bad.jsonl"), dir);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("line 1"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("reward"), std::string::npos) << bad.err;
  // An unknown estimator lists the known ones.
  std::ofstream(dir.File("m.json")) << "{\"name\": \"gipgo\"}";
  Result unknown = RunTurnwise("advantages --config " + dir.File("m.json") + " --input " + ex + "toy_rows.jsonl", dir);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("gigpo"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace turnwise

namespace turnwise {
namespace {

// `turnwise advantages` resolves algorithm.preset as the trainer does: the preset's advantage
// block under the user's keys. The GiGPO preset with mode mean_norm is the worked example's
// configuration, so every way of naming it prints the same rows as the hand-written spec.
// (The test runs outside the source tree: names come from the presets built into the binary.)
TEST(Cli, AdvantagesResolveAMethodPreset) {
  testing_util::TempDir dir;
  std::string ex = std::string(TURNWISE_SOURCE_DIR) + "/examples/advantages/";
  std::string rows = " --input " + ex + "toy_rows.jsonl";
  Result reference = RunTurnwise("advantages --config " + ex + "gigpo_toy.json" + rows, dir);
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  ASSERT_FALSE(reference.out.empty());

  std::ofstream(dir.File("run.json"))
      << R"({"algorithm": {"preset": "gigpo", "advantage": {"config": {"mode": "mean_norm"}}}})";
  std::string mean_norm = " --set algorithm.advantage.config.mode=mean_norm";
  for (const std::string& args :
       {"--config " + dir.File("run.json"), "--method gigpo" + mean_norm,
        "--method " + std::string(TURNWISE_SOURCE_DIR) + "/configs/methods/gigpo.json" + mean_norm}) {
    Result r = RunTurnwise("advantages " + args + rows, dir);
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.err;
    EXPECT_EQ(r.out, reference.out) << args;
    EXPECT_NE(r.err.find("estimator gigpo"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(preset "), std::string::npos) << r.err;
  }
  // The preset's own mode (mean_std_norm) when the user leaves it: other numbers.
  Result preset_mode = RunTurnwise("advantages --method gigpo" + rows, dir);
  ASSERT_EQ(preset_mode.exit_code, 0) << preset_mode.err;
  EXPECT_NE(preset_mode.out, reference.out);
  EXPECT_NE(preset_mode.err.find("mean_std_norm"), std::string::npos) << preset_mode.err;

  // Another estimator replaces the preset's block whole: none of GiGPO's options leak into it.
  std::ofstream(dir.File("rloo.json"))
      << R"({"algorithm": {"preset": "gigpo", "advantage": {"name": "rloo"}}})";
  Result rloo = RunTurnwise("advantages --config " + dir.File("rloo.json") + rows, dir);
  ASSERT_EQ(rloo.exit_code, 0) << rloo.err;
  EXPECT_NE(rloo.err.find("estimator rloo"), std::string::npos) << rloo.err;

  // $TURNWISE_METHODS_DIR is searched first, as the trainer searches it.
  std::filesystem::create_directories(dir.File("methods"));
  std::ofstream(dir.File("methods/mine.json"))
      << "// Mine: GRPO without std.\n"
         R"({"algorithm": {"advantage": {"name": "grpo", "config": {"norm_adv_by_std": false}}}})";
  setenv("TURNWISE_METHODS_DIR", dir.File("methods").c_str(), 1);
  Result mine = RunTurnwise("advantages --method mine" + rows, dir);
  unsetenv("TURNWISE_METHODS_DIR");
  ASSERT_EQ(mine.exit_code, 0) << mine.err;
  EXPECT_NE(mine.err.find("estimator grpo"), std::string::npos) << mine.err;
  EXPECT_NE(mine.err.find("\"norm_adv_by_std\":false"), std::string::npos) << mine.err;

  // Errors: an unknown name lists the presets; conflicting ways of naming one are refused.
  Result unknown = RunTurnwise("advantages --method gipgo" + rows, dir);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("algorithm.preset: unknown method preset 'gipgo' (did you mean 'gigpo'?)"),
            std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("seeupo"), std::string::npos) << unknown.err;
  Result both = RunTurnwise("advantages --method gigpo --set algorithm.preset=grpo" + rows, dir);
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("give one"), std::string::npos) << both.err;
  Result spec = RunTurnwise("advantages --method gigpo --config " + ex + "gigpo_toy.json" + rows, dir);
  EXPECT_EQ(spec.exit_code, 1);
  EXPECT_NE(spec.err.find("estimator spec"), std::string::npos) << spec.err;
  Result none = RunTurnwise("advantages" + rows, dir);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("--config FILE or --method"), std::string::npos) << none.err;
}

// `turnwise train --method NAME|FILE` is `--set algorithm.preset=NAME`: the preset is merged
// before anything runs, so its checks answer without a model.
TEST(Cli, TrainMethodNamesThePreset) {
  testing_util::TempDir dir;
  // Without LibTorch there is no train command, and `train --help` prints the app's help.
  if (RunTurnwise("train --help", dir).out.find("--resume") == std::string::npos) {
    GTEST_SKIP() << "built without LibTorch";
  }
  std::ofstream(dir.File("run.json")) << R"({"name": "m", "output": {"dir": ")" << dir.File("runs")
                                      << R"("}})";
  std::string train = "train --config " + dir.File("run.json");
  // The loop preset's loss is `loop`, which has no clip_low: proof the preset was merged.
  for (const std::string& method :
       {std::string("loop"), std::string(TURNWISE_SOURCE_DIR) + "/configs/methods/loop.json"}) {
    Result r = RunTurnwise(train + " --method " + method + " --set algorithm.loss.clip_low=0.1", dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("algorithm.loss.clip_low: does not apply to algorithm.loss.name 'loop'"),
              std::string::npos)
        << method << ": " << r.err;
  }
  // A valid preset passes the algorithm checks and stops at the missing model.
  Result ok = RunTurnwise(train + " --method loop", dir);
  EXPECT_EQ(ok.exit_code, 1);
  EXPECT_NE(ok.err.find("model.checkpoint"), std::string::npos) << ok.err;
  Result unknown = RunTurnwise(train + " --method gipgo", dir);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unknown method preset 'gipgo' (did you mean 'gigpo'?)"),
            std::string::npos)
      << unknown.err;
  Result both = RunTurnwise(train + " --method gigpo --set algorithm.preset=grpo", dir);
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("give one"), std::string::npos) << both.err;
  Result resume = RunTurnwise("train --resume " + dir.File("runs/m") + " --method gigpo", dir);
  EXPECT_EQ(resume.exit_code, 1);
  EXPECT_NE(resume.err.find("drop --config/--set/--method"), std::string::npos) << resume.err;
}

// A run with evaluations before and after ends with the line scripts read; its numbers are the
// table's and its SE is that of the difference of two binomial rates.
TEST(Cli, TrainEndsWithTheHeldOutSuccessLine) {
  testing_util::TempDir dir;
  if (RunTurnwise("train --help", dir).out.find("--resume") == std::string::npos) {
    GTEST_SKIP() << "built without LibTorch";
  }
  std::ofstream(dir.File("run.json")) << R"({"name": "h", "output": {"dir": ")" << dir.File("runs")
      << R"(", "db": ")" << dir.File("h.db") << R"("},
    "env": {"name": "frozenlake"},
    "warm_start": {"env": {"name": "frozenlake"}, "data": {"episodes": 20, "policy": "random", "think": "none"},
                   "prompt": {"layout": "episode"}, "tokenizer": {"vocab_size": 400},
                   "model": {"preset": "tiny"}, "train": {"steps": 3, "action_target": "admissible"},
                   "eval": {"enabled": false}},
    "rollout": {"layout": "episode", "groups": 2, "group_size": 2, "max_turns": 4, "max_new_tokens": 12},
    "train": {"iterations": 1},
    "eval": {"episodes": 20, "splits": ["valid"], "max_turns": 4, "before": true}})";
  Result r = RunTurnwise("train --config " + dir.File("run.json"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  const std::regex line(R"(held-out success: ([0-9.]+)% -> ([0-9.]+)% \(([+-][0-9.]+) points, 20 episodes, SE ([0-9.]+) points\))");
  ASSERT_TRUE(std::regex_search(r.out, m, line)) << r.out;
  const double before = std::stod(m[1]) / 100, after = std::stod(m[2]) / 100;
  EXPECT_NEAR(std::stod(m[3]), 100 * (after - before), 0.06);
  const double se = std::sqrt(before * (1 - before) / 20 + after * (1 - after) / 20);
  EXPECT_NEAR(std::stod(m[4]), 100 * se, 0.06);
  EXPECT_NE(r.out.find(m[1].str() + "% ±"), std::string::npos) << "the table shows the same before: " << r.out;
}

// `turnwise plot`: the mean of a series of runs with its standard error, the env-step axis from
// train/env_steps, an SVG on disk, and one-line errors for bad input.
TEST(Cli, PlotWritesCurvesAndNamesBadInput) {
  TempDir dir;
  std::string db = dir.File("plot.db");
  {
    auto w = StoreWriter::Open(db);
    for (int seed = 0; seed < 2; ++seed) {
      int64_t run = w->CreateRun({.name = "seed" + std::to_string(seed), .env = "frozenlake", .method = "gigpo"});
      for (int it = 1; it <= 3; ++it) {
        // run 1: 0.2, 0.4, 0.6; run 2: 0.4, 0.6, 0.8 -> mean 0.3, 0.5, 0.7, SE 0.1
        w->AppendMetrics(run, it, {{"eval/valid/success", 0.2 * (it + seed)}, {"train/env_steps", 100.0}});
      }
    }
    w->Close();
  }
  Result r = RunTurnwise("plot --db " + db + " --series both=1,2 --metric eval/valid/success --x env_steps --text --out " +
                             dir.File("c.svg"),
                         dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("200"), std::string::npos) << r.out;  // cumulative env steps after iteration 2
  EXPECT_NE(r.out.find("0.500"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0.100"), std::string::npos) << r.out;  // the standard error
  std::ifstream svg(dir.File("c.svg"));
  std::stringstream text;
  text << svg.rdbuf();
  EXPECT_NE(text.str().find("<polygon"), std::string::npos);
  Result bad_metric = RunTurnwise("plot --db " + db + " --run 1 --metric eval/valid/sucess --text", dir);
  EXPECT_EQ(bad_metric.exit_code, 1);
  EXPECT_NE(bad_metric.err.find("eval/valid/success"), std::string::npos) << bad_metric.err;
  Result bad_series = RunTurnwise("plot --db " + db + " --series both --metric x --text", dir);
  EXPECT_EQ(bad_series.exit_code, 1);
  EXPECT_NE(bad_series.err.find("LABEL=ID"), std::string::npos) << bad_series.err;
  Result no_run = RunTurnwise("plot --db " + db + " --run 9 --metric x --text", dir);
  EXPECT_EQ(no_run.exit_code, 1);
  EXPECT_EQ(std::count(no_run.err.begin(), no_run.err.end(), '\n'), 1) << no_run.err;
}

}  // namespace
}  // namespace turnwise
