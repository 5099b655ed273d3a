#pragma once
// Reading JSON with errors that name the file and the key path (e.g. "text_config.num_local_experts").
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace moesim {

/// Reads a whole file; InputError if it cannot be opened.
std::string read_text_file(const std::string& path);

class JsonView {
public:
  JsonView() = default;
  JsonView(const nlohmann::json* node, std::string file, std::string path)
      : node_(node), file_(std::move(file)), path_(std::move(path)) {}

  bool valid() const { return node_ != nullptr; }
  bool has(const std::string& key) const;
  bool is_null(const std::string& key) const;
  /// Integer value of key, at least min_value; InputError when missing, not an integer or too small.
  int get_int(const std::string& key, int min_value) const;
  int64_t get_int64(const std::string& key, int64_t min_value) const;
  double get_double(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int> get_int_list(const std::string& key) const;
  /// The object under key; InputError when missing or not an object.
  JsonView child(const std::string& key) const;
  /// The object under key, or an invalid view when absent or null.
  JsonView child_or_null(const std::string& key) const;
  const nlohmann::json& node() const { return *node_; }
  const std::string& file() const { return file_; }
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

private:
  const nlohmann::json& at(const std::string& key, const char* expected) const;
  const nlohmann::json* node_ = nullptr;
  std::string file_;
  std::string path_;
};

class JsonDocument {
public:
  /// Parses text; InputError with line and column on a syntax error.
  static JsonDocument parse(const std::string& text, const std::string& file);
  JsonView root() const { return JsonView(&json_, file_, ""); }

private:
  nlohmann::json json_;
  std::string file_;
};

} // namespace moesim
