#!/usr/bin/env bash
# check-layers.sh - the layering rules of docs/architecture.md ("Layering
# rules"), checked on the #include lines of the tree:
#   1. core is pure: src/core and include/obagent/core (and bytes.h and
#      status.h, which are core's) include only core's
#      own headers, obagent/bytes.h and obagent/status.h, the C++ standard
#      library, nlohmann/json and zstd: nothing of src/platform, no OS or
#      OpenSSL header. (The crypto backend is core's interface,
#      include/obagent/core/crypto_backend.h, which the platform implements.)
#   2. a module's private headers (src/<module>/*.h, included as
#      "<module>/x.h") are included only by that module and by the tests:
#      nothing outside src/cli includes src/cli, the console (src/api) and
#      cbengine (service/) reach the engine through include/obagent/engine.
#   3. no #if on the OS (_WIN32, __linux__, …) outside src/platform and
#      include/obagent/platform.h.
#   4. a job's life is the engine's (engine/job_runner.h): no file in
#      src/cli or src/api (obctl, the local API, the console) names the job
#      history, a stop watcher, the job runner itself, the writing of a
#      failed-files log, the writer lock or the job report to vaultd
#      (/v1/jobs); they call the engine's job functions and present the
#      outcome. Comment lines do not count.
#
# Usage: bash scripts/check-layers.sh [ROOT]   (ROOT: the source tree, default
# this checkout). Prints each leak as file:line and exits 1 if there is one.
# scripts/test.sh runs it as the "layers" step; ctest as layers.check.
set -euo pipefail

ROOT=${1:-"$(dirname "$(readlink -f "$0")")/.."}
cd "$ROOT"

LEAKS=0
leak() { # file:line text, why
  echo "$1: $2"
  LEAKS=$((LEAKS + 1))
}

# C++ sources below the given folders (those that exist), NUL-separated.
sources() {
  local d dirs=()
  for d in "$@"; do [ -d "$d" ] && dirs+=("$d"); done
  [ ${#dirs[@]} -gt 0 ] || return 0
  find "${dirs[@]}" -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z
}

# "file:line:header:quote" for every #include of the files on stdin
# (NUL-separated); quote is '"' or '<'.
includes() {
  xargs -0 -r grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' |
    sed -E 's/^([^:]*):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*(["<])([^">]*)[">].*/\1:\2:\4:\3/'
}

# 1. core is pure.
while IFS=: read -r file line header quote; do
  if [ "$quote" = '"' ]; then
    case $header in
      core/* | obagent/core/* | obagent/bytes.h | obagent/status.h) ;;
      *) leak "$file:$line" "core includes \"$header\" (core includes only core, bytes.h and status.h)" ;;
    esac
  else
    case $header in
      */* | *.h | *.hpp)
        case $header in
          nlohmann/json.hpp | zstd.h) ;;
          *) leak "$file:$line" "core includes <$header> (core is pure: no OS or library headers)" ;;
        esac
        ;;
    esac
  fi
done < <({
  sources src/core include/obagent/core
  for f in include/obagent/bytes.h include/obagent/status.h; do
    [ -f "$f" ] && printf '%s\0' "$f"
  done
} | includes)

# 2. private headers stay in their module (tests may include them).
modules=()
for d in src/*/; do
  [ -d "$d" ] && modules+=("$(basename "$d")")
done
while IFS=: read -r file line header quote; do
  [ "$quote" = '"' ] || continue
  module=${header%%/*}
  [ "$module" != "$header" ] || continue
  for m in "${modules[@]}"; do
    [ "$m" = "$module" ] || continue
    case $file in
      src/"$module"/*) ;;
      *) leak "$file:$line" "includes the private header \"$header\" of src/$module (use a public header in include/obagent/)" ;;
    esac
  done
done < <(sources src include service bench | includes)

# 3. the OS is chosen in src/platform only.
while IFS=: read -r file line text; do
  case $file in
    src/platform/* | include/obagent/platform.h) ;;
    *) leak "$file:$line" "tests the OS ($text): OS-specific code belongs in src/platform" ;;
  esac
done < <(sources src include service | xargs -0 -r grep -HnE '^[[:space:]]*#[[:space:]]*(if|ifdef|ifndef|elif)\b.*\b(_WIN32|_WIN64|__linux__|__APPLE__|_MSC_VER|__MINGW32__)\b' || true)

# 4. front ends do not run a job's life themselves.
while IFS=: read -r file line text; do
  what=$(grep -oE '\b(JobHistory|JobStopWatcher|JobRunner|WriteFailedFilesLog|AcquireWriter)\b|/v1/jobs' <<< "$text" | sed -n 1p)
  leak "$file:$line" "touches a job's life ($what): front ends call the engine's job functions (engine/job_runner.h)"
done < <(sources src/cli src/api |
  xargs -0 -r grep -HnE '\b(JobHistory|JobStopWatcher|JobRunner|WriteFailedFilesLog|AcquireWriter)\b|/v1/jobs' |
  grep -vE '^[^:]*:[0-9]+:[[:space:]]*(//|\*)' || true)

if [ "$LEAKS" -gt 0 ]; then
  echo "$LEAKS layering leak(s); the rules are in docs/architecture.md, \"Layering rules\""
  exit 1
fi
echo "no layering leaks"
