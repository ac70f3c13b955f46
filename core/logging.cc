#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.h"

namespace turnwise {

const std::vector<std::string>& LogLevelNames() {
  static const std::vector<std::string> kNames = {"trace", "debug", "info",
                                                  "warn",  "error", "off"};
  return kNames;
}

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("turnwise");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%L%$ %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

void SetLogLevel(std::string_view level) {
  static const spdlog::level::level_enum kLevels[] = {
      spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
      spdlog::level::warn,  spdlog::level::err,   spdlog::level::off};
  const auto& names = LogLevelNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == level) {
      Log().set_level(kLevels[i]);
      return;
    }
  }
  throw InvalidArgument(UnknownNameMessage("log level", level, names));
}

}  // namespace turnwise
