// The random part of the temporary names WriteFileAtomic creates beside its
// target (env_posix.cc, env_win.cc). No OS calls here: the caller passes its
// process id. Internal to src/platform.
#pragma once

#include <cstdint>
#include <string>

namespace obagent::platform {

// 16 hex characters, different between threads and processes without a
// system call per name (a per-thread generator seeded with the process id,
// mixed with a process-wide counter). Not a secret.
std::string RandomSuffix(uint64_t process_id);

}  // namespace obagent::platform
