// The machine's own objects in the vault beside its data: the machine record
// (machine.json of a local vault; vaultd's record of the machine in service
// mode) and the wrapped master key (keys/<key id>). Both are read only when
// they are needed most — at re-registration or when another machine
// recovers, after the KEK file is lost — so verify checks them and repair
// writes them again from what this machine still has.
#pragma once

#include <string>
#include <vector>

#include "obagent/engine/agent.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct MachineRecordCheck {
  // One line per problem, naming the object.
  std::vector<std::string> problems;
  bool key_damaged = false;     // keys/<id> missing, unreadable or not opening
  bool record_damaged = false;  // machine.json missing, malformed or inconsistent
  bool ok() const { return problems.empty(); }
};

// The wrapped key must parse, carry its id and open with the KEK in scratch
// to the master key the repository uses; the record must parse and name this
// machine (id, host name, key id; in service mode: id, host name and vault).
// Errors reaching the vault are returned; everything else is a problem.
Result<MachineRecordCheck> CheckMachineRecord(platform::Env& env, OpenedAgent& agent);

// Repair (under the writer lock): a damaged wrapped key is stored again from
// the copy in the KEK file (which opens: checked first) and a damaged
// machine.json of a local vault is written again from this machine's
// registration. vaultd's own record cannot be written by a machine: a
// problem there stays, named. Returns what was written.
Result<std::vector<std::string>> HealMachineRecord(platform::Env& env, OpenedAgent& agent,
                                                   bool dry_run);

}  // namespace obagent::engine
