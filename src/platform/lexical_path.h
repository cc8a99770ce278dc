// The lexical half of Env::AbsolutePath, shared by env_posix.cc and
// env_win.cc: each finds the path's root and makes the path absolute with
// its OS's calls; resolving "." and ".." is the same on both. No OS calls
// here. Internal to src/platform.
#pragma once

#include <string>
#include <string_view>

namespace obagent::platform {

// `root` followed by the '/'-separated components of `rest` with empty and
// "." components dropped and each ".." removing the component before it
// ("..": at the root stays at the root, as the OS resolves it). The result
// is `root` + "/" when nothing is left.
//   ResolveDotsLexically("", "/a/./b/../c//") == "/a/c"
//   ResolveDotsLexically("C:", "/..")         == "C:/"
std::string ResolveDotsLexically(std::string_view root, std::string_view rest);

}  // namespace obagent::platform
