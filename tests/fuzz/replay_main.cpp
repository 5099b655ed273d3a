// Runs a fuzz target's LLVMFuzzerTestOneInput on files (the regression inputs fuzzing found, and the seeds) in the
// normal build, so every test run replays them without clang/libFuzzer. Exit 0 = no crash, no unexpected exception.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv)
{
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    std::printf("ok %s\n", argv[i]);
  }
  return 0;
}
