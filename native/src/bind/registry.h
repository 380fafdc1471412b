// Native objects that JavaScript refers to by small integer ids (store clients, communicators,
// collectives in flight): JS holds the id and releases it explicitly; src/dist owns the
// lifetimes. Thread-safe, as waits run on worker threads.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace telechat {

template <typename T>
class Registry {
 public:
  explicit Registry(const char* what) : what_(what) {}

  int add(std::shared_ptr<T> item) {
    std::lock_guard<std::mutex> lock(mu_);
    const int id = next_++;
    items_[id] = std::move(item);
    return id;
  }

  // The object with this id; throws naming what was looked for.
  std::shared_ptr<T> get(int64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(static_cast<int>(id));
    if (it == items_.end()) throw std::runtime_error(missing(id));
    return it->second;
  }

  // Removes and returns the object; throws when there is none.
  std::shared_ptr<T> take(int64_t id) {
    std::shared_ptr<T> item = remove(id);
    if (!item) throw std::runtime_error(missing(id));
    return item;
  }

  // Removes and returns the object, or null when there is none (release paths).
  std::shared_ptr<T> remove(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(static_cast<int>(id));
    if (it == items_.end()) return nullptr;
    std::shared_ptr<T> item = std::move(it->second);
    items_.erase(it);
    return item;
  }

 private:
  std::string missing(int64_t id) const {
    return std::string("no such ") + what_ + " (id " + std::to_string(id) + "; released already?)";
  }

  mutable std::mutex mu_;
  std::map<int, std::shared_ptr<T>> items_;
  int next_ = 1;
  const char* what_;
};

}  // namespace telechat
