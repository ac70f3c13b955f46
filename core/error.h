// Turnwise's one error hierarchy.
//
// Every expected failure a user can cause or fix (a bad config key, an unknown environment, a
// database the binary cannot read, a server that went away) is thrown as a subclass of
// `turnwise::Error`. Its `what()` is one readable line that names the thing at fault and, where
// possible, what to do about it; the CLI prints exactly that line and exits non-zero.
//
// Exceptions from dependencies (nlohmann::json, SQLite codes, Asio's system_error, c10::Error)
// are caught at one boundary per subsystem (config loader, store, HTTP handler, learner step)
// and rethrown as one of these. Programmer errors (broken invariants) are not exceptions: they
// abort through TURNWISE_CHECK with file:line.
#ifndef TURNWISE_CORE_ERROR_H_
#define TURNWISE_CORE_ERROR_H_

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace turnwise {

// Canonical category of an error; stable, usable for exit codes and HTTP status mapping.
enum class ErrorCode {
  kInvalidArgument,   // malformed input: bad value, bad JSON, bad flag
  kNotFound,          // unknown name or id: env, method, run, episode, key
  kAlreadyExists,     // creating something whose name is taken
  kFailedPrecondition,// operation not valid in the current state (e.g. db newer than binary)
  kUnavailable,       // a transient failure: server gone, timeout, queue closed
  kIo,                // filesystem or database I/O failure
  kInternal,          // a dependency failed in a way we cannot classify
};

// Short lowercase name of a code ("invalid argument", "not found", ...).
std::string_view ErrorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// A configuration problem. `key_path` is the dotted path of the offending key ("trainer.lr"),
// empty when the problem is with the file as a whole. The message already contains the path.
class ConfigError : public Error {
 public:
  ConfigError(std::string key_path, const std::string& message)
      : Error(ErrorCode::kInvalidArgument,
              key_path.empty() ? "config: " + message : "config: " + key_path + ": " + message),
        key_path_(std::move(key_path)),
        detail_(message) {}
  const std::string& key_path() const { return key_path_; }
  // The message without the "config: <path>: " prefix.
  const std::string& detail() const { return detail_; }
  // The same error for a config nested under `prefix` ("env.config" + "max_steps").
  ConfigError Under(const std::string& prefix) const {
    return ConfigError(key_path_.empty() ? prefix : prefix + "." + key_path_, detail_);
  }

 private:
  std::string key_path_;
  std::string detail_;
};

class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& m) : Error(ErrorCode::kInvalidArgument, m) {}
};

class NotFound : public Error {
 public:
  explicit NotFound(const std::string& m) : Error(ErrorCode::kNotFound, m) {}
};

class FailedPrecondition : public Error {
 public:
  explicit FailedPrecondition(const std::string& m) : Error(ErrorCode::kFailedPrecondition, m) {}
};

class Unavailable : public Error {
 public:
  explicit Unavailable(const std::string& m) : Error(ErrorCode::kUnavailable, m) {}
};

class IoError : public Error {
 public:
  explicit IoError(const std::string& m) : Error(ErrorCode::kIo, m) {}
};

// Builds "unknown <what> 'name'; known: a, b, c" (and "did you mean 'x'?" when one is close).
// Used by every registry and validator so that unknown names always list the known ones.
std::string UnknownNameMessage(std::string_view what, std::string_view name,
                               const std::vector<std::string>& known);

namespace internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);
}  // namespace internal

}  // namespace turnwise

// Aborts with file:line when an invariant does not hold. For programmer errors only; never for
// input a user controls. Named with the project prefix: LibTorch (glog) already defines CHECK.
#define TURNWISE_CHECK(cond)                                                   \
  do {                                                                         \
    if (!(cond)) ::turnwise::internal::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define TURNWISE_CHECK_MSG(cond, msg)                                             \
  do {                                                                            \
    if (!(cond)) ::turnwise::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#endif  // TURNWISE_CORE_ERROR_H_
