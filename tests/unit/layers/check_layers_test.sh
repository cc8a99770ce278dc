#!/usr/bin/env bash
# The layering check (scripts/check-layers.sh) finds each kind of leak it is
# there for, and passes a tree without them: it runs on small trees made
# here. (ctest layers.check runs it on the real tree.)
set -euo pipefail

CHECK=$(readlink -f "$1")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

# A clean tree: core, platform implementing core's interface, an engine
# with a private header, the console and cbengine using public headers.
make_tree() {
  local t=$1
  mkdir -p "$t"/src/{core,platform/posix/crypto,engine,api,cli,cmdline} "$t"/include/obagent/{core,engine,cmdline} "$t"/service "$t"/tests/unit/engine
  printf '#include <cstdint>\n#include "obagent/status.h"\n#include <zstd.h>\n' > "$t/src/core/crypto.cc"
  printf '#include "obagent/bytes.h"\n' > "$t/include/obagent/core/crypto_backend.h"
  printf '#include <openssl/evp.h>\n#include "obagent/core/crypto_backend.h"\n' > "$t/src/platform/posix/crypto/openssl_backend.cc"
  printf '#pragma once\n' > "$t/src/engine/glob.h"
  printf '#include "engine/glob.h"\n' > "$t/src/engine/browse.cc"
  printf '#ifdef _WIN32\n#endif\n' > "$t/src/platform/posix/crypto/os.h"
  printf '#include "obagent/engine/browse.h"\n' > "$t/src/api/console_routes.cc"
  printf '#pragma once\n' > "$t/src/cli/cli_common.h"
  printf '#include "cli/cli_common.h"\n#include "obagent/cmdline/options.h"\n' > "$t/src/cli/main.cc"
  printf '#include "obagent/cmdline/options.h"\n' > "$t/service/cbengine_main.cc"
  printf '#include "engine/glob.h"\n' > "$t/tests/unit/engine/glob_test.cc"
}

# expect NAME FILE LINE: after FILE gets LINE, the check fails naming FILE.
expect_leak() {
  local name=$1 file=$2 text=$3 t="$WORK/$1" out rc=0
  make_tree "$t"
  printf '%s\n' "$text" >> "$t/$file"
  out=$(bash "$CHECK" "$t" 2>&1) || rc=$?
  if [ "$rc" -eq 1 ] && grep -q "^$file:" <<< "$out"; then
    echo "ok: $name"
  else
    echo "FAILED: $name: rc=$rc, output:"
    echo "$out"
    FAILED=1
  fi
}

make_tree "$WORK/clean"
if out=$(bash "$CHECK" "$WORK/clean" 2>&1); then
  echo "ok: a clean tree passes"
else
  echo "FAILED: a clean tree: $out"
  FAILED=1
fi

expect_leak core_includes_platform src/core/crypto.cc '#include "platform/crypto_backend.h"'
expect_leak core_includes_platform_api include/obagent/core/crypto_backend.h '#include "obagent/platform.h"'
expect_leak core_includes_os_header src/core/crypto.cc '#include <unistd.h>'
expect_leak core_includes_openssl src/core/crypto.cc '#include <openssl/evp.h>'
expect_leak service_includes_cli service/cbengine_main.cc '#include "cli/options.h"'
expect_leak engine_includes_cli src/engine/browse.cc '#  include "cli/cli_common.h"'
expect_leak console_includes_private_engine src/api/console_routes.cc '#include "engine/glob.h"'
expect_leak engine_tests_the_os src/engine/browse.cc '#ifdef _WIN32'
expect_leak core_tests_the_os src/core/crypto.cc '#if defined(__linux__)'
expect_leak cli_keeps_job_records src/cli/main.cc '  engine::JobHistory history(env, dir);'
expect_leak cli_watches_for_stops src/cli/main.cc 'engine::JobStopWatcher watcher(history, id);'
expect_leak console_writes_failed_files src/api/console_routes.cc 'auto log = engine::WriteFailedFilesLog(env, d, "x", id, files);'
expect_leak cli_takes_the_writer_lock src/cli/main.cc 'auto w = engine::AcquireWriter(agent, "prune");'
expect_leak cli_reports_jobs src/cli/main.cc 'client->Call("POST", "/v1/jobs", job);'

# A comment may name them; the engine runs jobs.
t="$WORK/comments"
make_tree "$t"
printf '// the job runner keeps the JobHistory\n  // (JobStopWatcher)\n' >> "$t/src/cli/main.cc"
printf 'JobHistory history(env, dir);\n' >> "$t/src/engine/browse.cc"
if out=$(bash "$CHECK" "$t" 2>&1); then
  echo "ok: comments and the engine may name the job history"
else
  echo "FAILED: comments or the engine: $out"
  FAILED=1
fi

exit "$FAILED"
