// vaultd's append-only, hash-chained audit log (audit.h).
#include "obagent/vault/audit.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <string_view>

#include "obagent/core/bounded_json.h"
#include "obagent/core/crypto.h"
#include "obagent/vault/credentials.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

const std::string kZeroHash(64, '0');

std::string LineHash(std::string_view line) { return ToHex(crypto::Sha256(AsBytes(line))); }

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Calls f(line, number) for every line of text (without '\n'); a last line
// without its newline (an append cut short) is passed too.
template <typename F>
void ForEachLine(std::string_view text, F&& f) {
  size_t start = 0, number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    f(text.substr(start, end - start), ++number);
    start = end + 1;
  }
}

}  // namespace

AuditVerification VerifyAuditText(std::string_view text) {
  AuditVerification v;
  v.verified = true;
  std::string prev = kZeroHash;
  uint64_t seq = 0;
  ForEachLine(text, [&](std::string_view line, size_t number) {
    v.lines = number;
    if (v.verified) {
      auto bad = [&](std::string why) {
        v.verified = false;
        v.first_bad_line = number;
        v.problem = "line " + std::to_string(number) + ": " + why;
      };
      Result<json> j = bounded_json::Parse(line, {1 << 20, 16});
      if (!j.ok() || !j->is_object()) {
        bad("not a JSON object (edited or cut short)");
      } else if (j->value("prev", "") != prev) {
        bad("its \"prev\" is not the SHA-256 of the line before: a line before it was edited, "
            "removed or inserted");
      } else if (!(*j)["seq"].is_number_unsigned() || (*j)["seq"].get<uint64_t>() != seq + 1) {
        bad("its sequence number is not the one after the line before");
      } else {
        seq = (*j)["seq"].get<uint64_t>();
      }
    }
    prev = LineHash(line);
  });
  if (!text.empty() && text.back() != '\n' && v.verified) {
    v.verified = false;
    v.first_bad_line = v.lines;
    v.problem = "line " + std::to_string(v.lines) + ": cut short (no end of line)";
  }
  v.head = v.lines == 0 ? kZeroHash : prev;
  return v;
}

AuditLog::AuditLog(platform::Env& env, std::string dir, std::function<int64_t()> clock)
    : env_(env),
      dir_(std::move(dir)),
      path_(dir_ + "/" + kAuditFileName),
      clock_(std::move(clock)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(platform::Env& env, const std::string& dir,
                                                 std::function<int64_t()> clock) {
  std::unique_ptr<AuditLog> log(new AuditLog(env, dir, std::move(clock)));
  OB_ASSIGN_OR_RETURN(log->folder_, env.OpenRestoreRoot(dir, true));
  Result<std::unique_ptr<platform::WritableFile>> file = log->folder_->OpenForWrite(kAuditFileName);
  if (!file.ok() && file.status().code() == ErrorCode::kNotFound) {
    file = log->folder_->CreateFile(kAuditFileName, false);
  }
  if (!file.ok()) return file.status().WithContext("opening the audit log " + log->path_);
  log->file_ = std::move(file).value();
  OB_ASSIGN_OR_RETURN(std::string text, log->ReadAll());
  log->size_ = text.size();
  log->prev_ = kZeroHash;
  if (!text.empty() && text.back() != '\n') {
    // An append cut short: end its line so the next entry starts a line of
    // its own (the broken line stays and Verify reports it).
    OB_RETURN_IF_ERROR(log->file_->WriteAt(log->size_, AsBytes(std::string_view("\n"))));
    OB_RETURN_IF_ERROR(log->file_->Sync());
    text += '\n';
    ++log->size_;
  }
  ForEachLine(text, [&](std::string_view line, size_t) {
    log->prev_ = LineHash(line);
    Result<json> j = bounded_json::Parse(line, {1 << 20, 16});
    if (j.ok() && j->is_object() && (*j)["seq"].is_number_unsigned()) {
      log->seq_ = std::max(log->seq_, (*j)["seq"].get<uint64_t>());
    }
  });
  AuditVerification v = VerifyAuditText(text);
  if (!v.verified) spdlog::error("the audit log {} does not verify: {}", log->path_, v.problem);
  return log;
}

Result<std::string> AuditLog::ReadAll() const {
  Result<Bytes> data = env_.ReadFile(path_);
  if (!data.ok()) return data.status().WithContext("reading the audit log");
  return std::string(data->begin(), data->end());
}

Status AuditLog::Append(const AuditEntry& entry) {
  json detail = json::object();
  if (!entry.detail_json.empty()) {
    Result<json> d = bounded_json::Parse(entry.detail_json, {64 * 1024, 8}, "the audit detail");
    if (!d.ok() || !d->is_object()) {
      return InvalidArgument("an audit entry's detail must be a JSON object");
    }
    detail = std::move(d).value();
  }
  std::lock_guard lock(mu_);
  const int64_t now = clock_ ? clock_() : SystemMs();
  json line = {{"seq", seq_ + 1},
               {"time", FormatUtcTime(now / 1000)},
               {"actor", entry.actor},
               {"action", entry.action},
               {"vault_id", entry.vault_id},
               {"machine_id", entry.machine_id},
               {"details", detail},
               {"prev", prev_}};
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string with_newline = text + "\n";
  Status st = file_->WriteAt(size_, AsBytes(with_newline));
  if (st.ok()) st = file_->Sync();
  if (!st.ok()) {
    spdlog::error("audit log: could not write {} by {}: {}", entry.action, entry.actor,
                  st.ToString());
    return st.WithContext("writing the audit log");
  }
  size_ += with_newline.size();
  ++seq_;
  prev_ = LineHash(text);
  return Status::Ok();
}

Result<AuditLog::Listing> AuditLog::Read(size_t limit) const {
  std::lock_guard lock(mu_);
  OB_ASSIGN_OR_RETURN(std::string text, ReadAll());
  Listing out;
  out.verification = VerifyAuditText(text);
  std::deque<std::string> lines;
  ForEachLine(text, [&](std::string_view line, size_t) {
    lines.emplace_back(line);
    if (limit > 0 && lines.size() > limit) lines.pop_front();
  });
  out.lines.assign(lines.begin(), lines.end());
  return out;
}

}  // namespace obagent::vault
