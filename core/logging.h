// Logging through spdlog, to stderr, with one process-wide level.
//
// Use the TURNWISE_LOG_* macros (never bare LOG: LibTorch defines glog's). They are cheap when
// the level is disabled (fmt formatting happens only when the message is emitted).
// Thread-safe: the underlying logger is spdlog's multi-threaded stderr sink.
#ifndef TURNWISE_CORE_LOGGING_H_
#define TURNWISE_CORE_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <vector>

namespace turnwise {

// Level names accepted by SetLogLevel, from most to least verbose.
const std::vector<std::string>& LogLevelNames();

// Sets the global level: "trace", "debug", "info", "warn", "error", "off". Throws
// InvalidArgument listing the known names for anything else.
void SetLogLevel(std::string_view level);

// The process-wide logger (created on first use, writes to stderr).
spdlog::logger& Log();

}  // namespace turnwise

#define TURNWISE_LOG_TRACE(...) ::turnwise::Log().trace(__VA_ARGS__)
#define TURNWISE_LOG_DEBUG(...) ::turnwise::Log().debug(__VA_ARGS__)
#define TURNWISE_LOG_INFO(...) ::turnwise::Log().info(__VA_ARGS__)
#define TURNWISE_LOG_WARN(...) ::turnwise::Log().warn(__VA_ARGS__)
#define TURNWISE_LOG_ERROR(...) ::turnwise::Log().error(__VA_ARGS__)

#endif  // TURNWISE_CORE_LOGGING_H_
