#include "core/io/json_util.hpp"

#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"

#include <fstream>
#include <sstream>

namespace moesim {

std::string read_text_file(const std::string& path)
{
  note_input_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path, "", "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void JsonView::fail(const std::string& key, const std::string& what) const
{
  throw InputError(file_, "key '" + key_path(key) + "'", what);
}

bool JsonView::has(const std::string& key) const { return node_->is_object() && node_->contains(key); }

bool JsonView::is_null(const std::string& key) const { return !has(key) || (*node_)[key].is_null(); }

const nlohmann::json& JsonView::at(const std::string& key, const char* expected) const
{
  if (!node_->is_object())
    throw InputError(file_, path_.empty() ? "top level" : "key '" + path_ + "'", "expected a JSON object");
  auto it = node_->find(key);
  if (it == node_->end())
    fail(key, std::string("missing (expected ") + expected + ")");
  return *it;
}

int64_t JsonView::get_int64(const std::string& key, int64_t min_value) const
{
  const auto& v = at(key, "an integer");
  if (!v.is_number_integer())
    fail(key, "expected an integer, got " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < min_value)
    fail(key, "expected an integer >= " + std::to_string(min_value) + ", got " + std::to_string(x));
  return x;
}

int JsonView::get_int(const std::string& key, int min_value) const
{
  const int64_t x = get_int64(key, min_value);
  if (x > 1'000'000'000)
    fail(key, "value " + std::to_string(x) + " is implausibly large (expected at most 1e9)");
  return static_cast<int>(x);
}

double JsonView::get_double(const std::string& key) const
{
  const auto& v = at(key, "a number");
  if (!v.is_number())
    fail(key, "expected a number, got " + v.dump());
  return v.get<double>();
}

std::string JsonView::get_string(const std::string& key) const
{
  const auto& v = at(key, "a string");
  if (!v.is_string())
    fail(key, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<int> JsonView::get_int_list(const std::string& key) const
{
  const auto& v = at(key, "a list of integers");
  if (!v.is_array())
    fail(key, "expected a list of integers, got " + v.dump());
  std::vector<int> out;
  for (const auto& e : v) {
    if (!e.is_number_integer())
      fail(key, "expected a list of integers, found element " + e.dump());
    out.push_back(e.get<int>());
  }
  return out;
}

JsonView JsonView::child(const std::string& key) const
{
  const auto& v = at(key, "an object");
  if (!v.is_object())
    fail(key, std::string("expected an object, got ") + v.type_name());
  return JsonView(&v, file_, key_path(key));
}

JsonView JsonView::child_or_null(const std::string& key) const
{
  if (is_null(key))
    return JsonView();
  return child(key);
}

JsonDocument JsonDocument::parse(const std::string& text, const std::string& file)
{
  JsonDocument d;
  d.file_ = file;
  try {
    d.json_ = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; report it as line:column.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else
        ++col;
    }
    // nlohmann's text is "[json.exception...] parse error at line L, column C: <what>"; keep <what>.
    std::string msg = e.what();
    const auto pos = msg.find(": ", msg.find("parse error"));
    throw InputError(file, "line " + std::to_string(line) + ", column " + std::to_string(col),
                     "invalid JSON (" + (pos == std::string::npos ? msg : msg.substr(pos + 2)) + ")");
  } catch (const nlohmann::json::exception& e) {
    // Found by fuzzing: a number too large for a double (e.g. 10E944) is out_of_range, not a parse error.
    std::string msg = e.what();
    const auto pos = msg.find("] ");
    throw InputError(file, "", "invalid JSON (" + (pos == std::string::npos ? msg : msg.substr(pos + 2)) + ")");
  }
  return d;
}

} // namespace moesim
