// '/'-separated path helpers shared by backup and restore (paths inside a
// recovery point are always '/'-separated, whatever the platform).
#pragma once

#include <string>
#include <vector>

namespace obagent::engine {

// "/a/b/" -> {"a", "b"}; empty components dropped.
std::vector<std::string> SplitPath(const std::string& path);
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace obagent::engine
