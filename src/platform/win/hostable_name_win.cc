// platform::HostableName for Windows: the escaped name under which an entry
// whose name Win32 cannot hold is restored (see platform.h for the rules and
// docs/operations.md for how users see it). Each offending byte b becomes
// the private-use character U+F000+b, the mapping Cygwin and WSL use for the
// same purpose, so a name escaped here reads back the same way there.
// Pure string work, no Win32 calls.
#include <windows.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "platform/win/text/utf16.h"

namespace obagent::platform {
namespace {

// One character of the name: `length` bytes at `at`, `valid` if they form
// one UTF-8 character (else a single byte that does not), `escape` if it is
// written as U+F000+byte.
struct Unit {
  size_t at = 0;
  size_t length = 1;
  bool valid = true;
  bool escape = false;
};

// The length of the valid UTF-8 character at s[i] (RFC 3629: shortest form,
// no surrogates, at most U+10FFFF), or 0 when the bytes there are not one.
// Exactly what MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS) accepts.
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  auto continuation = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  uint8_t b = byte(i);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b == 0xED && b1 >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b == 0xF4 && b1 >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // a continuation byte alone, C0/C1 (overlong), F5-FF
}

// Characters Win32 refuses anywhere in a name ('/' and NUL never reach here
// from a recovery point; escaped too, so the result is always one component).
bool ForbiddenAscii(uint8_t c) {
  return c < 0x20 || c == '<' || c == '>' || c == ':' || c == '"' || c == '/' || c == '\\' ||
         c == '|' || c == '?' || c == '*';
}

char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Whether `stem` (the name before its first '.', trailing spaces removed)
// is a reserved DOS device name, in any case.
bool ReservedDeviceName(std::string_view stem) {
  std::string upper;
  for (char c : stem) upper += Upper(c);
  for (std::string_view reserved : {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}) {
    if (upper == reserved) return true;
  }
  if (upper.size() < 4 || !(upper.starts_with("COM") || upper.starts_with("LPT"))) return false;
  std::string_view digit = std::string_view(upper).substr(3);
  if (digit.size() == 1 && digit[0] >= '0' && digit[0] <= '9') return true;
  // COM¹ COM² COM³ LPT¹ LPT² LPT³ (superscript digits, U+00B9 U+00B2 U+00B3).
  return digit == "\xC2\xB9" || digit == "\xC2\xB2" || digit == "\xC2\xB3";
}

void AppendEscaped(std::string& out, uint8_t b) {
  uint32_t cp = 0xF000u + b;
  out += static_cast<char>(0xE0 | (cp >> 12));
  out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out += static_cast<char>(0x80 | (cp & 0x3F));
}

}  // namespace

std::string HostableName(std::string_view name) {
  std::vector<Unit> units;
  units.reserve(name.size());
  bool changed = false;
  for (size_t i = 0; i < name.size();) {
    Unit u;
    u.at = i;
    size_t n = Utf8Length(name, i);
    if (n == 0) {
      u.valid = false;
      u.escape = true;
    } else {
      u.length = n;
      u.escape = n == 1 && ForbiddenAscii(static_cast<uint8_t>(name[i]));
    }
    changed |= u.escape;
    units.push_back(u);
    i += u.length;
  }
  auto plain = [&](const Unit& u, char c) { return !u.escape && u.length == 1 && name[u.at] == c; };
  // Win32 drops a trailing dot or space from a name.
  if (!units.empty() && (plain(units.back(), '.') || plain(units.back(), ' '))) {
    units.back().escape = true;
    changed = true;
  }
  // A reserved device name, alone or before an extension: its first letter.
  size_t stem_end = 0;
  bool stem_clean = true;
  while (stem_end < units.size() && !plain(units[stem_end], '.')) {
    if (units[stem_end].escape) stem_clean = false;
    ++stem_end;
  }
  size_t stem_units = stem_end;
  while (stem_units > 0 && plain(units[stem_units - 1], ' ')) --stem_units;
  if (stem_clean && stem_units > 0) {
    size_t bytes = units[stem_units - 1].at + units[stem_units - 1].length;
    if (ReservedDeviceName(name.substr(0, bytes))) {
      units.front().escape = true;
      changed = true;
    }
  }
  if (!changed) return std::string(name);
  std::string out;
  out.reserve(name.size() + 8);
  for (const Unit& u : units) {
    if (u.escape) {
      for (size_t k = 0; k < u.length; ++k)
        AppendEscaped(out, static_cast<uint8_t>(name[u.at + k]));
    } else {
      out.append(name.substr(u.at, u.length));
    }
  }
  return out;
}

// NTFS compares names through its upcase table; CharUpperBuffW applies the
// same simple (one-to-one) upper-casing to UTF-16.
std::string NameKey(std::string_view name) {
  std::wstring wide = win::Widen(name);
  if (!wide.empty()) CharUpperBuffW(wide.data(), static_cast<DWORD>(wide.size()));
  return win::Narrow(wide);
}

}  // namespace obagent::platform
