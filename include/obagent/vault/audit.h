// vaultd's append-only audit log (docs/vault-api.md, "Audit log"): every
// administrative and critical operation as one JSON line of
// <state dir>/audit.log, written at the end of the file and fsynced before
// Append returns. Each line carries `prev`, the SHA-256 (hex) of the line
// before it (without its newline; 64 zeros for the first), so a line that
// was edited, removed or inserted breaks the chain at the line after it;
// Verify finds the first such line. (Cutting lines off the end leaves a
// valid chain: compare the `head` hash Verify reports with one kept
// elsewhere to see that.)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::vault {

struct AuditEntry {
  std::string actor;   // "admin", "machine:<id>", "collector", …
  std::string action;  // "vault.create", "alert.ack", …
  std::string vault_id;
  std::string machine_id;
  std::string detail_json;  // a JSON object, or "" for none (the line's "details")
};

// What Verify found.
struct AuditVerification {
  bool verified = false;
  size_t lines = 0;
  size_t first_bad_line = 0;  // 1-based; 0 when verified
  std::string problem;        // why the chain breaks there
  std::string head;           // SHA-256 of the last line
};

// The chain check on a log's text (pure; also what GET /v1/audit runs).
AuditVerification VerifyAuditText(std::string_view text);

// Thread-safe: Append and Read may be called from any thread (one mutex).
class AuditLog {
 public:
  // Opens (or creates, owner only) the log file and reads its last line's
  // hash and sequence number. A log whose chain is broken still opens: new
  // lines chain on from its last line, and Verify keeps reporting the break.
  static Result<std::unique_ptr<AuditLog>> Open(platform::Env& env, const std::string& dir,
                                                std::function<int64_t()> clock = {});

  // Writes one line (seq, time, actor, action, vault_id, machine_id,
  // details, prev) and fsyncs it. kInvalidArgument when detail_json is not
  // a JSON object.
  Status Append(const AuditEntry& entry);

  // The log's lines parsed (the newest `limit`, all when 0), and the
  // verification of the whole chain.
  struct Listing {
    std::vector<std::string> lines;  // each a JSON object as written
    AuditVerification verification;
  };
  Result<Listing> Read(size_t limit) const;

  const std::string& path() const { return path_; }

 private:
  AuditLog(platform::Env& env, std::string dir, std::function<int64_t()> clock);
  Result<std::string> ReadAll() const;  // call with mu_ held

  platform::Env& env_;
  const std::string dir_;
  const std::string path_;
  const std::function<int64_t()> clock_;
  mutable std::mutex mu_;
  std::unique_ptr<platform::RestoreDir> folder_;
  std::unique_ptr<platform::WritableFile> file_;
  uint64_t size_ = 0;
  uint64_t seq_ = 0;
  std::string prev_;
};

inline constexpr char kAuditFileName[] = "audit.log";

}  // namespace obagent::vault
