// UTF-8 (the program's strings) to and from UTF-16 (the Win32 calls'). Its
// own small library, obagent_win_text, because both the HTTP client
// (src/platform/win/http) and the rest of the Windows platform layer
// (win_util.h) need it, and the HTTP library is built before the platform
// library. Internal to src/platform/win.
#pragma once

#include <string>
#include <string_view>

namespace obagent::platform::win {

std::wstring Widen(std::string_view utf8);
std::string Narrow(std::wstring_view wide);

}  // namespace obagent::platform::win
