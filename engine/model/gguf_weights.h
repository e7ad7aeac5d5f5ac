// Loading a model's weights from its GGUF file, shape-checked: a defect is a gguf::FormatError
// naming the file and the tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/cpu/matmul.h"
#include "engine/gguf/gguf_file.h"

namespace strata::model {

// A tensor of n elements, as float32.
std::vector<float> load_vector(const gguf::GgufFile& f, const std::string& name, int64_t n);
// A [rows x cols] matrix, in place in the mapping where its type allows.
cpu::WeightMatrix load_matrix(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols);
// The n [rows x cols] matrices of an [n x rows x cols] tensor (a layer's experts), each in place.
std::vector<cpu::WeightMatrix> load_matrices(const gguf::GgufFile& f, const std::string& name, int64_t n, int64_t rows,
                                             int64_t cols);

}  // namespace strata::model
