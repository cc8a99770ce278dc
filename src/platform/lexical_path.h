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

// A Windows path made absolute and resolved lexically, in '/' form: what
// Env::AbsolutePath gives on Windows and what LongPath prefixes with
// "\\?\". Names are kept exactly ("foo ", "foo.", "CON", "NUL.txt"):
// unlike GetFullPathNameW nothing strips trailing dots or spaces or maps a
// device name. `current_dir` is the process's current folder, absolute
// ("C:/work", "//server/share/x"). '\\' counts as '/'.
//   "C:/a/../b" -> "C:/b"; "c:" -> "C:/"; "x" -> "<cwd>/x";
//   "/x" -> "<drive of cwd>/x"; "C:x" -> "<cwd>/x" when the current folder
//   is on C:, else "C:/x"; "//server/share/x" stays UNC; "//?/C:/x" -> "C:/x";
//   "//?/UNC/server/share" -> "//server/share/"; the walker's
//   "/C:/data" -> "C:/data".
std::string AbsoluteWindowsPath(std::string_view path, std::string_view current_dir);

// An absolute '/' path of AbsoluteWindowsPath in the Win32 form that turns
// off Win32's name parsing: "C:/a/b" -> "\\?\C:\a\b",
// "//server/share/x" -> "\\?\UNC\server\share\x". Paths already in
// "//?/" or "//./" (device) form only get backslashes.
std::string Win32LongForm(std::string_view absolute);

}  // namespace obagent::platform
