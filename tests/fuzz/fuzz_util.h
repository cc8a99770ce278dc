// Shared parts of the libFuzzer targets (tests/fuzz/*.cc): the fixed test
// key of the sealed-format targets, a scratch folder removed at exit, and
// the text form of an HTTP-like request that the route targets read.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"

namespace obagent::fuzz {

// The key every sealed-format target and its seeds use: bytes 1, 2, … 32.
inline crypto::Key TestKey() {
  crypto::Key key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i + 1);
  return key;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A fresh folder under $TMPDIR (else /dev/shm, a RAM disk where fsync is
// free, else /tmp), removed when the process ends normally (libFuzzer's
// -max_total_time and -runs end with exit()).
inline const std::string& ScratchDir(const char* name) {
  static std::string dir = [name] {
    const char* env = std::getenv("TMPDIR");
    std::error_code ec;
    std::string base = env && *env                                     ? env
                       : std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                                                                       : "/tmp";
    std::string tmpl = base + "/obagent-fuzz-" + name + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  static const bool registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)registered;
  return dir;
}

// A request in the text form the route targets read (seeds in
// tests/fuzz/corpus/<target>/):
//   METHOD SP TARGET LF        TARGET = path[?query]
//   (NAME: VALUE LF)*          header names are lower-cased
//   LF
//   body                       everything after the blank line
// A missing part is empty. No validation: the handler gets what it gets.
struct TextRequest {
  std::string method;
  std::string path;
  std::string query;
  std::map<std::string, std::string> headers;
  std::string body;
};

inline TextRequest ParseTextRequest(std::string_view text) {
  TextRequest r;
  auto next_line = [&text](std::string_view& line) {
    if (text.empty()) return false;
    size_t lf = text.find('\n');
    line = text.substr(0, lf);
    text = lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1);
    return true;
  };
  std::string_view line;
  if (!next_line(line)) return r;
  size_t sp = line.find(' ');
  r.method = std::string(line.substr(0, sp));
  std::string_view target = sp == std::string_view::npos ? "" : line.substr(sp + 1);
  size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  while (next_line(line) && !line.empty()) {
    size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers[name] = std::string(value);
  }
  r.body = std::string(text);
  return r;
}

// Replaces every "$name" of `vars` in `text`, the longest name that
// matches at each '$' ("$machine_id" before "$machine").
inline std::string Substitute(std::string_view text,
                              const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const std::string* best_name = nullptr;
    const std::string* best_value = nullptr;
    if (text[i] == '$') {
      for (const auto& [name, value] : vars) {
        if (text.substr(i + 1).starts_with(name) &&
            (!best_name || name.size() > best_name->size())) {
          best_name = &name;
          best_value = &value;
        }
      }
    }
    if (best_name) {
      out += *best_value;
      i += best_name->size();
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace obagent::fuzz
