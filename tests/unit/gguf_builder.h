// Builds GGUF files byte by byte for the reader's tests, including deliberately broken ones.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strata::test {

class GgufBuilder {
 public:
  template <typename T>
  GgufBuilder& raw(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  GgufBuilder& str(const std::string& s) {
    raw<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  GgufBuilder& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw<uint32_t>(0x46554747).raw<uint32_t>(version).raw<uint64_t>(n_tensors).raw<uint64_t>(n_kv);
  }
  GgufBuilder& kv_u32(const std::string& key, uint32_t v) { return str(key).raw<uint32_t>(4).raw<uint32_t>(v); }
  GgufBuilder& kv_str(const std::string& key, const std::string& v) { return str(key).raw<uint32_t>(8).str(v); }
  // Tensor info: name, dims, type, offset.
  GgufBuilder& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).raw<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (auto d : dims) raw<uint64_t>(d);
    return raw<uint32_t>(type).raw<uint64_t>(offset);
  }
  GgufBuilder& align(size_t alignment = 32) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
    return *this;
  }
  GgufBuilder& floats(std::vector<float> values) {
    for (float v : values) raw<float>(v);
    return *this;
  }

  std::string write(const std::string& name) const { return write_prefix(name, bytes.size()); }
  std::string write_prefix(const std::string& name, size_t n) const {
    auto path = (std::filesystem::temp_directory_path() / ("strata_test_" + name + ".gguf")).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(n));
    return path;
  }

  std::vector<uint8_t> bytes;
};

}  // namespace strata::test
