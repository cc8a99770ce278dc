// The console's JSON API (docs/console.md, "API"): each route calls the
// engine code obctl calls for the same thing.
#include <algorithm>
#include <functional>
#include <optional>

#include "api/console_internal.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/text.h"
#include "obagent/core/tree.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/browse.h"
#include "obagent/engine/critical_ops.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/machine_settings.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/wire.h"

namespace obagent::api::console {

using nlohmann::json;

namespace {

constexpr size_t kMaxSearchResults = 1000;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-23": the local date of a time (the vault view counts points per
// day as the user's calendar shows them). Every time the API sends is UTC
// (text::FormatIsoUtc); the browser shows it in local time.
std::string LocalDate(int64_t unix_seconds) {
  int offset = engine::LocalUtcOffsetMinutes(unix_seconds);
  return text::FormatIsoUtc(unix_seconds + int64_t{offset} * 60).substr(0, 10);
}

// The path of `name` in folder `dir` ("/" + "a" = "/a", "C:/" + "a" = "C:/a").
std::string ChildPath(const std::string& dir, const std::string& name) {
  return dir.ends_with('/') ? dir + name : dir + "/" + name;
}

// Body fields; a field of the wrong type is a 400 naming it.
struct Body {
  const json& j;

  Result<std::string> String(const char* key, bool required) const {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) return InvalidArgument(std::string("\"") + key + "\" is required");
      return std::string();
    }
    if (!j[key].is_string()) return InvalidArgument(std::string("\"") + key + "\" must be text");
    return j[key].get<std::string>();
  }
  Result<bool> Bool(const char* key, bool fallback) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) {
      return InvalidArgument(std::string("\"") + key + "\" must be true or false");
    }
    return j[key].get<bool>();
  }
  Result<int64_t> Int(const json& parent, const char* key, int64_t fallback) const {
    if (!parent.contains(key) || parent[key].is_null()) return fallback;
    if (!parent[key].is_number_integer()) {
      return InvalidArgument(std::string("\"") + key + "\" must be a whole number");
    }
    return parent[key].get<int64_t>();
  }
};

Result<json> ParseBody(const Request& request) {
  OB_ASSIGN_OR_RETURN(json body,
                      bounded_json::Parse(request.body, kJsonLimits, "the request body"));
  if (!body.is_object()) return InvalidArgument("the request body must be a JSON object");
  return body;
}

// A secret the engine reads from a file (a vault-credential file): written
// owner only into the state folder, removed when this goes.
class TempSecretFile {
 public:
  TempSecretFile(platform::Env& env, std::string path) : env_(env), path_(std::move(path)) {}
  ~TempSecretFile() { (void)env_.RemoveFile(path_); }
  const std::string& path() const { return path_; }

 private:
  platform::Env& env_;
  std::string path_;
};

Result<std::unique_ptr<TempSecretFile>> WriteTempSecret(RouteContext& c, const std::string& text) {
  OB_RETURN_IF_ERROR(c.env.CreateDirs(c.options.state_dir, true));
  auto file = std::make_unique<TempSecretFile>(
      c.env, c.options.state_dir + "/console-upload-" + ToHex(crypto::RandomBytes(8)) + ".tmp");
  OB_RETURN_IF_ERROR(c.env.WriteFileAtomic(file->path(), AsBytes(text), true));
  return file;
}

// A copy of the passphrase where the user asked for one, owner only.
Status WritePassphraseCopy(RouteContext& c, const std::string& path, const std::string& pass) {
  if (path.empty()) return Status::Ok();
  Status st = c.env.WriteFileAtomic(path, AsBytes(pass + "\n"), true);
  return st.WithContext("the passphrase copy at " + path + " was not written");
}

json PolicyToJson(const engine::Policy& p) {
  json specs = json::array();
  for (const auto& s : p.specs) {
    specs.push_back({{"path", s.path}, {"exclude", s.exclude}, {"recursive", s.recursive}});
  }
  auto schedule = [](const engine::Schedule& s) {
    json times = json::array();
    for (int m : s.minutes_of_day) times.push_back(engine::FormatTimeOfDay(m));
    return json{{"days", s.days}, {"times", times}};
  };
  json drill = nullptr;
  if (p.recovery_test) {
    drill = schedule(p.recovery_test->schedule);
    drill["sample_files"] = p.recovery_test->sample_files;
    drill["sample_percent"] = p.recovery_test->sample_percent;
  }
  return {{"specs", specs},
          {"schedule", schedule(p.schedule)},
          {"recovery_test", drill},
          {"retention",
           {{"daily_days", p.daily_days},
            {"weekly_weeks", p.weekly_weeks},
            {"monthly_months", p.monthly_months},
            {"yearly_years", p.yearly_years}}},
          {"paused", p.paused}};
}

Result<engine::Schedule> ScheduleFromJson(const json& schedule, const std::string& what) {
  if (!schedule.is_object() || !schedule.contains("days") || !schedule["days"].is_array() ||
      !schedule.contains("times") || !schedule["times"].is_array()) {
    return InvalidArgument("\"" + what + "\" must be {days:[0..6], times:[\"HH:MM\"]}");
  }
  engine::Schedule s;
  for (const json& d : schedule["days"]) {
    if (!d.is_number_integer()) return InvalidArgument(what + " day " + d.dump() + ": not 0..6");
    s.days.push_back(d.get<int>());
  }
  for (const json& t : schedule["times"]) {
    if (!t.is_string()) return InvalidArgument(what + " time " + t.dump() + ": not \"HH:MM\"");
    OB_ASSIGN_OR_RETURN(int minutes, engine::ParseTimeOfDay(t.get<std::string>()));
    s.minutes_of_day.push_back(minutes);
  }
  return s;
}

// The policy's restore drill: {days, times, sample_files, sample_percent}.
Result<engine::RecoveryTestPolicy> RecoveryTestFromJson(const json& j) {
  engine::RecoveryTestPolicy drill;
  OB_ASSIGN_OR_RETURN(drill.schedule, ScheduleFromJson(j, "recovery_test"));
  Body body{j};
  OB_ASSIGN_OR_RETURN(int64_t files, body.Int(j, "sample_files", 100));
  if (files < 1) return InvalidArgument("recovery_test sample_files must be at least 1");
  drill.sample_files = static_cast<uint64_t>(files);
  if (j.contains("sample_percent")) {
    if (!j["sample_percent"].is_number()) {
      return InvalidArgument("recovery_test sample_percent must be a number");
    }
    drill.sample_percent = j["sample_percent"].get<double>();
  }
  return drill;
}

// `stored`: the policy saved now, whose drill a body without
// "recovery_test" keeps (the policy editor does not show it).
Result<engine::Policy> PolicyFromJson(const json& j, const std::optional<engine::Policy>& stored) {
  Body body{j};
  engine::Policy p;
  if (stored) p.recovery_test = stored->recovery_test;
  if (j.contains("recovery_test")) {
    p.recovery_test.reset();
    if (!j["recovery_test"].is_null()) {
      OB_ASSIGN_OR_RETURN(p.recovery_test, RecoveryTestFromJson(j["recovery_test"]));
    }
  }
  if (!j.contains("specs") || !j["specs"].is_array()) {
    return InvalidArgument("\"specs\" must be a list of {path, exclude, recursive}");
  }
  for (const json& s : j["specs"]) {
    if (!s.is_object() || !s.contains("path") || !s["path"].is_string()) {
      return InvalidArgument("each of \"specs\" needs a \"path\"");
    }
    Body spec{s};
    engine::FileSpec f;
    f.path = s["path"].get<std::string>();
    OB_ASSIGN_OR_RETURN(f.exclude, spec.Bool("exclude", false));
    OB_ASSIGN_OR_RETURN(f.recursive, spec.Bool("recursive", true));
    p.specs.push_back(f);
  }
  if (!j.contains("schedule") || !j["schedule"].is_object()) {
    return InvalidArgument("\"schedule\" must be {days, times}");
  }
  OB_ASSIGN_OR_RETURN(p.schedule, ScheduleFromJson(j["schedule"], "schedule"));
  if (j.contains("retention")) {
    const json& r = j["retention"];
    if (!r.is_object()) return InvalidArgument("\"retention\" must be an object");
    OB_ASSIGN_OR_RETURN(int64_t daily, body.Int(r, "daily_days", p.daily_days));
    OB_ASSIGN_OR_RETURN(int64_t weekly, body.Int(r, "weekly_weeks", p.weekly_weeks));
    OB_ASSIGN_OR_RETURN(int64_t monthly, body.Int(r, "monthly_months", p.monthly_months));
    OB_ASSIGN_OR_RETURN(int64_t yearly, body.Int(r, "yearly_years", p.yearly_years));
    for (int64_t v : {daily, weekly, monthly, yearly}) {
      if (v < 0 || v > 100000) return InvalidArgument("retention " + std::to_string(v));
    }
    p.daily_days = static_cast<int>(daily);
    p.weekly_weeks = static_cast<int>(weekly);
    p.monthly_months = static_cast<int>(monthly);
    p.yearly_years = static_cast<int>(yearly);
  }
  OB_ASSIGN_OR_RETURN(p.paused, body.Bool("paused", false));
  return p;
}

json SettingsJson(const engine::MachineSettings& s) {
  json j = engine::MachineSettingsToJson(s);
  j["ok"] = true;
  return j;
}

// The recovery points a request reads: this machine's (opened for the
// request) or a source of the session (opened at POST /api/sources).
class PointsAccess {
 public:
  static Result<PointsAccess> Open(RouteContext& c, const std::string& source, bool index) {
    PointsAccess access;
    if (!source.empty()) {
      std::lock_guard lock(c.session.mu);
      auto it = c.session.sources.find(source);
      if (it == c.session.sources.end()) {
        return NotFound("no recovery source '" + source + "' in this session");
      }
      access.source_ = it->second;
      return access;
    }
    OB_ASSIGN_OR_RETURN(engine::OpenedAgent agent,
                        engine::OpenAgent(c.env, c.options.state_dir, std::nullopt));
    access.own_ = std::make_shared<engine::OpenedAgent>(std::move(agent));
    if (index) OB_RETURN_IF_ERROR(access.own_->repo->LoadIndex());
    return access;
  }
  engine::Repository& repo() { return source_ ? *source_->agent->repo : *own_->repo; }
  std::optional<engine::RecoverySource> source() const { return source_; }

 private:
  std::shared_ptr<engine::OpenedAgent> own_;
  std::optional<engine::RecoverySource> source_;
};

std::string QueryValue(const Request& r, const std::string& key, std::string fallback = "") {
  auto it = r.query.find(key);
  return it == r.query.end() ? fallback : it->second;
}

// --- routes -----------------------------------------------------------------

Response Overview(RouteContext& c) {
  json j = {{"ok", true}};
  auto config = engine::LoadAgentConfig(c.env, c.options.state_dir);
  j["registered"] = config.ok();
  j["machine_name"] = config.ok() ? json(config->machine_name) : json(nullptr);
  j["vault"] = config.ok() ? json(config->VaultAddress()) : json(nullptr);
  j["vault_name"] = config.ok() ? json(config->vault_name) : json(nullptr);
  j["scratch_dir"] = config.ok() ? json(config->scratch_dir) : json(nullptr);
  auto policy = engine::LoadPolicy(c.env, c.options.state_dir);
  j["policy"] = policy.ok() ? PolicyToJson(*policy) : json(nullptr);
  j["scheduler"] = c.engine.SchedulerKind();
  j["version"] = OBAGENT_VERSION;
  j["next_run"] = nullptr;
  if (policy.ok() && !policy->paused) {
    int64_t now = NowUnix();
    if (auto next = engine::NextRun(policy->schedule, now, engine::LocalUtcOffsetMinutes(now))) {
      j["next_run"] = text::FormatIsoUtc(*next);
    }
  }
  j["running"] = nullptr;
  if (auto running = c.engine.Running()) {
    j["running"] = engine::RunningJobToJson(*running);
  }
  j["last_job"] = nullptr;
  if (auto jobs = c.engine.ListJobs(); jobs.ok()) {
    for (const auto& job : *jobs) {
      if (job.state == engine::JobState::kInProgress) continue;
      j["last_job"] = engine::JobRecordToJson(job);
      break;
    }
  }
  return JsonResponse(j);
}

Response Errors() {
  json list = json::array();
  for (ErrorCode code : CatalogueCodes()) {
    list.push_back({{"id", std::string(CatalogueId(code))},
                    {"message", std::string(CatalogueMessage(code))},
                    {"explanation", std::string(CatalogueExplanation(code))},
                    {"action", std::string(CatalogueAction(code))}});
  }
  return JsonResponse(list);
}

Response Register(RouteContext& c, const json& j) {
  Body body{j};
  auto credentials = body.String("credentials", false);
  auto vault = body.String("vault", false);
  auto passphrase = body.String("passphrase", true);
  auto scratch = body.String("scratch_dir", false);
  auto proxy = body.String("proxy", false);
  auto proxy_user = body.String("proxy_user", false);
  auto proxy_password = body.String("proxy_password", false);
  auto copy_path = body.String("passphrase_copy_path", false);
  for (const auto* r : {&credentials, &vault, &passphrase, &scratch, &proxy, &proxy_user,
                        &proxy_password, &copy_path}) {
    if (!r->ok()) return ErrorResponse(r->status());
  }
  if (credentials->empty() == vault->empty()) {
    return ErrorResponse(
        InvalidArgument("give either \"credentials\" (the vault-credential file's text) or "
                        "\"vault\" (a local vault folder)"));
  }
  if (Status st = keys::ValidatePassphrase(*passphrase); !st.ok()) return ErrorResponse(st);
  engine::RegisterOptions options;
  options.vault = *vault;
  options.passphrase = *passphrase;
  options.scratch_dir = *scratch;
  options.proxy = *proxy;
  options.proxy_user = *proxy_user;
  options.proxy_password = *proxy_password;
  std::unique_ptr<TempSecretFile> credentials_file;
  if (!credentials->empty()) {
    auto file = WriteTempSecret(c, *credentials);
    if (!file.ok()) return ErrorResponse(file.status());
    credentials_file = std::move(file).value();
    options.credentials_file = credentials_file->path();
  }
  auto config = engine::Register(c.env, c.options.state_dir, options);
  if (!config.ok()) return ErrorResponse(config.status());
  if (Status st = WritePassphraseCopy(c, *copy_path, *passphrase); !st.ok()) {
    return ErrorResponse(st);
  }
  return JsonResponse(
      {{"ok", true}, {"machine_name", config->machine_name}, {"vault_name", config->vault_name}});
}

Response Files(RouteContext& c, const Request& r) {
  std::string path = QueryValue(r, "path");
  json entries = json::array();
  if (path.empty()) {
    for (const std::string& root : c.env.FileSystemRoots()) {
      entries.push_back({{"name", root}, {"path", root}, {"type", "dir"}, {"size", 0}});
    }
    return JsonResponse({{"ok", true}, {"path", ""}, {"entries", entries}});
  }
  auto list = c.env.ListDir(path);
  if (!list.ok()) return ErrorResponse(list.status());
  std::vector<json> dirs, files;
  for (const auto& entry : *list) {
    std::string child = ChildPath(path, entry.name);
    uint64_t size = 0;
    if (entry.kind == platform::FileKind::kRegular) {
      if (auto info = c.env.Lstat(child); info.ok()) size = info->size;
    }
    const char* type = entry.kind == platform::FileKind::kDirectory ? "dir"
                       : entry.kind == platform::FileKind::kSymlink ? "symlink"
                                                                    : "file";
    json e = {{"name", entry.name}, {"path", child}, {"type", type}, {"size", size}};
    (entry.kind == platform::FileKind::kDirectory ? dirs : files).push_back(std::move(e));
  }
  auto by_name = [](const json& a, const json& b) { return a["name"] < b["name"]; };
  std::sort(dirs.begin(), dirs.end(), by_name);
  std::sort(files.begin(), files.end(), by_name);
  for (auto& e : dirs) entries.push_back(std::move(e));
  for (auto& e : files) entries.push_back(std::move(e));
  return JsonResponse({{"ok", true}, {"path", path}, {"entries", entries}});
}

Response GetPolicy(RouteContext& c) {
  auto policy = engine::LoadPolicy(c.env, c.options.state_dir);
  if (!policy.ok()) return ErrorResponse(policy.status());
  json j = PolicyToJson(*policy);
  j["ok"] = true;
  return JsonResponse(j);
}

Response PutPolicy(RouteContext& c, const json& j) {
  std::optional<engine::Policy> stored;
  if (auto old = engine::LoadPolicy(c.env, c.options.state_dir); old.ok()) stored = *old;
  auto policy = PolicyFromJson(j, stored);
  if (!policy.ok()) return ErrorResponse(policy.status());
  policy->modified = NowUnix();
  if (Status st = engine::ValidatePolicy(*policy); !st.ok()) return ErrorResponse(400, st);
  // A new or changed retention goes to the vault first (the engine carries
  // the Security PIN, "security_pin", which a reduction needs).
  if (!stored || stored->Retention().daily_days != policy->daily_days ||
      stored->weekly_weeks != policy->weekly_weeks ||
      stored->monthly_months != policy->monthly_months ||
      stored->yearly_years != policy->yearly_years) {
    auto pin = Body{j}.String("security_pin", false);
    if (!pin.ok()) return ErrorResponse(pin.status());
    Status st = engine::RegisterRetention(c.env, c.options.state_dir, policy->Retention(), *pin);
    if (!st.ok()) return ErrorResponse(st);
  }
  if (Status st = engine::SavePolicy(c.env, c.options.state_dir, *policy); !st.ok()) {
    return ErrorResponse(st);
  }
  return GetPolicy(c);
}

Response JobDetail(RouteContext& c, const std::string& id) {
  auto job = c.engine.FindJob(id);
  if (!job.ok()) return ErrorResponse(job.status());
  json failed = json::array();
  if (!job->failed_files_log.empty()) {
    if (auto lines = engine::ReadFailedFilesLog(c.env, job->failed_files_log); lines.ok()) {
      for (const auto& f : *lines) {
        failed.push_back({{"os_error", f.os_error}, {"path", f.path}, {"message", f.message}});
      }
    }
  }
  return JsonResponse(
      {{"ok", true}, {"job", engine::JobRecordToJson(*job)}, {"failed_files", failed}});
}

Response AddSource(RouteContext& c, const json& j) {
  Body body{j};
  auto credentials = body.String("credentials", true);
  auto machine = body.String("machine", true);
  auto passphrase = body.String("passphrase", true);
  for (const auto* r : {&credentials, &machine, &passphrase}) {
    if (!r->ok()) return ErrorResponse(r->status());
  }
  auto file = WriteTempSecret(c, *credentials);
  if (!file.ok()) return ErrorResponse(file.status());
  auto agent =
      engine::OpenSourceMachine(c.env, c.options.state_dir, (*file)->path(), *machine, *passphrase);
  if (!agent.ok()) return ErrorResponse(agent.status());
  auto shared = std::make_shared<engine::OpenedAgent>(std::move(agent).value());
  if (Status st = shared->repo->LoadIndex(); !st.ok()) return ErrorResponse(st);
  std::string id = ToHex(crypto::RandomBytes(8));
  std::lock_guard lock(c.session.mu);
  c.session.sources[id] = engine::RecoverySource{shared};
  return JsonResponse({{"ok", true}, {"source", id}});
}

Response Points(RouteContext& c, const Request& r) {
  auto access = PointsAccess::Open(c, QueryValue(r, "source"), false);
  if (!access.ok()) return ErrorResponse(access.status());
  std::vector<engine::DamagedObject> damaged;
  auto points = access->repo().ListRecoveryPoints(&damaged);
  if (!points.ok()) return ErrorResponse(points.status());
  json unreadable = json::array();
  for (const auto& d : damaged) unreadable.push_back({{"id", d.name}, {"problem", d.problem}});
  json list = json::array();
  for (const auto& p : *points) {
    const auto& s = p.point.stats;
    list.push_back({{"id", p.id},
                    {"time", text::FormatIsoUtcNs(p.point.time_ns)},
                    {"time_ns", p.point.time_ns},
                    {"files", s.files},
                    {"bytes", s.bytes_scanned},
                    {"bytes_uploaded", s.bytes_uploaded},
                    {"paths", p.point.paths}});
  }
  // A damaged point is named, never dropped silently: the others stay usable.
  return JsonResponse({{"ok", true}, {"points", list}, {"damaged", unreadable}});
}

json ItemJson(const tree::Node& n, const std::string& path) {
  return {{"name", n.name},
          {"path", path},
          {"type", tree::NodeTypeName(n.type)},
          {"size", n.size},
          {"mtime", text::FormatIsoUtcNs(n.mtime_ns)}};
}

Response Items(RouteContext& c, const Request& r, const std::string& point_id) {
  auto access = PointsAccess::Open(c, QueryValue(r, "source"), true);
  if (!access.ok()) return ErrorResponse(access.status());
  std::string path = QueryValue(r, "path", "/");
  auto point = access->repo().FindRecoveryPoint(point_id);
  if (!point.ok()) return ErrorResponse(point.status());
  auto node = engine::FindNode(access->repo(), point->point.tree, path);
  if (!node.ok()) return ErrorResponse(node.status());
  json entries = json::array();
  if (node->type == tree::NodeType::kDirectory && node->subtree) {
    auto t = access->repo().ReadTree(*node->subtree);
    if (!t.ok()) return ErrorResponse(t.status());
    for (const auto& n : t->nodes) entries.push_back(ItemJson(n, ChildPath(path, n.name)));
  } else {
    entries.push_back(ItemJson(*node, path));
  }
  return JsonResponse({{"ok", true}, {"path", path}, {"entries", entries}});
}

Response Search(RouteContext& c, const Request& r, const std::string& point_id) {
  std::string pattern = QueryValue(r, "pattern");
  if (pattern.empty()) return ErrorResponse(InvalidArgument("give a name \"pattern\" (*.txt)"));
  auto access = PointsAccess::Open(c, QueryValue(r, "source"), true);
  if (!access.ok()) return ErrorResponse(access.status());
  auto point = access->repo().FindRecoveryPoint(point_id);
  if (!point.ok()) return ErrorResponse(point.status());
  auto found = engine::SearchPoint(access->repo(), point->point.tree, pattern, kMaxSearchResults);
  if (!found.ok()) return ErrorResponse(found.status());
  json entries = json::array();
  for (const engine::FoundItem& item : found->items) {
    json e = ItemJson(item.node, item.path);
    e.erase("name");
    entries.push_back(std::move(e));
  }
  bool truncated = found->truncated;
  return JsonResponse({{"ok", true}, {"entries", entries}, {"truncated", truncated}});
}

// Where each selected item will land (Recover Data's confirmation): the
// engine's rule, so the page never works it out itself.
Response RecoverDestinations(RouteContext& c, const json& j) {
  Body body{j};
  auto target = body.String("target", false);
  if (!target.ok()) return ErrorResponse(target.status());
  if (!j.contains("items") || !j["items"].is_array()) {
    return ErrorResponse(InvalidArgument("\"items\" must list the paths to recover"));
  }
  std::vector<std::string> items;
  for (const json& item : j["items"]) {
    if (!item.is_string()) return ErrorResponse(InvalidArgument("\"items\" must be paths"));
    items.push_back(item.get<std::string>());
  }
  std::optional<std::string> to;
  if (!target->empty()) {
    auto abs = c.env.AbsolutePath(*target);
    if (!abs.ok()) return ErrorResponse(abs.status());
    to = *abs;
  }
  json list = json::array();
  for (const std::string& item : engine::EffectiveItems(items)) {
    list.push_back({{"item", item}, {"path", engine::RestoreDestination(to, item)}});
  }
  return JsonResponse({{"ok", true}, {"destinations", list}});
}

Response Recover(RouteContext& c, const json& j) {
  Body body{j};
  auto source = body.String("source", false);
  auto point = body.String("point", true);
  auto target = body.String("target", false);
  auto conflict = body.String("conflict", false);
  auto permissions = body.Bool("restore_permissions", true);
  for (const auto* r : {&source, &point, &target, &conflict}) {
    if (!r->ok()) return ErrorResponse(r->status());
  }
  if (!permissions.ok()) return ErrorResponse(permissions.status());
  engine::RestoreOptions options;
  options.point = *point;
  options.restore_permissions = *permissions;
  if (!j.contains("items") || !j["items"].is_array() || j["items"].empty()) {
    return ErrorResponse(InvalidArgument("\"items\" must list the paths to recover"));
  }
  for (const json& item : j["items"]) {
    if (!item.is_string()) return ErrorResponse(InvalidArgument("\"items\" must be paths"));
    options.items.push_back(item.get<std::string>());
  }
  if (conflict->empty() || *conflict == "overwrite") {
    options.conflict = engine::ConflictPolicy::kOverwrite;
  } else if (*conflict == "copy") {
    options.conflict = engine::ConflictPolicy::kCreateCopy;
  } else if (*conflict == "skip") {
    options.conflict = engine::ConflictPolicy::kSkip;
  } else {
    return ErrorResponse(
        InvalidArgument("\"conflict\" must be overwrite, copy or skip, not '" + *conflict + "'"));
  }
  if (!target->empty()) {
    auto abs = c.env.AbsolutePath(*target);
    if (!abs.ok()) return ErrorResponse(abs.status());
    options.target = *abs;
  }
  std::optional<engine::RecoverySource> from;
  if (!source->empty()) {
    auto access = PointsAccess::Open(c, *source, true);
    if (!access.ok()) return ErrorResponse(access.status());
    from = access->source();
  }
  auto job = c.engine.StartRestore(std::move(options), from, "Console");
  if (!job.ok()) return ErrorResponse(job.status());
  return JsonResponse({{"ok", true}, {"job", engine::JobRecordToJson(*job)}});
}

Response Vault(RouteContext& c) {
  auto access = PointsAccess::Open(c, "", true);
  if (!access.ok()) return ErrorResponse(access.status());
  auto points = access->repo().ListRecoveryPoints();
  if (!points.ok()) return ErrorResponse(points.status());
  // Storage used: every blob the vault's index lists, as stored (compressed
  // and encrypted), so a prune shows here. The growth line adds up what each
  // point still in the vault uploaded when it was made.
  uint64_t storage = 0;
  for (const auto& [id, location] : access->repo().index().blobs()) storage += location.length;
  uint64_t uploaded = 0;
  json days = json::object();
  json growth = json::array();
  for (const auto& p : *points) {
    uploaded += p.point.stats.bytes_uploaded;
    std::string day = LocalDate(p.point.time_ns / 1000000000);
    days[day] = days.value(day, 0) + 1;
    growth.push_back({{"time", text::FormatIsoUtcNs(p.point.time_ns)}, {"stored_bytes", uploaded}});
  }
  return JsonResponse({{"ok", true},
                       {"storage_bytes", storage},
                       {"points", points->size()},
                       {"days", days},
                       {"growth", growth}});
}

Response GetSettings(RouteContext& c) {
  auto settings = engine::GetMachineSettings(c.env, c.options.state_dir);
  if (!settings.ok()) return ErrorResponse(settings.status());
  return JsonResponse(SettingsJson(*settings));
}

Response PutSettings(RouteContext& c, const json& j) {
  auto current = engine::GetMachineSettings(c.env, c.options.state_dir);
  if (!current.ok()) return ErrorResponse(current.status());
  auto settings = engine::MachineSettingsFromJson(j, *current);
  if (!settings.ok()) return ErrorResponse(settings.status());
  if (Status st = engine::ApplyMachineSettings(c.env, c.options.state_dir, *settings); !st.ok()) {
    return ErrorResponse(st);
  }
  return GetSettings(c);
}

Response Passphrase(RouteContext& c, const json& j) {
  Body body{j};
  auto passphrase = body.String("passphrase", true);
  auto copy_path = body.String("passphrase_copy_path", false);
  auto pin = body.String("security_pin", false);
  if (!passphrase.ok()) return ErrorResponse(passphrase.status());
  if (!copy_path.ok()) return ErrorResponse(copy_path.status());
  if (!pin.ok()) return ErrorResponse(pin.status());
  if (Status st = keys::ValidatePassphrase(*passphrase); !st.ok()) return ErrorResponse(st);
  if (Status st = engine::ChangePassphrase(c.env, c.options.state_dir, *passphrase, *pin);
      !st.ok()) {
    return ErrorResponse(st);
  }
  if (Status st = WritePassphraseCopy(c, *copy_path, *passphrase); !st.ok()) {
    return ErrorResponse(st);
  }
  return JsonResponse({{"ok", true}});
}

// Stop protection: {"delete_data": bool, "security_pin"}; with delete_data
// the vault soft-deletes the machine's data (the PIN), then the policy goes.
Response StopProtection(RouteContext& c, const json& j) {
  Body body{j};
  auto delete_data = body.Bool("delete_data", false);
  auto pin = body.String("security_pin", false);
  if (!delete_data.ok()) return ErrorResponse(delete_data.status());
  if (!pin.ok()) return ErrorResponse(pin.status());
  if (Status st = engine::StopProtection(c.env, c.options.state_dir, *delete_data, *pin);
      !st.ok()) {
    return ErrorResponse(st);
  }
  return JsonResponse({{"ok", true}, {"deleted_data", *delete_data}});
}

// "/api/jobs/ab12/stop" -> {"jobs", "ab12", "stop"}.
std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  path.remove_prefix(std::string_view("/api/").size());
  while (!path.empty()) {
    size_t slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

Response Route(RouteContext& c, const Request& r) {
  const std::string& m = r.method;
  std::vector<std::string> s = Segments(r.path);
  auto with_body = [&](const std::function<Response(const json&)>& handler) {
    auto body = ParseBody(r);
    if (!body.ok()) return ErrorResponse(body.status());
    return handler(*body);
  };
  size_t n = s.size();
  const std::string first = n ? s[0] : "";
  if (n == 1) {
    if (first == "status" && m == "GET") return Overview(c);
    if (first == "errors" && m == "GET") return Errors();
    if (first == "register" && m == "POST") {
      return with_body([&](const json& j) { return Register(c, j); });
    }
    if (first == "fs" && m == "GET") return Files(c, r);
    if (first == "policy" && m == "GET") return GetPolicy(c);
    if (first == "policy" && m == "PUT") {
      return with_body([&](const json& j) { return PutPolicy(c, j); });
    }
    if (first == "stop-protection" && m == "POST") {
      return with_body([&](const json& j) { return StopProtection(c, j); });
    }
    if (first == "backup" && m == "POST") {
      auto job = c.engine.StartPolicyBackup("BackupNow");
      if (!job.ok()) return ErrorResponse(job.status());
      return JsonResponse({{"ok", true}, {"job", engine::JobRecordToJson(*job)}});
    }
    if (first == "recovery-test" && m == "POST") {
      // The restore drill now, with the policy's sample (else 100 files).
      auto job = c.engine.StartRecoveryTest("Console");
      if (!job.ok()) return ErrorResponse(job.status());
      return JsonResponse({{"ok", true}, {"job", engine::JobRecordToJson(*job)}});
    }
    if (first == "jobs" && m == "GET") {
      auto jobs = c.engine.ListJobs();
      if (!jobs.ok()) return ErrorResponse(jobs.status());
      json list = json::array();
      for (const auto& job : *jobs) list.push_back(engine::JobRecordToJson(job));
      return JsonResponse(list);
    }
    if (first == "sources" && m == "POST") {
      return with_body([&](const json& j) { return AddSource(c, j); });
    }
    if (first == "points" && m == "GET") return Points(c, r);
    if (first == "recover" && m == "POST") {
      return with_body([&](const json& j) { return Recover(c, j); });
    }
    if (first == "vault" && m == "GET") return Vault(c);
    if (first == "settings" && m == "GET") return GetSettings(c);
    if (first == "settings" && m == "PUT") {
      return with_body([&](const json& j) { return PutSettings(c, j); });
    }
    if (first == "passphrase" && m == "POST") {
      return with_body([&](const json& j) { return Passphrase(c, j); });
    }
  }
  if (first == "recover" && n == 2 && s[1] == "destinations" && m == "POST") {
    return with_body([&](const json& j) { return RecoverDestinations(c, j); });
  }
  if (first == "jobs" && n == 2 && m == "GET") return JobDetail(c, s[1]);
  if (first == "jobs" && n == 3 && s[2] == "stop" && m == "POST") {
    if (Status st = c.engine.StopJob(s[1]); !st.ok()) return ErrorResponse(st);
    return JsonResponse({{"ok", true}});
  }
  if (first == "points" && n == 3 && s[2] == "items" && m == "GET") return Items(c, r, s[1]);
  if (first == "points" && n == 3 && s[2] == "search" && m == "GET") return Search(c, r, s[1]);
  return ErrorResponse(404, NotFound("no API " + m + " " + r.path));
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPathEscape:
    case ErrorCode::kPassphraseNotConfigured:
    case ErrorCode::kInvalidVaultCredentials:
    case ErrorCode::kActivationFailed:
    case ErrorCode::kMachineRenamed:
      return 400;
    case ErrorCode::kRetentionBelowMinimum:
      return 400;
    case ErrorCode::kCredentialDownloadFailed:
    case ErrorCode::kSecurityPinInvalid:
    case ErrorCode::kProtectedByRetentionFloor:
    case ErrorCode::kVaultImmutable:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kCancelled:
      return 409;
    case ErrorCode::kServiceUnreachable:
      return 502;
    case ErrorCode::kEngineNotRunning:
      return 503;
    default:
      return 500;
  }
}

Response JsonResponse(const json& body, int http_status) {
  Response r;
  r.status = http_status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response ErrorResponse(int http_status, const Status& status) {
  return JsonResponse(engine::StatusToJson(status), http_status);
}

Response ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status);
}

Response HandleApi(RouteContext& context, const Request& request) {
  try {
    return Route(context, request);
  } catch (const json::exception& e) {
    return ErrorResponse(InvalidArgument(std::string("malformed request: ") + e.what()));
  }
}

}  // namespace obagent::api::console
