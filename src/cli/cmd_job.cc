// obctl job list|show|stop: the job history (Get-OBJob) and Stop-OBJob.
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/api/local_api.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/job_runner.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {
// Stop-OBJob: asks the job to stop (through the engine when it runs) and
// waits for it to end.
int JobStop(Globals& g, const std::vector<std::string>& args) {
  std::string id;
  int timeout_seconds = 120;
  OptionSet options("job stop");
  options.Add("id", &id, "job id or prefix").Required().Positional();
  options.Add("timeout", &timeout_seconds, "seconds to wait for the job to end");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto via_engine = api::CallEngine(*g.env, g.state_dir, {{"op", "job_stop"}, {"id", id}});
  if (!via_engine.ok()) {
    if (via_engine.status().code() != ErrorCode::kEngineNotRunning) {
      return Fail(g, via_engine.status());
    }
    // No engine: the job runs in an obctl.
    Status st = engine::RequestJobStop(*g.env, g.state_dir, id);
    if (!st.ok()) return Fail(g, st);
  }
  auto job = engine::WaitForStoppedJob(*g.env, g.state_dir, id,
                                       static_cast<int64_t>(timeout_seconds) * 1000);
  if (!job.ok()) return Fail(g, job.status());
  // Stopped as asked: success. A job that ended on its own first keeps its
  // own outcome.
  int rc = PresentEngineJob(g, *job);
  return job->state == engine::JobState::kCancelled ? kExitOk : rc;
}

int JobList(Globals& g, const std::vector<std::string>& args) {
  size_t last = 20;
  OptionSet options("job list");
  options.Add("last", &last, "how many jobs");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto jobs = engine::ListJobs(*g.env, g.state_dir);
  if (!jobs.ok()) return Fail(g, jobs.status());
  size_t n = std::min(jobs->size(), last);
  json list = json::array();
  for (size_t i = 0; i < n; ++i) list.push_back(JobJson((*jobs)[i]));
  g.out->Result({{"ok", true}, {"jobs", list}}, [&](std::ostream& o, std::ostream&) {
    for (size_t i = 0; i < n; ++i) {
      const auto& j = (*jobs)[i];
      o << j.id << "  " << TextTime(j.start_ns) << "  " << j.type << "  "
        << engine::JobStateName(j.state) << "  " << j.files << " files  "
        << HumanBytes(static_cast<double>(j.bytes_transferred)) << "\n";
    }
  });
  return kExitOk;
}

int JobShow(Globals& g, const std::vector<std::string>& args) {
  std::string id;
  OptionSet options("job show");
  options.Add("id", &id, "job id or prefix").Required().Positional();
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto job = engine::FindJob(*g.env, g.state_dir, id);
  if (!job.ok()) return Fail(g, job.status());
  json j = JobJson(*job);
  json progress = nullptr;
  std::string progress_line;
  if (job->state == engine::JobState::kInProgress) {
    // The engine's running job: its live progress (bytes read, in the
    // vault, uploaded; percent, rate and ETA).
    auto status = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
    auto running = status.ok() && (*status)["running"].is_object()
                       ? engine::RunningJobFromJson((*status)["running"])
                       : Result<engine::RunningJob>(NotFound("no running job"));
    if (running.ok() && running->record.id == job->id) {
      progress = engine::ProgressToJson(running->progress);
      progress_line = FormatProgressLine(job->type, running->progress);
    }
  }
  g.out->Result({{"ok", true}, {"job", j}, {"progress", progress}},
                [&](std::ostream& o, std::ostream&) {
                  json shown = j;
                  if (progress.is_object()) shown["progress"] = progress_line;
                  for (auto& [key, value] : shown.items()) {
                    o << key << ": "
                      << (value.is_string() ? value.get<std::string>()
                          : value.is_null() ? std::string()
                                            : value.dump())
                      << "\n";
                  }
                });
  return kExitOk;
}

}  // namespace obagent::cli
