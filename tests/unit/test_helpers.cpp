#include "test_helpers.hpp"

#include "core/io/errors.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <zlib.h>

namespace moesim::test {

TempDir::TempDir()
{
  std::string tmpl = (std::filesystem::temp_directory_path() / "moesim-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir()
{
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string source_path(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

void write_file(const std::string& path, const std::string& text)
{
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream os(path, std::ios::binary);
  os << text;
}

std::string read_file(const std::string& path)
{
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string input_error_of(const std::function<void()>& fn)
{
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

void write_gzip(const std::string& path, const std::string& text)
{
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

ModelSpec tiny_model(int layers, int experts, int k)
{
  ModelSpec m;
  m.name = "tiny";
  m.model_type = "mixtral";
  m.num_layers = layers;
  for (int l = 0; l < layers; ++l)
    m.moe_layers.push_back(l);
  m.num_routed_experts = experts;
  m.top_k = k;
  m.hidden_size = 256;
  m.expert_ffn_size = 512;
  m.dense_ffn_size = 1024;
  m.vocab_size = 1000;
  m.num_attention_heads = 4;
  m.num_kv_heads = 4;
  m.head_dim = 64;
  m.param_dtype = m.expert_param_dtype = "bf16";
  return m;
}

} // namespace moesim::test
