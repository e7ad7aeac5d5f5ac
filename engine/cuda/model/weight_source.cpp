#include "engine/cuda/model/weight_source.h"

#include <cmath>
#include <functional>
#include <vector>

#include "engine/common/half.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/ops.h"
#include "engine/gguf/dequantize.h"

namespace strata::cuda {
namespace {

class GgufWeightSource final : public WeightSource {
 public:
  explicit GgufWeightSource(const gguf::GgufFile& file) : file_(file) {}

  void matrix(const std::string& name, int64_t rows, int64_t cols, uint16_t* dst) override {
    const auto values = checked(name, rows * cols, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)});
    std::vector<uint16_t> bf16(values.size());
    for (size_t i = 0; i < values.size(); ++i) bf16[i] = f32_to_bf16(values[i]);
    check(cudaMemcpy(dst, bf16.data(), bf16.size() * sizeof(uint16_t), cudaMemcpyHostToDevice), "upload weight");
  }

  void vector(const std::string& name, int64_t n, float* dst) override {
    const auto values = checked(name, n, {static_cast<uint64_t>(n)});
    check(cudaMemcpy(dst, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice), "upload weight");
  }

 private:
  std::vector<float> checked(const std::string& name, int64_t n, const std::vector<uint64_t>& dims) {
    const auto& t = file_.tensor(name);
    if (t.dims != dims) throw gguf::FormatError("'" + file_.path() + "': tensor " + name + " has an unexpected shape");
    auto values = gguf::dequantize(t);
    if (static_cast<int64_t>(values.size()) != n) throw gguf::FormatError("'" + file_.path() + "': tensor " + name + " has the wrong size");
    return values;
  }

  const gguf::GgufFile& file_;
};

class RandomWeightSource final : public WeightSource {
 public:
  explicit RandomWeightSource(uint64_t seed) : seed_(seed) {}

  void matrix(const std::string& name, int64_t rows, int64_t cols, uint16_t* dst) override {
    fill_uniform_bf16(dst, rows * cols, seed_ ^ std::hash<std::string>{}(name),
                      std::sqrt(3.0f / static_cast<float>(cols)), nullptr);
    check(cudaStreamSynchronize(nullptr), "random weights");
  }

  void vector(const std::string&, int64_t n, float* dst) override {
    fill_f32(dst, n, 1.0f, nullptr);
    check(cudaStreamSynchronize(nullptr), "random weights");
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<WeightSource> gguf_weight_source(const gguf::GgufFile& file) { return std::make_unique<GgufWeightSource>(file); }
std::unique_ptr<WeightSource> random_weight_source(uint64_t seed) { return std::make_unique<RandomWeightSource>(seed); }

}  // namespace strata::cuda
