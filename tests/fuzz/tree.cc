// Fuzz target: tree blobs (tree::ParseTree), the directory listings of a
// recovery point as read back from the vault after decryption. A tree that
// parses must hold only safe names and serialize back to a tree that parses
// to the same nodes.
#include <cstdint>
#include <cstdlib>

#include "obagent/core/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = tree::ParseTree(ByteView(data, size));
  if (!parsed.ok()) return 0;
  for (const tree::Node& node : parsed->nodes) {
    if (!tree::IsSafeName(node.name)) std::abort();
  }
  auto again = tree::ParseTree(tree::SerializeTree(*parsed));
  if (!again.ok() || again->nodes != parsed->nodes) std::abort();
  return 0;
}
