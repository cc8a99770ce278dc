// obctl's output: every command hands what it did to one Presenter, chosen
// once from --json in main.cc, and never asks which one it has.
//   - TextPresenter: the command's text on stdout, problems on stderr, the
//     progress line on a terminal's stderr.
//   - JsonPresenter: one JSON object per result on stdout ("ok" always
//     there), failures as the error object; no progress line.
// The JSON shapes of every command are documented in docs/json.md and
// checked by tests/e2e/test_cli_json.sh: one object per result, lists under
// a named field, every time an ISO 8601 UTC string (text::FormatIsoUtc), one
// type per field name across commands. The helpers below (JobJson,
// FailedFilesJson, Time) give the shared fields their one form.
// Not thread-safe: one command uses it from its own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/engine/job.h"
#include "obagent/engine/job_history.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::cli {

// Writes a result's text form: `out` (stdout) for what the user asked,
// `err` (stderr) for warnings and problems.
using TextForm = std::function<void(std::ostream& out, std::ostream& err)>;

class Presenter {
 public:
  virtual ~Presenter() = default;
  // The command's result: `object` is its JSON form (a JSON object; "ok"
  // is added as true when it has none), `text` writes its text form.
  virtual void Result(nlohmann::json object, const TextForm& text) = 0;
  // An event of a command that keeps running (recovery mount: mounted,
  // then unmounted): written and flushed at once; in JSON one object on
  // one line, so a reader can act on it before the command ends.
  virtual void Event(nlohmann::json object, const TextForm& text) = 0;
  // A failure: "obctl: [ID] gist: detail" and what to do on stderr, or the
  // JSON error object (engine::StatusToJson: ok false, code, error_id,
  // message, detail, explanation, action, os_error) on stdout.
  virtual void Failure(const Status& status) = 0;
  // Whether a long command draws its progress line (on stderr).
  virtual bool ShowsProgress() const = 0;
  // A warning met on the way ("obctl: warning: ..."), on stderr in both
  // forms: JSON readers read stdout.
  void Warning(std::string_view text);
};

std::unique_ptr<Presenter> MakeTextPresenter(platform::Env& env);
std::unique_ptr<Presenter> MakeJsonPresenter();

// A time in ns since 1970 as obctl shows it: ISO 8601 UTC, its fraction
// kept (text::FormatIsoUtcNs); null for 0 (not known, not yet).
nlohmann::json Time(int64_t unix_ns);
// A time in ns as the text form shows it: to the second.
std::string TextTime(int64_t unix_ns);

// A job as every obctl command shows it ("job" in backup, recovery test,
// job list/show/stop, engine status): the job record's fields, its times
// as "start" and "end" (ISO 8601 UTC, "end" null while it runs) and
// "duration_seconds"; no process id.
nlohmann::json JobJson(const engine::JobRecord& job);

// Files a job could not handle: [{path, error, os_error}].
nlohmann::json FailedFilesJson(const std::vector<engine::FailedFile>& files);

}  // namespace obagent::cli
