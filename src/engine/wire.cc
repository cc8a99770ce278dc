// The JSON codecs of engine/wire.h: errors, the running job and the
// machine settings.
#include "obagent/engine/wire.h"

#include "engine/json_fields.h"
#include "obagent/bytes.h"

namespace obagent::engine {

using nlohmann::json;

json StatusToJson(const Status& status) {
  return {{"ok", false},
          {"code", std::string(ErrorCodeName(status.code()))},
          {"error_id", std::string(CatalogueId(status.code()))},
          {"message", status.ToString()},
          {"detail", status.detail()},
          {"explanation", std::string(CatalogueExplanation(status.code()))},
          {"action", std::string(CatalogueAction(status.code()))},
          {"os_error", os_error::Format(status.os_error())}};
}

namespace {

Result<uint32_t> ParseOsError(const std::string& text) {
  if (text.empty()) return uint32_t{os_error::kNone};
  if (text.size() != 10 || !text.starts_with("0x")) {
    return InvalidArgument("\"os_error\" must be an HRESULT like 0x80070005, not '" + text + "'");
  }
  uint32_t value = 0;
  for (char c : text.substr(2)) {
    int digit = HexDigitValue(c);
    if (digit < 0) return InvalidArgument("\"os_error\" '" + text + "' is not hexadecimal");
    value = value << 4 | static_cast<uint32_t>(digit);
  }
  return value;
}

}  // namespace

Status StatusFromJson(const json& j, Status* error) {
  if (!j.is_object()) return InvalidArgument("an error answer must be a JSON object");
  if (auto ok = j.find("ok"); ok != j.end() && !(ok->is_boolean() && !ok->get<bool>())) {
    return InvalidArgument("an error answer has \"ok\": false");
  }
  auto code = j.find("code");
  if (code == j.end() || !code->is_string()) {
    return InvalidArgument("an error answer needs its \"code\" by name");
  }
  OB_ASSIGN_OR_RETURN(std::string detail, json_fields::Text(j, "detail"));
  OB_ASSIGN_OR_RETURN(std::string message, json_fields::Text(j, "message"));
  OB_ASSIGN_OR_RETURN(std::string os_text, json_fields::Text(j, "os_error"));
  OB_ASSIGN_OR_RETURN(uint32_t os, ParseOsError(os_text));
  std::optional<ErrorCode> known = ErrorCodeFromName(code->get<std::string>());
  if (known == ErrorCode::kOk) return InvalidArgument("an error answer cannot have code \"Ok\"");
  // A newer engine's code: its words are all this build can show.
  *error = known ? Status(*known, detail, os)
                 : Status(ErrorCode::kInternal, detail.empty() ? message : detail, os);
  return Status::Ok();
}

json RunningJobToJson(const RunningJob& running) {
  return {{"job", JobRecordToJson(running.record)},
          {"trigger", running.trigger},
          {"progress", ProgressToJson(running.progress)}};
}

Result<RunningJob> RunningJobFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("a running job must be a JSON object");
  RunningJob running;
  auto job = j.find("job");
  if (job == j.end()) return InvalidArgument("a running job needs its \"job\" record");
  Result<JobRecord> record = JobRecordFromJson(*job);
  if (!record.ok()) return record.status().WithContext("the running job's record");
  running.record = std::move(record).value();
  OB_ASSIGN_OR_RETURN(running.trigger, json_fields::Text(j, "trigger"));
  if (auto p = j.find("progress"); p != j.end()) {
    Result<Progress> progress = ProgressFromJson(*p);
    if (!progress.ok()) return progress.status().WithContext("the running job's progress");
    running.progress = *progress;
  }
  return running;
}

json MachineSettingsToJson(const MachineSettings& s) {
  const BandwidthThrottle& t = s.throttle;
  json days = json::array();
  for (int d = 0; d < 7; ++d) {
    if (t.work_days & (1u << d)) days.push_back(d);
  }
  return {{"throttle",
           {{"enabled", t.enabled},
            {"work_days", days},
            {"work_start", FormatHourMinute(t.work_start_minute)},
            {"work_end", FormatHourMinute(t.work_end_minute)},
            {"work_hour_bytes_per_second", t.work_bytes_per_second},
            {"non_work_hour_bytes_per_second", t.non_work_bytes_per_second}}},
          {"proxy",
           {{"server", s.proxy.url},
            {"username", s.proxy.user},
            {"password_set", !s.proxy.password.empty()}}},
          {"scratch_location", s.scratch_dir}};
}

namespace {

Status ThrottleFromJson(const json& t, BandwidthThrottle& throttle) {
  namespace f = json_fields;
  if (!t.is_object()) return InvalidArgument("\"throttle\" must be an object");
  OB_ASSIGN_OR_RETURN(throttle.enabled, f::Bool(t, "enabled", throttle.enabled));
  if (const json* days = f::Find(t, "work_days")) {
    if (!days->is_array()) return InvalidArgument("\"work_days\" must be a list of days 0..6");
    uint8_t mask = 0;
    for (const json& d : *days) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > 6) {
        return InvalidArgument("work day " + d.dump() + ": not 0..6 (0 = Sunday)");
      }
      mask |= static_cast<uint8_t>(1u << d.get<int>());
    }
    throttle.work_days = mask;
  }
  for (auto [key, field] : {std::pair{"work_start", &throttle.work_start_minute},
                            std::pair{"work_end", &throttle.work_end_minute}}) {
    OB_ASSIGN_OR_RETURN(std::string text, f::Text(t, key));
    if (text.empty()) continue;
    Result<int> minutes = ParseHourMinute(text);
    if (!minutes.ok()) return minutes.status().WithContext(key);
    *field = *minutes;
  }
  for (auto [key, field] :
       {std::pair{"work_hour_bytes_per_second", &throttle.work_bytes_per_second},
        std::pair{"non_work_hour_bytes_per_second", &throttle.non_work_bytes_per_second}}) {
    OB_ASSIGN_OR_RETURN(*field, f::Count(t, key, *field));
  }
  return Status::Ok();
}

Status ProxyFromJson(const json& p, ProxySetting& proxy) {
  namespace f = json_fields;
  if (!p.is_object()) return InvalidArgument("\"proxy\" must be {server, username, password}");
  OB_ASSIGN_OR_RETURN(proxy.url, f::Text(p, "server", proxy.url));
  OB_ASSIGN_OR_RETURN(proxy.user, f::Text(p, "username", proxy.user));
  // The answer never carries the password, so absent means "keep it".
  OB_ASSIGN_OR_RETURN(proxy.password, f::Text(p, "password", proxy.password));
  if (proxy.url.empty()) proxy = {};
  return Status::Ok();
}

}  // namespace

Result<MachineSettings> MachineSettingsFromJson(const json& j, const MachineSettings& current) {
  if (!j.is_object()) return InvalidArgument("the machine settings must be a JSON object");
  MachineSettings s = current;
  if (const json* t = json_fields::Find(j, "throttle"))
    OB_RETURN_IF_ERROR(ThrottleFromJson(*t, s.throttle));
  if (const json* p = json_fields::Find(j, "proxy")) OB_RETURN_IF_ERROR(ProxyFromJson(*p, s.proxy));
  OB_ASSIGN_OR_RETURN(std::string scratch, json_fields::Text(j, "scratch_location"));
  if (!scratch.empty()) s.scratch_dir = scratch;
  return s;
}

}  // namespace obagent::engine
