// `turnwise envs list|describe|play`: see the registered environments and play one by hand.
#include <iostream>

#include "cli/commands.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "envs/registry.h"

namespace turnwise::cli {
namespace {

Json EnvConfigFromSets(const std::vector<std::string>& sets) {
  Json config = Json::object();
  for (const auto& s : sets) ApplyOverride(config, s, nullptr);
  return config;
}

void Play(const std::string& name, const Json& config, const ResetOptions& reset) {
  auto env = EnvRegistry::Make(name, config);
  StepResult s = env->Reset(reset);
  std::cout << "== " << name << " " << env->TaskId() << " (" << env->TaskType() << ")\n\n"
            << s.observation.text << "\n";
  double total = 0;
  while (!s.done()) {
    std::cout << "\nadmissible actions:\n";
    for (size_t i = 0; i < s.admissible_actions.size(); ++i) {
      std::cout << "  " << (i + 1) << ". " << s.admissible_actions[i] << "\n";
    }
    std::cout << "\n[turn " << s.turn + 1 << "] action (text, a number, 'expert' for a hint, "
              << "'quit'): " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) break;
    std::string action(Trim(line));
    if (action == "quit" || action == "exit") break;
    if (action == "expert") {
      auto hint = env->ExpertAction();
      std::cout << "expert: " << (hint ? *hint : std::string("(no expert)")) << "\n";
      continue;
    }
    if (!action.empty() && action.find_first_not_of("0123456789") == std::string::npos) {
      size_t k = std::stoul(action);
      if (k >= 1 && k <= s.admissible_actions.size()) action = s.admissible_actions[k - 1];
    }
    s = env->Step(action);
    total += s.reward;
    std::cout << "> " << action << "\n" << s.observation.text << "\n";
  }
  std::cout << "\nepisode over after " << s.turn << " turns: "
            << (s.info.value("won", false) ? "won" : (s.done() ? "not won" : "stopped"))
            << ", return " << FormatNumber(total, 2) << "\n";
}

}  // namespace

void AddEnvsCommand(CLI::App& app) {
  CLI::App* envs = app.add_subcommand("envs", "List, describe and play the registered environments");
  envs->require_subcommand(1);

  CLI::App* list = envs->add_subcommand("list", "List the registered environments");
  list->callback([] {
    TextTable table({"name", "version", "splits", "max turns", "description"});
    for (const auto& name : EnvRegistry::Names()) {
      EnvSpec spec = EnvRegistry::Spec(name);
      std::vector<std::string> splits;
      for (const auto& [split, n] : spec.splits) splits.push_back(split + " " + std::to_string(n));
      table.AddRow({spec.name, spec.version, Join(splits, ", "), std::to_string(spec.max_turns),
                    spec.description});
    }
    table.Print(std::cout);
  });

  auto describe_name = std::make_shared<std::string>();
  CLI::App* describe = envs->add_subcommand("describe", "Print an environment's spec as JSON");
  describe->add_option("name", *describe_name, "Environment name")->required();
  describe->callback([describe_name] {
    std::cout << DumpJson(EnvRegistry::Spec(*describe_name).ToJson(), 2) << "\n";
  });

  struct PlayOptions {
    std::string name;
    std::vector<std::string> sets;
    uint64_t seed = 0;
    std::string task;
    std::string split = "train";
  };
  auto p = std::make_shared<PlayOptions>();
  CLI::App* play = envs->add_subcommand("play", "Play an environment in the terminal");
  play->add_option("name", p->name, "Environment name")->required();
  play->add_option("--seed", p->seed, "Seed (picks the task within the split)")->capture_default_str();
  play->add_option("--task", p->task, "Task id, e.g. train/12");
  play->add_option("--split", p->split, "train, valid_seen or valid_unseen")->capture_default_str();
  play->add_option("--set", p->sets, "Env config key=value, e.g. grammar_version=0.3");
  play->callback([p] {
    Play(p->name, EnvConfigFromSets(p->sets), {.seed = p->seed, .task_id = p->task, .split = p->split});
  });
}

}  // namespace turnwise::cli
