#include "obagent/engine/engine_log.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace obagent::engine {

namespace {
std::mutex log_mu;
std::shared_ptr<spdlog::logger> engine_log;
}  // namespace

void OpenEngineLog(const std::string& state_dir) {
  std::lock_guard lock(log_mu);
  if (engine_log) return;
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        state_dir + "/logs/cbengine.log", 10 * 1024 * 1024, 5);
    engine_log = std::make_shared<spdlog::logger>("cbengine", sink);
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
  bool bad = id == Milestone::kBackupFailed || id == Milestone::kRecoveryFailed;
  engine_log->log(bad ? spdlog::level::err : spdlog::level::info, "[{}] {}", static_cast<int>(id),
                  text);
}

void LogInfo(const std::string& text) {
  std::lock_guard lock(log_mu);
  if (!engine_log) return;
  engine_log->info("{}", text);
}

}  // namespace obagent::engine
