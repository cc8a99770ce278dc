// The console's pages (src/api/console/), compiled in by
// cmake/embed_assets.cmake.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace obagent::api {

struct ConsoleAsset {
  std::string_view path;  // relative to src/api/console, '/'-separated: "index.html"
  std::string_view content_type;
  const unsigned char* data;
  size_t size;
};

std::span<const ConsoleAsset> ConsoleAssets();

}  // namespace obagent::api
