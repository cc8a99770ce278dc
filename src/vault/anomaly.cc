// vaultd's anomaly judgement (a pure function of a machine's baseline and one
// backup's figures) and the anomaly records and baselines behind the hold
// (obagent/vault/anomaly.h; the rules and why: docs/operations.md).
#include "obagent/vault/anomaly.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "obagent/core/crypto.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {

namespace {

using nlohmann::json;

constexpr char kAnomalies[] = "anomalies";
constexpr char kBaselines[] = "baselines";
constexpr char kSuffix[] = ".json";

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The median absolute deviation, scaled to a normal distribution's sigma.
double ScaledMad(const std::vector<double>& v, double median) {
  std::vector<double> dev;
  dev.reserve(v.size());
  for (double x : v) dev.push_back(std::fabs(x - median));
  return 1.4826 * Median(std::move(dev));
}

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f %%", share * 100);
  return buf;
}

std::string MsToUtc(int64_t ms) { return FormatUtcTime(ms / 1000); }

json FiguresToJson(const BackupFigures& f) {
  return {{"recovery_point", f.recovery_point},
          {"time_ms", f.time_ms},
          {"files", f.files},
          {"files_new", f.files_new},
          {"files_changed", f.files_changed},
          {"files_deleted", f.files_deleted},
          {"bytes_new", f.bytes_new},
          {"bytes_new_incompressible", f.bytes_new_incompressible}};
}

BackupFigures FiguresFromJson(const json& j) {
  BackupFigures f;
  f.recovery_point = j.at("recovery_point").get<std::string>();
  f.time_ms = j.at("time_ms").get<int64_t>();
  f.files = j.at("files").get<uint64_t>();
  f.files_new = j.at("files_new").get<uint64_t>();
  f.files_changed = j.at("files_changed").get<uint64_t>();
  f.files_deleted = j.at("files_deleted").get<uint64_t>();
  f.bytes_new = j.at("bytes_new").get<uint64_t>();
  f.bytes_new_incompressible = j.at("bytes_new_incompressible").get<uint64_t>();
  return f;
}

std::optional<AnomalyKind> KindFromName(std::string_view name) {
  for (AnomalyKind k :
       {AnomalyKind::kMassChange, AnomalyKind::kMassDeletion, AnomalyKind::kIncompressible}) {
    if (AnomalyKindName(k) == name) return k;
  }
  return std::nullopt;
}

json FindingToJson(const AnomalyFinding& f) {
  return {{"kind", AnomalyKindName(f.kind)},
          {"value", f.value},
          {"threshold", f.threshold},
          {"baseline", f.baseline},
          {"reason", f.reason}};
}

// The record as stored (times in ms); AnomalyToJson is the API's form.
json RecordToStored(const AnomalyRecord& r) {
  json findings = json::array();
  for (const AnomalyFinding& f : r.findings) findings.push_back(FindingToJson(f));
  return {{"version", kMetadataVersion}, {"id", r.id},
          {"vault_id", r.vault_id},      {"machine_id", r.machine_id},
          {"created_ms", r.created_ms},  {"figures", FiguresToJson(r.figures)},
          {"findings", findings},        {"acknowledged_ms", r.acknowledged_ms}};
}

AnomalyRecord RecordFromStored(const json& j) {
  AnomalyRecord r;
  r.id = j.at("id").get<std::string>();
  r.vault_id = j.at("vault_id").get<std::string>();
  r.machine_id = j.at("machine_id").get<std::string>();
  r.created_ms = j.at("created_ms").get<int64_t>();
  r.figures = FiguresFromJson(j.at("figures"));
  r.acknowledged_ms = j.at("acknowledged_ms").get<int64_t>();
  for (const json& f : j.at("findings")) {
    AnomalyFinding finding;
    auto kind = KindFromName(f.at("kind").get<std::string>());
    if (!kind) throw std::runtime_error("unknown anomaly kind");
    finding.kind = *kind;
    finding.value = f.at("value").get<double>();
    finding.threshold = f.at("threshold").get<double>();
    finding.baseline = f.at("baseline").get<double>();
    finding.reason = f.at("reason").get<std::string>();
    r.findings.push_back(std::move(finding));
  }
  return r;
}

std::string Join(const std::string& a, const std::string& b) { return a + "/" + b; }

bool IsRecordFile(const platform::DirEntry& e) {
  return !e.name.starts_with(".") && e.name.ends_with(kSuffix) &&
         e.kind == platform::FileKind::kRegular;
}

std::string Stem(const std::string& name) {
  return name.substr(0, name.size() - std::string_view(kSuffix).size());
}

}  // namespace

// ----- figures and judgement

uint64_t BackupFigures::FilesBefore() const {
  const uint64_t kept = files > files_new ? files - files_new : 0;
  return kept + files_deleted;
}

double BackupFigures::ChangeShare() const {
  const double population = static_cast<double>(std::max<uint64_t>({FilesBefore(), files, 1}));
  return static_cast<double>(files_changed + files_deleted) / population;
}

double BackupFigures::DeleteShare() const {
  const double population = static_cast<double>(std::max<uint64_t>({FilesBefore(), files, 1}));
  return static_cast<double>(files_deleted) / population;
}

double BackupFigures::IncompressibleShare() const {
  if (bytes_new == 0) return 0;
  return static_cast<double>(std::min(bytes_new_incompressible, bytes_new)) /
         static_cast<double>(bytes_new);
}

std::optional<BackupFigures> FiguresFromReport(const json& report, int64_t received_ms) {
  if (!report.is_object() || report.value("type", "") != "Backup") return std::nullopt;
  const std::string state = report.value("state", "");
  if (state != "Completed" && state != "CompletedWithWarnings") return std::nullopt;
  auto point = report.find("recovery_point");
  if (point == report.end() || !point->is_string() || point->get_ref<const std::string&>().empty())
    return std::nullopt;
  BackupFigures f;
  f.recovery_point = point->get<std::string>();
  f.time_ms = received_ms;
  struct Field {
    const char* name;
    uint64_t* to;
  };
  for (Field field : {Field{"files", &f.files}, Field{"files_new", &f.files_new},
                      Field{"files_changed", &f.files_changed},
                      Field{"files_deleted", &f.files_deleted}, Field{"bytes_new", &f.bytes_new},
                      Field{"bytes_new_incompressible", &f.bytes_new_incompressible}}) {
    auto it = report.find(field.name);
    if (it == report.end() || !it->is_number_integer() ||
        (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
      return std::nullopt;
    }
    *field.to = it->get<uint64_t>();
  }
  return f;
}

std::string_view AnomalyKindName(AnomalyKind kind) {
  switch (kind) {
    case AnomalyKind::kMassChange:
      return "mass-change";
    case AnomalyKind::kMassDeletion:
      return "mass-deletion";
    case AnomalyKind::kIncompressible:
      return "incompressible-data";
  }
  return "mass-change";
}

std::vector<AnomalyFinding> Judge(const Baseline& baseline, const BackupFigures& figures,
                                  const AnomalyRules& rules) {
  std::vector<AnomalyFinding> out;
  if (baseline.recent.size() < rules.min_baseline) return out;  // nothing to compare with yet
  std::vector<double> change, deletion, share, incompressible;
  for (const BackupFigures& b : baseline.recent) {
    change.push_back(b.ChangeShare());
    deletion.push_back(b.DeleteShare());
    incompressible.push_back(static_cast<double>(b.bytes_new_incompressible));
    if (b.bytes_new >= rules.share_sample_bytes) share.push_back(b.IncompressibleShare());
  }
  // A share must pass min_share and stand `margin` (or `mads` robust
  // deviations, whichever is more) above the machine's usual share.
  auto limit = [&](const std::vector<double>& v, double* median) {
    *median = Median(v);
    return std::max(rules.min_share,
                    *median + std::max(rules.margin, rules.mads * ScaledMad(v, *median)));
  };
  const uint64_t population = std::max(figures.FilesBefore(), figures.files);

  double del_median = 0;
  const double del_limit = limit(deletion, &del_median);
  const bool mass_deletion =
      figures.files_deleted >= rules.min_files && figures.DeleteShare() >= del_limit;
  if (mass_deletion) {
    out.push_back({AnomalyKind::kMassDeletion, figures.DeleteShare(), del_limit, del_median,
                   std::to_string(figures.files_deleted) + " of " + std::to_string(population) +
                       " files deleted (" + Percent(figures.DeleteShare()) +
                       "); this machine's backups usually delete " + Percent(del_median)});
  }
  double change_median = 0;
  const double change_limit = limit(change, &change_median);
  const uint64_t churn = figures.files_changed + figures.files_deleted;
  // Deletions alone are reported once, as mass deletion.
  if (churn >= rules.min_files && figures.ChangeShare() >= change_limit &&
      (!mass_deletion || figures.files_changed >= rules.min_files)) {
    out.push_back({AnomalyKind::kMassChange, figures.ChangeShare(), change_limit, change_median,
                   std::to_string(figures.files_changed) + " changed and " +
                       std::to_string(figures.files_deleted) + " deleted of " +
                       std::to_string(population) + " files (" + Percent(figures.ChangeShare()) +
                       "); this machine's backups usually change " + Percent(change_median)});
  }

  const double share_median = Median(share);
  const double share_limit =
      std::max(rules.min_incompressible_share, share_median + rules.share_margin);
  const double bytes_limit = std::max(static_cast<double>(rules.min_incompressible_bytes),
                                      rules.growth * Median(incompressible));
  if (static_cast<double>(figures.bytes_new_incompressible) >= bytes_limit &&
      figures.IncompressibleShare() >= share_limit) {
    out.push_back(
        {AnomalyKind::kIncompressible, figures.IncompressibleShare(), share_limit, share_median,
         Percent(figures.IncompressibleShare()) + " of " + std::to_string(figures.bytes_new) +
             " new bytes did not compress (encrypted data looks like that); this "
             "machine's new data usually does not compress for " +
             Percent(share_median)});
  }
  return out;
}

Baseline Admit(Baseline baseline, const BackupFigures& figures, const AnomalyRules& rules) {
  baseline.recent.push_back(figures);
  while (baseline.recent.size() > rules.baseline_size) {
    baseline.recent.erase(baseline.recent.begin());
  }
  return baseline;
}

json AnomalyToJson(const AnomalyRecord& r) {
  json findings = json::array();
  for (const AnomalyFinding& f : r.findings) findings.push_back(FindingToJson(f));
  json figures = FiguresToJson(r.figures);
  figures.erase("time_ms");
  figures["incompressible_share"] = r.figures.IncompressibleShare();
  return {{"id", r.id},
          {"machine_id", r.machine_id},
          {"created_at", MsToUtc(r.created_ms)},
          {"recovery_point", r.figures.recovery_point},
          {"open", r.open()},
          {"acknowledged_at", r.open() ? "" : MsToUtc(r.acknowledged_ms)},
          {"figures", figures},
          {"findings", findings}};
}

// ----- the store

AnomalyStore::AnomalyStore(platform::Env& env, std::string metadata_dir, AnomalyRules rules)
    : env_(env), dir_(std::move(metadata_dir)), rules_(rules) {
  load_status_ = Load();
  if (!load_status_.ok()) {
    spdlog::error(
        "anomaly records: {}; every machine is held (no deletes, no purge) until they "
        "can be read",
        load_status_.ToString());
  }
}

Status AnomalyStore::Load() {
  auto read = [&](const std::string& path) -> Result<json> {
    OB_ASSIGN_OR_RETURN(Bytes data, env_.ReadFile(path));
    json j = json::parse(data.begin(), data.end(), nullptr, false);
    if (!j.is_object()) return Corrupt("anomaly record " + path + " is not a JSON object");
    if (j.value("version", 0) != kMetadataVersion) {
      return Status(ErrorCode::kUnsupportedVersion,
                    "anomaly record " + path + " has a version this build does not know");
    }
    return j;
  };
  auto list = [&](const std::string& dir) -> Result<std::vector<platform::DirEntry>> {
    auto entries = env_.ListDir(dir);
    if (!entries.ok() && entries.status().code() == ErrorCode::kNotFound) {
      return std::vector<platform::DirEntry>{};
    }
    return entries;
  };
  OB_ASSIGN_OR_RETURN(auto machines, list(Join(dir_, kAnomalies)));
  for (const platform::DirEntry& m : machines) {
    if (m.kind != platform::FileKind::kDirectory || !IsSafeRecordName(m.name)) continue;
    std::string folder = Join(Join(dir_, kAnomalies), m.name);
    OB_ASSIGN_OR_RETURN(auto files, list(folder));
    for (const platform::DirEntry& e : files) {
      if (!IsRecordFile(e)) continue;
      OB_ASSIGN_OR_RETURN(json j, read(Join(folder, e.name)));
      try {
        anomalies_.push_back(RecordFromStored(j));
      } catch (const std::exception& ex) {
        return Corrupt("anomaly record " + Join(folder, e.name) + ": " + ex.what());
      }
    }
  }
  std::sort(anomalies_.begin(), anomalies_.end(),
            [](const AnomalyRecord& a, const AnomalyRecord& b) { return a.id < b.id; });
  OB_ASSIGN_OR_RETURN(auto baselines, list(Join(dir_, kBaselines)));
  for (const platform::DirEntry& e : baselines) {
    if (!IsRecordFile(e)) continue;
    std::string path = Join(Join(dir_, kBaselines), e.name);
    OB_ASSIGN_OR_RETURN(json j, read(path));
    Baseline b;
    try {
      for (const json& f : j.at("recent")) b.recent.push_back(FiguresFromJson(f));
    } catch (const std::exception& ex) {
      return Corrupt("baseline record " + path + ": " + ex.what());
    }
    baselines_.emplace_back(Stem(e.name), std::move(b));
  }
  return Status::Ok();
}

Status AnomalyStore::Write(const std::string& path, const json& j) {
  Status st = env_.WriteFileAtomic(path, AsBytes(j.dump()), true);
  if (st.code() == ErrorCode::kNotFound) {
    std::string dir = path.substr(0, path.rfind('/'));
    OB_RETURN_IF_ERROR(env_.CreateDirs(dir, true).WithContext("creating " + dir));
    st = env_.WriteFileAtomic(path, AsBytes(j.dump()), true);
  }
  return st.WithContext("writing an anomaly record");
}

std::optional<Baseline> AnomalyStore::FindBaseline(std::string_view machine_id) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, b] : baselines_) {
    if (id == machine_id) return b;
  }
  return std::nullopt;
}

Result<std::optional<AnomalyRecord>> AnomalyStore::Observe(const std::string& vault_id,
                                                           const std::string& machine_id,
                                                           const json& report,
                                                           int64_t received_ms) {
  std::optional<BackupFigures> figures = FiguresFromReport(report, received_ms);
  if (!figures) return std::optional<AnomalyRecord>();
  if (!IsSafeRecordName(machine_id)) return InternalError("unsafe machine id " + machine_id);
  std::lock_guard lock(mu_);
  OB_RETURN_IF_ERROR(load_status_);
  auto it = std::find_if(baselines_.begin(), baselines_.end(),
                         [&](const auto& b) { return b.first == machine_id; });
  Baseline baseline = it == baselines_.end() ? Baseline{} : it->second;
  std::vector<AnomalyFinding> findings = Judge(baseline, *figures, rules_);
  if (findings.empty()) {
    Baseline next = Admit(std::move(baseline), *figures, rules_);
    json recent = json::array();
    for (const BackupFigures& f : next.recent) recent.push_back(FiguresToJson(f));
    OB_RETURN_IF_ERROR(Write(Join(Join(dir_, kBaselines), machine_id + kSuffix),
                             {{"version", kMetadataVersion}, {"recent", recent}}));
    if (it == baselines_.end()) {
      baselines_.emplace_back(machine_id, std::move(next));
    } else {
      it->second = std::move(next);
    }
    return std::optional<AnomalyRecord>();
  }
  AnomalyRecord r;
  char ms[24];
  std::snprintf(ms, sizeof ms, "%015lld", static_cast<long long>(received_ms));
  r.id = std::string(ms) + "-" + ToHex(crypto::RandomBytes(6));
  r.vault_id = vault_id;
  r.machine_id = machine_id;
  r.created_ms = received_ms;
  r.figures = *figures;
  r.findings = std::move(findings);
  OB_RETURN_IF_ERROR(
      Write(Join(Join(Join(dir_, kAnomalies), machine_id), r.id + kSuffix), RecordToStored(r)));
  anomalies_.push_back(r);
  std::sort(anomalies_.begin(), anomalies_.end(),
            [](const AnomalyRecord& a, const AnomalyRecord& b) { return a.id < b.id; });
  return std::optional<AnomalyRecord>(std::move(r));
}

bool AnomalyStore::HoldActive(std::string_view machine_id) const {
  return HoldRefusal(machine_id).has_value();
}

std::optional<std::string> AnomalyStore::HoldRefusal(std::string_view machine_id) const {
  std::lock_guard lock(mu_);
  if (!load_status_.ok()) {
    return "vaultd cannot read its anomaly records, so it holds every machine's data: " +
           load_status_.ToString();
  }
  for (const AnomalyRecord& r : anomalies_) {
    if (r.machine_id != machine_id || !r.open()) continue;
    std::string kinds;
    for (const AnomalyFinding& f : r.findings) {
      kinds += (kinds.empty() ? "" : ", ") + std::string(AnomalyKindName(f.kind));
    }
    return "the vault holds this machine's data: anomaly " + r.id + " (" + kinds +
           ") was flagged on the backup of " + MsToUtc(r.created_ms) + " (recovery point " +
           r.figures.recovery_point.substr(0, 12) +
           "); nothing can be deleted until the vault's administrator acknowledges it "
           "(obctl vault anomaly-ack)";
  }
  return std::nullopt;
}

Result<std::vector<AnomalyRecord>> AnomalyStore::List(std::string_view vault_id, bool all) const {
  std::lock_guard lock(mu_);
  OB_RETURN_IF_ERROR(load_status_);
  std::vector<AnomalyRecord> out;
  for (auto it = anomalies_.rbegin(); it != anomalies_.rend(); ++it) {
    if (it->vault_id == vault_id && (all || it->open())) out.push_back(*it);
  }
  return out;
}

Result<AnomalyRecord> AnomalyStore::Acknowledge(std::string_view vault_id, std::string_view id,
                                                int64_t now_ms) {
  std::lock_guard lock(mu_);
  OB_RETURN_IF_ERROR(load_status_);
  for (AnomalyRecord& r : anomalies_) {
    if (r.id != id || r.vault_id != vault_id) continue;
    if (!r.open()) return r;
    AnomalyRecord acked = r;
    acked.acknowledged_ms = std::max<int64_t>(now_ms, 1);
    OB_RETURN_IF_ERROR(Write(Join(Join(Join(dir_, kAnomalies), r.machine_id), r.id + kSuffix),
                             RecordToStored(acked)));
    r = acked;
    return r;
  }
  return NotFound("no anomaly '" + std::string(id) + "' in this vault");
}

}  // namespace obagent::vault
