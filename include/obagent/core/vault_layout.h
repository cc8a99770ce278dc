// Where a vault keeps each machine (docs/formats.md): the names both sides of
// the vault agree on, the engine's embedded (local folder) vault and vaultd's
// blob store. Everything of one machine lives below MachinePrefix(id); what
// is inside that folder is the repository's (engine/repository.h,
// RepoLayout).
#pragma once

#include <string>
#include <string_view>

namespace obagent::vault_layout {

// The folder of every machine's objects.
inline constexpr std::string_view kMachinesPrefix = "machines/";

// "machines/<machine id>/": one machine's objects.
inline std::string MachinePrefix(std::string_view machine_id) {
  std::string prefix(kMachinesPrefix);
  prefix.append(machine_id);
  prefix += '/';
  return prefix;
}

// The machine record of a local vault, in the machine's folder
// (engine/vault_connection.h: MachineRecord). vaultd keeps its own record
// of a machine in its metadata instead.
inline constexpr std::string_view kMachineRecord = "machine.json";

}  // namespace obagent::vault_layout
