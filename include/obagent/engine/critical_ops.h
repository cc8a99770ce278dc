// The critical operations a vault service guards with its Security PIN
// (docs/operations.md, "The Security PIN"): the engine carries the PIN the
// user gives (obctl --pin, the console's Security PIN field) to vaultd,
// which checks it; obctl and the console only parse and present. In
// embedded mode (a local vault folder) there is no PIN and no retention
// floor: the PIN is ignored.
#pragma once

#include <string>

#include "obagent/engine/retention.h"
#include "obagent/engine/vault_connection.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

inline VaultRetention VaultRetentionOf(const RetentionPolicy& r) {
  return {r.daily_days, r.weekly_weeks, r.monthly_months, r.yearly_years};
}

// Tells the vault of a registered machine its retention (vaultd sets the
// floor of its recovery points from it); `pin` for a reduction. Nothing to
// do, and Ok, for a machine that is not registered or uses a local vault.
// 0x29834 under MARS's minimums, 100130 for a reduction without a valid
// PIN, ImmutableVault for a reduction on an immutable vault.
Status RegisterRetention(platform::Env& env, const std::string& state_dir,
                         const RetentionPolicy& retention, const std::string& pin);

// Stop protection: the vault first (with delete_data, vaultd soft-deletes
// every object of the machine but its keys, with the PIN; kUnsupported for
// a local vault), then the policy is removed. A refusal changes nothing.
Status StopProtection(platform::Env& env, const std::string& state_dir, bool delete_data,
                      const std::string& pin);

}  // namespace obagent::engine
