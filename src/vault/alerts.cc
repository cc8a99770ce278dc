// vaultd's alerts: the stored records, collapsing, the delivery worker with
// its retries, and the rules that decide when vaultd raises (alerts.h).
#include "obagent/vault/alerts.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

#include "obagent/core/bounded_json.h"
#include "obagent/core/crypto.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

constexpr std::string_view kSuffix = ".json";
constexpr bounded_json::Limits kRecordLimits{1 << 20, 16};
constexpr bounded_json::Limits kDetailLimits{64 * 1024, 8};

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Retry times: a steady clock, not the alerts' (which tests stop).
int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string MsText(int64_t ms) { return ms > 0 ? FormatUtcTime(ms / 1000) : ""; }
// A time for the API: ISO 8601 UTC, null for none (docs/json.md).
json MsTime(int64_t ms) { return ms > 0 ? json(FormatUtcTime(ms / 1000)) : json(nullptr); }

json RecordToJson(const AlertRecord& a) {
  json delivery = json::object();
  for (const auto& [name, d] : a.delivery) {
    delivery[name] = {{"state", d.state},
                      {"attempts", d.attempts},
                      {"delivered_ms", d.delivered_ms},
                      {"last_error", d.last_error}};
  }
  return {{"version", 1},
          {"id", a.id},
          {"raised_ms", a.raised_ms},
          {"last_ms", a.last_ms},
          {"count", a.count},
          {"kind", a.kind},
          {"severity", a.severity},
          {"vault_id", a.vault_id},
          {"machine_id", a.machine_id},
          {"summary", a.summary},
          {"detail", a.detail_json},
          {"state", a.state},
          {"acknowledged_by", a.acknowledged_by},
          {"acknowledged_ms", a.acknowledged_ms},
          {"delivery", delivery}};
}

AlertRecord RecordFromJson(const json& j) {
  AlertRecord a;
  a.id = j.at("id").get<std::string>();
  a.raised_ms = j.at("raised_ms").get<int64_t>();
  a.last_ms = j.at("last_ms").get<int64_t>();
  a.count = j.at("count").get<int>();
  a.kind = j.at("kind").get<std::string>();
  a.severity = j.at("severity").get<std::string>();
  a.vault_id = j.at("vault_id").get<std::string>();
  a.machine_id = j.at("machine_id").get<std::string>();
  a.summary = j.at("summary").get<std::string>();
  a.detail_json = j.at("detail").get<std::string>();
  a.state = j.at("state").get<std::string>();
  a.acknowledged_by = j.at("acknowledged_by").get<std::string>();
  a.acknowledged_ms = j.at("acknowledged_ms").get<int64_t>();
  for (const auto& [name, d] : j.at("delivery").items()) {
    AlertDelivery out;
    out.state = d.at("state").get<std::string>();
    out.attempts = d.at("attempts").get<int>();
    out.delivered_ms = d.at("delivered_ms").get<int64_t>();
    out.last_error = d.at("last_error").get<std::string>();
    a.delivery[name] = std::move(out);
  }
  return a;
}

// One line: no control characters (a summary becomes a mail subject).
std::string OneLine(std::string_view text, size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return out;
}

}  // namespace

bool IsAlertKind(std::string_view kind) {
  for (std::string_view k :
       {alert_kind::kJobFailed, alert_kind::kJobWarning, alert_kind::kBackupMissed,
        alert_kind::kCriticalOperation, alert_kind::kPinUsed, alert_kind::kMassDeletion,
        alert_kind::kAnomaly}) {
    if (kind == k) return true;
  }
  return false;
}

bool IsAlertSeverity(std::string_view severity) {
  return severity == "critical" || severity == "warning" || severity == "info";
}

std::string AlertToJson(const AlertRecord& a) {
  json detail = json::object();
  if (auto parsed = bounded_json::Parse(a.detail_json, kDetailLimits); parsed.ok()) {
    detail = std::move(parsed).value();
  }
  json delivery = json::object();
  for (const auto& [name, d] : a.delivery) {
    delivery[name] = {{"state", d.state},
                      {"attempts", d.attempts},
                      {"delivered_at", MsTime(d.delivered_ms)},
                      {"last_error", d.last_error}};
  }
  json out = {{"id", a.id},
              {"kind", a.kind},
              {"severity", a.severity},
              {"vault_id", a.vault_id},
              {"machine_id", a.machine_id},
              {"summary", a.summary},
              {"details", detail},
              {"raised_at", MsTime(a.raised_ms)},
              {"last_at", MsTime(a.last_ms)},
              {"count", a.count},
              {"state", a.state},
              {"acknowledged_by", a.acknowledged_by},
              {"acknowledged_at", MsTime(a.acknowledged_ms)},
              {"delivery", delivery}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ----- AlertCenter

AlertCenter::AlertCenter(platform::Env& env, std::string dir, AlertCenterOptions options)
    : env_(env), dir_(std::move(dir)), options_(std::move(options)) {}

AlertCenter::~AlertCenter() { Stop(); }

Result<std::unique_ptr<AlertCenter>> AlertCenter::Open(platform::Env& env, const std::string& dir,
                                                       AlertCenterOptions options) {
  OB_RETURN_IF_ERROR(env.CreateDirs(dir, true).WithContext("creating the alerts folder"));
  std::unique_ptr<AlertCenter> center(new AlertCenter(env, dir, std::move(options)));
  OB_RETURN_IF_ERROR(center->Load());
  return center;
}

Status AlertCenter::Load() {
  OB_ASSIGN_OR_RETURN(std::vector<platform::DirEntry> entries, env_.ListDir(dir_));
  for (const platform::DirEntry& e : entries) {
    if (e.name.starts_with(".") || !e.name.ends_with(kSuffix)) continue;
    std::string path = dir_ + "/" + e.name;
    OB_ASSIGN_OR_RETURN(Bytes data, env_.ReadFile(path));
    Result<json> j = bounded_json::Parse(AsString(data), kRecordLimits, path);
    if (!j.ok()) return Corrupt("alert record " + path + ": " + j.status().detail());
    try {
      AlertRecord a = RecordFromJson(*j);
      if (a.id + std::string(kSuffix) != e.name) {
        return Corrupt("alert record " + path + " holds alert '" + a.id + "'");
      }
      alerts_[a.id] = std::move(a);
    } catch (const std::exception& ex) {
      return Corrupt("alert record " + path + ": " + ex.what());
    }
  }
  return Status::Ok();
}

Status AlertCenter::Write(const AlertRecord& alert) {
  if (!IsSafeRecordName(alert.id)) return InternalError("unsafe alert id '" + alert.id + "'");
  std::string text = RecordToJson(alert).dump(-1, ' ', false, json::error_handler_t::replace);
  return env_.WriteFileAtomic(dir_ + "/" + alert.id + std::string(kSuffix), AsBytes(text), true)
      .WithContext("writing an alert record");
}

int64_t AlertCenter::Now() const { return options_.clock ? options_.clock() : SystemMs(); }

void AlertCenter::AddChannel(std::unique_ptr<AlertChannel> channel) {
  std::lock_guard lock(mu_);
  channels_.push_back(std::move(channel));
}

void AlertCenter::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  for (const auto& [id, alert] : alerts_) {
    for (size_t i = 0; i < channels_.size(); ++i) {
      auto it = alert.delivery.find(channels_[i]->name());
      if (it != alert.delivery.end() && it->second.state == "pending") {
        queue_.push_back({id, i, 0});
      }
    }
  }
  worker_ = std::thread([this] { Worker(); });
}

void AlertCenter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void AlertCenter::Enqueue(const AlertRecord& alert) {
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (queue_.size() >= options_.max_queue) {
      // Never blocks the raiser: the record says it was not sent.
      AlertRecord& stored = alerts_[alert.id];
      AlertDelivery& d = stored.delivery[channels_[i]->name()];
      d.state = "failed";
      d.last_error = "the delivery queue is full (" + std::to_string(options_.max_queue) + ")";
      (void)Write(stored);
      spdlog::error("alert {}: {} not queued: {}", alert.id, channels_[i]->name(), d.last_error);
      continue;
    }
    queue_.push_back({alert.id, i, 0});
  }
  cv_.notify_all();
}

Result<AlertRecord> AlertCenter::Raise(const AlertInput& input) {
  if (!IsAlertKind(input.kind)) return InvalidArgument("unknown alert kind '" + input.kind + "'");
  if (!IsAlertSeverity(input.severity)) {
    return InvalidArgument("alert severity must be critical, warning or info, not '" +
                           input.severity + "'");
  }
  std::string detail = input.detail_json.empty() ? "{}" : input.detail_json;
  Result<json> parsed = bounded_json::Parse(detail, kDetailLimits, "the alert detail");
  if (!parsed.ok() || !parsed->is_object()) {
    return InvalidArgument("an alert's detail must be a JSON object of at most 64 KiB");
  }
  detail = parsed->dump(-1, ' ', false, json::error_handler_t::replace);
  std::string summary = OneLine(input.summary, 300);
  std::lock_guard lock(mu_);
  const int64_t now = Now();
  for (auto& [id, existing] : alerts_) {
    if (existing.state != "active" || existing.kind != input.kind ||
        existing.vault_id != input.vault_id || existing.machine_id != input.machine_id) {
      continue;
    }
    AlertRecord updated = existing;
    ++updated.count;
    updated.last_ms = now;
    updated.summary = summary;
    updated.detail_json = detail;
    if (input.severity == "critical") updated.severity = "critical";
    OB_RETURN_IF_ERROR(Write(updated));
    existing = updated;
    spdlog::warn("alert {} ({}) again, {} times: {}", id, updated.kind, updated.count, summary);
    return updated;
  }
  AlertRecord a;
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%013lld", static_cast<long long>(now));
  a.id = std::string(stamp) + "-" + ToHex(crypto::RandomBytes(4));
  a.raised_ms = a.last_ms = now;
  a.kind = input.kind;
  a.severity = input.severity;
  a.vault_id = input.vault_id;
  a.machine_id = input.machine_id;
  a.summary = summary;
  a.detail_json = detail;
  for (const auto& channel : channels_) a.delivery[channel->name()] = AlertDelivery{};
  OB_RETURN_IF_ERROR(Write(a));
  alerts_[a.id] = a;
  spdlog::warn("alert {} raised ({}, {}): {}", a.id, a.kind, a.severity, a.summary);
  Enqueue(a);
  return alerts_[a.id];
}

std::vector<AlertRecord> AlertCenter::List(std::string_view vault_id, bool active_only) const {
  std::lock_guard lock(mu_);
  std::vector<AlertRecord> out;
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    if (it->second.vault_id != vault_id) continue;
    if (active_only && it->second.state != "active") continue;
    out.push_back(it->second);
  }
  return out;
}

std::optional<AlertRecord> AlertCenter::Find(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = alerts_.find(id);
  if (it == alerts_.end()) return std::nullopt;
  return it->second;
}

Result<AlertRecord> AlertCenter::Acknowledge(std::string_view id, const std::string& by) {
  std::lock_guard lock(mu_);
  auto it = alerts_.find(id);
  if (it == alerts_.end()) return NotFound("no alert '" + std::string(id) + "'");
  if (it->second.state == "acknowledged") return it->second;
  AlertRecord updated = it->second;
  updated.state = "acknowledged";
  updated.acknowledged_by = OneLine(by, 128);
  updated.acknowledged_ms = Now();
  OB_RETURN_IF_ERROR(Write(updated));
  it->second = updated;
  return updated;
}

bool AlertCenter::WaitIdle(int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return queue_.empty() && running_ == 0; });
}

void AlertCenter::Worker() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      continue;
    }
    // The job due first.
    auto next = std::min_element(queue_.begin(), queue_.end(),
                                 [](const Job& a, const Job& b) { return a.due_ms < b.due_ms; });
    const int64_t now = SteadyMs();
    if (next->due_ms > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(next->due_ms - now));
      continue;
    }
    Job job = *next;
    queue_.erase(next);
    auto it = alerts_.find(job.alert_id);
    if (it == alerts_.end()) continue;
    AlertRecord snapshot = it->second;
    AlertChannel& channel = *channels_[job.channel];
    ++running_;
    lock.unlock();
    Status st = channel.Deliver(snapshot);
    lock.lock();
    --running_;
    AlertRecord& alert = alerts_[job.alert_id];
    AlertDelivery& d = alert.delivery[channel.name()];
    ++d.attempts;
    if (st.ok()) {
      d.state = "delivered";
      d.delivered_ms = Now();
      d.last_error.clear();
      spdlog::info("alert {} delivered by {}", alert.id, channel.name());
    } else {
      d.last_error = st.ToString();
      if (d.attempts >= options_.max_attempts || stopping_) {
        d.state = stopping_ ? "pending" : "failed";
        spdlog::error("alert {}: {} delivery failed ({} attempts): {}", alert.id, channel.name(),
                      d.attempts, d.last_error);
      } else {
        int64_t wait = options_.first_retry_ms;
        for (int i = 1; i < d.attempts && wait < options_.max_retry_ms; ++i) wait *= 2;
        wait = std::min(wait, options_.max_retry_ms);
        spdlog::warn("alert {}: {} delivery failed (attempt {}), again in {} ms: {}", alert.id,
                     channel.name(), d.attempts, wait, d.last_error);
        queue_.push_back({job.alert_id, job.channel, SteadyMs() + wait});
      }
    }
    Status written = Write(alert);
    if (!written.ok()) spdlog::error("alert {}: {}", alert.id, written.ToString());
    cv_.notify_all();
  }
}

// ----- Rules

namespace {
std::optional<json> ParseReport(const std::string& report_json) {
  Result<json> j = bounded_json::Parse(report_json, {1 << 20, 16});
  if (!j.ok() || !j->is_object()) return std::nullopt;
  return std::move(j).value();
}
}  // namespace

std::optional<AlertInput> AlertForJobReport(const std::string& vault_id,
                                            const std::string& machine_id,
                                            const std::string& machine_name,
                                            const std::string& report_json) {
  std::optional<json> r = ParseReport(report_json);
  if (!r) return std::nullopt;
  std::string state = r->value("state", "");
  std::string type = r->value("type", "job");
  AlertInput in;
  in.vault_id = vault_id;
  in.machine_id = machine_id;
  if (state == "Failed") {
    in.kind = alert_kind::kJobFailed;
    in.severity = "critical";
    in.summary = "The " + type + " job of machine '" + machine_name + "' failed";
  } else if (state == "CompletedWithWarnings") {
    in.kind = alert_kind::kJobWarning;
    in.severity = "warning";
    in.summary = "The " + type + " job of machine '" + machine_name + "' completed with warnings";
  } else {
    return std::nullopt;
  }
  std::string error = r->value("error", "");
  if (!error.empty()) in.summary += ": " + error;
  json detail = {{"machine", machine_name}, {"job", *r}};
  in.detail_json = detail.dump(-1, ' ', false, json::error_handler_t::replace);
  return in;
}

bool IsSuccessfulBackup(const std::string& report_json) {
  std::optional<json> r = ParseReport(report_json);
  if (!r) return false;
  std::string state = r->value("state", "");
  std::string type = r->value("type", "");
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type == "backup" && (state == "Completed" || state == "CompletedWithWarnings");
}

std::optional<int64_t> ExpectedBackupIntervalMs(const std::vector<int64_t>& successes_ms,
                                                int64_t configured_ms) {
  if (configured_ms > 0) return configured_ms;
  if (successes_ms.size() < 3) return std::nullopt;
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < successes_ms.size(); ++i) {
    gaps.push_back(successes_ms[i] - successes_ms[i - 1]);
  }
  std::sort(gaps.begin(), gaps.end());
  int64_t median = gaps[gaps.size() / 2];
  if (median <= 0) return std::nullopt;
  return median + median / 2;
}

size_t MassDeletionWatch::Note(const std::string& machine_id, int64_t now_ms,
                               const std::function<size_t()>& live_objects) {
  std::lock_guard lock(mu_);
  Window& w = machines_[machine_id];
  while (!w.times.empty() && now_ms - w.times.front() >= rules_.window_ms) w.times.pop_front();
  if (w.times.empty()) {
    w.fired = false;
    w.next_check = rules_.min_count;
  }
  w.times.push_back(now_ms);
  const size_t count = w.times.size();
  if (w.fired) return 0;
  bool mass = count >= rules_.max_count;
  if (!mass && count >= w.next_check && count >= rules_.min_count) {
    size_t live = live_objects();
    mass = static_cast<double>(count) >= rules_.share * static_cast<double>(live + count);
    w.next_check = count * 2;
  }
  if (!mass) return 0;
  w.fired = true;
  return count;
}

std::optional<AlertInput> MissedBackupWatch::Check(const Machine& m, int64_t now_ms,
                                                   int64_t configured_ms) {
  std::optional<int64_t> interval = ExpectedBackupIntervalMs(m.successes_ms, configured_ms);
  if (!interval) return std::nullopt;
  const int64_t last = m.successes_ms.empty() ? m.registered_ms : m.successes_ms.back();
  if (now_ms - last <= *interval) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    auto it = alerted_.find(m.machine_id);
    if (it != alerted_.end() && it->second == last) return std::nullopt;
    alerted_[m.machine_id] = last;
  }
  AlertInput in;
  in.kind = alert_kind::kBackupMissed;
  in.severity = "warning";
  in.vault_id = m.vault_id;
  in.machine_id = m.machine_id;
  const bool never = m.successes_ms.empty();
  in.summary = "Machine '" + m.name + "' has " +
               (never ? std::string("not backed up since its registration")
                      : "no successful backup since " + MsText(last)) +
               " (expected every " + std::to_string(*interval / 1000) + " s)";
  json detail = {{"machine", m.name},
                 {"last_success", never ? "" : MsText(last)},
                 {"expected_interval_seconds", *interval / 1000},
                 {"overdue_seconds", (now_ms - last - *interval) / 1000}};
  in.detail_json = detail.dump(-1, ' ', false, json::error_handler_t::replace);
  return in;
}

}  // namespace obagent::vault
