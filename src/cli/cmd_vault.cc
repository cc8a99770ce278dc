// obctl vault init|create|credentials|deleted|undelete|security-pin|set|
// remove-machine|purge-deleted and obctl register: creating vaults (locally
// or, as vaultd's administrator, in the service), the administrator's view
// of soft-deleted data and its undelete, the Security PIN and the critical
// operations it allows, and registering this machine with one.
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/vault_client.h"
#include "obagent/http_client.h"

namespace obagent::cli {

void AddAdminOptions(OptionSet& options, AdminOptions& admin) {
  options.Add("service", &admin.service_url, "vaultd URL").Required();
  options.Add("admin-token-file", &admin.token_file,
              "file with the administrator token (or $OBAGENT_VAULT_ADMIN_TOKEN)");
}

Result<std::unique_ptr<engine::VaultClient>> AdminClient(Globals& g, const AdminOptions& admin,
                                                         const std::string& pin) {
  auto token = ReadSecret(*g.env, admin.token_file, "OBAGENT_VAULT_ADMIN_TOKEN",
                          "vault administrator token");
  if (!token.ok()) return token.status();
  engine::ServiceConnection conn;
  conn.url = admin.service_url;
  conn.token = *token;
  auto client = std::make_unique<engine::VaultClient>(conn);
  client->SetSecurityPin(pin);
  return client;
}

int VaultInit(Globals& g, const std::vector<std::string>& args) {
  std::string path;
  OptionSet options("vault init");
  options.Add("path", &path, "vault folder").Required();
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  Result<std::string> id = engine::InitLocalVault(*g.env, path);
  if (!id.ok()) return Fail(g, id.status());
  g.out->Result({{"ok", true}, {"vault_id", *id}}, [&](std::ostream& o, std::ostream&) {
    o << "Vault " << *id << " created at " << path << "\n";
  });
  return kExitOk;
}

int Register(Globals& g, const std::vector<std::string>& args) {
  engine::RegisterOptions request;
  std::string passphrase_file, proxy_password_file;
  OptionSet options("register");
  options.Add("vault-credentials", &request.credentials_file,
              "vault-credential file downloaded from the vault");
  options.Add("vault", &request.vault, "local vault folder (embedded mode)");
  options.Add("scratch", &request.scratch_dir, "scratch folder");
  options.Add("passphrase-file", &passphrase_file, "file with the passphrase");
  options.Add("proxy", &request.proxy, "HTTP proxy URL");
  options.Add("proxy-user", &request.proxy_user, "proxy user");
  options.Add("proxy-password-file", &proxy_password_file, "proxy password file");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  Result<std::string> pass =
      ReadSecret(*g.env, passphrase_file, "OBAGENT_PASSPHRASE", "passphrase");
  if (!pass.ok()) return Fail(g, pass.status());
  request.passphrase = *pass;
  if (!proxy_password_file.empty()) {
    auto pw = ReadSecret(*g.env, proxy_password_file, "OBAGENT_PROXY_PASSWORD", "proxy password");
    if (!pw.ok()) return Fail(g, pw.status());
    request.proxy_password = *pw;
  }
  Result<engine::AgentConfig> config = engine::Register(*g.env, g.state_dir, request);
  if (!config.ok()) return Fail(g, config.status());
  // A local vault has no name.
  std::string where = config->vault_name.empty()
                          ? config->VaultAddress()
                          : config->vault_name + " at " + config->VaultAddress();
  g.out->Result({{"ok", true},
                 {"machine_id", config->machine_id},
                 {"machine_name", config->machine_name},
                 {"vault_id", config->vault_id},
                 {"vault", where},
                 {"scratch", config->scratch_dir}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Registered '" << config->machine_name << "' (machine " << config->machine_id
                    << ") with vault " << where << "\nScratch folder: " << config->scratch_dir
                    << "\nKeep your passphrase safe: without it no other machine can recover "
                       "this data.\n";
                });
  return kExitOk;
}

int VaultCreate(Globals& g, const std::vector<std::string>& args) {
  std::string name;
  AdminOptions admin;
  OptionSet options("vault create");
  options.Add("name", &name, "vault name").Required().Positional();
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("POST", "/v1/vaults", {{"name", name}});
  if (!answer.ok()) return Fail(g, answer.status());
  std::string vault_name = answer->value("name", ""), vault_id = answer->value("vault_id", "");
  g.out->Result({{"ok", true}, {"name", vault_name}, {"vault_id", vault_id}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Vault '" << vault_name << "' created (" << vault_id << ")\n";
                });
  return kExitOk;
}

int VaultCredentials(Globals& g, const std::vector<std::string>& args) {
  std::string name, out;
  std::optional<double> validity_hours;
  AdminOptions admin;
  OptionSet options("vault credentials");
  options.Add("name", &name, "vault name").Required().Positional();
  options.Add("out", &out, "file to write").Required();
  options.Add("validity-hours", &validity_hours, "validity (default: the vault's, 48 h)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  json body = json::object();
  if (validity_hours) body["validity_hours"] = *validity_hours;
  auto answer = (*client)->Call("POST", "/v1/vaults/" + name + "/credentials", body);
  if (!answer.ok()) return Fail(g, answer.status());
  std::string xml = answer->value("credentials", "");
  Status st = g.env->WriteFileAtomic(out, AsBytes(xml), true);
  if (!st.ok()) return Fail(g, st);
  // vaultd sends the time as text::FormatIsoUtc writes it.
  std::string expires_at = answer->value("expires_at", "");
  g.out->Result({{"ok", true}, {"file", out}, {"expires_at", expires_at}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Vault credentials written to " << out << " (valid until " << expires_at
                    << "; earlier downloads are no longer valid)\n";
                });
  return kExitOk;
}

namespace {
std::string MachinePath(const std::string& vault, const std::string& machine) {
  return "/v1/vaults/" + platform::UrlEncode(vault) + "/machines/" + platform::UrlEncode(machine);
}

// A critical operation on one machine (`obctl vault remove-machine|purge-
// deleted VAULT MACHINE --pin PIN` and the administrator's options). Each
// command declares its OptionSet with AddPinnedMachineOptions and
// AddAdminOptions (so test_cli_help sees its options), parses, and
// CallWithPin sends METHOD to the machine's path + suffix with the Security
// PIN: std::nullopt with the answer, or the exit code when the request was
// refused or failed.
struct PinnedMachineCall {
  std::string vault, machine, pin;
  AdminOptions admin;
};

void AddPinnedMachineOptions(OptionSet& options, PinnedMachineCall& call) {
  options.Add("vault", &call.vault, "vault name").Required().Positional();
  options.Add("machine", &call.machine, "machine name or id").Required().Positional();
  options.Add("pin", &call.pin, "the vault's Security PIN (obctl vault security-pin)").Required();
}

std::optional<int> CallWithPin(Globals& g, const PinnedMachineCall& call, const std::string& method,
                               const std::string& suffix, json& answer) {
  auto client = AdminClient(g, call.admin, call.pin);
  if (!client.ok()) return Fail(g, client.status());
  auto result = (*client)->Call(method, MachinePath(call.vault, call.machine) + suffix);
  if (!result.ok()) return Fail(g, result.status());
  answer = std::move(result).value();
  return std::nullopt;
}
}  // namespace

int VaultDeleted(Globals& g, const std::vector<std::string>& args) {
  std::string vault, machine;
  AdminOptions admin;
  OptionSet options("vault deleted");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("machine", &machine, "machine name or id").Required().Positional();
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("GET", MachinePath(vault, machine) + "/deleted");
  if (!answer.ok()) return Fail(g, answer.status());
  json points = answer->value("recovery_points", json::array());
  json objects = answer->value("objects", json::array());
  std::string name = answer->value("machine", "");
  int days = answer->value("soft_delete_days", 0);
  g.out->Result({{"ok", true},
                 {"machine_id", answer->value("machine_id", "")},
                 {"machine_name", name},
                 {"soft_delete_days", days},
                 {"points", points},
                 {"objects", objects}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Machine '" << name << "': " << objects.size()
                    << " soft-deleted object(s), kept " << days << " days after deletion\n";
                  for (const json& p : points) {
                    o << "  recovery point " << p.value("id", "") << "  deleted "
                      << p.value("deleted_at", "") << "\n";
                  }
                  for (const json& ob : objects) {
                    o << "  " << ob.value("key", "") << "  deleted " << ob.value("deleted_at", "")
                      << "  purged after " << ob.value("purge_at", "") << "\n";
                  }
                });
  return kExitOk;
}

int VaultUndelete(Globals& g, const std::vector<std::string>& args) {
  std::string vault, machine, since;
  std::vector<std::string> points;
  AdminOptions admin;
  OptionSet options("vault undelete");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("machine", &machine, "machine name or id").Required().Positional();
  options.Add("since", &since, "undelete everything deleted at or after this UTC time");
  options.Add("point", &points, "undelete this recovery point and the data deleted with it");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  if (since.empty() == points.empty()) {
    return Fail(g, InvalidArgument("give either --since TIME or --point ID (repeatable)"));
  }
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  json body = since.empty() ? json{{"points", points}} : json{{"since", since}};
  auto answer = (*client)->Call("POST", MachinePath(vault, machine) + "/undelete", body);
  if (!answer.ok()) return Fail(g, answer.status());
  json ids = answer->value("recovery_points", json::array());
  int count = answer->value("undeleted", 0);
  g.out->Result({{"ok", true},
                 {"machine_id", answer->value("machine_id", "")},
                 {"undeleted", count},
                 {"undeleted_points", ids},
                 {"keys", answer->value("keys", json::array())}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Undeleted " << count << " object(s) of machine '" << machine << "', "
                    << ids.size() << " of them recovery points\n";
                  for (const json& id : ids) {
                    o << "  recovery point " << id.get<std::string>() << "\n";
                  }
                });
  return kExitOk;
}

int VaultSecurityPin(Globals& g, const std::vector<std::string>& args) {
  std::string vault;
  AdminOptions admin;
  OptionSet options("vault security-pin");
  options.Add("vault", &vault, "vault name").Required().Positional();
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer =
      (*client)->Call("POST", "/v1/vaults/" + platform::UrlEncode(vault) + "/security-pin");
  if (!answer.ok()) return Fail(g, answer.status());
  std::string pin = answer->value("pin", ""), expires_at = answer->value("expires_at", "");
  g.out->Result({{"ok", true}, {"vault", vault}, {"pin", pin}, {"expires_at", expires_at}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Security PIN for vault '" << vault << "': " << pin << "\nValid until "
                    << expires_at
                    << " (5 minutes), for one critical operation (--pin, or the console's "
                       "Security PIN field).\n";
                });
  return kExitOk;
}

int VaultSet(Globals& g, const std::vector<std::string>& args) {
  std::string vault, pin;
  std::optional<int> soft_delete_days;
  bool immutable = false, irreversible = false;
  AdminOptions admin;
  OptionSet options("vault set");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("soft-delete-days", &soft_delete_days,
              "days deleted data is kept (14..36500; 0 turns soft delete off: needs --pin)");
  options.Add("immutable", &immutable,
              "make the vault immutable: retention can no longer be reduced nor soft delete "
              "shortened, even with a PIN. IRREVERSIBLE; needs --yes-irreversible");
  options.Add("yes-irreversible", &irreversible, "confirm --immutable");
  options.Add("pin", &pin, "the vault's Security PIN (shortening or turning off soft delete)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  if (!soft_delete_days && !immutable) {
    return UsageError(options, "give --soft-delete-days N or --immutable");
  }
  if (immutable && !irreversible) {
    return Fail(g, InvalidArgument(
                       "an immutable vault cannot be made mutable again: its retention can never "
                       "be reduced and soft delete never shortened or turned off, not even with "
                       "the Security PIN. Give --yes-irreversible with --immutable to do it"));
  }
  auto client = AdminClient(g, admin, pin);
  if (!client.ok()) return Fail(g, client.status());
  json body = json::object();
  if (soft_delete_days) body["soft_delete_days"] = *soft_delete_days;
  if (immutable) body["immutable"] = true;
  auto answer =
      (*client)->Call("PUT", "/v1/vaults/" + platform::UrlEncode(vault) + "/settings", body);
  if (!answer.ok()) return Fail(g, answer.status());
  int days = answer->value("soft_delete_days", 0);
  bool is_immutable = answer->value("immutable", false);
  g.out->Result(
      {{"ok", true}, {"vault", vault}, {"soft_delete_days", days}, {"immutable", is_immutable}},
      [&](std::ostream& o, std::ostream&) {
        o << "Vault '" << vault << "': soft delete "
          << (days == 0 ? std::string("off") : std::to_string(days) + " days")
          << (is_immutable ? ", immutable (irreversible)" : "") << "\n";
      });
  return kExitOk;
}

int VaultRemoveMachine(Globals& g, const std::vector<std::string>& args) {
  PinnedMachineCall call;
  OptionSet options("vault remove-machine");
  AddPinnedMachineOptions(options, call);
  AddAdminOptions(options, call.admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  const std::string& machine = call.machine;
  json answer;
  if (auto exit = CallWithPin(g, call, "DELETE", "", answer)) return *exit;
  int count = answer.value("soft_deleted", 0), days = answer.value("purge_after_days", 0);
  g.out->Result({{"ok", true},
                 {"machine_id", answer.value("machine_id", "")},
                 {"machine_name", answer.value("machine", "")},
                 {"soft_deleted", count},
                 {"purge_after_days", days}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Machine '" << machine << "' removed: its token no longer works; " << count
                    << " object(s) soft-deleted, kept " << days
                    << " days (obctl vault undelete brings them back)\n";
                });
  return kExitOk;
}

int VaultPurgeDeleted(Globals& g, const std::vector<std::string>& args) {
  PinnedMachineCall call;
  OptionSet options("vault purge-deleted");
  AddPinnedMachineOptions(options, call);
  AddAdminOptions(options, call.admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  const std::string& machine = call.machine;
  json answer;
  if (auto exit = CallWithPin(g, call, "POST", "/purge", answer)) return *exit;
  int purged = answer.value("purged", 0), failed = answer.value("failed", 0);
  g.out->Result({{"ok", true},
                 {"machine_id", answer.value("machine_id", "")},
                 {"purged", purged},
                 {"failed", failed}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Purged " << purged << " soft-deleted object(s) of machine '" << machine
                    << "' for good" << (failed ? " (" + std::to_string(failed) + " failed)" : "")
                    << "\n";
                });
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace obagent::cli
