#include "training/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "agents/generation.h"
#include "agents/lm_policy.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "core/text.h"
#include "envs/registry.h"
#include "storage/store.h"
#include "training/advantages/advantage.h"
#include "training/evaluate.h"
#include "training/losses.h"
#include "training/rollout.h"
#include "training/sft.h"

namespace turnwise {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string Fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

ConfigSchema BuildSchema() {
  ConfigSchema s;
  s.Add("name", FieldType::kString, "run", "run name (the run directory is output.dir/<name>)");
  s.Add({.path = "seed", .type = FieldType::kInt, .default_value = 1, .help = "seed of every random choice", .min = 0});
  s.Add("output.dir", FieldType::kString, "runs", "parent of the run directory");
  s.Add("output.db", FieldType::kString, "runs/turnwise.db", "SQLite trajectory store");
  s.Add("env.name", FieldType::kString, "household", "registered environment");
  s.Add("env.config", FieldType::kOpen, Json::object(), "environment config (or {\"remote\": {...}})");
  s.Add("env.train_split", FieldType::kString, "train", "split the rollouts play");
  s.Add("model.checkpoint", FieldType::kString, "", "HF-layout folder to start from (or give warm_start)");
  s.Add("warm_start", FieldType::kOpen, Json(),
        "an SFT config (training/sft.h) run first when model.checkpoint is empty; its final checkpoint starts RL");
  s.Add({.path = "model.threads", .type = FieldType::kInt, .default_value = 2, .help = "LibTorch intra-op threads",
         .min = 1, .max = 256});
  s.Add({.path = "rollout.groups", .type = FieldType::kInt, .default_value = 8, .help = "tasks per iteration", .min = 1});
  s.Add({.path = "rollout.group_size", .type = FieldType::kInt, .default_value = 8, .help = "episodes per task (G)",
         .min = 1});
  s.Add({.path = "rollout.max_turns", .type = FieldType::kInt, .default_value = 30, .help = "turn limit per episode",
         .min = 1});
  s.Add({.path = "rollout.max_active", .type = FieldType::kInt, .default_value = 64,
         .help = "episodes in flight (generation batch)", .min = 1});
  s.Add({.path = "rollout.env_threads", .type = FieldType::kInt, .default_value = 1, .help = "EnvPool worker threads",
         .min = 1});
  s.Add("rollout.synchronous", FieldType::kBool, false, "lock-step loop instead of continuous batching");
  s.Add({.path = "rollout.temperature", .type = FieldType::kNumber, .default_value = 1.0, .help = "sampling temperature",
         .min = 0.0});
  s.Add({.path = "rollout.top_p", .type = FieldType::kNumber, .default_value = 1.0, .help = "nucleus mass", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "rollout.top_k", .type = FieldType::kInt, .default_value = 0, .help = "top-k (0 off)", .min = 0});
  s.Add({.path = "rollout.max_new_tokens", .type = FieldType::kInt, .default_value = 48, .help = "tokens per turn",
         .min = 1});
  s.Add({.path = "rollout.history_length", .type = FieldType::kInt, .default_value = 2,
         .help = "turns of history in the prompt (-1 all)", .min = -1});
  s.Add("algorithm.advantage.name", FieldType::kString, "grpo", "advantage estimator (see docs/methods.md)");
  s.Add("algorithm.advantage.config", FieldType::kOpen, Json::object(), "the estimator's own keys");
  s.Add({.path = "algorithm.invalid_action_penalty", .type = FieldType::kNumber, .default_value = 0.1,
         .help = "subtracted from an invalid turn's score (verl-agent)", .min = 0.0});
  s.Add({.path = "algorithm.loss.clip_low", .type = FieldType::kNumber, .default_value = 0.2, .help = "PPO ε_low",
         .min = 0.0, .max = 1.0});
  s.Add({.path = "algorithm.loss.clip_high", .type = FieldType::kNumber, .default_value = 0.2, .help = "PPO ε_high",
         .min = 0.0});
  s.Add({.path = "algorithm.loss.dual_clip_c", .type = FieldType::kNumber, .default_value = 3.0,
         .help = "dual-clip cap c for A < 0 (<= 1 off)"});
  s.Add({.path = "algorithm.loss.aggregation", .type = FieldType::kString, .default_value = "token-mean",
         .help = "loss aggregation", .choices = AggregationNames()});
  s.Add({.path = "algorithm.kl.coef", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "KL-to-reference loss weight (0 off)", .min = 0.0});
  s.Add({.path = "algorithm.kl.estimator", .type = FieldType::kString, .default_value = "k3",
         .help = "k1, k2, k3 (low_var_kl) or k3+", .choices = {"k1", "k2", "k3", "k3+", "low_var_kl"}});
  s.Add({.path = "algorithm.entropy_coef", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "entropy bonus weight", .min = 0.0});
  s.Add({.path = "optim.lr", .type = FieldType::kNumber, .default_value = 1e-5, .help = "AdamW learning rate",
         .min = 0.0});
  s.Add({.path = "optim.weight_decay", .type = FieldType::kNumber, .default_value = 0.0, .help = "AdamW weight decay",
         .min = 0.0});
  s.Add({.path = "optim.beta1", .type = FieldType::kNumber, .default_value = 0.9, .help = "AdamW β1", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "optim.beta2", .type = FieldType::kNumber, .default_value = 0.999, .help = "AdamW β2", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "optim.grad_clip", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "max global gradient norm (0 off)", .min = 0.0});
  s.Add({.path = "optim.schedule", .type = FieldType::kString, .default_value = "constant",
         .help = "constant or cosine (after warm-up)", .choices = {"constant", "cosine"}});
  s.Add({.path = "optim.warmup_iters", .type = FieldType::kInt, .default_value = 0, .help = "linear warm-up iterations",
         .min = 0});
  s.Add({.path = "optim.min_lr_ratio", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "cosine floor as a fraction of lr", .min = 0.0, .max = 1.0});
  s.Add({.path = "train.iterations", .type = FieldType::kInt, .default_value = 10, .help = "RL iterations", .min = 0});
  s.Add({.path = "train.ppo_epochs", .type = FieldType::kInt, .default_value = 1, .help = "passes over each batch",
         .min = 1});
  s.Add({.path = "train.minibatches", .type = FieldType::kInt, .default_value = 1,
         .help = "optimizer steps per epoch", .min = 1});
  s.Add({.path = "train.micro_batch_rows", .type = FieldType::kInt, .default_value = 16,
         .help = "rows per forward/backward (gradient accumulation)", .min = 1});
  s.Add({.path = "eval.every", .type = FieldType::kInt, .default_value = 0,
         .help = "evaluate every N iterations (0: before and after only)", .min = 0});
  s.Add({.path = "eval.episodes", .type = FieldType::kInt, .default_value = 40, .help = "episodes per split", .min = 0});
  s.Add("eval.splits", FieldType::kArray, Json::array({"valid_seen"}), "held-out splits (greedy decoding)");
  s.Add({.path = "eval.max_turns", .type = FieldType::kInt, .default_value = 30, .help = "turn limit in evaluation",
         .min = 1});
  s.Add("eval.before", FieldType::kBool, true, "evaluate the starting model");
  s.Add({.path = "eval.temperature", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "0: greedy decoding; > 0: sampled at this temperature", .min = 0.0});
  s.Add({.path = "checkpoint.every", .type = FieldType::kInt, .default_value = 5,
         .help = "checkpoint every N iterations (and at the end)", .min = 1});
  return s;
}

// One training row: one turn of one episode.
struct Row {
  std::vector<int32_t> prompt;
  std::vector<int32_t> response;
  double advantage = 0;
  std::vector<float> old_logprobs;
  std::vector<float> ref_logprobs;
};

std::string IterDir(const std::string& run_dir, int64_t it) {
  std::ostringstream s;
  s << run_dir << "/checkpoints/iter_" << std::setw(6) << std::setfill('0') << it;
  return s.str();
}

std::string LatestCheckpoint(const std::string& run_dir) {
  std::string best;
  fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(dir)) return best;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory() || !fs::exists(e.path() / "trainer_state.json")) continue;
    std::string p = e.path().string();
    if (p > best) best = p;
  }
  return best;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw IoError("cannot write '" + path + "'");
}

// Per-token tensors of a set of rows, right-padded to the longest response.
at::Tensor PadFloats(const std::vector<const std::vector<float>*>& rows, int64_t width) {
  at::Tensor t = torch::zeros({static_cast<int64_t>(rows.size()), width}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i]->size() && static_cast<int64_t>(j) < width; ++j) {
      a[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = (*rows[i])[j];
    }
  }
  return t;
}

// Teacher-forced log-probs of each row's response (no grad), in micro-batches.
void ScoreRows(TransformerLMImpl& model, std::vector<Row>& rows, int64_t micro, bool reference) {
  torch::NoGradGuard no_grad;
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(micro)) {
    size_t end = std::min(rows.size(), start + static_cast<size_t>(micro));
    std::vector<std::vector<int32_t>> prompts, responses;
    for (size_t i = start; i < end; ++i) {
      prompts.push_back(rows[i].prompt);
      responses.push_back(rows[i].response);
    }
    TokenScores s = Score(model, prompts, responses);
    at::Tensor lp = s.logprobs.to(torch::kFloat32).contiguous();
    auto a = lp.accessor<float, 2>();
    for (size_t i = start; i < end; ++i) {
      std::vector<float>& out = reference ? rows[i].ref_logprobs : rows[i].old_logprobs;
      out.resize(rows[i].response.size());
      for (size_t j = 0; j < out.size(); ++j) out[j] = a[static_cast<int64_t>(i - start)][static_cast<int64_t>(j)];
    }
  }
}

double LearningRate(const Json& c, int64_t it) {
  double lr = c["optim"]["lr"].get<double>();
  int64_t warm = c["optim"]["warmup_iters"].get<int64_t>();
  int64_t total = c["train"]["iterations"].get<int64_t>();
  if (warm > 0 && it <= warm) return lr * static_cast<double>(it) / static_cast<double>(warm);
  if (c["optim"]["schedule"] == "cosine" && total > warm) {
    double progress = static_cast<double>(it - warm) / static_cast<double>(std::max<int64_t>(1, total - warm));
    double floor = c["optim"]["min_lr_ratio"].get<double>();
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
  }
  return lr;
}

Json EvalSplits(LmPolicy& policy, const Json& c, uint64_t seed, StoreWriter& writer, int64_t run_id, int64_t it,
                std::vector<std::pair<std::string, double>>* metrics) {
  Json out = Json::object();
  int64_t episodes = c["eval"]["episodes"].get<int64_t>();
  if (episodes == 0) return out;
  LmPolicyOptions sampling = policy.options();
  LmPolicyOptions greedy = sampling;
  greedy.temperature = c["eval"]["temperature"].get<double>();
  policy.set_options(greedy);
  for (const auto& split_json : c["eval"]["splits"]) {
    std::string split = split_json.get<std::string>();
    EvalResult r = EvaluatePolicy(policy, c["env"]["name"], c["env"]["config"], split, episodes,
                                  c["eval"]["max_turns"].get<int64_t>(), c["rollout"]["max_active"].get<int64_t>(),
                                  seed, [&](EpisodeRecord&& e) {
                                    e.run_id = run_id;
                                    e.iteration = it;
                                    e.group_id = "eval-" + split + "-" + std::to_string(it);
                                    e.info["eval"] = true;
                                    writer.AppendEpisode(std::move(e));
                                  });
    out[split] = r.ToJson();
    metrics->emplace_back("eval/" + split + "/success", r.success_rate);
    metrics->emplace_back("eval/" + split + "/return", r.mean_return);
    metrics->emplace_back("eval/" + split + "/length", r.mean_length);
    metrics->emplace_back("eval/" + split + "/invalid_rate", r.invalid_action_rate);
    for (const auto& [type, t] : r.by_task_type) {
      metrics->emplace_back("eval/" + split + "/success/" + type, t.success_rate());
    }
  }
  policy.set_options(sampling);
  return out;
}

}  // namespace

const ConfigSchema& TrainConfigSchema() {
  static const ConfigSchema schema = BuildSchema();
  return schema;
}

TrainResult Train(const Json& raw, const TrainOptions& options, std::ostream& log) {
  // ---- configuration and run directory ----
  Json c;
  std::string run_dir;
  std::string resume_from;
  if (!options.resume_dir.empty()) {
    run_dir = options.resume_dir;
    std::string config_path = run_dir + "/config.json";
    if (!fs::exists(config_path)) throw NotFound("--resume " + run_dir + ": no config.json (not a run directory)");
    c = TrainConfigSchema().Validate(ReadJsonFile(config_path));
    resume_from = LatestCheckpoint(run_dir);
    if (resume_from.empty()) throw NotFound("--resume " + run_dir + ": no checkpoint to resume from");
  } else {
    c = TrainConfigSchema().Validate(raw);
    bool warm = c.contains("warm_start") && c["warm_start"].is_object();
    if (c["model"]["checkpoint"].get<std::string>().empty() && !warm) {
      throw ConfigError("model.checkpoint",
                        "is required: an HF-layout model folder (turnwise sft or model init), or give warm_start");
    }
    run_dir = c["output"]["dir"].get<std::string>() + "/" + c["name"].get<std::string>();
    if (!LatestCheckpoint(run_dir).empty()) {
      throw FailedPrecondition("run directory " + run_dir + " already has checkpoints; use --resume " + run_dir +
                               " or another name");
    }
  }
  const int64_t groups = c["rollout"]["groups"].get<int64_t>();
  const int64_t group_size = c["rollout"]["group_size"].get<int64_t>();
  const int64_t iterations = c["train"]["iterations"].get<int64_t>();
  const int64_t micro = c["train"]["micro_batch_rows"].get<int64_t>();
  const int64_t minibatches = c["train"]["minibatches"].get<int64_t>();
  const uint64_t seed = c["seed"].get<uint64_t>();
  if (groups * group_size < minibatches) {
    throw ConfigError("train.minibatches", "is " + std::to_string(minibatches) + " but an iteration plays only " +
                                               std::to_string(groups * group_size) +
                                               " episodes (rollout.groups × rollout.group_size): a minibatch would be empty");
  }
  auto estimator = [&] {
    try {
      return MakeAdvantageEstimator(c["algorithm"]["advantage"]["name"], c["algorithm"]["advantage"]["config"]);
    } catch (const ConfigError& e) {
      throw e.Under(e.key_path().empty() ? "algorithm.advantage.name" : "algorithm.advantage.config");
    }
  }();
  const LossAggregation aggregation = ParseAggregation(c["algorithm"]["loss"]["aggregation"]);
  const KlEstimator kl_estimator = ParseKlEstimator(c["algorithm"]["kl"]["estimator"]);
  const double kl_coef = c["algorithm"]["kl"]["coef"].get<double>();
  const double entropy_coef = c["algorithm"]["entropy_coef"].get<double>();
  const PpoClipOptions clip{c["algorithm"]["loss"]["clip_low"].get<double>(),
                            c["algorithm"]["loss"]["clip_high"].get<double>(),
                            c["algorithm"]["loss"]["dual_clip_c"].get<double>()};
  if (!EnvRegistry::Has(c["env"]["name"])) {
    try {
      EnvRegistry::Make(c["env"]["name"]);
    } catch (const NotFound& e) {
      throw ConfigError("env.name", e.what());
    }
  }
  at::set_num_threads(c["model"]["threads"].get<int>());
  if (c["model"]["checkpoint"].get<std::string>().empty()) {
    // Warm start: supervised fine-tuning on expert demonstrations first (its own config).
    Json sft = c["warm_start"];
    sft["out_dir"] = run_dir + "/sft";
    if (!options.quiet) log << "turnwise train: warm start — SFT into " << run_dir << "/sft" << std::endl;
    SftResult warm;
    try {
      warm = RunSft(sft, log);
    } catch (const ConfigError& e) {
      throw e.Under("warm_start");
    }
    c["model"]["checkpoint"] = warm.final_checkpoint;
  }

  // ---- model, tokenizer, optimizer ----
  std::string start = resume_from.empty() ? c["model"]["checkpoint"].get<std::string>() : resume_from;
  TransformerLM model = LoadPretrained(start);
  auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::FromFile(start + "/tokenizer.json"));
  TransformerLM reference{nullptr};
  if (kl_coef > 0) {
    reference = LoadPretrained(c["model"]["checkpoint"].get<std::string>());
    reference->eval();
    for (auto& p : reference->parameters()) p.set_requires_grad(false);
  }
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(c["optim"]["lr"].get<double>())
                                    .betas({c["optim"]["beta1"].get<double>(), c["optim"]["beta2"].get<double>()})
                                    .weight_decay(c["optim"]["weight_decay"].get<double>()));
  int64_t start_iter = 0;
  int64_t run_id = 0;
  if (!resume_from.empty()) {
    Json state = ReadJsonFile(resume_from + "/trainer_state.json");
    start_iter = state["iteration"].get<int64_t>();
    run_id = state["run_id"].get<int64_t>();
    torch::load(optimizer, resume_from + "/optimizer.pt");
  }

  LmPolicyOptions lm;
  lm.temperature = c["rollout"]["temperature"].get<double>();
  lm.top_p = c["rollout"]["top_p"].get<double>();
  lm.top_k = c["rollout"]["top_k"].get<int64_t>();
  lm.max_new_tokens = c["rollout"]["max_new_tokens"].get<int64_t>();
  lm.history_length = c["rollout"]["history_length"].get<int>();
  lm.threads = c["model"]["threads"].get<int>();
  lm.seed = seed;
  LmPolicy policy(model.ptr(), tokenizer, lm);

  RolloutOptions ro;
  ro.env = c["env"]["name"];
  ro.env_config = c["env"]["config"];
  ro.split = c["env"]["train_split"];
  ro.group_size = static_cast<int>(group_size);
  ro.max_active = c["rollout"]["max_active"].get<int>();
  ro.env_threads = c["rollout"]["env_threads"].get<int>();
  ro.max_turns = c["rollout"]["max_turns"].get<int64_t>();
  ro.synchronous = c["rollout"]["synchronous"].get<bool>();
  RolloutEngine engine(ro);

  // ---- store ----
  fs::create_directories(run_dir);
  std::string db = c["output"]["db"];
  if (fs::path(db).has_parent_path()) fs::create_directories(fs::path(db).parent_path());
  auto writer = StoreWriter::Open(db);
  if (run_id == 0) {
    RunRecord run;
    run.name = c["name"];
    run.env = c["env"]["name"];
    run.method = c["algorithm"]["advantage"]["name"];
    run.seed = static_cast<int64_t>(seed);
    run.config = c;
    run_id = writer->CreateRun(run);
    WriteFile(run_dir + "/config.json", DumpJson(c, 2) + "\n");
  } else {
    writer->UpdateRunStatus(run_id, "running");
  }

  TrainResult result;
  result.run_id = run_id;
  result.run_dir = run_dir;
  result.db = db;
  auto say = [&](const std::string& line) {
    if (!options.quiet) log << line << std::endl;
  };
  say("turnwise train: run " + std::to_string(run_id) + " '" + c["name"].get<std::string>() + "' in " + run_dir +
      ", store " + db + (resume_from.empty() ? "" : ", resuming after iteration " + std::to_string(start_iter)));

  try {
    if (start_iter == 0 && c["eval"]["before"].get<bool>()) {
      std::vector<std::pair<std::string, double>> m;
      result.before = EvalSplits(policy, c, seed, *writer, run_id, 0, &m);
      writer->AppendMetrics(run_id, 0, m);
      for (auto& [k, v] : m) {
        if (k.rfind("/success") == k.size() - 8) say("  before: " + k + " = " + Fmt(v, 3));
      }
    }

    int64_t done_here = 0;
    for (int64_t it = start_iter + 1; it <= iterations; ++it) {
      auto t_iter = Clock::now();
      writer->BeginIteration(run_id, it);
      // ---- rollout ----
      std::vector<RolloutEpisode> episodes;
      RolloutStats rs = engine.Run(policy, MakeTasks(ro.split, groups, it, seed), it, seed,
                                   [&](RolloutEpisode&& e) { episodes.push_back(std::move(e)); });
      // ---- store episodes, advantages ----
      auto t_adv = Clock::now();
      std::vector<AdvantageRow> adv_rows;
      std::vector<std::pair<size_t, size_t>> where;  // (episode, turn) of each advantage row
      std::vector<int64_t> ids(episodes.size(), 0);
      double penalty = c["algorithm"]["invalid_action_penalty"].get<double>();
      for (size_t e = 0; e < episodes.size(); ++e) {
        EpisodeRecord& r = episodes[e].record;
        r.run_id = run_id;
        if (r.status == EpisodeStatus::kAborted) continue;
        for (size_t t = 0; t < r.turns.size(); ++t) {
          const TurnRecord& turn = r.turns[t];
          AdvantageRow a;
          a.group_id = r.group_id;
          a.trajectory_id = std::to_string(e);
          a.turn = static_cast<int>(t);
          a.reward = turn.reward;
          a.invalid_action_penalty = turn.action_valid ? 0.0 : penalty;
          a.anchor_key = turn.anchor_key;
          double ent = 0;
          for (float x : turn.entropies) ent += x;
          a.entropy = turn.entropies.empty() ? 0.0 : ent / static_cast<double>(turn.entropies.size());
          a.num_tokens = static_cast<int>(std::max<size_t>(1, turn.token_ids.size()));
          bool last = t + 1 == r.turns.size();
          a.done = last && r.status == EpisodeStatus::kOk;
          a.truncated = last && r.status == EpisodeStatus::kTruncated;
          adv_rows.push_back(std::move(a));
          where.emplace_back(e, t);
        }
      }
      std::vector<RowAdvantage> advantages = estimator->Compute(adv_rows);
      std::vector<Row> rows;
      std::map<size_t, std::pair<std::vector<double>, std::vector<Json>>> per_episode;
      for (size_t i = 0; i < advantages.size(); ++i) {
        auto [e, t] = where[i];
        TurnRecord& turn = episodes[e].record.turns[t];
        turn.advantage = advantages[i].advantage;
        turn.advantage_parts = advantages[i].ToJson()["parts"];
        if (turn.token_ids.empty()) continue;
        Row row;
        row.prompt = episodes[e].prompt_tokens[t];
        row.response = turn.token_ids;
        row.advantage = advantages[i].advantage;
        rows.push_back(std::move(row));
      }
      // Metrics of the rollout.
      double returns = 0, successes = 0, lengths = 0, invalid = 0, turns_total = 0, entropy_sum = 0, tokens = 0;
      std::map<std::string, std::pair<int, int>> by_type;
      int64_t counted = 0;
      for (auto& ep : episodes) {
        EpisodeRecord& r = ep.record;
        if (r.status != EpisodeStatus::kAborted) {
          ++counted;
          returns += r.episode_return;
          successes += r.success ? 1 : 0;
          lengths += static_cast<double>(r.turns.size());
          auto& bt = by_type[r.task_type];
          bt.first += 1;
          bt.second += r.success ? 1 : 0;
          for (const auto& t : r.turns) {
            turns_total += 1;
            invalid += t.action_valid ? 0 : 1;
            for (float x : t.entropies) entropy_sum += x;
            tokens += static_cast<double>(t.token_ids.size());
          }
        }
        writer->AppendEpisode(std::move(r));
      }
      double adv_seconds = Since(t_adv);

      // ---- update ----
      auto t_score = Clock::now();
      model->eval();
      ScoreRows(*model, rows, micro, false);
      if (kl_coef > 0) ScoreRows(*reference, rows, micro, true);
      double score_seconds = Since(t_score);
      auto t_update = Clock::now();
      model->train();
      double lr = LearningRate(c, it);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      double loss_sum = 0, clip_sum = 0, kl_sum = 0, grad_norm_sum = 0, approx_kl_sum = 0;
      int64_t steps = 0, micro_count = 0;
      for (int64_t epoch = 0; epoch < c["train"]["ppo_epochs"].get<int64_t>() && !rows.empty(); ++epoch) {
        std::vector<size_t> order(rows.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        Rng shuffle(HashCombine(seed, static_cast<uint64_t>(it)), static_cast<uint64_t>(epoch));
        shuffle.Shuffle(order);
        size_t per_mini = (order.size() + static_cast<size_t>(minibatches) - 1) / static_cast<size_t>(minibatches);
        for (size_t m0 = 0; m0 < order.size(); m0 += per_mini) {
          size_t m1 = std::min(order.size(), m0 + per_mini);
          double mini_tokens = 0;
          for (size_t k = m0; k < m1; ++k) mini_tokens += static_cast<double>(rows[order[k]].response.size());
          optimizer.zero_grad();
          for (size_t u0 = m0; u0 < m1; u0 += static_cast<size_t>(micro)) {
            size_t u1 = std::min(m1, u0 + static_cast<size_t>(micro));
            std::vector<std::vector<int32_t>> prompts, responses;
            std::vector<const std::vector<float>*> olds, refs;
            std::vector<float> adv;
            double micro_tokens = 0;
            for (size_t k = u0; k < u1; ++k) {
              const Row& row = rows[order[k]];
              prompts.push_back(row.prompt);
              responses.push_back(row.response);
              olds.push_back(&row.old_logprobs);
              refs.push_back(&row.ref_logprobs);
              adv.push_back(static_cast<float>(row.advantage));
              micro_tokens += static_cast<double>(row.response.size());
            }
            TokenScores s = Score(*model, prompts, responses);
            int64_t width = s.logprobs.size(1);
            at::Tensor old = PadFloats(olds, width);
            at::Tensor advantages_t = torch::tensor(adv, torch::kFloat32);
            PolicyLoss pl = PpoClipLoss(s.logprobs, old, advantages_t, s.mask, clip, aggregation);
            at::Tensor loss = pl.loss;
            if (kl_coef > 0) {
              at::Tensor kl = AggregateLoss(KlPenalty(s.logprobs, PadFloats(refs, width), kl_estimator), s.mask,
                                            LossAggregation::kTokenMean);
              loss = loss + kl_coef * kl;
              kl_sum += kl.item<double>();
            }
            if (entropy_coef > 0) {
              loss = loss - entropy_coef * AggregateLoss(s.entropies, s.mask, LossAggregation::kTokenMean);
            }
            // Each micro-batch's share of the minibatch: by tokens for token-mean, by rows otherwise.
            double weight = aggregation == LossAggregation::kTokenMean
                                ? micro_tokens / std::max(1.0, mini_tokens)
                                : static_cast<double>(u1 - u0) / static_cast<double>(m1 - m0);
            (loss * weight).backward();
            loss_sum += loss.item<double>();
            clip_sum += pl.clip_fraction;
            approx_kl_sum += pl.approx_kl;
            ++micro_count;
          }
          double max_norm = c["optim"]["grad_clip"].get<double>();
          double norm = torch::nn::utils::clip_grad_norm_(model->parameters(),
                                                          max_norm > 0 ? max_norm : std::numeric_limits<double>::infinity());
          grad_norm_sum += norm;
          optimizer.step();
          ++steps;
        }
      }
      model->eval();
      double update_seconds = Since(t_update);

      // ---- metrics, evaluation, checkpoint ----
      std::vector<std::pair<std::string, double>> m;
      double n = std::max<double>(1.0, static_cast<double>(counted));
      m.emplace_back("train/return", returns / n);
      m.emplace_back("train/success", successes / n);
      m.emplace_back("train/length", lengths / n);
      m.emplace_back("train/invalid_rate", turns_total > 0 ? invalid / turns_total : 0);
      m.emplace_back("train/entropy", tokens > 0 ? entropy_sum / tokens : 0);
      m.emplace_back("train/aborted", static_cast<double>(rs.aborted));
      for (const auto& [type, sc] : by_type) {
        m.emplace_back("train/success/" + type, sc.first ? static_cast<double>(sc.second) / sc.first : 0);
      }
      double mc = std::max<double>(1.0, static_cast<double>(micro_count));
      m.emplace_back("loss/policy", loss_sum / mc);
      m.emplace_back("loss/clip_fraction", clip_sum / mc);
      m.emplace_back("loss/approx_kl", approx_kl_sum / mc);
      if (kl_coef > 0) m.emplace_back("loss/kl", kl_sum / mc);
      m.emplace_back("optim/grad_norm", steps ? grad_norm_sum / static_cast<double>(steps) : 0);
      m.emplace_back("optim/lr", lr);
      m.emplace_back("throughput/env_steps_per_s", rs.seconds > 0 ? static_cast<double>(rs.env_steps) / rs.seconds : 0);
      m.emplace_back("throughput/tokens_per_s",
                     rs.policy_seconds > 0 ? static_cast<double>(rs.generated_tokens) / rs.policy_seconds : 0);
      m.emplace_back("throughput/act_batch", rs.mean_act_batch);
      m.emplace_back("time/rollout", rs.seconds);
      m.emplace_back("time/generate", rs.policy_seconds);
      m.emplace_back("time/env_wait", rs.env_wait_seconds);
      m.emplace_back("time/advantages_and_store", adv_seconds);
      m.emplace_back("time/score", score_seconds);
      m.emplace_back("time/update", update_seconds);
      m.emplace_back("train/rows", static_cast<double>(rows.size()));
      int64_t every = c["eval"]["every"].get<int64_t>();
      Json eval_json;
      if ((every > 0 && it % every == 0) || it == iterations) {
        eval_json = EvalSplits(policy, c, seed, *writer, run_id, it, &m);
        if (it == iterations) result.after = eval_json;
      }
      m.emplace_back("time/iteration", Since(t_iter));
      writer->AppendMetrics(run_id, it, m);
      Json summary = Json::object();
      for (const auto& [k, v] : m) summary[k] = v;
      result.metrics.push_back(summary);
      writer->FinishIteration(run_id, it, summary);
      say("  iter " + std::to_string(it) + "/" + std::to_string(iterations) + ": success " +
          Fmt(successes / n, 3) + ", return " + Fmt(returns / n, 3) + ", len " +
          Fmt(lengths / n, 1) + ", rows " + std::to_string(rows.size()) + ", loss " +
          Fmt(loss_sum / mc, 4) + ", time " + Fmt(Since(t_iter), 1) + " s (rollout " +
          Fmt(rs.seconds, 1) + ", update " + Fmt(update_seconds + score_seconds, 1) + ")");

      if (it % c["checkpoint"]["every"].get<int64_t>() == 0 || it == iterations) {
        std::string dir = IterDir(run_dir, it);
        SavePretrained(model, dir);
        tokenizer->Save(dir + "/tokenizer.json");
        torch::save(optimizer, dir + "/optimizer.pt");
        WriteFile(dir + "/trainer_state.json",
                  DumpJson(Json{{"iteration", it}, {"run_id", run_id}, {"seed", seed}}, 2) + "\n");
        CheckpointRecord cp;
        cp.run_id = run_id;
        cp.iter = it;
        cp.path = dir;
        cp.metrics = summary;
        writer->AddCheckpoint(cp);
      }
      result.iterations_done = it;
      ++done_here;
      if (options.stop_after > 0 && done_here >= options.stop_after && it < iterations) {
        writer->UpdateRunStatus(run_id, "interrupted");
        writer->Flush();
        return result;
      }
    }
    writer->UpdateRunStatus(run_id, "finished");
    writer->Flush();
  } catch (...) {
    writer->UpdateRunStatus(run_id, "failed");
    writer->Flush();
    throw;
  }
  return result;
}

}  // namespace turnwise
