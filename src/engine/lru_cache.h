// A least-recently-used cache of shared immutable values with a cost budget
// (bytes, or 1 per entry). Not thread-safe: the owner locks around it.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>

namespace obagent::engine {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  explicit LruCache(size_t budget) : budget_(budget) {}

  // nullptr when absent; a hit becomes the most recently used entry.
  std::shared_ptr<const Value> Get(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  // Inserts (or replaces) and evicts the least recently used entries until
  // the budget holds again. An entry costing more than the whole budget is
  // not kept.
  void Put(const Key& key, std::shared_ptr<const Value> value, size_t cost) {
    if (auto it = map_.find(key); it != map_.end()) {
      used_ -= it->second->cost;
      order_.erase(it->second);
      map_.erase(it);
    }
    if (cost > budget_) return;
    order_.push_front(Entry{key, std::move(value), cost});
    map_.emplace(key, order_.begin());
    used_ += cost;
    while (used_ > budget_) {
      const Entry& last = order_.back();
      used_ -= last.cost;
      map_.erase(last.key);
      order_.pop_back();
    }
  }

  size_t used() const { return used_; }
  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    Key key;
    std::shared_ptr<const Value> value;
    size_t cost;
  };
  size_t budget_;
  size_t used_ = 0;
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> map_;
};

}  // namespace obagent::engine
