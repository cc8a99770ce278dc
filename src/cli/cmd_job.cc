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
namespace {

json JobJson(const engine::JobRecord& j) {
  json out = engine::JobRecordToJson(j);
  out.erase("pid");
  out["start"] = FormatTime(j.start_ns);
  out["end"] = j.end_ns ? FormatTime(j.end_ns) : "";
  out["duration_seconds"] = j.end_ns ? static_cast<double>(j.end_ns - j.start_ns) / 1e9 : 0.0;
  return out;
}

}  // namespace

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
  for (size_t i = 0; i < n; ++i) {
    const auto& j = (*jobs)[i];
    if (g.json) {
      list.push_back(JobJson(j));
    } else {
      std::cout << j.id << "  " << FormatTime(j.start_ns) << "  " << j.type << "  "
                << engine::JobStateName(j.state) << "  " << j.files << " files  "
                << HumanBytes(static_cast<double>(j.bytes_transferred)) << "\n";
    }
  }
  if (g.json) PrintJson(list);
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
  if (job->state == engine::JobState::kInProgress) {
    // The engine's running job: its live progress (bytes read, in the
    // vault, uploaded; percent, rate and ETA).
    auto status = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
    auto running = status.ok() && (*status)["running"].is_object()
                       ? engine::RunningJobFromJson((*status)["running"])
                       : Result<engine::RunningJob>(NotFound("no running job"));
    if (running.ok() && running->record.id == job->id) {
      j["progress"] = g.json ? engine::ProgressToJson(running->progress)
                             : json(FormatProgressLine(job->type, running->progress));
    }
  }
  if (g.json) {
    PrintJson(j);
  } else {
    for (auto& [key, value] : j.items()) {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                << "\n";
    }
  }
  return kExitOk;
}

}  // namespace obagent::cli
