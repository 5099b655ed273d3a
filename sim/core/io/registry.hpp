#pragma once
// A name -> entry registry for things that register themselves from their own .cpp (placement and grouping
// policies, all-to-all kernel models): a static `const bool registered = R::instance().add(...)` in each file, linked
// as an OBJECT library (or referenced) so the registration is kept. No central if/else factory.
#include "core/io/errors.hpp"

#include <map>
#include <string>

namespace moesim {

template <typename Fn> class Registry {
public:
  struct Entry {
    std::string description;
    Fn fn;
  };
  static Registry& instance()
  {
    static Registry r;
    return r;
  }
  /// Returns true so registrations can initialise a static bool.
  bool add(const std::string& name, std::string description, Fn fn)
  {
    entries_[name] = Entry{std::move(description), std::move(fn)};
    return true;
  }
  /// UsageError "unknown <kind> <what> '<name>' (known: ...)" when `name` is unknown.
  const Entry& get(const std::string& name, const char* kind, const char* what = "policy") const
  {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      std::string known;
      for (const auto& [n, e] : entries_)
        known += (known.empty() ? "" : ", ") + n;
      throw UsageError(std::string("unknown ") + kind + (*what ? " " : "") + what + " '" + name + "' (known: " +
                       known + ")");
    }
    return it->second;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }

private:
  std::map<std::string, Entry> entries_;
};

} // namespace moesim
