// SearchPoint (obagent/engine/browse.h): a walk of a point's trees matching
// names with the engine's glob rule.
#include "obagent/engine/browse.h"

#include <utility>

#include "engine/glob.h"
#include "engine/paths.h"

namespace obagent::engine {

Result<SearchResult> SearchPoint(Repository& repo, const ObjectId& root, std::string_view pattern,
                                 size_t max_results) {
  SearchResult result;
  // Depth first, folders in tree order.
  std::vector<std::pair<std::string, ObjectId>> folders = {{"/", root}};
  while (!folders.empty() && !result.truncated) {
    auto [dir, id] = folders.back();
    folders.pop_back();
    OB_ASSIGN_OR_RETURN(tree::Tree t, repo.ReadTree(id));
    for (auto it = t.nodes.rbegin(); it != t.nodes.rend(); ++it) {
      std::string path = JoinPath(dir, it->name);
      if (it->type == tree::NodeType::kDirectory && it->subtree) {
        folders.emplace_back(path, *it->subtree);
      }
      if (GlobMatch(pattern, it->name)) {
        if (result.items.size() == max_results) {
          result.truncated = true;
          break;
        }
        result.items.push_back({std::move(path), *it});
      }
    }
  }
  return result;
}

}  // namespace obagent::engine
