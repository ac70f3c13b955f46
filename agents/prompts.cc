#include "agents/prompts.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace turnwise {
namespace {

const char kFormatInstruction[] =
    "Decide on your next action. First reason about the situation step by step, and put all of "
    "that reasoning inside <think> </think> tags.\n"
    "Then write exactly one of the admissible actions inside <action> </action> tags.";

std::string Role(const std::string& env) {
  if (env == "household") return "You are an expert agent acting in a text-based household environment.";
  return "You are an expert agent acting in the '" + env + "' environment.";
}

// The admissible actions, the restated task when asked, the format instruction.
std::string Closing(const std::string& actions, const std::string& task, const PromptOptions& options) {
  std::string out = "\nThe admissible actions in this situation are: [" + actions + "].\n\n";
  if (options.restate_task && !task.empty()) out += "Remember, your task is to: " + task + ".\n";
  return out + kFormatInstruction;
}

// True when the UTF-8 text holds a CJK unified ideograph (U+4E00..U+9FFF): 3-byte sequences
// E4 B8 80 .. E9 BF BF.
bool HasCjk(const std::string& s) {
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    unsigned char a = static_cast<unsigned char>(s[i]);
    if (a < 0xE4 || a > 0xE9) continue;
    unsigned char b = static_cast<unsigned char>(s[i + 1]);
    if ((b & 0xC0) != 0x80) continue;
    uint32_t cp = ((a & 0x0Fu) << 12) | ((b & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    if (cp >= 0x4E00 && cp <= 0x9FFF) return true;
  }
  return false;
}

std::string CollapseSpaces(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : Trim(s)) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
    } else {
      if (space && !out.empty()) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

// The grid worlds (sokoban, frozenlake): verl-agent's Sokoban template structure — who the
// agent is, the symbols, the goal, the rules, then the current step — in Turnwise's words.
struct GridTemplate {
  const char* env;
  const char* header;  // everything before "# Current step"
};

const GridTemplate kGridTemplates[] = {
    {"sokoban",
     "You are an expert agent solving a Sokoban puzzle.\n\n"
     "# Symbols\n"
     "# wall, _ floor, O target, X box, \xe2\x88\x9a box on a target, P you, S you on a target\n\n"
     "# Goal\n"
     "Push every box onto a target.\n\n"
     "# Rules\n"
     "Each action moves you one cell. Walking into a box pushes it one cell on if the cell behind it is free; "
     "boxes cannot be pulled, and a box pushed into a corner is stuck for good.\n"},
    {"frozenlake",
     "You are an expert agent crossing a frozen lake.\n\n"
     "# Symbols\n"
     "P you, _ ice, O hole, G goal, X you in a hole, \xe2\x88\x9a you on the goal\n\n"
     "# Goal\n"
     "Reach the goal without falling into a hole.\n\n"
     "# Rules\n"
     "Each action moves you one cell; at the edge you stay where you are. On slippery ice you may slide "
     "sideways instead.\n"},
};

// Kept short: every token of the first prompt is read once per episode by generation and again by
// the learner.
const char kGridInstruction[] =
    "Think about where you are and where to go inside <think> </think>, then give one admissible action "
    "inside <action> </action>.";

const GridTemplate* FindGridTemplate(const std::string& env) {
  for (const GridTemplate& t : kGridTemplates) {
    if (env == t.env) return &t;
  }
  return nullptr;
}

// ["up", "down"]: the grid worlds' list, in the env's order.
std::string QuotedList(const std::vector<std::string>& actions) {
  std::vector<std::string> quoted;
  for (const auto& a : actions) quoted.push_back("\"" + a + "\"");
  return "[" + Join(quoted, ", ") + "]";
}

std::string GridStepPrompt(const GridTemplate& t, const std::vector<HistoryEntry>& history,
                           const std::string& observation, const std::vector<std::string>& admissible,
                           const PromptOptions& options) {
  if (options.compact) {
    return (history.empty() ? std::string() : "Step " + std::to_string(history.size() + 1) + ".\n") + observation +
           "\nActions: " + QuotedList(admissible) + ".";
  }
  std::string out = std::string(t.header) + "\n# Current step\n";
  if (!history.empty() && options.history_length != 0) {
    const size_t k = options.history_length < 0
                         ? history.size()
                         : std::min(history.size(), static_cast<size_t>(options.history_length));
    std::vector<HistoryEntry> recent(history.end() - static_cast<long>(k), history.end());
    out += "You have taken " + std::to_string(history.size()) + " step(s) so far. Your last " + std::to_string(k) +
           " observation(s) and the action(s) you took:\n" +
           RenderHistory(recent, static_cast<int>(history.size() - k) + 1) + "\n";
  } else if (!history.empty()) {
    out += "You have taken " + std::to_string(history.size()) + " step(s) so far.\n";
  }
  out += history.empty() ? "Your current observation is:\n"
                         : "You are now at step " + std::to_string(history.size() + 1) +
                               " and your current observation is:\n";
  return out + observation + "\nYour admissible actions are " + QuotedList(admissible) + ".\n\n" +
         kGridInstruction;
}

}  // namespace

std::string RenderFollowUpPrompt(const std::string& env, const std::string& task, int steps_taken,
                                 const std::string& observation, const std::vector<std::string>& admissible,
                                 const PromptOptions& options) {
  if (FindGridTemplate(env) != nullptr) {
    // The grid worlds' actions never change: the first prompt listed them once.
    if (options.compact) return "Step " + std::to_string(steps_taken + 1) + ".\n" + observation;
    return "Step " + std::to_string(steps_taken + 1) + ". Your current observation is:\n" + observation;
  }
  if (options.compact) {
    return observation + "\nActions: [" + RenderAdmissible(admissible, options.hide_help) + "].";
  }
  std::string out = "Your current observation is: " + observation + "\nThe admissible actions in this situation are: [" +
                    RenderAdmissible(admissible, options.hide_help) + "].";
  if (options.restate_task && !task.empty()) out += "\nRemember, your task is to: " + task + ".";
  return out;
}

std::string ExtractTask(const std::string& first_observation) {
  const std::string marker = "Your task is to: ";
  size_t pos = first_observation.find(marker);
  if (pos == std::string::npos) return "";
  std::string task(Trim(first_observation.substr(pos + marker.size())));
  if (!task.empty() && task.back() == '.') task.pop_back();
  return task;
}

std::string RenderHistory(const std::vector<HistoryEntry>& entries, int first_step) {
  std::string out;
  for (size_t i = 0; i < entries.size(); ++i) {
    int n = first_step + static_cast<int>(i);
    if (i > 0) out += "\n";
    out += "[Observation " + std::to_string(n) + ": '" + entries[i].observation + "', Action " +
           std::to_string(n) + ": '" + entries[i].action + "']";
  }
  return out;
}

std::string RenderAdmissible(const std::vector<std::string>& actions, bool hide_help) {
  std::vector<std::string> quoted;
  for (const auto& a : actions) {
    if (hide_help && a == "help") continue;
    quoted.push_back("'" + a + "'");
  }
  return Join(quoted, "\n ");
}

std::string RenderStepPrompt(const std::string& env, const std::string& task,
                             const std::vector<HistoryEntry>& history,
                             const std::string& observation,
                             const std::vector<std::string>& admissible,
                             const PromptOptions& options) {
  if (const GridTemplate* grid = FindGridTemplate(env)) {
    return GridStepPrompt(*grid, history, observation, admissible, options);
  }
  const std::string actions = RenderAdmissible(admissible, options.hide_help);
  if (options.compact) {
    // The task stays when the observation no longer holds it (after the first turn).
    std::string out = history.empty() || task.empty() ? std::string() : "Task: " + task + ".\n";
    return out + observation + "\nActions: [" + actions + "].";
  }
  if (history.empty()) {
    // The first observation ends with the task: nothing to restate.
    return Role(env) + "\nYour current observation is: " + observation + Closing(actions, "", options);
  }
  if (options.history_length == 0) {
    // No earlier turns shown, but the task (which only the first observation states) stays.
    std::string out = Role(env);
    if (!task.empty()) out += " Your task is to: " + task + ".";
    return out + "\nYou have taken " + std::to_string(history.size()) +
           " step(s) so far. You are now at step " + std::to_string(history.size() + 1) +
           " and your current observation is: " + observation +
           Closing(actions, task, options);
  }
  size_t k = options.history_length < 0
                 ? history.size()
                 : std::min(history.size(), static_cast<size_t>(options.history_length));
  std::vector<HistoryEntry> recent(history.end() - static_cast<long>(k), history.end());
  int first = static_cast<int>(history.size() - k) + 1;
  std::string out = Role(env);
  if (!task.empty()) out += " Your task is to: " + task + ".";
  out += "\nYou have taken " + std::to_string(history.size()) + " step(s) so far. Your last " +
         std::to_string(k) + " observation(s) and the action(s) you took:\n" +
         RenderHistory(recent, first) + "\nYou are now at step " +
         std::to_string(history.size() + 1) + " and your current observation is: " + observation +
         Closing(actions, task, options);
  return out;
}

ProjectedAction ProjectAction(const std::string& response,
                              const std::vector<std::string>& admissible) {
  std::string lower = response;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  ProjectedAction p;
  size_t open = lower.find("<action>");
  size_t close = open == std::string::npos ? std::string::npos : lower.find("</action>", open);
  bool has_action = open != std::string::npos && close != std::string::npos;
  if (has_action) {
    p.action = std::string(Trim(lower.substr(open + 8, close - open - 8)));
  } else {
    // The last 30 bytes, started at a character boundary (never inside a UTF-8 sequence: the
    // store and every JSON answer would carry the broken character).
    size_t from = lower.size() > 30 ? lower.size() - 30 : 0;
    while (from > 0 && from < lower.size() && (static_cast<unsigned char>(lower[from]) & 0xC0) == 0x80) ++from;
    p.action = lower.substr(from);
  }
  bool has_think = lower.find("<think>") != std::string::npos &&
                   lower.find("</think>") != std::string::npos;
  p.format_valid = has_action && has_think && !HasCjk(response);
  if (admissible.empty()) {
    p.admissible = true;
  } else {
    std::string wanted = CollapseSpaces(p.action);
    p.admissible = false;
    for (const auto& a : admissible) {
      if (CollapseSpaces(a) == wanted) {
        p.action = a;
        p.admissible = true;
        break;
      }
    }
  }
  return p;
}

}  // namespace turnwise
