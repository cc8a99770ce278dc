#include "obagent/engine/engine_log.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <vector>

namespace obagent::engine {

namespace {
std::mutex log_mu;
std::shared_ptr<spdlog::logger> engine_log;
}  // namespace

void OpenEngineLog(const std::string& state_dir, bool also_stderr) {
  std::lock_guard lock(log_mu);
  if (engine_log) return;
  try {
    std::vector<spdlog::sink_ptr> sinks = {std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        state_dir + "/logs/cbengine.log", 10 * 1024 * 1024, 5)};
    if (also_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    engine_log = std::make_shared<spdlog::logger>("cbengine", sinks.begin(), sinks.end());
    engine_log->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %P %l %v");
    engine_log->flush_on(spdlog::level::info);
  } catch (const spdlog::spdlog_ex&) {
    // No writable log folder: jobs still run; their results are also in the
    // job history and on the console.
    engine_log.reset();
  }
}

void LogMilestone(Milestone id, const std::string& text) {
  std::lock_guard lock(log_mu);
  if (!engine_log) return;
  bool bad = id == Milestone::kBackupFailed || id == Milestone::kRecoveryFailed ||
             id == Milestone::kRecoveryTestFailed;
  engine_log->log(bad ? spdlog::level::err : spdlog::level::info, "[{}] {}", static_cast<int>(id),
                  text);
}

void LogEngineEvent(const std::string& text, bool error) {
  std::lock_guard lock(log_mu);
  if (!engine_log) return;
  engine_log->log(error ? spdlog::level::err : spdlog::level::info, "{}", text);
}

}  // namespace obagent::engine
