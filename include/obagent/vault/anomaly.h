// vaultd's anomaly judgement and hold (docs/operations.md, "Anomaly hold").
//
// With each backup the agent reports what changed since the parent point
// (files new, changed and deleted, new bytes and the part of them that did
// not compress: BackupFigures in engine/backup.h). vaultd judges them, without
// seeing any content, against the machine's baseline of recent normal
// backups (Judge: a pure function). A backup far outside it — mass change or
// deletion, or a jump in incompressible new data, as ransomware that encrypts
// the files leaves — is flagged: an AnomalyRecord is written, and while one
// is unacknowledged the machine can delete nothing (DELETE /v1/objects/…
// is refused with 423) and the collector purges none of its soft-deleted
// objects. The administrator lists and acknowledges anomalies
// (GET /v1/vaults/{v}/anomalies, POST …/anomalies/{id}/ack); the
// acknowledgement releases the hold.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::vault {

// One backup's figures, as its job report carries them.
struct BackupFigures {
  std::string recovery_point;
  int64_t time_ms = 0;  // when vaultd received the report
  uint64_t files = 0;   // files in the new point
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_deleted = 0;
  uint64_t bytes_new = 0;
  uint64_t bytes_new_incompressible = 0;

  // Files of the parent point: the new point's, less the new, plus the deleted.
  uint64_t FilesBefore() const;
  // (changed + deleted) / the larger of the files before and now (at least 1).
  double ChangeShare() const;
  double DeleteShare() const;
  // bytes_new_incompressible / bytes_new, 0 without new bytes.
  double IncompressibleShare() const;
};

// The figures of a job report (POST /v1/jobs, already validated), or nullopt
// when it is not a backup that wrote its point (type "Backup", state
// Completed or CompletedWithWarnings, a recovery point) or lacks the figures
// (an older agent): such reports are not judged.
std::optional<BackupFigures> FiguresFromReport(const nlohmann::json& report, int64_t received_ms);

// The machine's recent normal backups, oldest first (at most kBaselineSize).
// A flagged backup does not join it: an attack must not become the norm.
struct Baseline {
  std::vector<BackupFigures> recent;
};

// The rules' thresholds (why these values: docs/operations.md).
struct AnomalyRules {
  size_t baseline_size = 10;  // backups kept in the baseline
  size_t min_baseline = 3;    // fewer: no judgement (a machine's first backups)
  // Mass change / deletion: at least this many files, at least this share
  // of the machine's files, and this far above the baseline's median share
  // (the larger of `margin` and `mads` robust deviations).
  uint64_t min_files = 100;
  double min_share = 0.30;
  double margin = 0.25;
  double mads = 5.0;
  // Incompressible new data: at least this many bytes, at least this share
  // of the new bytes, `share_margin` above the baseline's median share, and
  // `growth` times the baseline's median incompressible bytes.
  uint64_t min_incompressible_bytes = uint64_t{4} << 20;
  double min_incompressible_share = 0.70;
  double share_margin = 0.40;
  double growth = 4.0;
  // Baseline backups with fewer new bytes do not count for the median share
  // (a few KiB of new data say nothing about what the machine's data is).
  uint64_t share_sample_bytes = uint64_t{1} << 20;
};

enum class AnomalyKind { kMassChange, kMassDeletion, kIncompressible };
std::string_view AnomalyKindName(AnomalyKind kind);  // "mass-change", …

struct AnomalyFinding {
  AnomalyKind kind = AnomalyKind::kMassChange;
  double value = 0;      // the backup's share
  double threshold = 0;  // what it had to stay under
  double baseline = 0;   // the baseline's median share
  std::string reason;    // one sentence for the administrator
};

// Pure: the findings for `figures` against `baseline` (empty: normal).
std::vector<AnomalyFinding> Judge(const Baseline& baseline, const BackupFigures& figures,
                                  const AnomalyRules& rules = {});
// `baseline` with `figures` appended, the oldest dropped past baseline_size.
Baseline Admit(Baseline baseline, const BackupFigures& figures, const AnomalyRules& rules = {});

// A flagged backup. Open (the hold is on) until acknowledged.
struct AnomalyRecord {
  std::string id;  // "<ms, 15 digits>-<12 hex>": sorts by time
  std::string vault_id;
  std::string machine_id;
  int64_t created_ms = 0;
  BackupFigures figures;
  std::vector<AnomalyFinding> findings;
  int64_t acknowledged_ms = 0;  // 0: open
  bool open() const { return acknowledged_ms == 0; }
};

nlohmann::json AnomalyToJson(const AnomalyRecord& record);  // the API's form (times as UTC text)

// The anomaly records and baselines, one JSON file each in vaultd's metadata
// folder, written atomically and loaded at construction:
//   <dir>/anomalies/<machine id>/<anomaly id>.json
//   <dir>/baselines/<machine id>.json
// A folder that cannot be read, or a record that does not parse, leaves the
// store failed closed: every machine reads as held (deletes refused, nothing
// purged) and the list answers with the error, until vaultd is restarted
// with readable records.
//
// Thread-safe (one mutex of its own): DeleteObject and the collector ask it
// without vaultd's metadata lock.
class AnomalyStore {
 public:
  AnomalyStore(platform::Env& env, std::string metadata_dir, AnomalyRules rules = {});

  // Judges a job report (ignored unless FiguresFromReport reads it) and
  // records the result: a normal backup joins the baseline, a flagged one
  // opens an anomaly (returned). An error writing the record is returned.
  Result<std::optional<AnomalyRecord>> Observe(const std::string& vault_id,
                                               const std::string& machine_id,
                                               const nlohmann::json& report, int64_t received_ms);

  // The open anomaly holding the machine's data, or nullopt.
  bool HoldActive(std::string_view machine_id) const;
  // The refusal's text for a held machine ("… is held by anomaly … of …:
  // … an administrator must acknowledge it …"), or nullopt.
  std::optional<std::string> HoldRefusal(std::string_view machine_id) const;

  // The vault's anomalies, newest first; acknowledged ones only with `all`.
  Result<std::vector<AnomalyRecord>> List(std::string_view vault_id, bool all) const;
  // Acknowledges one anomaly of the vault (kNotFound for another vault's or
  // an unknown id); acknowledging an acknowledged one changes nothing.
  Result<AnomalyRecord> Acknowledge(std::string_view vault_id, std::string_view id, int64_t now_ms);

  std::optional<Baseline> FindBaseline(std::string_view machine_id) const;
  const Status& load_status() const { return load_status_; }

 private:
  Status Load();
  Status Write(const std::string& path, const nlohmann::json& j);

  platform::Env& env_;
  const std::string dir_;
  const AnomalyRules rules_;
  mutable std::mutex mu_;
  Status load_status_;
  std::vector<AnomalyRecord> anomalies_;  // by id
  std::vector<std::pair<std::string, Baseline>> baselines_;
};

}  // namespace obagent::vault
