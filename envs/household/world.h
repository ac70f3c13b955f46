// The household world: rooms, receptacles, objects, task generation, the command grammar and
// the scripted expert. Implementation detail of HouseholdEnv, exposed for its tests.
#ifndef TURNWISE_ENVS_HOUSEHOLD_WORLD_H_
#define TURNWISE_ENVS_HOUSEHOLD_WORLD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace turnwise::household {

struct Receptacle {
  std::string type;   // "countertop"
  int number = 1;     // per-type numbering from 1
  bool openable = false;
  bool open = true;   // meaningful only when openable
  int loc = 0;        // the 0.3 grammar's "loc N"
  std::vector<int> objects;  // indices into World::objects, in placement order
  std::string Name() const { return type + " " + std::to_string(number); }
  bool Accessible() const { return !openable || open; }
};

struct Object {
  std::string type;
  int number = 1;
  int receptacle = -1;  // -1 while held
  bool clean = false, hot = false, cool = false, on = false;
  std::string Name() const { return type + " " + std::to_string(number); }
};

struct Task {
  std::string id;        // "train/12"
  std::string split;
  int64_t index = 0;
  std::string type;      // one of the six ALFWorld task types
  std::string room;
  std::string obj;       // target object type
  std::string recep;     // goal receptacle type (empty for look_at_obj_in_light)
  std::string toggle;    // lamp type for look_at_obj_in_light
  std::string goal_text; // "put a clean mug in cabinet"
};

// Object/receptacle knowledge (ALFWorld's canContain and object properties, as tables).
bool CanContain(const std::string& receptacle_type, const std::string& object_type);
bool IsCleanable(const std::string& object_type);
bool IsHeatable(const std::string& object_type);
bool IsCoolable(const std::string& object_type);
bool IsToggleable(const std::string& object_type);
bool IsPickupable(const std::string& object_type);
bool IsOpenable(const std::string& receptacle_type);
// True when (object type, goal receptacle type) is reserved for valid_unseen.
bool IsUnseenCombination(const std::string& object_type, const std::string& receptacle_type);
const std::vector<std::string>& TaskTypeNames();

// The verl-agent split sizes.
int64_t SplitSize(const std::string& split);

class World {
 public:
  // Deterministic in (split, index). Throws InvalidArgument for an unknown split or an index
  // outside [0, SplitSize(split)).
  static World Generate(const std::string& split, int64_t index);

  struct Action {
    enum Kind { kGoto, kOpen, kClose, kTake, kPut, kUse, kHeat, kClean, kCool, kExamineRecep,
                kExamineObject, kInventory, kLook, kHelp } kind;
    int object = -1;
    int receptacle = -1;
  };
  // The admissible commands of the current state, sorted and unique, and what each does
  // (actions[i] is what commands[i] does).
  struct ActionTable {
    std::vector<std::string> commands;
    std::vector<Action> actions;
  };
  ActionTable Actions(bool new_grammar) const;
  // The command text of an action of the current state (the inverse of the table).
  std::string CommandText(const Action& action, bool new_grammar) const;

  // Every admissible command in the current state, sorted (`new_grammar`: ALFWorld >= 0.4).
  std::vector<std::string> Admissible(bool new_grammar) const;
  // Applies an admissible command and returns its feedback; nullopt when the command is not
  // admissible after trimming (the env then answers "Nothing happens.").
  std::optional<std::string> Execute(const std::string& command, bool new_grammar);
  // Applies an action taken from Actions(new_grammar) of the current state; returns its feedback.
  std::string Apply(const Action& action, bool new_grammar);
  bool Won() const;
  // What `look` shows; in the middle of the room at the start.
  std::string LookText() const;
  // The scripted expert's next command (always admissible while the task is unsolved). It plans
  // over the true state: it walks straight to hidden objects, so its demonstrations cannot be
  // imitated by a policy that only sees observations.
  std::string ExpertAction(bool new_grammar) const;
  // The searching expert: its command depends only on what an agent can observe (the goal text,
  // where it stands, what the current receptacle shows, what it holds and the admissible
  // commands). It searches the receptacles that can hold the goal object, in the sorted order of
  // the admissible `go to` commands starting after the current one, opening closed ones, takes
  // the object when it sees it, treats it at the first appliance (microwave 1, fridge 1,
  // sinkbasin 1) and puts it in the first receptacle of the goal type; for
  // look_at_obj_in_light it then searches the lamp the same way and uses it. Memoryless, so a
  // policy that sees the last turns can imitate it; it may run out of steps where the oracle
  // would not (household_test measures how often).
  std::string SearchAction(bool new_grammar) const;

  Task task;
  std::vector<Receptacle> receptacles;
  std::vector<Object> objects;
  int location = -1;  // receptacle index the agent is at, -1 = middle of the room
  int held = -1;      // object index in hand, -1 = none

 private:
  // Appends what examining `r` shows ("On the countertop 1, you see a apple 1.").
  void AppendExamineText(const Receptacle& r, std::string* out) const;
  std::string PutCommand(int object, int receptacle, bool new_grammar) const;
  std::optional<std::string> Approach(int receptacle) const;
  std::string Dispose(int object, int goal, bool new_grammar) const;
  int GoalReceptacle() const;
  // Search helpers of SearchAction.
  std::string SearchNext(const std::string& object_type, const std::string& skip_type) const;
  int FirstOfType(const std::string& receptacle_type) const;
  int VisibleHere(const std::string& object_type) const;  // object index or -1
  bool Satisfied(const Object& o) const;  // has the state the task needs
};

}  // namespace turnwise::household

#endif  // TURNWISE_ENVS_HOUSEHOLD_WORLD_H_
