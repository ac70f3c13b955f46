#include "envs/household/world.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "core/text.h"

namespace turnwise::household {
namespace {

enum Prop : unsigned { kClean = 1, kHeat = 2, kCool = 4, kToggle = 8, kFixed = 16 };

struct ObjectInfo {
  const char* type;
  unsigned props;
  std::vector<std::string> receptacles;  // where it can be (canContain)
};

// Object types, their properties and where they may be put. Modelled on ALFWorld's constants
// (VAL_RECEPTACLE_OBJECTS and the cleanable/heatable/coolable/toggleable lists).
const std::vector<ObjectInfo>& Objects() {
  static const std::vector<ObjectInfo> kObjects = {
      {"apple", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"}},
      {"tomato", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"}},
      {"potato", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"}},
      {"egg", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"}},
      {"lettuce", kClean | kCool, {"countertop", "diningtable", "fridge", "sinkbasin", "garbagecan"}},
      {"bread", kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "cabinet"}},
      {"mug", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf", "coffeemachine", "desk", "sidetable"}},
      {"cup", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf"}},
      {"plate", kClean | kHeat | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf"}},
      {"bowl", kClean | kCool, {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf"}},
      {"pan", kClean | kCool, {"countertop", "diningtable", "fridge", "sinkbasin", "cabinet", "stoveburner"}},
      {"pot", kClean | kCool, {"countertop", "diningtable", "fridge", "sinkbasin", "cabinet", "stoveburner"}},
      {"winebottle", kCool, {"countertop", "diningtable", "fridge", "cabinet", "shelf"}},
      {"knife", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"butterknife", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"fork", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"spoon", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"spatula", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"ladle", kClean, {"countertop", "diningtable", "drawer", "sinkbasin"}},
      {"saltshaker", 0, {"countertop", "diningtable", "cabinet", "drawer", "shelf"}},
      {"peppershaker", 0, {"countertop", "diningtable", "cabinet", "drawer", "shelf"}},
      {"dishsponge", kClean, {"countertop", "diningtable", "cabinet", "drawer", "sinkbasin", "shelf", "bathtubbasin"}},
      {"soapbottle", 0, {"countertop", "cabinet", "shelf", "toilet", "garbagecan"}},
      {"spraybottle", 0, {"countertop", "cabinet", "shelf", "toilet", "garbagecan", "drawer"}},
      {"soapbar", kClean, {"countertop", "sinkbasin", "bathtubbasin", "toilet", "cabinet", "garbagecan", "drawer"}},
      {"cloth", kClean, {"countertop", "sinkbasin", "bathtubbasin", "cabinet", "drawer", "toilet", "garbagecan"}},
      {"towel", 0, {"towelholder", "countertop", "cabinet"}},
      {"handtowel", 0, {"handtowelholder", "countertop"}},
      {"toiletpaper", 0, {"toiletpaperhanger", "toilet", "countertop", "cabinet", "garbagecan", "drawer"}},
      {"candle", 0, {"countertop", "cabinet", "shelf", "toilet", "sidetable", "drawer"}},
      {"book", 0, {"bed", "desk", "sofa", "shelf", "sidetable", "coffeetable", "dresser", "drawer", "armchair"}},
      {"cellphone", 0, {"bed", "desk", "sofa", "sidetable", "dresser", "drawer", "shelf", "coffeetable", "armchair", "safe"}},
      {"keychain", 0, {"desk", "sofa", "sidetable", "dresser", "drawer", "shelf", "coffeetable", "armchair", "safe"}},
      {"creditcard", 0, {"desk", "sofa", "sidetable", "dresser", "drawer", "shelf", "coffeetable", "armchair", "safe", "countertop"}},
      {"pen", 0, {"desk", "sidetable", "dresser", "drawer", "shelf"}},
      {"pencil", 0, {"desk", "sidetable", "dresser", "drawer", "shelf"}},
      {"cd", 0, {"desk", "sidetable", "dresser", "drawer", "shelf", "safe"}},
      {"watch", 0, {"desk", "sidetable", "dresser", "drawer", "shelf", "safe", "coffeetable"}},
      {"pillow", 0, {"bed", "sofa", "armchair"}},
      {"remotecontrol", 0, {"sofa", "coffeetable", "sidetable", "tvstand", "armchair", "dresser"}},
      {"laptop", 0, {"bed", "desk", "sofa", "coffeetable", "dresser", "diningtable"}},
      {"alarmclock", 0, {"desk", "sidetable", "dresser", "shelf"}},
      {"statue", 0, {"shelf", "sidetable", "coffeetable", "dresser", "desk", "tvstand", "diningtable", "cabinet"}},
      {"vase", 0, {"shelf", "sidetable", "coffeetable", "dresser", "desk", "tvstand", "diningtable", "cabinet"}},
      {"newspaper", 0, {"sofa", "coffeetable", "sidetable", "armchair", "diningtable", "garbagecan"}},
      {"tissuebox", 0, {"sidetable", "coffeetable", "dresser", "shelf", "desk", "toilet", "countertop", "cabinet"}},
      {"desklamp", kToggle | kFixed, {"desk", "sidetable", "dresser"}},
  };
  return kObjects;
}

struct RoomPart {
  const char* type;
  int min, max;
};

const std::map<std::string, std::vector<RoomPart>>& Rooms();

// Dense ids for the type names and the canContain and unseen-combination tables over them. The
// generator and the command table ask these questions thousands of times per episode, so they
// are a hash lookup and a table read instead of scans over the string tables above.
struct Knowledge {
  std::unordered_map<std::string_view, int> object_id;      // type -> index in Objects()
  std::unordered_map<std::string_view, int> receptacle_id;  // every receptacle type named
  std::vector<std::vector<char>> can_contain;               // [receptacle id][object id]
  std::vector<std::vector<char>> unseen;                    // [receptacle id][object id]
};

bool UnseenByHash(std::string_view object_type, std::string_view receptacle_type) {
  // A fixed fifth of the combination space, chosen by a stable hash: the same on every build.
  std::string key;
  key.reserve(object_type.size() + 1 + receptacle_type.size());
  key.append(object_type).append("|").append(receptacle_type);
  return StableHash64(key) % 5 == 0;
}

const Knowledge& Known() {
  static const Knowledge k = [] {
    Knowledge k;
    const auto& objects = Objects();
    for (size_t i = 0; i < objects.size(); ++i) {
      k.object_id.emplace(objects[i].type, static_cast<int>(i));
    }
    auto add = [&](std::string_view r) {
      k.receptacle_id.emplace(r, static_cast<int>(k.receptacle_id.size()));
    };
    for (const auto& [room, parts] : Rooms()) {
      for (const RoomPart& part : parts) add(part.type);
    }
    for (const auto& o : objects) {
      for (const auto& r : o.receptacles) add(r);
    }
    add("desklamp");  // the look_at_obj_in_light "goal" of the unseen split
    k.can_contain.assign(k.receptacle_id.size(), std::vector<char>(objects.size(), 0));
    k.unseen.assign(k.receptacle_id.size(), std::vector<char>(objects.size(), 0));
    for (const auto& [r, rid] : k.receptacle_id) {
      for (size_t oi = 0; oi < objects.size(); ++oi) {
        const auto& list = objects[oi].receptacles;
        k.can_contain[rid][oi] = std::find(list.begin(), list.end(), r) != list.end();
        k.unseen[rid][oi] = UnseenByHash(objects[oi].type, r);
      }
    }
    return k;
  }();
  return k;
}

int ObjectId(std::string_view type) {
  const auto& ids = Known().object_id;
  auto it = ids.find(type);
  return it == ids.end() ? -1 : it->second;
}

int ReceptacleId(std::string_view type) {
  const auto& ids = Known().receptacle_id;
  auto it = ids.find(type);
  return it == ids.end() ? -1 : it->second;
}

const ObjectInfo* FindObject(const std::string& type) {
  int id = ObjectId(type);
  return id < 0 ? nullptr : &Objects()[static_cast<size_t>(id)];
}

bool Has(const std::string& type, unsigned prop) {
  const ObjectInfo* o = FindObject(type);
  return o != nullptr && (o->props & prop) != 0;
}

// Text building without temporaries: "type N" names and commands made of literal pieces and
// names, each in one allocation at most (none when it fits the small-string buffer).
size_t NumberLength(int n) {
  char buf[16];
  return static_cast<size_t>(std::to_chars(buf, buf + sizeof(buf), n).ptr - buf);
}

void AppendNumber(std::string* out, int n) {
  char buf[16];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), n).ptr);
}

struct Piece {
  Piece(const char* t) : text(t) {}
  Piece(const std::string& t) : text(t) {}
  Piece(const Receptacle& r) : text(r.type), number(r.number), is_name(true) {}
  Piece(const Object& o) : text(o.type), number(o.number), is_name(true) {}
  std::string_view text;
  int number = 0;
  bool is_name = false;
};

size_t Length(std::initializer_list<Piece> pieces) {
  size_t n = 0;
  for (const Piece& p : pieces) n += p.text.size() + (p.is_name ? 1 + NumberLength(p.number) : 0);
  return n;
}

void Append(std::string* out, std::initializer_list<Piece> pieces) {
  for (const Piece& p : pieces) {
    out->append(p.text);
    if (p.is_name) {
      out->push_back(' ');
      AppendNumber(out, p.number);
    }
  }
}

std::string Compose(std::initializer_list<Piece> pieces) {
  std::string out;
  out.reserve(Length(pieces));
  Append(&out, pieces);
  return out;
}

const std::map<std::string, std::vector<RoomPart>>& Rooms() {
  static const std::map<std::string, std::vector<RoomPart>> kRooms = {
      {"kitchen",
       {{"cabinet", 2, 6}, {"countertop", 1, 3}, {"drawer", 1, 4}, {"fridge", 1, 1},
        {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"stoveburner", 2, 4}, {"coffeemachine", 1, 1},
        {"diningtable", 0, 1}, {"garbagecan", 1, 1}, {"shelf", 0, 2}, {"toaster", 0, 1}}},
      {"livingroom",
       {{"sofa", 1, 1}, {"armchair", 0, 2}, {"coffeetable", 1, 1}, {"sidetable", 1, 2},
        {"shelf", 1, 3}, {"drawer", 1, 4}, {"cabinet", 0, 3}, {"tvstand", 1, 1}, {"dresser", 0, 1},
        {"garbagecan", 1, 1}, {"safe", 0, 1}, {"diningtable", 0, 1}}},
      {"bedroom",
       {{"bed", 1, 1}, {"desk", 1, 1}, {"dresser", 1, 1}, {"drawer", 2, 6}, {"shelf", 1, 3},
        {"sidetable", 1, 2}, {"garbagecan", 1, 1}, {"safe", 0, 1}, {"armchair", 0, 1}}},
      {"bathroom",
       {{"toilet", 1, 1}, {"sinkbasin", 1, 2}, {"bathtubbasin", 0, 1}, {"countertop", 1, 1},
        {"cabinet", 1, 4}, {"drawer", 0, 3}, {"towelholder", 1, 1}, {"handtowelholder", 0, 2},
        {"toiletpaperhanger", 1, 1}, {"garbagecan", 1, 1}, {"shelf", 0, 2}}},
  };
  return kRooms;
}

// Goal templates of ALFWorld's goal library, per task type ({obj}, {recep}, {toggle}).
const std::map<std::string, std::vector<std::string>>& GoalTemplates() {
  static const std::map<std::string, std::vector<std::string>> kTemplates = {
      {"pick_and_place_simple", {"put a {obj} in {recep}", "put some {obj} on {recep}"}},
      {"look_at_obj_in_light", {"look at {obj} under the {toggle}", "examine the {obj} with the {toggle}"}},
      {"pick_clean_then_place_in_recep", {"put a clean {obj} in {recep}", "clean some {obj} and put it in {recep}"}},
      {"pick_heat_then_place_in_recep", {"put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"}},
      {"pick_cool_then_place_in_recep", {"put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"}},
      {"pick_two_obj_and_place", {"put two {obj} in {recep}", "find two {obj} and put them in {recep}"}},
  };
  return kTemplates;
}

std::string Fill(std::string text, const std::string& key, const std::string& value) {
  for (size_t pos; (pos = text.find(key)) != std::string::npos;) text.replace(pos, key.size(), value);
  return text;
}

// Appends "a x", "a x, and a y", "a x, a y, and a z"; "nothing" when empty. ALFWorld always
// writes "a".
template <typename Named>
void AppendList(std::string* out, size_t count, Named&& name_of) {
  if (count == 0) {
    out->append("nothing");
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out->append(i + 1 == count ? ", and " : ", ");
    Append(out, {"a ", name_of(i)});
  }
}

const char* kHelpText =
    "Available commands:\n"
    "  look:                             look around your current location\n"
    "  inventory:                        check your current inventory\n"
    "  go to (receptacle):               move to a receptacle\n"
    "  open (receptacle):                open a receptacle\n"
    "  close (receptacle):               close a receptacle\n"
    "  take (object) from (receptacle):  take an object from a receptacle\n"
    "  move (object) to (receptacle):    place an object in or on a receptacle\n"
    "  examine (something):              examine a receptacle or an object\n"
    "  use (object):                     use an object\n"
    "  heat (object) with (receptacle):  heat an object using a receptacle\n"
    "  clean (object) with (receptacle): clean an object using a receptacle\n"
    "  cool (object) with (receptacle):  cool an object using a receptacle";

}  // namespace

bool CanContain(const std::string& r, const std::string& o) {
  int rid = ReceptacleId(r), oid = ObjectId(o);
  return rid >= 0 && oid >= 0 &&
         Known().can_contain[static_cast<size_t>(rid)][static_cast<size_t>(oid)];
}
bool IsCleanable(const std::string& o) { return Has(o, kClean); }
bool IsHeatable(const std::string& o) { return Has(o, kHeat); }
bool IsCoolable(const std::string& o) { return Has(o, kCool); }
bool IsToggleable(const std::string& o) { return Has(o, kToggle); }
bool IsPickupable(const std::string& o) {
  const ObjectInfo* info = FindObject(o);
  return info != nullptr && (info->props & kFixed) == 0;
}
bool IsOpenable(const std::string& r) {
  return r == "fridge" || r == "cabinet" || r == "microwave" || r == "drawer" || r == "safe" ||
         r == "box";
}

bool IsUnseenCombination(const std::string& object_type, const std::string& receptacle_type) {
  int rid = ReceptacleId(receptacle_type), oid = ObjectId(object_type);
  if (rid < 0 || oid < 0) return UnseenByHash(object_type, receptacle_type);
  return Known().unseen[static_cast<size_t>(rid)][static_cast<size_t>(oid)];
}

const std::vector<std::string>& TaskTypeNames() {
  static const std::vector<std::string> kTypes = {
      "pick_and_place_simple",          "look_at_obj_in_light",
      "pick_clean_then_place_in_recep", "pick_heat_then_place_in_recep",
      "pick_cool_then_place_in_recep",  "pick_two_obj_and_place"};
  return kTypes;
}

int64_t SplitSize(const std::string& split) {
  if (split == "train") return 3553;
  if (split == "valid_seen") return 140;
  if (split == "valid_unseen") return 134;
  throw InvalidArgument(UnknownNameMessage("split", split, {"train", "valid_seen", "valid_unseen"}));
}

World World::Generate(const std::string& split, int64_t index) {
  int64_t size = SplitSize(split);
  if (index < 0 || index >= size) {
    throw InvalidArgument("task index " + std::to_string(index) + " is outside " + split +
                          " (0.." + std::to_string(size - 1) + ")");
  }
  Rng rng(StableHash64("household/" + split), static_cast<uint64_t>(index));
  const bool unseen = split == "valid_unseen";
  const auto& types = TaskTypeNames();
  // Task types cycle through the six so every split is balanced; the rest is random.
  const std::string task_type = types[static_cast<size_t>(index) % types.size()];
  for (int attempt = 0;; ++attempt) {
    TURNWISE_CHECK_MSG(attempt < 1000, "household: no task found for " + split);
    World w;
    w.task.id = split + "/" + std::to_string(index);
    w.task.split = split;
    w.task.index = index;
    w.task.type = task_type;
    std::vector<std::string> rooms;
    if (task_type == "pick_heat_then_place_in_recep" || task_type == "pick_cool_then_place_in_recep") {
      rooms = {"kitchen"};
    } else if (task_type == "pick_clean_then_place_in_recep") {
      rooms = {"kitchen", "bathroom"};
    } else if (task_type == "look_at_obj_in_light") {
      rooms = {"bedroom", "livingroom"};
    } else {
      rooms = {"kitchen", "livingroom", "bedroom", "bathroom"};
    }
    w.task.room = rooms[rng.Uniform(rooms.size())];
    std::map<std::string, int> counts;
    for (const auto& part : Rooms().at(w.task.room)) {
      int n = static_cast<int>(rng.UniformInt(part.min, part.max));
      for (int k = 1; k <= n; ++k) {
        Receptacle r;
        r.type = part.type;
        r.number = k;
        r.openable = IsOpenable(r.type);
        r.open = !r.openable;
        w.receptacles.push_back(r);
      }
      counts[part.type] = n;
    }
    std::vector<int> locs(w.receptacles.size());
    for (size_t i = 0; i < locs.size(); ++i) locs[i] = static_cast<int>(i) + 1;
    rng.Shuffle(locs);
    for (size_t i = 0; i < locs.size(); ++i) w.receptacles[i].loc = locs[i];

    auto present = [&](const std::string& type) { return counts.count(type) && counts[type] > 0; };
    // By ids: receptacle type id of each receptacle, and the receptacles (in order) that can
    // hold an object type, other than those of type `exclude` (-1: none excluded).
    const Knowledge& known = Known();
    std::vector<int> rids(w.receptacles.size());
    for (size_t i = 0; i < rids.size(); ++i) rids[i] = ReceptacleId(w.receptacles[i].type);
    auto can = [&](int rid, int oid) {
      return rid >= 0 && known.can_contain[static_cast<size_t>(rid)][static_cast<size_t>(oid)];
    };
    auto receptacles_for = [&](int oid, int exclude) {
      std::vector<int> out;
      for (size_t i = 0; i < rids.size(); ++i) {
        if (rids[i] != exclude && can(rids[i], oid)) out.push_back(static_cast<int>(i));
      }
      return out;
    };
    auto fits_somewhere = [&](int oid, int exclude) {
      for (int rid : rids) {
        if (rid != exclude && can(rid, oid)) return true;
      }
      return false;
    };
    struct TypeCount {
      const std::string* type;
      int n, rid;
    };
    std::vector<TypeCount> count_ids;  // counts, with type ids
    for (const auto& [type, n] : counts) count_ids.push_back({&type, n, ReceptacleId(type)});

    // Candidate (object, goal receptacle) combinations for this task type in this room.
    const auto& infos = Objects();
    const int lamp_rid = ReceptacleId("desklamp");
    std::vector<std::pair<int, const std::string*>> combos;  // object id, goal type (null: none)
    for (size_t oi = 0; oi < infos.size(); ++oi) {
      const int oid = static_cast<int>(oi);
      const unsigned props = infos[oi].props;
      if (props & kFixed) continue;
      if (task_type == "pick_clean_then_place_in_recep" && !(props & kClean)) continue;
      if (task_type == "pick_heat_then_place_in_recep" && !(props & kHeat)) continue;
      if (task_type == "pick_cool_then_place_in_recep" && !(props & kCool)) continue;
      if (task_type == "look_at_obj_in_light") {
        if (!present("desk") && !present("sidetable") && !present("dresser")) continue;
        if (!fits_somewhere(oid, -1)) continue;
        if (static_cast<bool>(known.unseen[static_cast<size_t>(lamp_rid)][oi]) != unseen) continue;
        combos.emplace_back(oid, nullptr);
        continue;
      }
      for (const auto& [rtype, n, rid] : count_ids) {
        if (n == 0 || !can(rid, oid)) continue;
        // A state task never asks to leave the object in the appliance that changes it.
        if (*rtype == "microwave" || *rtype == "fridge" || *rtype == "sinkbasin" ||
            *rtype == "bathtubbasin") {
          if (task_type != "pick_and_place_simple" && task_type != "pick_two_obj_and_place") continue;
        }
        if (!fits_somewhere(oid, rid)) continue;  // must start somewhere else
        if (static_cast<bool>(known.unseen[static_cast<size_t>(rid)][oi]) != unseen) continue;
        combos.emplace_back(oid, rtype);
      }
    }
    if (combos.empty()) continue;
    const auto [obj_id, recep_type] = combos[rng.Uniform(combos.size())];
    const std::string obj = infos[static_cast<size_t>(obj_id)].type;
    const std::string recep = recep_type ? *recep_type : std::string();
    w.task.obj = obj;
    w.task.recep = recep;
    if (task_type == "look_at_obj_in_light") w.task.toggle = "desklamp";

    std::map<std::string, int> numbering;
    auto place = [&](const std::string& type, int receptacle) {
      Object o;
      o.type = type;
      o.number = ++numbering[type];
      o.receptacle = receptacle;
      w.objects.push_back(o);
      w.receptacles[static_cast<size_t>(receptacle)].objects.push_back(
          static_cast<int>(w.objects.size()) - 1);
    };
    int targets = task_type == "pick_two_obj_and_place" ? 2 + static_cast<int>(rng.Uniform(2))
                                                        : 1 + static_cast<int>(rng.Uniform(2));
    auto spots = receptacles_for(obj_id, recep_type ? ReceptacleId(recep) : -1);
    for (int k = 0; k < targets; ++k) place(obj, spots[rng.Uniform(spots.size())]);
    if (!w.task.toggle.empty()) {
      auto lamp_spots = receptacles_for(ObjectId("desklamp"), -1);
      place("desklamp", lamp_spots[rng.Uniform(lamp_spots.size())]);
    }
    // Distractors: other object types that fit somewhere in this room.
    std::vector<int> fits;
    for (size_t oi = 0; oi < infos.size(); ++oi) {
      if (static_cast<int>(oi) == obj_id || (infos[oi].props & kFixed)) continue;
      if (fits_somewhere(static_cast<int>(oi), -1)) fits.push_back(static_cast<int>(oi));
    }
    int distractors = static_cast<int>(rng.UniformInt(4, 12));
    for (int k = 0; k < distractors && !fits.empty(); ++k) {
      const int oid = fits[rng.Uniform(fits.size())];
      auto where = receptacles_for(oid, -1);
      place(infos[static_cast<size_t>(oid)].type, where[rng.Uniform(where.size())]);
    }
    const auto& templates = GoalTemplates().at(task_type);
    std::string goal = templates[rng.Uniform(templates.size())];
    goal = Fill(goal, "{obj}", obj);
    goal = Fill(goal, "{recep}", recep);
    goal = Fill(goal, "{toggle}", w.task.toggle);
    w.task.goal_text = goal;
    return w;
  }
}

void World::AppendExamineText(const Receptacle& r, std::string* out) const {
  auto contents = [&](size_t i) -> const Object& {
    return objects[static_cast<size_t>(r.objects[i])];
  };
  if (r.openable) {
    if (!r.open) return Append(out, {"The ", r, " is closed."});
    Append(out, {"The ", r, " is open. In it, you see "});
  } else {
    Append(out, {"On the ", r, ", you see "});
  }
  AppendList(out, r.objects.size(), contents);
  out->push_back('.');
}

std::string World::LookText() const {
  if (location >= 0) {
    return Compose({"You are facing the ", receptacles[static_cast<size_t>(location)],
                    ". Next to it, you see nothing."});
  }
  // Receptacle types alphabetically, numbers descending, as ALFWorld lists them.
  std::vector<const Receptacle*> sorted;
  for (const auto& r : receptacles) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](const Receptacle* a, const Receptacle* b) {
    return a->type != b->type ? a->type < b->type : a->number > b->number;
  });
  std::string out = "You are in the middle of a room. Looking quickly around you, you see ";
  AppendList(&out, sorted.size(), [&](size_t i) -> const Receptacle& { return *sorted[i]; });
  out.push_back('.');
  return out;
}

std::string World::PutCommand(int object, int receptacle, bool new_grammar) const {
  const Object& o = objects[static_cast<size_t>(object)];
  const Receptacle& r = receptacles[static_cast<size_t>(receptacle)];
  return new_grammar ? Compose({"move ", o, " to ", r}) : Compose({"put ", o, " in/on ", r});
}

std::string World::CommandText(const Action& a, bool new_grammar) const {
  auto obj = [&]() -> const Object& { return objects[static_cast<size_t>(a.object)]; };
  auto rec = [&]() -> const Receptacle& { return receptacles[static_cast<size_t>(a.receptacle)]; };
  switch (a.kind) {
    case Action::kGoto:
      return Compose({"go to ", rec()});
    case Action::kOpen:
      return Compose({"open ", rec()});
    case Action::kClose:
      return Compose({"close ", rec()});
    case Action::kTake:
      return Compose({"take ", obj(), " from ", rec()});
    case Action::kPut:
      return PutCommand(a.object, a.receptacle, new_grammar);
    case Action::kUse:
      return Compose({"use ", obj()});
    case Action::kHeat:
      return Compose({"heat ", obj(), " with ", rec()});
    case Action::kClean:
      return Compose({"clean ", obj(), " with ", rec()});
    case Action::kCool:
      return Compose({"cool ", obj(), " with ", rec()});
    case Action::kExamineRecep:
      return Compose({"examine ", rec()});
    case Action::kExamineObject:
      return Compose({"examine ", obj()});
    case Action::kInventory:
      return "inventory";
    case Action::kLook:
      return "look";
    case Action::kHelp:
      return "help";
  }
  return "";
}

World::ActionTable World::Actions(bool new_grammar) const {
  // Collected in a fixed order, then sorted by command text. Equal commands (none arise from
  // generated worlds) keep the action added last, as assigning into a map would.
  std::vector<Action> found;
  found.reserve(receptacles.size() + 16);
  for (size_t i = 0; i < receptacles.size(); ++i) {
    if (static_cast<int>(i) != location) found.push_back({Action::kGoto, -1, static_cast<int>(i)});
  }
  found.push_back({Action::kInventory});
  found.push_back({Action::kLook});
  if (new_grammar) found.push_back({Action::kHelp});
  if (held >= 0) found.push_back({Action::kExamineObject, held});
  if (location >= 0) {
    const Receptacle& r = receptacles[static_cast<size_t>(location)];
    if (r.openable) found.push_back({r.open ? Action::kClose : Action::kOpen, -1, location});
    found.push_back({Action::kExamineRecep, -1, location});
    if (r.Accessible()) {
      for (int oi : r.objects) {
        const Object& o = objects[static_cast<size_t>(oi)];
        const ObjectInfo* info = FindObject(o.type);
        if (held < 0 && info != nullptr && (info->props & kFixed) == 0) {
          found.push_back({Action::kTake, oi, location});
        }
        found.push_back({Action::kExamineObject, oi});
        if (info != nullptr && (info->props & kToggle)) found.push_back({Action::kUse, oi});
      }
    }
    if (held >= 0) {
      const Object& h = objects[static_cast<size_t>(held)];
      const ObjectInfo* info = FindObject(h.type);
      const unsigned props = info != nullptr ? info->props : 0;
      if (r.Accessible() && CanContain(r.type, h.type)) {
        found.push_back({Action::kPut, held, location});
      }
      if ((props & kHeat) && r.type == "microwave")
        found.push_back({Action::kHeat, held, location});
      if ((props & kClean) && r.type == "sinkbasin") {
        found.push_back({Action::kClean, held, location});
      }
      if ((props & kCool) && r.type == "fridge") found.push_back({Action::kCool, held, location});
    }
  }
  std::vector<std::string> texts;
  texts.reserve(found.size());
  for (const Action& a : found) texts.push_back(CommandText(a, new_grammar));
  // Sorted by the first 16 bytes as two big-endian words (the same order as comparing the
  // bytes), then by the whole text, then by position (stable).
  struct SortKey {
    uint64_t head[2];
    uint32_t index;
  };
  std::vector<SortKey> order(found.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string& t = texts[i];
    for (size_t w = 0; w < 2; ++w) {
      uint64_t v = 0;
      for (size_t b = 0; b < 8; ++b) {
        const size_t at = w * 8 + b;
        v = (v << 8) | (at < t.size() ? static_cast<unsigned char>(t[at]) : 0u);
      }
      order[i].head[w] = v;
    }
    order[i].index = static_cast<uint32_t>(i);
  }
  std::sort(order.begin(), order.end(), [&](const SortKey& x, const SortKey& y) {
    if (x.head[0] != y.head[0]) return x.head[0] < y.head[0];
    if (x.head[1] != y.head[1]) return x.head[1] < y.head[1];
    int c = texts[x.index].compare(texts[y.index]);
    return c < 0 || (c == 0 && x.index < y.index);
  });
  ActionTable table;
  table.commands.reserve(order.size());
  table.actions.reserve(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const uint32_t i = order[k].index;
    if (k + 1 < order.size() && texts[i] == texts[order[k + 1].index]) continue;
    table.commands.push_back(std::move(texts[i]));
    table.actions.push_back(found[i]);
  }
  return table;
}

std::vector<std::string> World::Admissible(bool new_grammar) const {
  return Actions(new_grammar).commands;
}

std::optional<std::string> World::Execute(const std::string& command, bool new_grammar) {
  ActionTable table = Actions(new_grammar);
  const std::string_view wanted = Trim(command);
  auto it = std::lower_bound(table.commands.begin(), table.commands.end(), wanted,
                             [](const std::string& c, std::string_view w) { return c < w; });
  if (it == table.commands.end() || *it != wanted) return std::nullopt;
  return Apply(table.actions[static_cast<size_t>(it - table.commands.begin())], new_grammar);
}

std::string World::Apply(const Action& act, bool new_grammar) {
  auto obj = [&](int i) -> Object& { return objects[static_cast<size_t>(i)]; };
  auto rec = [&](int i) -> Receptacle& { return receptacles[static_cast<size_t>(i)]; };
  std::string out;
  switch (act.kind) {
    case Action::kGoto: {
      location = act.receptacle;
      const Receptacle& r = rec(location);
      out.reserve(128);
      if (new_grammar) {
        Append(&out, {"You arrive at ", r, ". "});
      } else {
        out.append("You arrive at loc ");
        AppendNumber(&out, r.loc);
        out.append(". ");
      }
      AppendExamineText(r, &out);
      return out;
    }
    case Action::kOpen:
      rec(act.receptacle).open = true;
      out.reserve(128);
      Append(&out, {"You open the ", rec(act.receptacle), ". "});
      AppendExamineText(rec(act.receptacle), &out);
      return out;
    case Action::kClose:
      rec(act.receptacle).open = false;
      return Compose({"You close the ", rec(act.receptacle), "."});
    case Action::kTake: {
      auto& list = rec(act.receptacle).objects;
      list.erase(std::find(list.begin(), list.end(), act.object));
      obj(act.object).receptacle = -1;
      held = act.object;
      return Compose({"You pick up the ", obj(act.object), " from the ", rec(act.receptacle), "."});
    }
    case Action::kPut:
      rec(act.receptacle).objects.push_back(act.object);
      obj(act.object).receptacle = act.receptacle;
      held = -1;
      return new_grammar
                 ? Compose({"You move the ", obj(act.object), " to the ", rec(act.receptacle), "."})
                 : Compose(
                       {"You put the ", obj(act.object), " in/on the ", rec(act.receptacle), "."});
    case Action::kUse: {
      Object& o = obj(act.object);
      o.on = !o.on;
      return Compose({o.on ? "You turn on the " : "You turn off the ", o, "."});
    }
    case Action::kHeat:
      obj(act.object).hot = true;
      obj(act.object).cool = false;
      return Compose({"You heat the ", obj(act.object), " using the ", rec(act.receptacle), "."});
    case Action::kClean:
      obj(act.object).clean = true;
      return Compose({"You clean the ", obj(act.object), " using the ", rec(act.receptacle), "."});
    case Action::kCool:
      obj(act.object).cool = true;
      obj(act.object).hot = false;
      return Compose({"You cool the ", obj(act.object), " using the ", rec(act.receptacle), "."});
    case Action::kExamineRecep:
      AppendExamineText(rec(act.receptacle), &out);
      return out;
    case Action::kExamineObject: {
      const Object& o = obj(act.object);
      if (o.hot) return Compose({"This is a hot ", o, "."});
      if (o.cool) return Compose({"This is a cold ", o, "."});
      if (o.clean) return Compose({"This is a clean ", o, "."});
      if (IsToggleable(o.type) && o.on) return Compose({"This ", o, " is on."});
      return Compose({"There's nothing special about ", o, "."});
    }
    case Action::kInventory:
      if (held < 0) return "You are not carrying anything.";
      return Compose({"You are carrying: a ", obj(held), "."});
    case Action::kLook:
      return LookText();
    case Action::kHelp:
      return kHelpText;
  }
  return out;
}

bool World::Satisfied(const Object& o) const {
  if (task.type == "pick_clean_then_place_in_recep") return o.clean;
  if (task.type == "pick_heat_then_place_in_recep") return o.hot;
  if (task.type == "pick_cool_then_place_in_recep") return o.cool;
  return true;
}

bool World::Won() const {
  if (task.type == "look_at_obj_in_light") {
    if (held < 0 || objects[static_cast<size_t>(held)].type != task.obj || location < 0) return false;
    for (int oi : receptacles[static_cast<size_t>(location)].objects) {
      const Object& o = objects[static_cast<size_t>(oi)];
      if (o.type == task.toggle && o.on) return true;
    }
    return false;
  }
  for (const auto& r : receptacles) {
    if (r.type != task.recep) continue;
    int good = 0;
    for (int oi : r.objects) {
      const Object& o = objects[static_cast<size_t>(oi)];
      if (o.type == task.obj && Satisfied(o)) ++good;
    }
    if (good >= (task.type == "pick_two_obj_and_place" ? 2 : 1)) return true;
  }
  return false;
}

// ---- scripted expert: plans over the true state, valid from any reachable state ----

std::optional<std::string> World::Approach(int receptacle) const {
  const Receptacle& r = receptacles[static_cast<size_t>(receptacle)];
  if (location != receptacle) return "go to " + r.Name();
  if (!r.Accessible()) return "open " + r.Name();
  return std::nullopt;
}

int World::GoalReceptacle() const {
  int best = -1, best_count = -1;
  for (size_t i = 0; i < receptacles.size(); ++i) {
    if (receptacles[i].type != task.recep) continue;
    int count = 0;
    for (int oi : receptacles[i].objects) {
      if (objects[static_cast<size_t>(oi)].type == task.obj) ++count;
    }
    if (count > best_count) {
      best = static_cast<int>(i);
      best_count = count;
    }
  }
  return best;
}

std::string World::Dispose(int object, int goal, bool new_grammar) const {
  // Put a useless object down: here if it fits, else at the first receptacle that takes it.
  const Object& h = objects[static_cast<size_t>(object)];
  if (location >= 0 && location != goal &&
      CanContain(receptacles[static_cast<size_t>(location)].type, h.type)) {
    if (auto step = Approach(location)) return *step;
    return PutCommand(object, location, new_grammar);
  }
  // Prefer anywhere but the goal receptacle; the goal will do when nothing else takes it.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < receptacles.size(); ++i) {
      if ((pass == 0 && static_cast<int>(i) == goal) || !CanContain(receptacles[i].type, h.type)) {
        continue;
      }
      if (auto step = Approach(static_cast<int>(i))) return *step;
      return PutCommand(object, static_cast<int>(i), new_grammar);
    }
  }
  TURNWISE_CHECK_MSG(false, "household expert: nowhere to put " + h.Name());
  return "";
}

std::string World::ExpertAction(bool new_grammar) const {
  if (task.type == "look_at_obj_in_light") {
    if (held >= 0 && objects[static_cast<size_t>(held)].type != task.obj) {
      return Dispose(held, -1, new_grammar);
    }
    if (held >= 0) {
      for (size_t i = 0; i < objects.size(); ++i) {
        const Object& lamp = objects[i];
        if (lamp.type != task.toggle) continue;
        if (auto step = Approach(lamp.receptacle)) return *step;
        return "use " + lamp.Name();  // off here (on would already have won)
      }
    }
    for (const auto& o : objects) {
      if (o.type != task.obj || o.receptacle < 0) continue;
      if (auto step = Approach(o.receptacle)) return *step;
      return "take " + o.Name() + " from " + receptacles[static_cast<size_t>(o.receptacle)].Name();
    }
    TURNWISE_CHECK_MSG(false, "household expert: no " + task.obj + " in " + task.id);
  }
  const int goal = GoalReceptacle();
  if (held >= 0) {
    const Object& h = objects[static_cast<size_t>(held)];
    if (h.type != task.obj) return Dispose(held, goal, new_grammar);
    if (!Satisfied(h)) {
      const char* appliance = task.type == "pick_heat_then_place_in_recep"   ? "microwave"
                              : task.type == "pick_cool_then_place_in_recep" ? "fridge"
                                                                             : "sinkbasin";
      const char* verb = task.type == "pick_heat_then_place_in_recep"   ? "heat "
                         : task.type == "pick_cool_then_place_in_recep" ? "cool "
                                                                        : "clean ";
      for (size_t i = 0; i < receptacles.size(); ++i) {
        if (receptacles[i].type != appliance) continue;
        if (location != static_cast<int>(i)) return "go to " + receptacles[i].Name();
        return verb + h.Name() + " with " + receptacles[i].Name();
      }
      TURNWISE_CHECK_MSG(false, "household expert: no " + std::string(appliance));
    }
    if (auto step = Approach(goal)) return *step;
    return PutCommand(held, goal, new_grammar);
  }
  // Hands empty: fetch a target that is not already where (and as) the goal wants it.
  for (const auto& o : objects) {
    if (o.type != task.obj || o.receptacle < 0) continue;
    bool placed = task.type == "pick_two_obj_and_place"
                      ? o.receptacle == goal
                      : receptacles[static_cast<size_t>(o.receptacle)].type == task.recep &&
                            Satisfied(o);
    if (placed) continue;
    if (auto step = Approach(o.receptacle)) return *step;
    return "take " + o.Name() + " from " + receptacles[static_cast<size_t>(o.receptacle)].Name();
  }
  TURNWISE_CHECK_MSG(false, "household expert: nothing left to fetch in " + task.id);
  return "";
}

// ---- searching expert: decides from what an agent can observe ----

int World::FirstOfType(const std::string& receptacle_type) const {
  int best = -1;
  for (size_t i = 0; i < receptacles.size(); ++i) {
    if (receptacles[i].type != receptacle_type) continue;
    if (best < 0 || receptacles[i].number < receptacles[static_cast<size_t>(best)].number) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

int World::VisibleHere(const std::string& object_type) const {
  if (location < 0) return -1;
  const Receptacle& r = receptacles[static_cast<size_t>(location)];
  if (!r.Accessible()) return -1;
  for (int oi : r.objects) {
    if (objects[static_cast<size_t>(oi)].type == object_type) return oi;
  }
  return -1;
}

std::string World::SearchNext(const std::string& object_type, const std::string& skip_type) const {
  // The receptacles in the order of the sorted `go to` commands (type, then number).
  std::vector<int> order(receptacles.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return receptacles[static_cast<size_t>(a)].Name() < receptacles[static_cast<size_t>(b)].Name();
  });
  const size_t n = order.size();
  size_t start = 0;  // the first one after the current location; the first one from the middle
  for (size_t k = 0; k < n; ++k) {
    if (order[k] == location) start = k + 1;
  }
  for (size_t k = 0; k < n; ++k) {
    const Receptacle& r = receptacles[static_cast<size_t>(order[(start + k) % n])];
    if (order[(start + k) % n] == location || r.type == skip_type) continue;
    if (CanContain(r.type, object_type)) return "go to " + r.Name();
  }
  // Nothing else could hold it: look where we are (closed) or around the room.
  return "look";
}

std::string World::SearchAction(bool new_grammar) const {
  const bool look_task = task.type == "look_at_obj_in_light";
  if (held >= 0) {
    const Object& h = objects[static_cast<size_t>(held)];
    if (h.type != task.obj) return Dispose(held, FirstOfType(task.recep), new_grammar);
    if (look_task) {
      const int lamp = VisibleHere(task.toggle);
      if (lamp >= 0) return "use " + objects[static_cast<size_t>(lamp)].Name();
      if (location >= 0 && !receptacles[static_cast<size_t>(location)].Accessible() &&
          CanContain(receptacles[static_cast<size_t>(location)].type, task.toggle)) {
        return "open " + receptacles[static_cast<size_t>(location)].Name();
      }
      return SearchNext(task.toggle, "");
    }
    if (!Satisfied(h)) {
      const bool heat = task.type == "pick_heat_then_place_in_recep";
      const bool cool = task.type == "pick_cool_then_place_in_recep";
      const int appliance = FirstOfType(heat ? "microwave" : cool ? "fridge" : "sinkbasin");
      TURNWISE_CHECK_MSG(appliance >= 0, "household search expert: no appliance in " + task.id);
      const Receptacle& a = receptacles[static_cast<size_t>(appliance)];
      if (location != appliance) return "go to " + a.Name();
      return std::string(heat ? "heat " : cool ? "cool " : "clean ") + h.Name() + " with " + a.Name();
    }
    const int goal = FirstOfType(task.recep);
    if (auto step = Approach(goal)) return *step;
    return PutCommand(held, goal, new_grammar);
  }
  // Hands empty: take a goal object seen here (not one already in a goal receptacle), open a
  // closed receptacle that could hold one, or move on to the next that could.
  const bool here_is_goal = location >= 0 && !look_task &&
                            receptacles[static_cast<size_t>(location)].type == task.recep;
  if (!here_is_goal) {
    const int seen = VisibleHere(task.obj);
    if (seen >= 0) {
      return "take " + objects[static_cast<size_t>(seen)].Name() + " from " +
             receptacles[static_cast<size_t>(location)].Name();
    }
    if (location >= 0) {
      const Receptacle& r = receptacles[static_cast<size_t>(location)];
      if (!r.Accessible() && CanContain(r.type, task.obj)) return "open " + r.Name();
    }
  }
  return SearchNext(task.obj, look_task ? "" : task.recep);
}

}  // namespace turnwise::household
