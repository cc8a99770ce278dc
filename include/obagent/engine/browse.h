// Finding items in a recovery point by name, for the front ends (the
// console's Recover Data search). The name-pattern rule (src/engine/glob.h:
// '*', '?', [a-z], matched against an item's name) stays in the engine; a
// front end only passes the user's pattern and presents what comes back.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/status.h"

namespace obagent::engine {

struct FoundItem {
  std::string path;  // absolute path in the point: "/home/me/a.txt"
  tree::Node node;
};

struct SearchResult {
  std::vector<FoundItem> items;
  bool truncated = false;  // more items matched than max_results
};

// The items below the point's root tree `root` whose name matches `pattern`,
// depth first with each folder's entries in tree order, at most max_results
// of them. Reads trees through `repo` (which may be used by other threads
// meanwhile); a tree that cannot be read fails the search.
Result<SearchResult> SearchPoint(Repository& repo, const ObjectId& root, std::string_view pattern,
                                 size_t max_results);

}  // namespace obagent::engine
