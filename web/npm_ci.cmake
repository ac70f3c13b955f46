# Installs the UI's npm packages from the committed lock file when they are missing or older
# than the lock file (npm ci removes node_modules and installs exactly what the lock says).
# Usage: cmake -DUI_DIR=<web/ui> -DNPM=<npm> -P npm_ci.cmake
set(marker "${UI_DIR}/node_modules/.package-lock.json")
if(EXISTS "${marker}" AND NOT "${UI_DIR}/package-lock.json" IS_NEWER_THAN "${marker}")
  return()
endif()
message(STATUS "web UI: npm ci in ${UI_DIR}")
execute_process(COMMAND "${NPM}" ci --no-audit --no-fund
                WORKING_DIRECTORY "${UI_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "web UI: 'npm ci' failed in ${UI_DIR} (exit ${rc}); the npm registry must be "
                      "reachable the first time (later builds reuse node_modules)")
endif()
