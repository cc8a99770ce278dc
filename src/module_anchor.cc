// Linked into every module library so that a module whose sources are still
// being written forms a valid (empty) static library.
namespace obagent::internal {
int module_anchor = 0;
}  // namespace obagent::internal
