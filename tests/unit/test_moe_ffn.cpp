// The expert choice of the mixture-of-experts FFN (engine/model/moe_ffn.h) against hand-worked
// softmax probabilities, and the experts' matrices cut from their 3-D tensor; the whole FFN is
// checked against transformers in test_hybrid_model.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "engine/model/gguf_weights.h"
#include "engine/model/moe_ffn.h"
#include "tests/unit/gguf_builder.h"

namespace strata::model {
namespace {

std::vector<double> softmax(const std::vector<float>& logits) {
  double total = 0.0;
  for (float l : logits) total += std::exp(static_cast<double>(l));
  std::vector<double> p;
  for (float l : logits) p.push_back(std::exp(static_cast<double>(l)) / total);
  return p;
}

TEST(MoeFfn, ChoosesTheMostProbableExpertsInDescendingOrder) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.25f, 1.9f};
  const auto p = softmax(logits);
  const ExpertChoice raw = choose_experts(logits, 3, false);
  EXPECT_EQ(raw.experts, (std::vector<int32_t>{1, 4, 3}));
  ASSERT_EQ(raw.weights.size(), 3u);
  EXPECT_NEAR(raw.weights[0], p[1], 1e-6);  // the probabilities themselves
  EXPECT_NEAR(raw.weights[1], p[4], 1e-6);
  EXPECT_NEAR(raw.weights[2], p[3], 1e-6);

  const ExpertChoice renormalized = choose_experts(logits, 3, true);
  EXPECT_EQ(renormalized.experts, raw.experts);
  const double kept = p[1] + p[4] + p[3];
  EXPECT_NEAR(renormalized.weights[0], p[1] / kept, 1e-6);
  EXPECT_NEAR(renormalized.weights[1], p[4] / kept, 1e-6);
  EXPECT_NEAR(renormalized.weights[2], p[3] / kept, 1e-6);
  EXPECT_NEAR(renormalized.weights[0] + renormalized.weights[1] + renormalized.weights[2], 1.0, 1e-6);
}

TEST(MoeFfn, TiesGoToTheLowerExpertAndLargeLogitsStayFinite) {
  const ExpertChoice tie = choose_experts(std::vector<float>{3.0f, 7.0f, 7.0f, 7.0f}, 2, true);
  EXPECT_EQ(tie.experts, (std::vector<int32_t>{1, 2}));
  EXPECT_FLOAT_EQ(tie.weights[0], 0.5f);
  EXPECT_FLOAT_EQ(tie.weights[1], 0.5f);

  const ExpertChoice large = choose_experts(std::vector<float>{1000.0f, 999.0f, -1000.0f}, 1, false);
  EXPECT_EQ(large.experts, std::vector<int32_t>{0});
  EXPECT_NEAR(large.weights[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);  // softmax with its maximum taken out
}

TEST(MoeFfn, AllExpertsWhenAsManyAreUsed) {
  const ExpertChoice all = choose_experts(std::vector<float>{0.0f, 1.0f}, 2, true);
  EXPECT_EQ(all.experts, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(all.weights[0] + all.weights[1], 1.0, 1e-6);
}

// A file with one F32 tensor "experts" of dims (ggml order) {cols, rows, n}, values 0, 1, 2, ...
std::unique_ptr<gguf::GgufFile> experts_file(const std::string& name, uint64_t cols, uint64_t rows, uint64_t n) {
  test::GgufBuilder b;
  b.bytes.reserve(256 + cols * rows * n * sizeof(float));  // (also spares GCC 12 a false -Wstringop-overflow)
  b.header(1, 1).kv_u32("general.alignment", 32);
  b.tensor("experts", {cols, rows, n}, 0, 0).align();
  std::vector<float> values(cols * rows * n);
  std::iota(values.begin(), values.end(), 0.0f);
  b.floats(values);
  return gguf::GgufFile::open(b.write(name));
}

TEST(MoeFfn, ExpertMatricesAreTheSlicesOfTheirTensor) {
  const auto file = experts_file("moe_slices", 4, 3, 2);
  const auto matrices = load_matrices(*file, "experts", 2, 3, 4);
  ASSERT_EQ(matrices.size(), 2u);
  std::vector<float> row(4);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(matrices[static_cast<size_t>(e)].rows(), 3);
    EXPECT_EQ(matrices[static_cast<size_t>(e)].cols(), 4);
    for (int r = 0; r < 3; ++r) {
      matrices[static_cast<size_t>(e)].dequantize_row(r, row.data());
      for (int c = 0; c < 4; ++c) EXPECT_EQ(row[static_cast<size_t>(c)], static_cast<float>((e * 3 + r) * 4 + c));
    }
  }
}

TEST(MoeFfn, AMisshapenExpertTensorIsAFormatErrorNamingIt) {
  const auto file = experts_file("moe_shape", 4, 3, 2);
  try {
    load_matrices(*file, "experts", 3, 3, 4);  // the file has 2 experts
    FAIL() << "no error";
  } catch (const gguf::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'experts' has the wrong shape (expected 3 matrices of 4 x 3)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace strata::model
