#include "envs/env.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "envs/internal/json_scan.h"

namespace turnwise {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kB64[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Base64Decode(const std::string& text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* p = std::strchr(kB64, c);
    if (c == 0 || p == nullptr) throw InvalidArgument("observation.image_png_base64 is not base64");
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

bool Ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Appends DumpJson(value), byte for byte. The flat values envs put in info (booleans, integers,
// ASCII strings, 0.0 and 1.0) are written here; anything else goes through nlohmann's dump.
void AppendJsonValue(std::string* out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      out->append("null");
      return;
    case Json::value_t::boolean:
      out->append(value.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
      out->append(std::to_string(value.get<int64_t>()));
      return;
    case Json::value_t::number_unsigned:
      out->append(std::to_string(value.get<uint64_t>()));
      return;
    case Json::value_t::number_float: {
      const double d = value.get<double>();
      if (d == 1.0 || (d == 0.0 && !std::signbit(d))) {
        out->append(d == 1.0 ? "1.0" : "0.0");
        return;
      }
      break;
    }
    case Json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (Ascii(text)) {
        AppendJsonString(out, text);
        return;
      }
      break;
    }
    case Json::value_t::object: {
      bool plain = true;
      for (auto it = value.begin(); it != value.end() && plain; ++it) plain = Ascii(it.key());
      if (!plain) break;
      out->push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, it.key());
        out->push_back(':');
        AppendJsonValue(out, it.value());
      }
      out->push_back('}');
      return;
    }
    default:
      break;
  }
  out->append(DumpJson(value));
}

template <class T>
T Get(const Json& j, const char* key, const char* where) {
  auto it = j.find(key);
  if (it == j.end()) throw InvalidArgument(std::string(where) + ": missing field '" + key + "'");
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    throw InvalidArgument(std::string(where) + ": field '" + key + "' has the wrong type (" +
                          JsonTypeName(*it) + ")");
  }
}

// FromJson for the shapes servers send, read straight from the text. Returns false for
// anything else (and leaves *s in any state): another shape, a duplicate key, a value FromJson
// would convert (a boolean reward, a fractional turn), malformed text. The caller then goes
// through nlohmann and FromJson, so results and errors are always theirs.
bool ReadObservation(envs_internal::JsonScanner& in, Observation* o) {
  if (!in.Consume('{')) return false;
  bool text = false, image = false, vector = false;
  std::string key;
  if (!in.Consume('}')) {
    do {
      if (!in.String(&key) || !in.Consume(':')) return false;
      if (key == "text") {
        if (text || !in.String(&o->text)) return false;
        text = true;
      } else if (key == "image_png_base64" || key == "vector") {
        bool& seen = key == "vector" ? vector : image;
        Json v;
        if (seen || !in.Value(&v) || !v.is_null()) return false;  // images, vectors: FromJson
        seen = true;
      } else if (!in.SkipValue()) {
        return false;
      }
    } while (in.Consume(','));
    if (!in.Consume('}')) return false;
  }
  return text;
}

bool ReadStep(std::string_view text, StepResult* s) {
  envs_internal::JsonScanner in(text);
  if (!in.Consume('{')) return false;
  enum Field { kObservation, kReward, kTerminated, kTruncated, kActions, kAnchor, kInfo, kTurn };
  bool seen[8] = {};
  auto first = [&](Field f) { return !std::exchange(seen[f], true); };
  std::string key;
  Json v;
  if (!in.Consume('}')) {
    do {
      if (!in.String(&key) || !in.Consume(':')) return false;
      if (key == "observation") {
        if (!first(kObservation) || !ReadObservation(in, &s->observation)) return false;
      } else if (key == "reward") {
        if (!first(kReward) || !in.Number(&v)) return false;
        s->reward = v.get<double>();
      } else if (key == "terminated" || key == "truncated") {
        const bool terminated = key == "terminated";
        if (!first(terminated ? kTerminated : kTruncated) || !in.Value(&v) || !v.is_boolean()) {
          return false;
        }
        (terminated ? s->terminated : s->truncated) = v.get<bool>();
      } else if (key == "admissible_actions") {
        if (!first(kActions) || !in.Consume('[')) return false;
        if (!in.Consume(']')) {
          do {
            std::string action;
            if (!in.String(&action)) return false;
            s->admissible_actions.push_back(std::move(action));
          } while (in.Consume(','));
          if (!in.Consume(']')) return false;
        }
      } else if (key == "anchor_key") {
        if (!first(kAnchor) || !in.String(&s->anchor_key)) return false;
      } else if (key == "info") {
        if (!first(kInfo) || !in.Consume('{')) return false;
        auto& info = s->info.get_ref<Json::object_t&>();
        if (!in.Consume('}')) {
          do {
            std::string name;
            if (!in.String(&name) || !in.Consume(':') || !in.Value(&v)) return false;
            if (!info.emplace(std::move(name), std::move(v)).second) return false;  // duplicate
          } while (in.Consume(','));
          if (!in.Consume('}')) return false;
        }
      } else if (key == "turn") {
        if (!first(kTurn) || !in.Number(&v)) return false;
        if (v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t{INT64_MAX}) {
          s->turn = static_cast<int64_t>(v.get<uint64_t>());
        } else if (v.is_number_integer() && !v.is_number_unsigned()) {
          s->turn = v.get<int64_t>();
        } else {
          return false;
        }
      } else if (!in.SkipValue()) {  // FromJson ignores other fields
        return false;
      }
    } while (in.Consume(','));
    if (!in.Consume('}')) return false;
  }
  if (!in.AtEnd() || !seen[kObservation] || !seen[kReward] || !seen[kTerminated] ||
      !seen[kTruncated]) {
    return false;
  }
  if (!seen[kAnchor]) s->anchor_key = s->observation.text;
  return true;
}

}  // namespace

StepResult StepResult::FromJsonText(std::string_view text) {
  {
    StepResult s;
    if (ReadStep(text, &s)) return s;
  }
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InvalidArgument("step: the answer is not valid JSON");
  return FromJson(j);
}

Json StepResult::ToJson() const {
  return {{"observation",
           {{"text", observation.text},
            {"image_png_base64",
             observation.image_png.empty() ? Json() : Json(Base64Encode(observation.image_png))},
            {"vector", observation.vector.empty() ? Json() : Json(observation.vector)}}},
          {"reward", reward},
          {"terminated", terminated},
          {"truncated", truncated},
          {"admissible_actions", admissible_actions},
          {"anchor_key", anchor_key},
          {"info", info},
          {"turn", turn}};
}

std::string StepResult::ToJsonText() const {
  std::string out;
  size_t size = 256 + observation.text.size() + anchor_key.size();
  for (const auto& a : admissible_actions) size += a.size() + 3;
  out.reserve(size + size / 8);
  out += R"({"observation":{"text":)";
  AppendJsonString(&out, observation.text);
  out += R"(,"image_png_base64":)";
  if (observation.image_png.empty()) {
    out += "null";
  } else {
    AppendJsonString(&out, Base64Encode(observation.image_png));
  }
  out += R"(,"vector":)";
  if (observation.vector.empty()) {
    out += "null";
  } else {
    out += '[';
    for (size_t i = 0; i < observation.vector.size(); ++i) {
      if (i) out += ',';
      AppendJsonNumber(&out, static_cast<double>(observation.vector[i]));
    }
    out += ']';
  }
  out += R"(},"reward":)";
  AppendJsonNumber(&out, reward);
  out += terminated ? R"(,"terminated":true)" : R"(,"terminated":false)";
  out += truncated ? R"(,"truncated":true)" : R"(,"truncated":false)";
  out += R"(,"admissible_actions":[)";
  for (size_t i = 0; i < admissible_actions.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(&out, admissible_actions[i]);
  }
  out += R"(],"anchor_key":)";
  AppendJsonString(&out, anchor_key);
  out += R"(,"info":)";
  AppendJsonValue(&out, info);
  out += R"(,"turn":)";
  out += std::to_string(turn);
  out += '}';
  return out;
}

StepResult StepResult::FromJson(const Json& j) {
  if (!j.is_object()) throw InvalidArgument("step: expected an object, got " + JsonTypeName(j));
  StepResult s;
  Json obs = Get<Json>(j, "observation", "step");
  if (!obs.is_object()) throw InvalidArgument("step: field 'observation' must be an object");
  s.observation.text = Get<std::string>(obs, "text", "step.observation");
  if (obs.contains("image_png_base64") && !obs["image_png_base64"].is_null()) {
    s.observation.image_png = Base64Decode(Get<std::string>(obs, "image_png_base64", "step.observation"));
  }
  if (obs.contains("vector") && !obs["vector"].is_null()) {
    s.observation.vector = Get<std::vector<float>>(obs, "vector", "step.observation");
  }
  s.reward = Get<double>(j, "reward", "step");
  s.terminated = Get<bool>(j, "terminated", "step");
  s.truncated = Get<bool>(j, "truncated", "step");
  if (j.contains("admissible_actions")) {
    s.admissible_actions = Get<std::vector<std::string>>(j, "admissible_actions", "step");
  }
  s.anchor_key = j.contains("anchor_key") ? Get<std::string>(j, "anchor_key", "step") : s.observation.text;
  s.info = j.contains("info") ? Get<Json>(j, "info", "step") : Json::object();
  if (!s.info.is_object()) throw InvalidArgument("step: field 'info' must be an object");
  s.turn = j.contains("turn") ? Get<int64_t>(j, "turn", "step") : 0;
  return s;
}

Json EnvSpec::ToJson() const {
  return {{"protocol", "turnwise/v1"},
          {"name", name},
          {"version", version},
          {"description", description},
          {"splits", splits},
          {"max_turns", max_turns},
          {"observation_kinds", observation_kinds},
          {"action_format", action_format},
          {"config_defaults", config_defaults}};
}

EnvSpec EnvSpec::FromJson(const Json& j) {
  EnvSpec s;
  s.name = Get<std::string>(j, "name", "spec");
  s.version = j.value("version", "");
  s.description = j.value("description", "");
  s.splits = j.value("splits", std::map<std::string, int64_t>{});
  s.max_turns = j.value("max_turns", int64_t{0});
  s.observation_kinds = j.value("observation_kinds", std::vector<std::string>{"text"});
  s.action_format = j.value("action_format", "");
  s.config_defaults = j.value("config_defaults", Json::object());
  return s;
}

}  // namespace turnwise
