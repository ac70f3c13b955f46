#include "core/error.h"

#include <cstdio>
#include <cstdlib>

#include "core/text.h"

namespace turnwise {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

std::string UnknownNameMessage(std::string_view what, std::string_view name,
                               const std::vector<std::string>& known) {
  std::string msg = "unknown " + std::string(what) + " '" + std::string(name) + "'";
  if (auto near = NearestName(name, known)) msg += " (did you mean '" + *near + "'?)";
  msg += "; known: " + (known.empty() ? std::string("(none)") : Join(known, ", "));
  return msg;
}

namespace internal {
void CheckFailed(const char* file, int line, const char* expr, const std::string& msg) {
  std::fprintf(stderr, "%s:%d: TURNWISE_CHECK failed: %s%s%s\n", file, line, expr,
               msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace internal

}  // namespace turnwise
