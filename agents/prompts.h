// Prompts and memory for multi-turn agents. In verl-agent's per-step layout every turn is one
// training row whose prompt is rebuilt from the task, the last k (observation, action) pairs, the
// current observation and the admissible actions, plus a format instruction asking for
// <think>…</think><action>…</action> (RenderStepPrompt). In the episode layout the first turn's
// prompt is the same and each later turn appends only a short message with the new observation
// (RenderFollowUpPrompt). The wording is Turnwise's own; the structure and fields follow
// verl-agent's templates (agent_system/environments/prompts/alfworld.py and sokoban.py).
//
// Pure text functions: no model, no tokenizer, thread-safe.
#ifndef TURNWISE_AGENTS_PROMPTS_H_
#define TURNWISE_AGENTS_PROMPTS_H_

#include <string>
#include <vector>

namespace turnwise {

struct HistoryEntry {
  std::string observation;  // what the agent saw before acting
  std::string action;       // the (projected) action it took
};

struct PromptOptions {
  // Turns of history shown: k > 0 the last k; 0 none (later turns state the task, the step
  // count and the current observation only); -1 the full history.
  int history_length = 2;
  // Drop the "help" command from the admissible list, as verl-agent does.
  bool hide_help = true;
  // Repeat the task after the admissible actions, just before the format instruction, on every
  // turn but the first (whose observation ends with the task). Off: verl-agent's layout, where
  // the task is stated once near the prompt's start — some hundred tokens before the response,
  // too far back for a small model to copy reliably.
  bool restate_task = false;
  // The observation and the admissible actions alone: no role, rules or format instruction (and
  // no system message: BuildPromptTokens). For small models trained from scratch, whose policy
  // must find the few tokens that decide among all it reads — the grid worlds' full prompt is
  // ~230 tokens for a decision made from one line. The response format is then taught by the
  // warm start only. History is not rendered (history_length is ignored): the episode layout
  // keeps earlier turns in the context instead.
  bool compact = false;
};

// The task text of an ALFWorld-style first observation (after "Your task is to: ", without
// the final period); empty when there is none.
std::string ExtractTask(const std::string& first_observation);

// "[Observation 3: '...', Action 3: '...']" per entry, one per line, numbered from `first_step`
// (1-based) — verl-agent's SimpleMemory rendering.
std::string RenderHistory(const std::vector<HistoryEntry>& entries, int first_step);

// Admissible actions as "'a',\n 'b'" (verl-agent's rendering), without "help" when asked.
std::string RenderAdmissible(const std::vector<std::string>& actions, bool hide_help);

// The user message for one step. `env` selects the template: "household" (verl-agent's ALFWorld
// structure), "sokoban" and "frozenlake" (verl-agent's Sokoban structure: symbols, goal, rules,
// the current grid, the admissible actions), and a generic one for any other env (the household
// structure without household's words). `history` holds every previous step of the episode (oldest first);
// `observation` is the current one; `task` may be empty.
std::string RenderStepPrompt(const std::string& env, const std::string& task,
                             const std::vector<HistoryEntry>& history,
                             const std::string& observation,
                             const std::vector<std::string>& admissible,
                             const PromptOptions& options);

// The episode layout's message for a later turn (the model has every earlier turn in its
// context, so only the new observation is put): `steps_taken` turns so far, the observation and
// the admissible actions (the task restated when options.restate_task, for non-grid envs). The
// grid worlds' message is the step number and the grid alone: their actions never change.
std::string RenderFollowUpPrompt(const std::string& env, const std::string& task, int steps_taken,
                                 const std::string& observation, const std::vector<std::string>& admissible,
                                 const PromptOptions& options);

struct ProjectedAction {
  std::string action;   // what is sent to the environment
  bool format_valid;    // <think>…</think> and <action>…</action> present, no CJK characters
  bool admissible;      // `action` is one of the admissible actions (when a list was given)
};

// verl-agent's projection: lower-case the response, take the text between the first <action>
// and the first </action> (trimmed); format_valid needs both action tags, both think tags and
// no CJK ideographs (U+4E00–U+9FFF). Without action tags the action is the response's last 30
// characters (the env will answer "Nothing happens."). `admissible` is checked after collapsing
// whitespace; an empty list means the env does not know its actions (admissible = true).
ProjectedAction ProjectAction(const std::string& response,
                              const std::vector<std::string>& admissible);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_PROMPTS_H_
