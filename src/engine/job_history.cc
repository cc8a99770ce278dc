#include "obagent/engine/job_history.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/json_fields.h"
#include "obagent/core/crypto.h"

namespace obagent::engine {

namespace {

using nlohmann::json;
constexpr int kJobRecordVersion = 1;

std::optional<JobState> StateFromName(const std::string& name) {
  for (JobState s : {JobState::kInProgress, JobState::kCompleted, JobState::kCompletedWithWarnings,
                     JobState::kFailed, JobState::kCancelled}) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

JobHistory::JobHistory(platform::Env& env, std::string state_dir)
    : env_(env), dir_(std::move(state_dir) + "/jobs") {}

std::string JobHistory::PathOf(const JobRecord& r) const {
  // Start time first so names sort by age.
  return dir_ + "/" + std::to_string(r.start_ns) + "-" + r.id + ".json";
}

json JobRecordToJson(const JobRecord& r) {
  return {{"id", r.id},
          {"type", r.type},
          {"state", JobStateName(r.state)},
          {"start_ns", r.start_ns},
          {"end_ns", r.end_ns},
          {"pid", r.pid},
          {"files", r.files},
          {"bytes_scanned", r.bytes_scanned},
          {"bytes_transferred", r.bytes_transferred},
          {"recovery_point", r.recovery_point},
          {"error", r.error},
          {"failed_files_log", r.failed_files_log},
          {"snapshot", r.snapshot},
          {"summary", r.summary},
          {"files_new", r.files_new},
          {"files_changed", r.files_changed},
          {"files_deleted", r.files_deleted},
          {"bytes_new", r.bytes_new},
          {"bytes_new_incompressible", r.bytes_new_incompressible}};
}

Result<JobRecord> JobRecordFromJson(const json& j) {
  namespace f = json_fields;
  if (!j.is_object()) return InvalidArgument("a job record must be a JSON object");
  JobRecord r;
  OB_ASSIGN_OR_RETURN(std::string state, f::Text(j, "state"));
  std::optional<JobState> known = StateFromName(state);
  if (!known) return InvalidArgument("unknown job state '" + state + "'");
  r.state = *known;
  OB_ASSIGN_OR_RETURN(r.id, f::Text(j, "id"));
  OB_ASSIGN_OR_RETURN(r.type, f::Text(j, "type"));
  OB_ASSIGN_OR_RETURN(r.start_ns, f::Integer(j, "start_ns"));
  OB_ASSIGN_OR_RETURN(r.end_ns, f::Integer(j, "end_ns"));
  OB_ASSIGN_OR_RETURN(r.pid, f::Integer(j, "pid"));
  OB_ASSIGN_OR_RETURN(r.files, f::Count(j, "files"));
  OB_ASSIGN_OR_RETURN(r.bytes_scanned, f::Count(j, "bytes_scanned"));
  OB_ASSIGN_OR_RETURN(r.bytes_transferred, f::Count(j, "bytes_transferred"));
  OB_ASSIGN_OR_RETURN(r.recovery_point, f::Text(j, "recovery_point"));
  OB_ASSIGN_OR_RETURN(r.error, f::Text(j, "error"));
  OB_ASSIGN_OR_RETURN(r.failed_files_log, f::Text(j, "failed_files_log"));
  OB_ASSIGN_OR_RETURN(r.snapshot, f::Text(j, "snapshot"));
  OB_ASSIGN_OR_RETURN(r.summary, f::Text(j, "summary"));
  OB_ASSIGN_OR_RETURN(r.files_new, f::Count(j, "files_new"));
  OB_ASSIGN_OR_RETURN(r.files_changed, f::Count(j, "files_changed"));
  OB_ASSIGN_OR_RETURN(r.files_deleted, f::Count(j, "files_deleted"));
  OB_ASSIGN_OR_RETURN(r.bytes_new, f::Count(j, "bytes_new"));
  OB_ASSIGN_OR_RETURN(r.bytes_new_incompressible, f::Count(j, "bytes_new_incompressible"));
  return r;
}

Status JobHistory::Save(const JobRecord& r) {
  json j = JobRecordToJson(r);
  j["version"] = kJobRecordVersion;
  OB_RETURN_IF_ERROR(env_.CreateDirs(dir_, true));
  return env_.WriteFileAtomic(PathOf(r),
                              AsBytes(j.dump(2, ' ', false, json::error_handler_t::replace)), true);
}

Result<JobRecord> JobHistory::Start(const std::string& type) {
  JobRecord r;
  r.id = ToHex(crypto::RandomBytes(8));
  r.type = type;
  r.start_ns = NowNs();
  r.pid = env_.ProcessId();
  OB_RETURN_IF_ERROR(Save(r));
  return r;
}

Status JobHistory::Finish(JobRecord& r) {
  r.end_ns = NowNs();
  r.pid = 0;
  return Save(r);
}

Result<std::vector<JobRecord>> JobHistory::List() {
  std::vector<JobRecord> jobs;
  if (!env_.Exists(dir_)) return jobs;
  OB_ASSIGN_OR_RETURN(auto entries, env_.ListDir(dir_));
  for (const auto& e : entries) {
    if (!e.name.ends_with(".json") || e.name.starts_with(".")) continue;
    OB_ASSIGN_OR_RETURN(Bytes data, env_.ReadFile(dir_ + "/" + e.name));
    json j = json::parse(data.begin(), data.end(), nullptr, false);
    if (!j.is_object() || j.value("version", 0) != kJobRecordVersion) continue;
    Result<JobRecord> parsed = JobRecordFromJson(j);
    if (!parsed.ok()) continue;  // not a record this build can read, as another version
    JobRecord r = std::move(parsed).value();
    if (r.state == JobState::kInProgress && !env_.ProcessAlive(r.pid)) {
      r.state = JobState::kFailed;
      r.error = "interrupted: the process running the job ended before it finished";
    }
    jobs.push_back(std::move(r));
  }
  std::sort(jobs.begin(), jobs.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.start_ns > b.start_ns; });
  return jobs;
}

Result<JobRecord> JobHistory::Find(const std::string& id_or_prefix) {
  if (id_or_prefix.size() < 4) return InvalidArgument("a job id needs at least 4 characters");
  OB_ASSIGN_OR_RETURN(auto jobs, List());
  const JobRecord* found = nullptr;
  for (const auto& j : jobs) {
    if (!j.id.starts_with(id_or_prefix)) continue;
    if (found) return InvalidArgument("job id '" + id_or_prefix + "' is ambiguous");
    found = &j;
  }
  if (!found) return NotFound("no job '" + id_or_prefix + "'");
  return *found;
}

Status JobHistory::RequestCancel(const std::string& id_or_prefix) {
  OB_ASSIGN_OR_RETURN(JobRecord job, Find(id_or_prefix));
  if (job.state != JobState::kInProgress) {
    return InvalidArgument("job " + job.id + " is not running (" + JobStateName(job.state) + ")");
  }
  return env_.WriteFileAtomic(dir_ + "/" + job.id + ".cancel", AsBytes(std::string("stop\n")),
                              true);
}

bool JobHistory::CancelRequested(const std::string& id) {
  return env_.Exists(dir_ + "/" + id + ".cancel");
}

void JobHistory::ClearCancelRequest(const std::string& id) {
  if (CancelRequested(id)) (void)env_.RemoveFile(dir_ + "/" + id + ".cancel");
}

JobStopWatcher::JobStopWatcher(JobHistory& history, std::string job_id)
    : history_(history), job_id_(std::move(job_id)), thread_([this] { Watch(); }) {}

JobStopWatcher::~JobStopWatcher() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void JobStopWatcher::Watch() {
  std::unique_lock lock(mu_);
  while (!done_) {
    if (!job_id_.empty() && history_.CancelRequested(job_id_)) {
      stop_requested_ = true;
      return;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(250));
  }
}

std::string WriteFailedFilesLog(platform::Env& env, const std::string& state_dir,
                                const std::string& log_name, const std::string& job,
                                const std::vector<FailedFile>& files) {
  if (files.empty()) return "";
  std::string dir = state_dir + "/temp";
  std::string path = dir + "/" + log_name + "-" + job + ".txt";
  std::string text;
  for (const auto& f : files) {
    std::string code = f.os_error == os_error::kNone ? "-" : os_error::Format(f.os_error);
    text += code + "\t" + f.path + "\t" + f.error + "\n";
  }
  if (!env.CreateDirs(dir, true).ok()) return "";
  if (!env.WriteFileAtomic(path, AsBytes(text), true).ok()) return "";
  return path;
}

Result<std::vector<FailedFileLine>> ReadFailedFilesLog(platform::Env& env,
                                                       const std::string& path) {
  OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(path));
  std::string text(AsString(data));
  std::vector<FailedFileLine> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    // The code has no tab and the message none either (it comes last, but
    // a path may hold tabs): split at the first and the last tab.
    size_t first = line.find('\t'), last = line.rfind('\t');
    if (first == std::string::npos || first == last) continue;
    lines.push_back(
        {line.substr(0, first), line.substr(first + 1, last - first - 1), line.substr(last + 1)});
  }
  return lines;
}

}  // namespace obagent::engine
