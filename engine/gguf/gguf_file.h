// A GGUF v2/v3 file opened by memory map: metadata, tensor infos and tensor bytes.
//
// Every length and offset read from the file is checked against the file size before it is
// used, so a truncated or corrupt file yields a FormatError naming what is wrong, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "engine/gguf/gguf_types.h"

namespace strata::gguf {

struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One metadata value. Arrays hold their elements (possibly arrays themselves).
struct Value {
  ValueType type = ValueType::kUint8;
  ValueType array_type = ValueType::kUint8;  // element type when type == kArray
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<Value>> data;

  bool is_integer() const;
  bool is_float() const;
  // Typed views; each throws FormatError naming `key` when the value has another type.
  int64_t as_int(const std::string& key) const;      // any integer type (uint64 must fit)
  double as_double(const std::string& key) const;    // any integer or float type
  bool as_bool(const std::string& key) const;
  const std::string& as_string(const std::string& key) const;
  const std::vector<Value>& as_array(const std::string& key) const;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // dims[0] varies fastest (ggml's ne[0])
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;         // relative to the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping
  uint64_t rows() const { return dims.empty() ? 1 : n_elements / dims[0]; }
};

class GgufFile {
 public:
  // Opens and validates `path`. Throws FormatError (and std::system_error for I/O) with the
  // path and the reason.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }

  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const Value* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Required keys: throw FormatError "missing metadata key 'k'" when absent.
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  // Optional keys: fallback when absent, FormatError when present with a wrong type.
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> get_string_array(const std::string& key) const;  // empty if absent
  std::vector<double> get_double_array(const std::string& key) const;       // empty if absent
  std::vector<int64_t> get_int_array(const std::string& key) const;         // empty if absent

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;
  const TensorInfo& tensor(const std::string& name) const;  // throws FormatError if absent

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace strata::gguf
