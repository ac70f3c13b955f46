#include "agents/model_bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <sstream>

#include "agents/generation.h"
#include "agents/model_config.h"
#include "agents/transformer_lm.h"
#include "core/stats.h"
#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

// Median wall time of `fn` over `repeats` runs after one warm-up run.
double TimeMedian(int repeats, const std::function<void()>& fn) {
  fn();
  std::vector<double> times;
  for (int i = 0; i < std::max(repeats, 1); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Median(times);
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

fs::path FindScript(const ModelBenchOptions& o) {
  if (!o.python_script.empty()) return o.python_script;
  const fs::path rel = "tests/agents/reference/train_step_bench.py";
  // __FILE__ is the absolute path of this source file in CMake builds: <repo>/agents/...
  const fs::path from_source = fs::path(__FILE__).parent_path().parent_path() / rel;
  if (fs::exists(from_source)) return from_source;
  return fs::current_path() / rel;
}

// Runs `cmd`, returning its stdout; sets ok=false on a non-zero exit.
std::string RunCommand(const std::string& cmd, bool& ok) {
  std::string output;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) {
    ok = false;
    return "";
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  ok = ::pclose(pipe) == 0;
  return output;
}

}  // namespace

int RunModelBench(const ModelBenchOptions& o, std::ostream& out) {
  const int saved_threads = at::get_num_threads();
  at::set_num_threads(o.threads);
  const ModelConfig config = ModelConfig::Preset(o.preset, o.vocab_size);
  out << "model bench: preset " << o.preset << " (" << Fixed(config.NumParameters() / 1e6, 2)
      << "M params, hidden " << config.hidden_size << ", " << config.num_hidden_layers
      << " layers, vocab " << config.vocab_size << "), float32, CPU, " << at::get_num_threads()
      << " intra-op threads, medians of " << o.repeats << " runs\n";
  TransformerLM model(config);
  Rng rng(1234);

  // (a) decode with and without the KV cache.
  out << "\n(a) decode: " << o.prompt_tokens << "-token prompts, " << o.new_tokens
      << " new tokens (temperature 1, prefill included)\n";
  out << "  batch  kv-cache tok/s  recompute tok/s  speedup\n";
  for (int64_t batch : o.decode_batches) {
    std::vector<std::vector<int32_t>> prompts(batch);
    for (auto& p : prompts) {
      for (int64_t i = 0; i < o.prompt_tokens; ++i)
        p.push_back(static_cast<int32_t>(rng.Uniform(config.vocab_size)));
    }
    SamplingParams params;
    params.temperature = 1.0;
    params.max_new_tokens = o.new_tokens;
    params.seed = 1;
    const double tokens = static_cast<double>(batch * o.new_tokens);
    // Cached and uncached runs alternate, so both see the same background load.
    SamplingParams uncached = params;
    uncached.use_kv_cache = false;
    auto time_once = [&](const SamplingParams& sp) {
      auto t0 = std::chrono::steady_clock::now();
      Generate(*model, prompts, sp);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    time_once(params);  // warm-up
    time_once(uncached);
    std::vector<double> cached_times, full_times;
    for (int r = 0; r < std::max(o.repeats, 1); ++r) {
      cached_times.push_back(time_once(params));
      if (r < std::max(o.no_cache_repeats, 1)) full_times.push_back(time_once(uncached));
    }
    const double cached = Median(cached_times);
    const double full = Median(full_times);
    out << "  " << std::setw(5) << batch << "  " << std::setw(14) << Fixed(tokens / cached, 1)
        << "  " << std::setw(15) << Fixed(tokens / full, 1) << "  " << std::setw(6)
        << Fixed(full / cached, 2) << "x" << std::endl;
  }

  // (c) first part: the machine's matmul peak, in this process, with the same threads. Peak =
  // the best of the runs (this is a shared 2-core machine; the median would understate it).
  const int64_t n = o.matmul_size;
  at::Tensor a = at::randn({n, n});
  at::Tensor b = at::randn({n, n});
  auto best_mm_time = [&] {
    at::mm(a, b);
    double best = 1e30;
    for (int i = 0; i < std::max(o.repeats, 3); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      at::mm(a, b);
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  double mm_time = best_mm_time();

  // (b) one SFT-like training step.
  const int64_t batch = o.train_batch, seq = o.train_tokens, response = seq / 2,
                prompt = seq - response;
  at::Tensor ids =
      at::randint(config.vocab_size, {batch, seq}, at::TensorOptions().dtype(at::kLong));
  at::Tensor targets = ids.narrow(1, prompt, response).reshape({-1});
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto step = [&] {
    // Drop gradients instead of zeroing them (Python's zero_grad(set_to_none=True)): backward
    // then writes them instead of accumulating into zeros.
    for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
    at::Tensor hidden = model->ForwardHidden(ids).narrow(1, prompt - 1, response);
    at::Tensor logits = model->Logits(hidden);
    at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, config.vocab_size}), targets);
    loss.backward();
    optimizer.step();
  };
  // FLOPs: 6 per matmul parameter per token (forward 2, backward 4), lm_head only on response
  // positions, plus q.k^T and p.v over the full T x T score matrix (forward 4*T*S*H*d per layer).
  const double hd = static_cast<double>(config.num_attention_heads * config.head_dim);
  const double head_params = static_cast<double>(config.vocab_size * config.hidden_size);
  const double body_params = static_cast<double>(config.NumMatmulParameters()) - head_params;
  const double flops = 6.0 * (body_params * batch * seq + head_params * batch * response) +
                       3.0 * 4.0 * config.num_hidden_layers * batch * double(seq) * seq * hd;
  out << "\n(b) train step: batch " << batch << " x " << seq
      << " tokens, cross-entropy on the last " << response << ", backward, AdamW; "
      << o.train_rounds << " interleaved rounds (Turnwise, then Python), each the median of "
      << o.repeats << " steps\n";

  // Python baseline command (one process per round; it warms up itself).
  std::string python_cmd, python_skip;
  fs::path cfg_path;
  if (o.python.empty()) {
    python_skip = "no interpreter configured";
  } else {
    const fs::path script = FindScript(o);
    if (!fs::exists(script)) {
      python_skip = "script not found: " + script.string();
    } else {
      cfg_path = fs::temp_directory_path() /
                 ("turnwise_model_bench_config_" + std::to_string(::getpid()) + ".json");
      config.Save(cfg_path.string());
      std::ostringstream cmd;
      cmd << o.python << " " << script.string() << " --config " << cfg_path.string() << " --batch "
          << batch << " --seq " << seq << " --response " << response << " --threads " << o.threads
          << " --steps " << std::max(o.repeats, 1) << " 2>&1";
      python_cmd = cmd.str();
    }
  }
  std::vector<double> ours, theirs, ratios;
  std::string torch_version;
  for (int round = 0; round < std::max(o.train_rounds, 1); ++round) {
    const double t = TimeMedian(o.repeats, step);
    ours.push_back(t);
    out << "  round " << round + 1 << ": turnwise " << Fixed(t * 1e3, 1) << " ms/step";
    if (python_skip.empty()) {
      bool ok = true;
      const std::string text = RunCommand(python_cmd, ok);
      Json result;
      if (ok) {
        try {
          result = ParseJson(text.substr(text.rfind('{')), "train_step_bench.py output");
        } catch (const std::exception&) {
          ok = false;
        }
      }
      if (!ok || !result.contains("median_step_s")) {
        python_skip = "python baseline failed: " + text.substr(0, 300);
      } else {
        const double py = result["median_step_s"].get<double>();
        torch_version = result.value("torch", "?");
        theirs.push_back(py);
        ratios.push_back(py / t);
        out << ", python " << Fixed(py * 1e3, 1) << " ms/step, ratio " << Fixed(py / t, 2);
      }
    }
    out << std::endl;
  }
  if (!cfg_path.empty()) fs::remove(cfg_path);
  const double step_time = Median(ours);
  out << "  turnwise: " << Fixed(step_time * 1e3, 1) << " ms/step, "
      << Fixed(batch * seq / step_time, 0) << " tokens/s\n";
  if (!ratios.empty()) {
    const double py_step = Median(theirs);
    out << "  python:   " << Fixed(py_step * 1e3, 1) << " ms/step, "
        << Fixed(batch * seq / py_step, 0) << " tokens/s (torch " << torch_version << ", "
        << o.threads << " threads)\n";
    out << "  ratio turnwise/python tokens/s (median of rounds): " << Fixed(Median(ratios), 2)
        << " (target >= 1.0)\n";
  } else {
    out << "  python:   skipped (" << python_skip << ")\n";
  }
  mm_time = std::min(mm_time, best_mm_time());
  const double peak = 2.0 * n * n * n / mm_time;
  out << "\n(c) FLOP/s: matmul peak " << Fixed(peak / 1e9, 1) << " GFLOP/s (" << n << "^3 fp32 mm, "
      << Fixed(mm_time * 1e3, 1) << " ms); train step " << Fixed(flops / 1e9, 1) << " GFLOP -> "
      << Fixed(flops / step_time / 1e9, 1)
      << " GFLOP/s = " << Fixed(100.0 * flops / step_time / peak, 1) << "% of peak\n";
  at::set_num_threads(saved_threads);
  return 0;
}

}  // namespace turnwise
