#include "engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

namespace strata::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
// Sanity limits: far above any real model, low enough that a corrupt count cannot make us
// allocate gigabytes before the bounds checks catch it.
constexpr uint64_t kMaxTensors = 1u << 20;
constexpr uint64_t kMaxMetadata = 1u << 20;
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayNesting = 4;

// Bounds-checked little-endian cursor over the mapping.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    require(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    auto len = read<uint64_t>(what);
    if (len > remaining()) {
      throw FormatError(std::string("string length ") + std::to_string(len) + " of " + what +
                        " runs past the end of the file (offset " + std::to_string(pos_) + ")");
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }
  void require(uint64_t n, const char* what) const {
    if (n > remaining()) {
      throw FormatError(std::string("file truncated while reading ") + what + " (offset " +
                        std::to_string(pos_) + ", need " + std::to_string(n) + " bytes, " +
                        std::to_string(remaining()) + " left)");
    }
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    default: return 0;
  }
}

ValueType read_value_type(Cursor& cur, const std::string& key) {
  auto raw = cur.read<uint32_t>("metadata value type");
  if (raw > static_cast<uint32_t>(ValueType::kFloat64)) {
    throw FormatError("metadata key '" + key + "' has unknown value type " + std::to_string(raw));
  }
  return static_cast<ValueType>(raw);
}

Value read_value(Cursor& cur, ValueType type, const std::string& key, int depth) {
  Value v;
  v.type = type;
  switch (type) {
    case ValueType::kUint8: v.data = uint64_t{cur.read<uint8_t>("uint8 value")}; break;
    case ValueType::kUint16: v.data = uint64_t{cur.read<uint16_t>("uint16 value")}; break;
    case ValueType::kUint32: v.data = uint64_t{cur.read<uint32_t>("uint32 value")}; break;
    case ValueType::kUint64: v.data = cur.read<uint64_t>("uint64 value"); break;
    case ValueType::kInt8: v.data = int64_t{cur.read<int8_t>("int8 value")}; break;
    case ValueType::kInt16: v.data = int64_t{cur.read<int16_t>("int16 value")}; break;
    case ValueType::kInt32: v.data = int64_t{cur.read<int32_t>("int32 value")}; break;
    case ValueType::kInt64: v.data = cur.read<int64_t>("int64 value"); break;
    case ValueType::kFloat32: v.data = double{cur.read<float>("float32 value")}; break;
    case ValueType::kFloat64: v.data = cur.read<double>("float64 value"); break;
    case ValueType::kBool: {
      auto b = cur.read<uint8_t>("bool value");
      if (b > 1) throw FormatError("metadata key '" + key + "' has invalid bool byte " + std::to_string(b));
      v.data = b == 1;
      break;
    }
    case ValueType::kString: v.data = cur.read_string("string value"); break;
    case ValueType::kArray: {
      if (depth >= kMaxArrayNesting) throw FormatError("metadata key '" + key + "' nests arrays too deeply");
      v.array_type = read_value_type(cur, key);
      auto count = cur.read<uint64_t>("array length");
      // Every element takes at least one byte (a string at least eight), so a count larger than
      // the bytes left is corrupt; checking first keeps reserve() bounded by the file size.
      uint64_t min_elem = v.array_type == ValueType::kString ? 8
                          : v.array_type == ValueType::kArray ? 12
                                                              : scalar_size(v.array_type);
      if (min_elem == 0 || count > cur.remaining() / min_elem) {
        throw FormatError("metadata key '" + key + "': array of " + std::to_string(count) +
                          " elements runs past the end of the file");
      }
      std::vector<Value> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(cur, v.array_type, key, depth + 1));
      v.data = std::move(items);
      break;
    }
  }
  return v;
}

[[noreturn]] void wrong_type(const std::string& key, const Value& v, const char* wanted) {
  throw FormatError("metadata key '" + key + "' is " + std::string(value_type_name(v.type)) +
                    ", expected " + wanted);
}

}  // namespace

bool Value::is_integer() const {
  return std::holds_alternative<uint64_t>(data) || std::holds_alternative<int64_t>(data);
}
bool Value::is_float() const { return std::holds_alternative<double>(data); }

int64_t Value::as_int(const std::string& key) const {
  if (auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw FormatError("metadata key '" + key + "' value " + std::to_string(*u) + " is out of range");
    }
    return static_cast<int64_t>(*u);
  }
  if (auto* i = std::get_if<int64_t>(&data)) return *i;
  wrong_type(key, *this, "an integer");
}
double Value::as_double(const std::string& key) const {
  if (auto* d = std::get_if<double>(&data)) return *d;
  if (is_integer()) return static_cast<double>(as_int(key));
  wrong_type(key, *this, "a number");
}
bool Value::as_bool(const std::string& key) const {
  if (auto* b = std::get_if<bool>(&data)) return *b;
  wrong_type(key, *this, "a bool");
}
const std::string& Value::as_string(const std::string& key) const {
  if (auto* s = std::get_if<std::string>(&data)) return *s;
  wrong_type(key, *this, "a string");
}
const std::vector<Value>& Value::as_array(const std::string& key) const {
  if (auto* a = std::get_if<std::vector<Value>>(&data)) return *a;
  wrong_type(key, *this, "an array");
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open '" + path + "'");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "cannot stat '" + path + "'");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FormatError("'" + path + "' is not a regular file");
  }
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw std::system_error(err, std::generic_category(), "cannot map '" + path + "'");
    file->base_ = static_cast<const uint8_t*>(map);
  } else {
    ::close(fd);
  }
  try {
    file->parse();
  } catch (const FormatError& e) {
    throw FormatError("'" + path + "' is not a valid GGUF file: " + e.what());
  }
  return file;
}

GgufFile::~GgufFile() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
}

void GgufFile::parse() {
  Cursor cur(base_, size_);
  if (size_ < 4 || cur.read<uint32_t>("magic") != kMagic) throw FormatError("bad magic (expected 'GGUF')");
  version_ = cur.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    throw FormatError("unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  }
  auto n_tensors = cur.read<uint64_t>("tensor count");
  auto n_kv = cur.read<uint64_t>("metadata count");
  if (n_tensors > kMaxTensors) throw FormatError("absurd tensor count " + std::to_string(n_tensors));
  if (n_kv > kMaxMetadata) throw FormatError("absurd metadata count " + std::to_string(n_kv));

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = cur.read_string("metadata key");
    ValueType type = read_value_type(cur, key);
    Value value = read_value(cur, type, key, 0);
    if (!metadata_.emplace(key, std::move(value)).second) throw FormatError("duplicate metadata key '" + key + "'");
  }
  if (const Value* a = find("general.alignment")) {
    int64_t align = a->as_int("general.alignment");
    if (align <= 0 || (align & (align - 1)) != 0 || align > (1 << 20)) {
      throw FormatError("general.alignment " + std::to_string(align) + " is not a power of two");
    }
    alignment_ = static_cast<uint64_t>(align);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = cur.read_string("tensor name");
    auto n_dims = cur.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      throw FormatError("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    }
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      auto dim = cur.read<uint64_t>("tensor dimension");
      // 2^40 elements per tensor is beyond any file we could map; it also keeps the product
      // from overflowing.
      if (dim == 0 || dim > (uint64_t{1} << 40) || t.n_elements > (uint64_t{1} << 40) / dim) {
        throw FormatError("tensor '" + t.name + "' has absurd dimension " + std::to_string(dim));
      }
      t.dims.push_back(dim);
      t.n_elements *= dim;
    }
    auto raw_type = cur.read<uint32_t>("tensor type");
    t.type = static_cast<TensorType>(raw_type);
    auto traits = tensor_type_traits(t.type);
    if (!traits) throw FormatError("tensor '" + t.name + "' has unknown type " + std::to_string(raw_type));
    if (t.dims[0] % traits->block_elems != 0) {
      throw FormatError("tensor '" + t.name + "' row of " + std::to_string(t.dims[0]) +
                        " elements is not a multiple of the " + std::string(traits->name) + " block size " +
                        std::to_string(traits->block_elems));
    }
    t.n_bytes = t.n_elements / traits->block_elems * traits->block_bytes;
    t.offset = cur.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0) {
      throw FormatError("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not aligned to " +
                        std::to_string(alignment_));
    }
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) throw FormatError("duplicate tensor '" + t.name + "'");
    tensors_.push_back(std::move(t));
  }

  uint64_t data_start = (cur.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (auto& t : tensors_) {
    if (data_start > size_ || t.offset > size_ - data_start || t.n_bytes > size_ - data_start - t.offset) {
      throw FormatError("data of tensor '" + t.name + "' (" + std::to_string(t.n_bytes) + " bytes at offset " +
                        std::to_string(t.offset) + ") lies past the end of the file (" + std::to_string(size_) +
                        " bytes)");
    }
    t.data = base_ + data_start + t.offset;
  }
}

const Value* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {
const Value& require_key(const GgufFile& f, const std::string& key) {
  const Value* v = f.find(key);
  if (v == nullptr) throw FormatError("'" + f.path() + "': missing metadata key '" + key + "'");
  return *v;
}
}  // namespace

int64_t GgufFile::get_int(const std::string& key) const { return require_key(*this, key).as_int(key); }
double GgufFile::get_double(const std::string& key) const { return require_key(*this, key).as_double(key); }
std::string GgufFile::get_string(const std::string& key) const { return require_key(*this, key).as_string(key); }

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  const Value* v = find(key);
  return v ? v->as_int(key) : fallback;
}
double GgufFile::get_double(const std::string& key, double fallback) const {
  const Value* v = find(key);
  return v ? v->as_double(key) : fallback;
}
bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const Value* v = find(key);
  return v ? v->as_bool(key) : fallback;
}
std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  const Value* v = find(key);
  return v ? v->as_string(key) : fallback;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  std::vector<std::string> out;
  if (const Value* v = find(key)) {
    for (const auto& item : v->as_array(key)) out.push_back(item.as_string(key));
  }
  return out;
}
std::vector<double> GgufFile::get_double_array(const std::string& key) const {
  std::vector<double> out;
  if (const Value* v = find(key)) {
    for (const auto& item : v->as_array(key)) out.push_back(item.as_double(key));
  }
  return out;
}
std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  std::vector<int64_t> out;
  if (const Value* v = find(key)) {
    for (const auto& item : v->as_array(key)) out.push_back(item.as_int(key));
  }
  return out;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}
const TensorInfo& GgufFile::tensor(const std::string& name) const {
  const TensorInfo* t = find_tensor(name);
  if (t == nullptr) throw FormatError("'" + path_ + "': missing tensor '" + name + "'");
  return *t;
}

}  // namespace strata::gguf
