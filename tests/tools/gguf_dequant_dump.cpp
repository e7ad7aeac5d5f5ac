// strata-gguf-dump FILE OUT: writes every tensor of a GGUF file, dequantized to float32, to OUT
// (tensors in file order, each dims[0]-fastest), so tests can compare it with the gguf package.
#include <cstdio>
#include <exception>
#include <fstream>

#include "engine/gguf/dequantize.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: strata-gguf-dump FILE.gguf OUT.f32\n");
    return 2;
  }
  try {
    auto file = strata::gguf::GgufFile::open(argv[1]);
    std::ofstream out(argv[2], std::ios::binary);
    for (const auto& tensor : file->tensors()) {
      auto values = strata::gguf::dequantize(tensor);
      out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
    }
    if (!out) throw std::runtime_error(std::string("cannot write ") + argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata-gguf-dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
