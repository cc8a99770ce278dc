#include "platform/lexical_path.h"

#include <cctype>
#include <vector>

namespace obagent::platform {

std::string ResolveDotsLexically(std::string_view root, std::string_view rest) {
  std::vector<std::string_view> parts;
  for (size_t i = 0; i <= rest.size();) {
    size_t j = rest.find('/', i);
    if (j == std::string_view::npos) j = rest.size();
    std::string_view part = rest.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out(root);
  for (std::string_view part : parts) {
    out += '/';
    out += part;
  }
  if (parts.empty()) out += '/';
  return out;
}

namespace {

bool IsDrive(std::string_view p) {
  return p.size() >= 2 && p[1] == ':' && std::isalpha(static_cast<unsigned char>(p[0]));
}

// "//server/share" of "//server/share/x" (everything if there is no '/'
// after the share).
size_t UncRootEnd(std::string_view p) {
  size_t host_end = p.find('/', 2);
  if (host_end == std::string_view::npos) return p.size();
  size_t share_end = p.find('/', host_end + 1);
  return share_end == std::string_view::npos ? p.size() : share_end;
}

}  // namespace

std::string AbsoluteWindowsPath(std::string_view input, std::string_view current_dir) {
  std::string path(input);
  for (char& c : path) c = c == '\\' ? '/' : c;
  if (path.rfind("//?/UNC/", 0) == 0) {
    path.erase(2, 6);  // "//?/UNC/server/share" -> "//server/share"
  } else if (path.rfind("//?/", 0) == 0) {
    path.erase(0, 4);
  }
  // The walker names drives as folders of "/": "/C:/data".
  if (path.size() >= 3 && path[0] == '/' && IsDrive(std::string_view(path).substr(1)) &&
      (path.size() == 3 || path[3] == '/')) {
    path.erase(0, 1);
  }
  std::string current(current_dir);
  for (char& c : current) c = c == '\\' ? '/' : c;
  std::string root;
  std::string rest;
  if (path.rfind("//", 0) == 0) {
    size_t end = UncRootEnd(path);
    root = path.substr(0, end);
    rest = path.substr(end);
  } else if (IsDrive(path) && (path.size() == 2 || path[2] == '/')) {
    root = path.substr(0, 2);
    rest = path.substr(2);
  } else if (IsDrive(path)) {
    // "C:x": relative to the current folder of that drive; only the
    // current drive's is known here.
    root = path.substr(0, 2);
    rest = "/" + path.substr(2);
    if (IsDrive(current) && std::toupper(static_cast<unsigned char>(current[0])) ==
                                std::toupper(static_cast<unsigned char>(path[0]))) {
      rest = current.substr(2) + rest;
    }
  } else {
    size_t current_root_end = current.rfind("//", 0) == 0 ? UncRootEnd(current)
                              : IsDrive(current)          ? 2
                                                          : 0;
    root = current.substr(0, current_root_end);
    rest = !path.empty() && path[0] == '/' ? path : current.substr(current_root_end) + "/" + path;
  }
  if (root.size() == 2 && root[1] == ':') {
    root[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(root[0])));
  }
  return ResolveDotsLexically(root, rest);
}

std::string Win32LongForm(std::string_view absolute) {
  std::string out;
  if (absolute.rfind("//?/", 0) == 0 || absolute.rfind("//./", 0) == 0) {
    out = absolute;
  } else if (absolute.rfind("//", 0) == 0) {
    out = "//?/UNC/";
    out += absolute.substr(2);
  } else {
    out = "//?/";
    out += absolute;
  }
  for (char& c : out) c = c == '/' ? '\\' : c;
  return out;
}

}  // namespace obagent::platform
