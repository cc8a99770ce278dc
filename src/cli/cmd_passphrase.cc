// obctl passphrase change (Set-OBMachineSetting -EncryptionPassphrase).
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

namespace obagent::cli {

int PassphraseChange(Globals& g, const std::vector<std::string>& args) {
  std::string new_passphrase_file, pin;
  OptionSet options("passphrase change");
  options.Add("new-passphrase-file", &new_passphrase_file, "file with the new passphrase");
  options.Add("pin", &pin, "the vault's Security PIN (vaultd; from obctl vault security-pin)");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto pass = ReadSecret(*g.env, new_passphrase_file, "OBAGENT_NEW_PASSPHRASE", "new passphrase");
  if (!pass.ok()) return Fail(g, pass.status());
  Status st = engine::ChangePassphrase(*g.env, g.state_dir, *pass, pin);
  if (!st.ok()) return Fail(g, st);
  g.out->Result({{"ok", true}}, [](std::ostream& o, std::ostream&) {
    o << "Passphrase changed. The data was not re-encrypted; the old passphrase no longer "
         "opens it.\n";
  });
  return kExitOk;
}

}  // namespace obagent::cli
