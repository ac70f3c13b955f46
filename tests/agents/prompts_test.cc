#include "agents/prompts.h"

#include <gtest/gtest.h>

namespace turnwise {
namespace {

TEST(Prompts, ExtractTaskFromTheFirstObservation) {
  EXPECT_EQ(ExtractTask("-= Welcome =-\n\nYou are in the middle of a room.\n\nYour task is to: put "
                        "a hot cup in shelf."),
            "put a hot cup in shelf");
  EXPECT_EQ(ExtractTask("no task here"), "");
}

TEST(Prompts, HistoryAndAdmissibleRenderLikeVerlAgent) {
  EXPECT_EQ(RenderHistory({{"obs a", "go to desk 1"}, {"obs b", "look"}}, 3),
            "[Observation 3: 'obs a', Action 3: 'go to desk 1']\n"
            "[Observation 4: 'obs b', Action 4: 'look']");
  EXPECT_EQ(RenderAdmissible({"go to desk 1", "help", "look"}, true), "'go to desk 1'\n 'look'");
  EXPECT_EQ(RenderAdmissible({"help"}, false), "'help'");
}

TEST(Prompts, FirstStepUsesTheTemplateWithoutHistory) {
  std::string p = RenderStepPrompt("household", "put a mug in desk", {}, "You see a desk 1.",
                                   {"go to desk 1", "help"}, {});
  EXPECT_EQ(p,
            "You are an expert agent acting in a text-based household environment.\n"
            "Your current observation is: You see a desk 1.\n"
            "The admissible actions in this situation are: ['go to desk 1'].\n\n"
            "Decide on your next action. First reason about the situation step by step, and put "
            "all of that reasoning inside <think> </think> tags.\n"
            "Then write exactly one of the admissible actions inside <action> </action> tags.");
}

TEST(Prompts, LaterStepsShowTheLastKTurns) {
  std::vector<HistoryEntry> h = {{"o1", "a1"}, {"o2", "a2"}, {"o3", "a3"}};
  std::string p = RenderStepPrompt("household", "put a mug in desk", h, "o4", {"look"},
                                   {.history_length = 2});
  EXPECT_NE(p.find("Your task is to: put a mug in desk."), std::string::npos);
  EXPECT_NE(p.find("You have taken 3 step(s) so far. Your last 2 observation(s)"), std::string::npos);
  EXPECT_NE(p.find("[Observation 2: 'o2', Action 2: 'a2']\n[Observation 3: 'o3', Action 3: 'a3']"),
            std::string::npos);
  EXPECT_EQ(p.find("'o1'"), std::string::npos);
  EXPECT_NE(p.find("You are now at step 4 and your current observation is: o4"), std::string::npos);
  std::string full = RenderStepPrompt("household", "", h, "o4", {"look"}, {.history_length = -1});
  EXPECT_NE(full.find("[Observation 1: 'o1', Action 1: 'a1']"), std::string::npos);
  std::string none = RenderStepPrompt("household", "put a mug in desk", h, "o4", {"look"},
                                      {.history_length = 0});
  EXPECT_EQ(none.find("Observation 1"), std::string::npos);
  EXPECT_EQ(none.find("a3"), std::string::npos);
  // Without history the task must still be stated: only the first observation holds it.
  EXPECT_NE(none.find("Your task is to: put a mug in desk."), std::string::npos) << none;
  EXPECT_NE(none.find("You are now at step 4 and your current observation is: o4"), std::string::npos);
}

TEST(Prompts, RestateTaskRepeatsItJustBeforeTheInstruction) {
  std::vector<HistoryEntry> h = {{"o1", "a1"}};
  const std::string tail =
      "The admissible actions in this situation are: ['look'].\n\n"
      "Remember, your task is to: put a mug in desk.\n"
      "Decide on your next action.";
  for (int k : {1, 0}) {
    std::string p = RenderStepPrompt("household", "put a mug in desk", h, "o2", {"look"},
                                     {.history_length = k, .restate_task = true});
    EXPECT_NE(p.find(tail), std::string::npos) << p;
    // The task's first statement stays where verl-agent's layout puts it.
    EXPECT_LT(p.find("Your task is to: put a mug in desk."), p.find("o2")) << p;
  }
  // Off by default; no task, nothing to restate; the first turn's observation already ends
  // with the task, so it is not repeated there.
  EXPECT_EQ(RenderStepPrompt("household", "put a mug in desk", h, "o2", {"look"}, {}).find("Remember"),
            std::string::npos);
  EXPECT_EQ(RenderStepPrompt("household", "", h, "o2", {"look"}, {.restate_task = true}).find("Remember"),
            std::string::npos);
  EXPECT_EQ(RenderStepPrompt("household", "put a mug in desk", {}, "o1", {"look"}, {.restate_task = true})
                .find("Remember"),
            std::string::npos);
}

TEST(Prompts, ProjectionFollowsVerlAgentRules) {
  std::vector<std::string> admissible = {"go to desk 1", "look"};
  auto p = ProjectAction("<think>go</think><action> Go to  Desk 1 </action>", admissible);
  EXPECT_EQ(p.action, "go to desk 1");
  EXPECT_TRUE(p.format_valid);
  EXPECT_TRUE(p.admissible);
  auto no_think = ProjectAction("<action>look</action>", admissible);
  EXPECT_FALSE(no_think.format_valid);
  EXPECT_TRUE(no_think.admissible);
  auto cjk = ProjectAction("<think>\xe6\x80\x9d</think><action>look</action>", admissible);
  EXPECT_FALSE(cjk.format_valid);
  auto no_tags = ProjectAction("I would like to go somewhere near the big desk 1 now", admissible);
  EXPECT_EQ(no_tags.action, "ewhere near the big desk 1 now");
  EXPECT_EQ(no_tags.action.size(), 30u);
  // The 30-byte cut never splits a character: "é" (2 bytes) straddling the cut is left out.
  auto accented = ProjectAction("\xc3\xa9\xc3\xa9<think></think><action>up</", admissible);
  EXPECT_EQ(accented.action, "\xc3\xa9<think></think><action>up</");
  auto euro = ProjectAction("\xe2\x82\xac<think></think><action>up</x", admissible);  // 31 bytes
  EXPECT_EQ(euro.action, "<think></think><action>up</x") << "not the last two bytes of the euro sign";
  EXPECT_FALSE(no_tags.format_valid);
  EXPECT_FALSE(no_tags.admissible);
  auto unknown = ProjectAction("<think>x</think><action>dance</action>", admissible);
  EXPECT_TRUE(unknown.format_valid);
  EXPECT_FALSE(unknown.admissible);
  EXPECT_TRUE(ProjectAction("<think>x</think><action>anything</action>", {}).admissible);
}

}  // namespace
// The grid worlds follow verl-agent's Sokoban template structure: symbols, goal, rules, then the
// current step with the grid on its own lines and the admissible actions as a quoted list.
TEST(Prompts, GridWorldsHaveTheirOwnTemplate) {
  const std::string grid = "# # #\n# P #\n# # #";
  const std::vector<std::string> actions = {"up", "down", "left", "right"};
  std::string first = RenderStepPrompt("sokoban", "", {}, grid, actions, {});
  EXPECT_EQ(first.rfind("You are an expert agent solving a Sokoban puzzle.\n\n# Symbols\n# wall, _ floor, O target", 0), 0u)
      << first;
  for (const char* part : {"# Goal\n", "# Rules\n", "# Current step\nYour current observation is:\n# # #\n# P #\n# # #\n",
                           "Your admissible actions are [\"up\", \"down\", \"left\", \"right\"].",
                           "<think> </think>", "<action> </action>"}) {
    EXPECT_NE(first.find(part), std::string::npos) << part;
  }
  EXPECT_EQ(first.find("household"), std::string::npos);
  // Later steps (steps layout): the step count and the last k grids with their actions.
  PromptOptions o;
  o.history_length = 1;
  std::string later = RenderStepPrompt("frozenlake", "", {{"G _\nP _", "up"}, {"P _\n_ _", "right"}}, "_ P\n_ _",
                                       {"left", "down", "right", "up"}, o);
  EXPECT_EQ(later.rfind("You are an expert agent crossing a frozen lake.", 0), 0u);
  EXPECT_NE(later.find("You have taken 2 step(s) so far. Your last 1 observation(s) and the action(s) you took:\n"
                       "[Observation 2: 'P _\n_ _', Action 2: 'right']\n"
                       "You are now at step 3 and your current observation is:\n_ P\n_ _\n"),
            std::string::npos)
      << later;
  // The episode layout's follow-up: the step and the grid only.
  EXPECT_EQ(RenderFollowUpPrompt("sokoban", "", 3, grid, actions, {}),
            "Step 4. Your current observation is:\n# # #\n# P #\n# # #");
  // Other envs' follow-up carries the admissible actions (they change) and the restated task.
  o.restate_task = true;
  EXPECT_EQ(RenderFollowUpPrompt("household", "put a mug in desk", 1, "You see a desk 1.", {"go to desk 1", "help"}, o),
            "Your current observation is: You see a desk 1.\nThe admissible actions in this situation are: "
            "['go to desk 1'].\nRemember, your task is to: put a mug in desk.");
}

// PromptOptions::compact: the observation and the actions, nothing else — the step number on
// later turns, the task for non-grid envs once the observation no longer states it.
TEST(Prompts, CompactPromptsHoldTheObservationAndActionsOnly) {
  PromptOptions o;
  o.compact = true;
  o.history_length = 2;  // ignored: no history is rendered
  const std::vector<std::string> moves = {"left", "down", "right", "up"};
  EXPECT_EQ(RenderStepPrompt("frozenlake", "", {}, "P _\n_ G", moves, o),
            "P _\n_ G\nActions: [\"left\", \"down\", \"right\", \"up\"].");
  EXPECT_EQ(RenderStepPrompt("frozenlake", "", {{"P _\n_ G", "right"}}, "_ P\n_ G", moves, o),
            "Step 2.\n_ P\n_ G\nActions: [\"left\", \"down\", \"right\", \"up\"].");
  EXPECT_EQ(RenderFollowUpPrompt("sokoban", "", 3, "# P #", moves, o), "Step 4.\n# P #");
  EXPECT_EQ(RenderStepPrompt("household", "put a mug in desk", {}, "You are in a room. Your task is to: put a mug in desk.",
                             {"go to desk 1", "help"}, o),
            "You are in a room. Your task is to: put a mug in desk.\nActions: ['go to desk 1'].");
  EXPECT_EQ(RenderStepPrompt("household", "put a mug in desk", {{"You are in a room.", "look"}}, "You see a desk 1.",
                             {"go to desk 1"}, o),
            "Task: put a mug in desk.\nYou see a desk 1.\nActions: ['go to desk 1'].");
  EXPECT_EQ(RenderFollowUpPrompt("household", "put a mug in desk", 1, "You see a desk 1.", {"go to desk 1"}, o),
            "You see a desk 1.\nActions: ['go to desk 1'].");
}

}  // namespace turnwise
