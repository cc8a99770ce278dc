#include "obagent/api/local_api.h"

#include <algorithm>

#include "obagent/core/bounded_json.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/wire.h"

namespace obagent::api {

namespace {

// A line is at most 16 MiB (the transport's LineBuffer refuses longer ones);
// no message of ours nests deeper than a few levels.
constexpr bounded_json::Limits kLineLimits{size_t{16} << 20, 64};

using nlohmann::json;

json ErrorJson(const Status& status) { return engine::StatusToJson(status); }

}  // namespace

json HandleRequest(engine::EngineService& engine, platform::Env& env, const json& request,
                   const std::string& console_url) {
  if (!request.is_object() || !request.contains("op") || !request["op"].is_string()) {
    return ErrorJson(InvalidArgument("a request needs an \"op\""));
  }
  const std::string op = request["op"];
  if (op == "status") {
    json answer = {{"ok", true},
                   {"pid", env.ProcessId()},
                   {"scheduler", engine.SchedulerKind()},
                   {"running", nullptr}};
    if (auto running = engine.Running()) {
      answer["running"] = engine::RunningJobToJson(*running);
    }
    return answer;
  }
  if (op == "backup_now") {
    if (request.contains("trigger") && !request["trigger"].is_string()) {
      return ErrorJson(InvalidArgument("\"trigger\" must be text"));
    }
    std::string trigger = request.value("trigger", "BackupNow");
    if (trigger != "BackupNow" && trigger != "Scheduled") {
      return ErrorJson(InvalidArgument("unknown trigger '" + trigger + "'"));
    }
    auto job = engine.StartPolicyBackup(trigger);
    if (!job.ok()) return ErrorJson(job.status());
    return {{"ok", true}, {"job", engine::JobRecordToJson(*job)}};
  }
  if (op == "recovery_test") {
    auto job = engine.StartRecoveryTest("RunNow");
    if (!job.ok()) return ErrorJson(job.status());
    return {{"ok", true}, {"job", engine::JobRecordToJson(*job)}};
  }
  if (op == "wait_job" || op == "job_stop") {
    if (!request.contains("id") || !request["id"].is_string()) {
      return ErrorJson(InvalidArgument(op + " needs a job \"id\""));
    }
    std::string id = request["id"];
    if (op == "job_stop") {
      Status st = engine.StopJob(id);
      if (!st.ok()) return ErrorJson(st);
      return {{"ok", true}};
    }
    if (request.contains("timeout_ms") && !request["timeout_ms"].is_number_integer()) {
      return ErrorJson(InvalidArgument("\"timeout_ms\" must be a whole number"));
    }
    int64_t timeout = request.value("timeout_ms", int64_t{60000});
    auto job = engine.WaitForJob(id, std::clamp<int64_t>(timeout, 0, 3600000));
    if (!job.ok()) return ErrorJson(job.status());
    return {{"ok", true}, {"job", engine::JobRecordToJson(*job)}};
  }
  if (op == "console_url") {
    if (console_url.empty()) {
      return ErrorJson(NotFound("the web console is off (cbengine --console-port 0)"));
    }
    return {{"ok", true}, {"url", console_url}};
  }
  return ErrorJson(InvalidArgument("unknown request '" + op + "'"));
}

std::string HandleRequestLine(engine::EngineService& engine, platform::Env& env,
                              std::string_view line, const std::string& console_url) {
  Result<json> request = bounded_json::Parse(line, kLineLimits, "the request line");
  json answer;
  try {
    answer = !request.ok() ? ErrorJson(InvalidArgument(request.status().detail() +
                                                       ": a request must be one line of JSON"))
                           : HandleRequest(engine, env, *request, console_url);
  } catch (const json::exception& e) {
    // A field of a type the handler did not check: the request's fault, and
    // it must not end the engine (an exception here would terminate it).
    answer = ErrorJson(InvalidArgument(std::string("malformed request: ") + e.what()));
  }
  return answer.dump(-1, ' ', false, json::error_handler_t::replace);
}

LocalApiServer::LocalApiServer(engine::EngineService& engine, platform::Env& env,
                               std::unique_ptr<platform::LocalListener> listener)
    : engine_(engine), env_(env), listener_(std::move(listener)) {}

LocalApiServer::~LocalApiServer() { Close(); }

void LocalApiServer::Start() {
  acceptor_ = std::thread([this] { Serve(); });
}

void LocalApiServer::Close() {
  listener_->Close();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(mu_);
    open = connections_;
  }
  for (auto& c : open) c->connection->Shutdown();
  for (auto& c : open) {
    if (c->thread.joinable()) c->thread.join();
  }
  std::lock_guard lock(mu_);
  connections_.clear();
}

void LocalApiServer::Serve() {
  for (;;) {
    auto connection = listener_->Accept();
    if (!connection.ok()) {
      if (connection.status().code() == ErrorCode::kCancelled) return;
      engine::LogEngineEvent("local API: " + connection.status().ToString(), true);
      continue;
    }
    auto c = std::make_shared<Connection>();
    c->connection = std::move(connection).value();
    std::lock_guard lock(mu_);
    // Forget connections that have ended (their threads are done).
    std::erase_if(connections_, [](const std::shared_ptr<Connection>& old) {
      if (!old->done) return false;
      old->thread.join();
      return true;
    });
    connections_.push_back(c);
    c->thread = std::thread([this, c] {
      ServeConnection(*c->connection);
      c->done = true;
    });
  }
}

void LocalApiServer::ServeConnection(platform::LocalConnection& connection) {
  for (;;) {
    auto line = connection.ReadLine();
    if (!line.ok()) return;
    if (!connection.WriteLine(HandleRequestLine(engine_, env_, *line, console_url_)).ok()) return;
  }
}

Result<json> CallEngine(platform::Env& env, const std::string& state_dir, const json& request) {
  auto connection = env.ConnectLocal(env.LocalApiAddress(state_dir));
  if (!connection.ok() && connection.status().code() != ErrorCode::kNotFound) {
    return connection.status().WithContext(
        "cannot reach the backup engine (only root or an administrator may use the local API)");
  }
  if (!connection.ok()) {
    return Status(ErrorCode::kEngineNotRunning,
                  "the backup engine (cbengine) is not running for " + state_dir +
                      " (start the obengine / cbengine service): " + connection.status().detail());
  }
  Status sent = (*connection)->WriteLine(request.dump());
  auto line = sent.ok() ? (*connection)->ReadLine() : Result<std::string>(sent);
  if (!line.ok()) {
    // The engine closes connections of users who are not root/administrator
    // before reading anything.
    return Status(ErrorCode::kInvalidArgument,
                  "the backup engine refused the request: only root or an administrator may "
                  "use the local API");
  }
  Result<json> parsed = bounded_json::Parse(*line, kLineLimits, "the engine's answer");
  json answer = parsed.ok() ? std::move(parsed).value() : json();
  if (!answer.is_object()) return InternalError("the engine answered something that is not JSON");
  auto ok = answer.find("ok");
  if (ok != answer.end() && ok->is_boolean() && ok->get<bool>()) return answer;
  Status refused;
  if (Status read = engine::StatusFromJson(answer, &refused); !read.ok()) {
    return InternalError("the engine's answer is neither a result nor an error: " + read.detail());
  }
  return refused;
}

}  // namespace obagent::api
