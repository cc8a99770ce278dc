// obctl's text and JSON presenters (output.h) and the forms of the fields
// several commands share.
#include "cli/output.h"

#include <iostream>

#include "obagent/core/text.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {

using nlohmann::json;

void Presenter::Warning(std::string_view text) { std::cerr << "obctl: warning: " << text << "\n"; }

namespace {

class TextPresenter final : public Presenter {
 public:
  explicit TextPresenter(platform::Env& env) : env_(env) {}
  void Result(json, const TextForm& text) override { text(std::cout, std::cerr); }
  void Event(json, const TextForm& text) override {
    text(std::cout, std::cerr);
    std::cout.flush();
  }
  void Failure(const Status& status) override {
    std::cerr << "obctl: " << status.ToString() << "\n";
    std::string_view action = CatalogueAction(status.code());
    if (!action.empty()) std::cerr << "  what to do: " << action << "\n";
  }
  bool ShowsProgress() const override { return env_.IsTerminal(2); }

 private:
  platform::Env& env_;
};

class JsonPresenter final : public Presenter {
 public:
  void Result(json object, const TextForm&) override {
    if (!object.contains("ok")) object["ok"] = true;
    std::cout << object.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  }
  void Event(json object, const TextForm&) override {
    if (!object.contains("ok")) object["ok"] = true;
    std::cout << object.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
  }
  void Failure(const Status& status) override {
    // The error object of the local API and the console too.
    Result(engine::StatusToJson(status), nullptr);
  }
  bool ShowsProgress() const override { return false; }
};

}  // namespace

std::unique_ptr<Presenter> MakeTextPresenter(platform::Env& env) {
  return std::make_unique<TextPresenter>(env);
}
std::unique_ptr<Presenter> MakeJsonPresenter() { return std::make_unique<JsonPresenter>(); }

json Time(int64_t unix_ns) {
  return unix_ns == 0 ? json(nullptr) : json(text::FormatIsoUtcNs(unix_ns));
}

std::string TextTime(int64_t unix_ns) {
  int64_t seconds = unix_ns / 1000000000;
  if (unix_ns % 1000000000 < 0) --seconds;
  return text::FormatIsoUtc(seconds);
}

json JobJson(const engine::JobRecord& job) {
  json out = engine::JobRecordToJson(job);
  out.erase("pid");
  out.erase("start_ns");
  out.erase("end_ns");
  out["start"] = Time(job.start_ns);
  out["end"] = Time(job.end_ns);
  out["duration_seconds"] = job.end_ns ? static_cast<double>(job.end_ns - job.start_ns) / 1e9 : 0.0;
  return out;
}

json FailedFilesJson(const std::vector<engine::FailedFile>& files) {
  json list = json::array();
  for (const auto& f : files) {
    list.push_back(
        {{"path", f.path}, {"error", f.error}, {"os_error", os_error::Format(f.os_error)}});
  }
  return list;
}

}  // namespace obagent::cli
