// What obctl's commands share: global options, exit codes, JSON output,
// failure reporting and option parsing. Commands live in main.cc and in
// files of their own (prune_command.cc).
#pragma once

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "obagent/cmdline/options.h"
#include "obagent/core/text.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::cli {

using cmdline::Option;
using cmdline::OptionSet;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitWarnings = 3;

struct Globals {
  std::string state_dir;
  bool json = false;
  platform::Env* env = nullptr;
  // The last error reported by Fail(), for the job history.
  mutable std::string last_error;
};

inline json Json(json::initializer_list_t init) { return json(init); }

// Times on the command line: ISO 8601, UTC.
inline std::string FormatTime(int64_t ns) { return text::FormatIsoUtc(ns / 1000000000); }

inline void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

// Prints a failure: "obctl: [ID] gist: detail" and, for catalogue errors,
// what to do about it (the same text the console shows); with --json one
// object with error_id, message and action.
inline void PrintFailure(bool as_json, const Status& status) {
  std::string_view action = CatalogueAction(status.code());
  if (as_json) {
    PrintJson(Json({{"ok", false},
                    {"error_id", std::string(CatalogueId(status.code()))},
                    {"message", status.ToString()},
                    {"action", std::string(action)}}));
  } else {
    std::cerr << "obctl: " << status.ToString() << "\n";
    if (!action.empty()) std::cerr << "  what to do: " << action << "\n";
  }
}

inline int Fail(const Globals& g, const Status& status) {
  g.last_error = status.ToString();
  PrintFailure(g.json, status);
  return kExitFailed;
}

// A command's usage error: "obctl vault create: <message>" on stderr.
inline int UsageError(const OptionSet& options, const std::string& message) {
  std::cerr << "obctl " << options.command() << ": " << message << "\n";
  return kExitUsage;
}

// Parses a command's options. nullopt when the command goes on; else the
// exit code, after printing the usage error or the command's --help.
inline std::optional<int> ParseOptions(OptionSet& options, const std::vector<std::string>& args) {
  Status parsed = options.Parse(args);
  if (!parsed.ok()) return UsageError(options, parsed.detail());
  if (options.HelpRequested()) {
    std::cout << "usage: obctl " << options.command() << " [options]\n" << options.Help();
    return kExitOk;
  }
  return std::nullopt;
}

// obctl prune (prune_command.cc).
int PruneCommand(Globals& g, const std::vector<std::string>& args);
// obctl machine-setting show|set (machine_setting_command.cc).
int MachineSettingCommand(Globals& g, const std::vector<std::string>& args);
// obctl policy … (policy_command.cc); args[0] is the subcommand.
int PolicyCommand(const std::string& state_dir, bool json, const std::vector<std::string>& args);

}  // namespace obagent::cli
