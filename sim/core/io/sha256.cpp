#include "core/io/sha256.hpp"

#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace moesim {

namespace {
std::string hex(const unsigned char* d, unsigned n)
{
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += digits[d[i] >> 4];
    s += digits[d[i] & 15];
  }
  return s;
}

std::string sha256_stream(std::istream& in, const std::string& path)
{
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0)
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad())
    throw InputError(path, "", "read error while hashing");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  return hex(md, n);
}
} // namespace

static std::string file_stamp(const std::string& path)
{
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec)
    return "";
  const auto mtime = fs::last_write_time(path, ec);
  if (ec)
    return "";
  return std::to_string(size) + ":" + std::to_string(mtime.time_since_epoch().count());
}

std::string digests_for_children(const std::vector<std::string>& paths)
{
  std::string out;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p))
      continue;
    const std::string abs = std::filesystem::absolute(p).lexically_normal().string();
    const std::string stamp = file_stamp(abs);
    if (stamp.empty() || abs.find_first_of("|\n") != std::string::npos)
      continue;
    out += abs + "|" + stamp + "|" + sha256_file(p) + "\n";
  }
  return out;
}

std::string sha256_file(const std::string& path)
{
  namespace fs = std::filesystem;
  // A digest the parent process computed (sweep, compare: the same inputs for every child), used only while the
  // file still has the size and modification time it had then.
  if (const char* known = std::getenv(kDigestsEnv); known != nullptr && !fs::is_directory(path)) {
    const std::string abs = fs::absolute(path).lexically_normal().string();
    const std::string head = abs + "|" + file_stamp(abs) + "|";
    const std::string all = known;
    for (size_t pos = 0; pos < all.size();) {
      const size_t end = std::min(all.find('\n', pos), all.size());
      if (all.compare(pos, head.size(), head) == 0 && end - pos == head.size() + 64)
        return all.substr(pos + head.size(), 64);
      pos = end + 1;
    }
  }
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file())
        files.push_back(fs::relative(e.path(), path).string());
    std::sort(files.begin(), files.end());
    std::string listing;
    for (const auto& f : files)
      listing += f + " " + sha256_file((fs::path(path) / f).string()) + "\n";
    std::istringstream in(listing);
    return sha256_stream(in, path);
  }
  note_input_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path, "", "cannot open file");
  return sha256_stream(in, path);
}

} // namespace moesim
