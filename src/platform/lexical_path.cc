#include "platform/lexical_path.h"

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

}  // namespace obagent::platform
