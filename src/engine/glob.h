// Exclusion patterns: '*' matches within one path component, '**' across
// components, '?' one character, [abc] / [a-z] / [!a] a class. A pattern
// without '/' is matched against the file's name, one with '/' against its
// absolute path.
#pragma once

#include <string_view>

namespace obagent::engine {

bool GlobMatch(std::string_view pattern, std::string_view text);
bool ExcludedBy(std::string_view pattern, std::string_view path, std::string_view name);

}  // namespace obagent::engine
