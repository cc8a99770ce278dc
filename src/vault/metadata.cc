#include "obagent/vault/metadata.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "obagent/core/bounded_json.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

constexpr char kVaults[] = "vaults";
constexpr char kMachines[] = "machines";
constexpr char kSessions[] = "recovery-sessions";
constexpr char kLeases[] = "leases";
constexpr char kJobs[] = "jobs";
constexpr char kPoints[] = "points";
constexpr char kDeleted[] = "deleted";
constexpr std::string_view kSuffix = ".json";
// Records are written compact by this build. A job report record larger than
// this (an inflated one an older vaultd stored pretty-printed) is skipped
// when loading, with a warning, instead of being read into memory.
constexpr uint64_t kMaxJobRecordBytes = 256 * 1024;
// Every other record is a few hundred bytes.
constexpr bounded_json::Limits kRecordLimits{1 << 20, 16};

std::string Join(const std::string& a, const std::string& b) { return a + "/" + b; }

// Reads a required field; throws (caught by the loader) when missing or mistyped.
template <typename T>
T Field(const json& j, const char* name) {
  return j.at(name).get<T>();
}

json VaultToJson(const VaultRecord& v) {
  return {{"version", kMetadataVersion},
          {"vault_id", v.vault_id},
          {"name", v.name},
          {"created", v.created},
          {"signing_key", Base64Encode(v.signing_key)},
          {"newest_credential_id", v.newest_credential_id},
          {"soft_delete_days", v.soft_delete_days},
          {"immutable", v.immutable}};
}

VaultRecord VaultFromJson(const json& j) {
  VaultRecord v;
  v.vault_id = Field<std::string>(j, "vault_id");
  v.name = Field<std::string>(j, "name");
  v.created = Field<int64_t>(j, "created");
  Result<Bytes> key = Base64Decode(Field<std::string>(j, "signing_key"));
  if (!key.ok() || key->size() != v.signing_key.size()) {
    throw std::runtime_error("signing_key is not the base64 of 32 bytes");
  }
  std::copy(key->begin(), key->end(), v.signing_key.begin());
  v.newest_credential_id = Field<std::string>(j, "newest_credential_id");
  const int days = j.value("soft_delete_days", kMinSoftDeleteDays);
  v.soft_delete_days = days == 0 ? 0 : std::max(days, kMinSoftDeleteDays);
  v.immutable = j.value("immutable", false);
  return v;
}

json MachineToJson(const MachineRecord& m) {
  json j = {{"version", kMetadataVersion},
            {"machine_id", m.machine_id},
            {"vault_id", m.vault_id},
            {"name", m.name},
            {"token_sha256", m.token_sha256},
            {"key_check", m.key_check},
            {"key_id", m.key_id},
            {"registered", m.registered}};
  if (m.retention) {
    j["retention"] = {{"daily_days", m.retention->daily_days},
                      {"weekly_weeks", m.retention->weekly_weeks},
                      {"monthly_months", m.retention->monthly_months},
                      {"yearly_years", m.retention->yearly_years}};
  }
  if (m.removed != 0) j["removed"] = m.removed;
  return j;
}

MachineRecord MachineFromJson(const json& j) {
  MachineRecord m;
  m.machine_id = Field<std::string>(j, "machine_id");
  m.vault_id = Field<std::string>(j, "vault_id");
  m.name = Field<std::string>(j, "name");
  m.token_sha256 = Field<std::string>(j, "token_sha256");
  m.key_check = Field<std::string>(j, "key_check");
  m.key_id = Field<std::string>(j, "key_id");
  m.registered = Field<int64_t>(j, "registered");
  if (auto r = j.find("retention"); r != j.end()) {
    m.retention =
        RetentionSetting{Field<int>(*r, "daily_days"), Field<int>(*r, "weekly_weeks"),
                         Field<int>(*r, "monthly_months"), Field<int>(*r, "yearly_years")};
  }
  m.removed = j.value("removed", int64_t{0});
  return m;
}

json SessionToJson(const RecoverySessionRecord& s) {
  return {{"version", kMetadataVersion},
          {"token_sha256", s.token_sha256},
          {"source_machine_id", s.source_machine_id},
          {"requested_by", s.requested_by},
          {"expires_ms", s.expires_ms}};
}

RecoverySessionRecord SessionFromJson(const json& j) {
  RecoverySessionRecord s;
  s.token_sha256 = Field<std::string>(j, "token_sha256");
  s.source_machine_id = Field<std::string>(j, "source_machine_id");
  s.requested_by = Field<std::string>(j, "requested_by");
  s.expires_ms = Field<int64_t>(j, "expires_ms");
  return s;
}

json LeaseToJson(const LeaseRecord& l) {
  return {{"version", kMetadataVersion},
          {"machine_id", l.machine_id},
          {"lease_id", l.lease_id},
          {"holder", l.holder},
          {"expires_ms", l.expires_ms}};
}

LeaseRecord LeaseFromJson(const json& j) {
  LeaseRecord l;
  l.machine_id = Field<std::string>(j, "machine_id");
  l.lease_id = Field<std::string>(j, "lease_id");
  l.holder = Field<std::string>(j, "holder");
  l.expires_ms = Field<int64_t>(j, "expires_ms");
  return l;
}

// A stored report's JSON; throws (caught by the callers) when it is not
// JSON or breaks the limits.
json ParseReport(const std::string& text) {
  auto j = bounded_json::Parse(text, kRecordLimits, "the job report");
  if (!j.ok()) throw std::runtime_error(j.status().detail());
  return std::move(j).value();
}

json JobToJson(const JobReportRecord& r) {
  return {{"version", kMetadataVersion},
          {"machine_id", r.machine_id},
          {"report_id", r.report_id},
          {"received_ms", r.received_ms},
          {"report", ParseReport(r.report_json)}};
}

JobReportRecord JobFromJson(const json& j) {
  JobReportRecord r;
  r.machine_id = Field<std::string>(j, "machine_id");
  r.report_id = Field<std::string>(j, "report_id");
  r.received_ms = Field<int64_t>(j, "received_ms");
  r.report_json = j.at("report").dump();
  return r;
}

json PointToJson(const RecoveryPointRecord& p) {
  return {{"version", kMetadataVersion},
          {"machine_id", p.machine_id},
          {"id", p.id},
          {"uploaded_at", p.uploaded_at},
          {"size", p.size}};
}

RecoveryPointRecord PointFromJson(const json& j) {
  RecoveryPointRecord p;
  p.machine_id = Field<std::string>(j, "machine_id");
  p.id = Field<std::string>(j, "id");
  p.uploaded_at = Field<int64_t>(j, "uploaded_at");
  p.size = Field<uint64_t>(j, "size");
  return p;
}

json DeletedToJson(const DeletedObjectRecord& d) {
  return {{"version", kMetadataVersion},
          {"machine_id", d.machine_id},
          {"key", d.key},
          {"deleted_ms", d.deleted_ms}};
}

DeletedObjectRecord DeletedFromJson(const json& j) {
  DeletedObjectRecord d;
  d.machine_id = Field<std::string>(j, "machine_id");
  d.key = Field<std::string>(j, "key");
  d.deleted_ms = Field<int64_t>(j, "deleted_ms");
  return d;
}

// Object keys have '/' and may be long: the record's file is named by the
// key's hash.
std::string DeletedRecordName(std::string_view key) { return ToHex(crypto::Sha256(AsBytes(key))); }

bool IsRecordFile(const platform::DirEntry& e) {
  return e.kind == platform::FileKind::kRegular && !e.name.starts_with('.') &&
         e.name.size() > kSuffix.size() && e.name.ends_with(kSuffix);
}

std::string Stem(const std::string& file_name) {
  return file_name.substr(0, file_name.size() - kSuffix.size());
}

}  // namespace

bool IsSafeRecordName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(platform::Env& env,
                                                           const std::string& dir) {
  OB_RETURN_IF_ERROR(env.CreateDirs(dir, true).WithContext("creating the metadata folder"));
  std::unique_ptr<MetadataStore> store(new MetadataStore(env, dir));
  OB_RETURN_IF_ERROR(store->Load());
  return store;
}

Status MetadataStore::Load() {
  // Calls `add` with the parsed JSON of every record file in `folder`.
  // `optional`: the records are informational (job reports); one that is
  // unreadable or too large is skipped with a warning instead of stopping
  // vaultd.
  auto load_folder = [&](const std::string& folder,
                         const std::function<void(const std::string&, const json&)>& add,
                         bool optional = false) {
    auto entries = env_.ListDir(folder);
    if (!entries.ok()) {
      if (entries.status().code() == ErrorCode::kNotFound) return Status::Ok();
      return entries.status().WithContext("loading vaultd metadata");
    }
    for (const platform::DirEntry& e : *entries) {
      if (!IsRecordFile(e)) continue;
      std::string path = Join(folder, e.name);
      if (optional) {
        auto info = env_.Lstat(path);
        if (info.ok() && info->size > kMaxJobRecordBytes) {
          spdlog::warn(
              "skipping the job report record {}: {} bytes, more than the {} a report "
              "may take (stored inflated by an older vaultd; remove it)",
              path, info->size, kMaxJobRecordBytes);
          continue;
        }
      }
      OB_ASSIGN_OR_RETURN(Bytes data, env_.ReadFile(path));
      try {
        auto parsed = bounded_json::Parse(AsString(data), kRecordLimits, "the record");
        if (!parsed.ok()) throw std::runtime_error(parsed.status().detail());
        json j = std::move(parsed).value();
        if (!j.is_object()) throw std::runtime_error("not a JSON object");
        int version = Field<int>(j, "version");
        if (version != kMetadataVersion) {
          return Status(ErrorCode::kUnsupportedVersion,
                        "metadata record " + path + " has version " + std::to_string(version) +
                            ", which this build of vaultd does not know");
        }
        add(Stem(e.name), j);
      } catch (const std::exception& ex) {
        if (optional) {
          spdlog::warn("skipping the unreadable job report record {}: {}", path, ex.what());
          continue;
        }
        return Corrupt("metadata record " + path + " is unreadable: " + ex.what());
      }
    }
    return Status::Ok();
  };
  // Folders holding one subfolder per machine.
  auto load_per_machine = [&](const std::string& folder,
                              const std::function<void(const std::string&, const json&)>& add,
                              bool optional) {
    auto entries = env_.ListDir(folder);
    if (!entries.ok()) {
      if (entries.status().code() == ErrorCode::kNotFound) return Status::Ok();
      return entries.status().WithContext("loading vaultd metadata");
    }
    for (const platform::DirEntry& e : *entries) {
      if (e.kind != platform::FileKind::kDirectory || e.name.starts_with('.')) continue;
      OB_RETURN_IF_ERROR(load_folder(Join(folder, e.name), add, optional));
    }
    return Status::Ok();
  };

  OB_RETURN_IF_ERROR(load_folder(Join(dir_, kVaults), [&](const std::string&, const json& j) {
    VaultRecord v = VaultFromJson(j);
    vaults_[v.vault_id] = std::move(v);
  }));
  OB_RETURN_IF_ERROR(load_folder(Join(dir_, kMachines), [&](const std::string&, const json& j) {
    MachineRecord m = MachineFromJson(j);
    machine_by_token_[m.token_sha256] = m.machine_id;
    machines_[m.machine_id] = std::move(m);
  }));
  OB_RETURN_IF_ERROR(load_folder(Join(dir_, kSessions), [&](const std::string&, const json& j) {
    RecoverySessionRecord s = SessionFromJson(j);
    sessions_[s.token_sha256] = std::move(s);
  }));
  OB_RETURN_IF_ERROR(load_folder(Join(dir_, kLeases), [&](const std::string&, const json& j) {
    LeaseRecord l = LeaseFromJson(j);
    leases_[l.machine_id] = std::move(l);
  }));
  OB_RETURN_IF_ERROR(load_per_machine(
      Join(dir_, kJobs),
      [&](const std::string&, const json& j) {
        JobReportRecord r = JobFromJson(j);
        jobs_[r.machine_id][r.report_id] = std::move(r);
      },
      true));
  OB_RETURN_IF_ERROR(load_per_machine(
      Join(dir_, kPoints),
      [&](const std::string&, const json& j) {
        RecoveryPointRecord p = PointFromJson(j);
        points_[p.machine_id][p.id] = std::move(p);
      },
      false));
  OB_RETURN_IF_ERROR(load_per_machine(
      Join(dir_, kDeleted),
      [&](const std::string&, const json& j) {
        DeletedObjectRecord d = DeletedFromJson(j);
        deleted_[d.machine_id][d.key] = std::move(d);
      },
      false));
  return Status::Ok();
}

Status MetadataStore::WriteRecord(const std::string& folder, const std::string& name,
                                  const std::string& text) {
  if (!IsSafeRecordName(name)) return InternalError("unsafe metadata record name '" + name + "'");
  std::string dir = Join(dir_, folder);
  std::string path = Join(dir, name + std::string(kSuffix));
  Status st = env_.WriteFileAtomic(path, AsBytes(text), true);
  if (st.code() == ErrorCode::kNotFound) {
    OB_RETURN_IF_ERROR(env_.CreateDirs(dir, true).WithContext("creating " + dir));
    st = env_.WriteFileAtomic(path, AsBytes(text), true);
  }
  return st.WithContext("writing vaultd metadata");
}

Status MetadataStore::RemoveRecord(const std::string& folder, const std::string& name) {
  if (!IsSafeRecordName(name)) return InternalError("unsafe metadata record name '" + name + "'");
  Status st = env_.RemoveFile(Join(Join(dir_, folder), name + std::string(kSuffix)));
  if (st.ok() || st.code() == ErrorCode::kNotFound) return Status::Ok();
  return st.WithContext("removing vaultd metadata");
}

// ----- vaults

std::vector<VaultRecord> MetadataStore::Vaults() const {
  std::vector<VaultRecord> out;
  for (const auto& [id, v] : vaults_) out.push_back(v);
  std::sort(out.begin(), out.end(),
            [](const VaultRecord& a, const VaultRecord& b) { return a.name < b.name; });
  return out;
}

std::optional<VaultRecord> MetadataStore::FindVault(std::string_view vault_id) const {
  auto it = vaults_.find(vault_id);
  if (it == vaults_.end()) return std::nullopt;
  return it->second;
}

std::optional<VaultRecord> MetadataStore::FindVaultByName(std::string_view name) const {
  for (const auto& [id, v] : vaults_) {
    if (v.name == name) return v;
  }
  return std::nullopt;
}

Status MetadataStore::PutVault(const VaultRecord& vault) {
  OB_RETURN_IF_ERROR(WriteRecord(kVaults, vault.vault_id, VaultToJson(vault).dump()));
  vaults_[vault.vault_id] = vault;
  return Status::Ok();
}

// ----- machines

std::optional<MachineRecord> MetadataStore::FindMachine(std::string_view machine_id) const {
  auto it = machines_.find(machine_id);
  if (it == machines_.end()) return std::nullopt;
  return it->second;
}

std::optional<MachineRecord> MetadataStore::FindMachineByToken(
    std::string_view token_sha256) const {
  auto it = machine_by_token_.find(token_sha256);
  if (it == machine_by_token_.end()) return std::nullopt;
  return FindMachine(it->second);
}

std::optional<MachineRecord> MetadataStore::FindMachineByName(std::string_view vault_id,
                                                              std::string_view name) const {
  for (const auto& [id, m] : machines_) {
    if (m.vault_id == vault_id && m.name == name) return m;
  }
  return std::nullopt;
}

size_t MetadataStore::CountMachines(std::string_view vault_id) const {
  return static_cast<size_t>(std::count_if(machines_.begin(), machines_.end(), [&](const auto& e) {
    return e.second.vault_id == vault_id;
  }));
}

std::vector<MachineRecord> MetadataStore::Machines() const {
  std::vector<MachineRecord> out;
  for (const auto& [id, m] : machines_) out.push_back(m);
  return out;
}

Status MetadataStore::PutMachine(const MachineRecord& machine) {
  OB_RETURN_IF_ERROR(WriteRecord(kMachines, machine.machine_id, MachineToJson(machine).dump()));
  if (auto it = machines_.find(machine.machine_id); it != machines_.end()) {
    machine_by_token_.erase(it->second.token_sha256);
  }
  machines_[machine.machine_id] = machine;
  machine_by_token_[machine.token_sha256] = machine.machine_id;
  return Status::Ok();
}

// ----- recovery sessions

std::optional<RecoverySessionRecord> MetadataStore::FindRecoverySession(
    std::string_view token_sha256) const {
  auto it = sessions_.find(token_sha256);
  if (it == sessions_.end()) return std::nullopt;
  return it->second;
}

Status MetadataStore::PutRecoverySession(const RecoverySessionRecord& session) {
  OB_RETURN_IF_ERROR(WriteRecord(kSessions, session.token_sha256, SessionToJson(session).dump()));
  sessions_[session.token_sha256] = session;
  return Status::Ok();
}

Status MetadataStore::RemoveRecoverySession(std::string_view token_sha256) {
  OB_RETURN_IF_ERROR(RemoveRecord(kSessions, std::string(token_sha256)));
  if (auto it = sessions_.find(token_sha256); it != sessions_.end()) sessions_.erase(it);
  return Status::Ok();
}

Status MetadataStore::RemoveExpiredRecoverySessions(int64_t now_ms) {
  std::vector<std::string> expired;
  for (const auto& [hash, s] : sessions_) {
    if (s.expires_ms <= now_ms) expired.push_back(hash);
  }
  for (const std::string& hash : expired) OB_RETURN_IF_ERROR(RemoveRecoverySession(hash));
  return Status::Ok();
}

// ----- leases

std::optional<LeaseRecord> MetadataStore::FindLease(std::string_view machine_id) const {
  auto it = leases_.find(machine_id);
  if (it == leases_.end()) return std::nullopt;
  return it->second;
}

Status MetadataStore::PutLease(const LeaseRecord& lease) {
  OB_RETURN_IF_ERROR(WriteRecord(kLeases, lease.machine_id, LeaseToJson(lease).dump()));
  leases_[lease.machine_id] = lease;
  return Status::Ok();
}

Status MetadataStore::RemoveLease(std::string_view machine_id) {
  OB_RETURN_IF_ERROR(RemoveRecord(kLeases, std::string(machine_id)));
  if (auto it = leases_.find(machine_id); it != leases_.end()) leases_.erase(it);
  return Status::Ok();
}

// ----- job reports

Status MetadataStore::AddJobReport(JobReportRecord report) {
  auto& reports = jobs_[report.machine_id];
  if (report.report_id.empty()) {
    // "<ms>-<sequence>-<random>": ids sort by arrival, also for reports
    // that arrive in the same millisecond (or while the clock steps back).
    long long ms = report.received_ms;
    unsigned sequence = 0;
    if (!reports.empty()) {
      const std::string& last = reports.rbegin()->first;
      long long last_ms = 0;
      unsigned last_sequence = 0;
      if (std::sscanf(last.c_str(), "%15lld-%6u-", &last_ms, &last_sequence) >= 1 &&
          ms <= last_ms) {
        ms = last_ms;
        sequence = last.size() > 22 && last[22] == '-' ? last_sequence + 1 : 1;
      }
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%015lld-%06u-", ms, sequence);
    report.report_id = buf + ToHex(crypto::RandomBytes(6));
  }
  json j;
  try {
    j = JobToJson(report);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("the job report is not JSON: ") + e.what());
  }
  std::string folder = std::string(kJobs) + "/" + report.machine_id;
  if (!IsSafeRecordName(report.machine_id)) {
    return InternalError("unsafe machine id '" + report.machine_id + "'");
  }
  OB_RETURN_IF_ERROR(WriteRecord(folder, report.report_id, j.dump()));
  reports[report.report_id] = std::move(report);
  while (reports.size() > kMaxJobReportsPerMachine) {
    OB_RETURN_IF_ERROR(RemoveRecord(folder, reports.begin()->first));
    reports.erase(reports.begin());
  }
  return Status::Ok();
}

std::vector<JobReportRecord> MetadataStore::JobReports(std::string_view machine_id) const {
  std::vector<JobReportRecord> out;
  auto it = jobs_.find(machine_id);
  if (it == jobs_.end()) return out;
  for (const auto& [id, r] : it->second) out.push_back(r);
  return out;
}

// ----- recovery points

std::optional<RecoveryPointRecord> MetadataStore::FindRecoveryPoint(std::string_view machine_id,
                                                                    std::string_view id) const {
  auto it = points_.find(machine_id);
  if (it == points_.end()) return std::nullopt;
  auto p = it->second.find(id);
  if (p == it->second.end()) return std::nullopt;
  return p->second;
}

Status MetadataStore::PutRecoveryPoint(const RecoveryPointRecord& point) {
  if (!IsSafeRecordName(point.machine_id)) {
    return InternalError("unsafe machine id '" + point.machine_id + "'");
  }
  OB_RETURN_IF_ERROR(WriteRecord(std::string(kPoints) + "/" + point.machine_id, point.id,
                                 PointToJson(point).dump()));
  points_[point.machine_id][point.id] = point;
  return Status::Ok();
}

Status MetadataStore::RemoveRecoveryPoint(std::string_view machine_id, std::string_view id) {
  if (!IsSafeRecordName(machine_id) || !IsSafeRecordName(id)) return Status::Ok();
  OB_RETURN_IF_ERROR(
      RemoveRecord(std::string(kPoints) + "/" + std::string(machine_id), std::string(id)));
  if (auto it = points_.find(machine_id); it != points_.end()) it->second.erase(std::string(id));
  return Status::Ok();
}

// ----- soft-deleted objects

std::optional<DeletedObjectRecord> MetadataStore::FindDeleted(std::string_view machine_id,
                                                              std::string_view key) const {
  auto it = deleted_.find(machine_id);
  if (it == deleted_.end()) return std::nullopt;
  auto d = it->second.find(key);
  if (d == it->second.end()) return std::nullopt;
  return d->second;
}

std::vector<DeletedObjectRecord> MetadataStore::DeletedObjects(std::string_view machine_id) const {
  std::vector<DeletedObjectRecord> out;
  auto it = deleted_.find(machine_id);
  if (it == deleted_.end()) return out;
  for (const auto& [key, d] : it->second) out.push_back(d);
  return out;
}

std::vector<std::string> MetadataStore::MachinesWithDeleted() const {
  std::vector<std::string> out;
  for (const auto& [machine, records] : deleted_) {
    if (!records.empty()) out.push_back(machine);
  }
  return out;
}

Status MetadataStore::PutDeleted(const DeletedObjectRecord& record) {
  if (!IsSafeRecordName(record.machine_id)) {
    return InternalError("unsafe machine id '" + record.machine_id + "'");
  }
  OB_RETURN_IF_ERROR(WriteRecord(std::string(kDeleted) + "/" + record.machine_id,
                                 DeletedRecordName(record.key), DeletedToJson(record).dump()));
  deleted_[record.machine_id][record.key] = record;
  return Status::Ok();
}

Status MetadataStore::RemoveDeleted(std::string_view machine_id, std::string_view key) {
  if (!IsSafeRecordName(machine_id)) return Status::Ok();
  OB_RETURN_IF_ERROR(
      RemoveRecord(std::string(kDeleted) + "/" + std::string(machine_id), DeletedRecordName(key)));
  if (auto it = deleted_.find(machine_id); it != deleted_.end()) {
    it->second.erase(std::string(key));
    if (it->second.empty()) deleted_.erase(it);
  }
  return Status::Ok();
}

}  // namespace obagent::vault
