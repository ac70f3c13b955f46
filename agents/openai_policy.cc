#include "agents/openai_policy.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/text.h"

namespace turnwise {
namespace {

constexpr char kDefaultSystemPrompt[] =
    "You are an agent acting in a text environment. Think step by step inside <think> </think> "
    "tags, then give exactly one of the admissible actions inside <action> </action> tags.";
constexpr double kMaxRetryAfterS = 60.0;

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add("base_url", FieldType::kString, Json(),
          "server URL, http://host:port (a trailing /v1 is optional)");
    s.Add("model", FieldType::kString, Json(), "served model name");
    s.Add("api_key_env", FieldType::kString, "OPENAI_API_KEY",
          "environment variable holding the API key (unset: no Authorization header)");
    s.Add("system_prompt", FieldType::kString, kDefaultSystemPrompt,
          "system message; empty sends none");
    s.Add({.path = "temperature",
           .type = FieldType::kNumber,
           .default_value = 1.0,
           .help = "sampling temperature",
           .min = 0.0});
    s.Add({.path = "top_p",
           .type = FieldType::kNumber,
           .default_value = 1.0,
           .help = "nucleus sampling mass",
           .min = 0.0,
           .max = 1.0});
    s.Add({.path = "max_tokens",
           .type = FieldType::kInt,
           .default_value = 512,
           .help = "most tokens generated per decision",
           .min = 1});
    s.Add("stop", FieldType::kArray, Json::array({"</action>"}),
          "stop strings; the matched one is put back into the response");
    s.Add({.path = "seed",
           .type = FieldType::kInt,
           .default_value = 0,
           .help = "base of the per-decision request seed; -1 sends none",
           .min = -1.0,
           .max = 2147483647.0});
    s.Add({.path = "history_length",
           .type = FieldType::kInt,
           .default_value = 2,
           .help = "turns of history in the prompt (0 none, -1 all)",
           .min = -1.0});
    s.Add({.path = "restate_task",
           .type = FieldType::kBool,
           .default_value = false,
           .help = "repeat the task after the admissible actions"});
    s.Add("request_logprobs", FieldType::kBool, false, "ask for per-token logprobs");
    s.Add({.path = "timeout_s",
           .type = FieldType::kNumber,
           .default_value = 120.0,
           .help = "per-request connect/read/write timeout",
           .min = 0.001});
    s.Add({.path = "retries",
           .type = FieldType::kInt,
           .default_value = 3,
           .help = "retries of 408/429/5xx and transport failures",
           .min = 0.0,
           .max = 100.0});
    s.Add({.path = "backoff_s",
           .type = FieldType::kNumber,
           .default_value = 1.0,
           .help = "first retry delay, doubled each time",
           .min = 0.0});
    s.Add({.path = "concurrency",
           .type = FieldType::kInt,
           .default_value = 8,
           .help = "requests of one batch in flight at once",
           .min = 1.0,
           .max = 256.0});
    return s;
  }();
  return schema;
}

struct Endpoint {
  std::string origin;  // scheme://host[:port], what httplib::Client takes
  std::string path;    // /…/v1/chat/completions
};

Endpoint ParseBaseUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    throw ConfigError("policy.base_url", "must start with http:// or https://, got '" + url + "'");
  }
  if (url.find_first_of("?#") != std::string::npos) {
    throw ConfigError("policy.base_url", "must not have a query or fragment, got '" + url + "'");
  }
  size_t slash = url.find('/', scheme_end + 3);
  Endpoint e;
  e.origin = url.substr(0, slash);
  if (e.origin.size() == scheme_end + 3)
    throw ConfigError("policy.base_url", "has no host: '" + url + "'");
  std::string prefix = slash == std::string::npos ? "" : url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (EndsWith(prefix, "/v1")) prefix.resize(prefix.size() - 3);
  e.path = prefix + "/v1/chat/completions";
  return e;
}

std::string Snippet(const std::string& body) {
  constexpr size_t kMax = 200;
  std::string s(Trim(body));
  if (s.empty()) return "(empty body)";
  return s.size() > kMax ? s.substr(0, kMax) + "…" : s;
}

// The message of an error answer, from the shapes servers use: OpenAI / llama.cpp / newer vLLM
// {"error": {"message"}}, older vLLM {"message"}, FastAPI validation {"detail"}.
std::string ServerMessage(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string()) {
        return (*e)["message"].get<std::string>();
      }
      if (e->is_string()) return e->get<std::string>();
    }
    if (auto m = j.find("message"); m != j.end() && m->is_string()) return m->get<std::string>();
    if (auto d = j.find("detail"); d != j.end())
      return d->is_string() ? d->get<std::string>() : DumpJson(*d);
  }
  return Snippet(body);
}

std::string TransportReason(httplib::Error error, double timeout_s) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no complete answer (connection closed, or no reply within timeout_s " +
             HumanDuration(timeout_s) + ")";
    case httplib::Error::Write:
      return "sending the request failed";
    default:
      return "transport error " + httplib::to_string(error);
  }
}

// Seconds from Retry-After / retry-after-ms, when present and numeric (HTTP dates are ignored).
std::optional<double> RetryAfter(const httplib::Response& res) {
  auto parse = [&](const char* key, double scale) -> std::optional<double> {
    if (!res.has_header(key)) return std::nullopt;
    std::string v = res.get_header_value(key);
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !(x >= 0)) return std::nullopt;
    return std::min(x * scale, kMaxRetryAfterS);
  };
  if (auto ms = parse("retry-after-ms", 1e-3)) return ms;
  return parse("Retry-After", 1.0);
}

bool Retryable(int status) { return status == 408 || status == 429 || status >= 500; }

class OpenAIPolicy : public Policy {
 public:
  explicit OpenAIPolicy(const Json& c)
      : endpoint_(ParseBaseUrl(c["base_url"].get<std::string>())),
        url_(endpoint_.origin + endpoint_.path),
        model_(c["model"].get<std::string>()),
        api_key_env_(c["api_key_env"].get<std::string>()),
        system_prompt_(c["system_prompt"].get<std::string>()),
        stops_(c["stop"].get<std::vector<std::string>>()),
        seed_(c["seed"].get<int64_t>()),
        request_logprobs_(c["request_logprobs"].get<bool>()),
        timeout_s_(c["timeout_s"].get<double>()),
        retries_(c["retries"].get<int>()),
        backoff_s_(c["backoff_s"].get<double>()) {
    prompt_options_.history_length = c["history_length"].get<int>();
    prompt_options_.restate_task = c["restate_task"].get<bool>();
    sampling_ = {{"model", model_},
                 {"temperature", c["temperature"]},
                 {"top_p", c["top_p"]},
                 {"max_tokens", c["max_tokens"]},
                 {"n", 1}};
    if (!stops_.empty()) sampling_["stop"] = stops_;
    if (request_logprobs_) sampling_["logprobs"] = true;

    std::string key;
    if (!api_key_env_.empty()) {
      if (const char* v = std::getenv(api_key_env_.c_str())) key = v;
    }
    auto usec = static_cast<time_t>(timeout_s_ * 1e6);
    for (int i = 0, n = c["concurrency"].get<int>(); i < n; ++i) {
      auto client = std::make_unique<httplib::Client>(endpoint_.origin);
      client->set_connection_timeout(usec / 1000000, usec % 1000000);
      client->set_read_timeout(usec / 1000000, usec % 1000000);
      client->set_write_timeout(usec / 1000000, usec % 1000000);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      if (!key.empty()) client->set_bearer_token_auth(key);
      clients_.push_back(std::move(client));
    }
  }

  std::string name() const override { return "openai"; }

  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    for (const PolicyInput& in : batch) {
      if (in.step == nullptr) throw InvalidArgument("policy openai: input without a step");
    }
    std::vector<PolicyOutput> out(batch.size());
    size_t workers = std::min(clients_.size(), batch.size());
    if (workers <= 1) {
      for (size_t i = 0; i < batch.size(); ++i) out[i] = Decide(*clients_[0], batch[i]);
      return out;
    }
    // Workers pull inputs in order; after the first failure no new request starts. Exceptions
    // cross the threads as exception_ptr and the lowest failed input's is rethrown here.
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::vector<std::exception_ptr> errors(batch.size());
    auto work = [&](size_t w) {
      while (!failed.load()) {
        size_t i = next.fetch_add(1);
        if (i >= batch.size()) return;
        try {
          out[i] = Decide(*clients_[w], batch[i]);
        } catch (...) {
          errors[i] = std::current_exception();
          failed = true;
        }
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, w);
    work(0);
    for (auto& t : threads) t.join();
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    return out;
  }

 private:
  PolicyOutput Decide(httplib::Client& client, const PolicyInput& in) {
    PolicyOutput o;
    std::string task = in.task;
    if (task.empty() && !in.history.empty()) task = ExtractTask(in.history.front().observation);
    o.prompt = RenderStepPrompt(in.env_name, task, in.history, in.step->observation.text,
                                in.step->admissible_actions, prompt_options_);
    Json request = sampling_;
    Json messages = Json::array();
    if (!system_prompt_.empty())
      messages.push_back({{"role", "system"}, {"content", system_prompt_}});
    messages.push_back({{"role", "user"}, {"content", o.prompt}});
    request["messages"] = std::move(messages);
    if (seed_ >= 0) {
      request["seed"] = Rng(static_cast<uint64_t>(seed_), in.seed).Next() >> 33;
    }
    ParseAnswer(Post(client, DumpJson(request)), o);
    ProjectedAction p = ProjectAction(o.response, in.step->admissible_actions);
    o.action = std::move(p.action);
    o.format_valid = p.format_valid;
    o.admissible = p.admissible;
    return o;
  }

  // The body of a 2xx answer, after retries; throws the documented errors otherwise.
  std::string Post(httplib::Client& client, const std::string& body) {
    double delay = backoff_s_;
    for (int attempt = 1;; ++attempt) {
      httplib::Result res = client.Post(endpoint_.path, body, "application/json");
      std::string reason;
      std::optional<double> retry_after;
      if (res) {
        int status = res->status;
        if (status >= 200 && status < 300) return std::move(res->body);
        std::string what = "model server " + url_ + ": HTTP " + std::to_string(status) + ": " +
                           ServerMessage(res->body);
        if (status == 401 || status == 403) {
          throw FailedPrecondition(what + " (the API key comes from the environment variable " +
                                   (api_key_env_.empty()
                                        ? "named by policy.api_key_env, which is empty"
                                        : "$" + api_key_env_) +
                                   ")");
        }
        if (status == 400 || status == 404 || status == 413 || status == 422)
          throw InvalidArgument(what);
        if (!Retryable(status)) throw FailedPrecondition(what);
        reason = "HTTP " + std::to_string(status) + ": " + ServerMessage(res->body);
        retry_after = RetryAfter(*res);
      } else {
        reason = TransportReason(res.error(), timeout_s_);
      }
      if (attempt > retries_) {
        throw Unavailable("model server " + url_ + ": " + reason + " after " +
                          std::to_string(attempt) + " attempts");
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(retry_after.value_or(delay)));
      delay *= 2;
    }
  }

  // Fills response and logprobs from a chat.completion body.
  void ParseAnswer(const std::string& body, PolicyOutput& o) const {
    auto malformed = [&](const std::string& why) {
      return FailedPrecondition("model server " + url_ + ": answer is not a chat completion (" +
                                why + "): " + Snippet(body));
    };
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded()) throw malformed("not JSON");
    try {
      if (!j.is_object()) throw malformed("not a JSON object");
      auto choices = j.find("choices");
      if (choices == j.end() || !choices->is_array() || choices->empty())
        throw malformed("no choices");
      const Json& choice = (*choices)[0];
      if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) {
        throw malformed("choices[0] has no message");
      }
      const Json& message = choice["message"];
      auto content = message.find("content");
      if (content != message.end() && !content->is_null()) {
        if (!content->is_string()) throw malformed("message content is " + JsonTypeName(*content));
        o.response = content->get<std::string>();
      }
      std::string finish = choice.contains("finish_reason") && choice["finish_reason"].is_string()
                               ? choice["finish_reason"].get<std::string>()
                               : "";
      o.response += MatchedStop(choice, finish, o.response);
      if (request_logprobs_ && choice.contains("logprobs") && choice["logprobs"].is_object()) {
        const Json& lp = choice["logprobs"];
        if (lp.contains("content") && lp["content"].is_array()) {
          for (const Json& t : lp["content"]) o.logprobs.push_back(t.at("logprob").get<float>());
        }
      }
    } catch (const Json::exception& e) {
      throw malformed(e.what());
    }
  }

  // The stop string to put back (the rule in the header), or "".
  std::string MatchedStop(const Json& choice, const std::string& finish,
                          const std::string& content) const {
    if (finish != "stop" || stops_.empty()) return "";
    for (const auto& s : stops_) {
      if (EndsWith(content, s)) return "";
    }
    for (const char* key : {"stop_reason", "matched_stop"}) {
      if (!choice.contains(key)) continue;
      const Json& v = choice[key];
      if (v.is_string() &&
          std::find(stops_.begin(), stops_.end(), v.get<std::string>()) != stops_.end()) {
        return v.get<std::string>();
      }
      return "";
    }
    return stops_.front();
  }

  Endpoint endpoint_;
  std::string url_;
  std::string model_;
  std::string api_key_env_;
  std::string system_prompt_;
  std::vector<std::string> stops_;
  int64_t seed_;
  bool request_logprobs_;
  double timeout_s_;
  int retries_;
  double backoff_s_;
  PromptOptions prompt_options_;
  Json sampling_;  // the request fields shared by every decision
  std::vector<std::unique_ptr<httplib::Client>> clients_;
};

}  // namespace

const ConfigSchema& OpenAIPolicySchema() { return Schema(); }

std::unique_ptr<Policy> MakeOpenAIPolicy(const Json& config) {
  if (!config.is_object()) throw ConfigError("policy", "expected an object");
  Json c;
  try {
    c = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("policy");
  }
  for (const char* key : {"base_url", "model"}) {
    if (c[key].is_null() || c[key].get<std::string>().empty()) {
      throw ConfigError(std::string("policy.") + key, "is required");
    }
  }
  for (const Json& s : c["stop"]) {
    if (!s.is_string() || s.get<std::string>().empty()) {
      throw ConfigError("policy.stop",
                        "expected an array of non-empty strings, got " + DumpJson(c["stop"]));
    }
  }
  return std::make_unique<OpenAIPolicy>(c);
}

}  // namespace turnwise
