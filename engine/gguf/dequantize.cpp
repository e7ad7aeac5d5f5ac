#include "engine/gguf/dequantize.h"

#include <cstring>
#include <string>

#include "engine/common/half.h"

// Block layouts follow ggml's (ggml-common.h): each block starts with its fp16 scale(s).
namespace strata::gguf {
namespace {

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

void dequant_q4_0(const uint8_t* b, float* y) {
  float d = half_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  float d = half_at(b), m = half_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0 / Q5_1: the fifth bit of element j sits in bit j of a 32-bit mask.
void dequant_q5(const uint8_t* qh_bytes, const uint8_t* qs, float d, float m, int offset, float* y) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
    int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo - offset) * d + m;
    y[j + 16] = static_cast<float>(hi - offset) * d + m;
  }
}

void dequant_q5_0(const uint8_t* b, float* y) { dequant_q5(b + 2, b + 6, half_at(b), 0.0f, 16, y); }
void dequant_q5_1(const uint8_t* b, float* y) { dequant_q5(b + 4, b + 8, half_at(b), half_at(b + 2), 0, y); }

void dequant_q8_0(const uint8_t* b, float* y) {
  float d = half_at(b);
  const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// K-quants pack eight 6-bit (scale, min) pairs into 12 bytes.
void k_scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Q4_K and Q5_K share their structure; Q5_K adds a fifth bit from qh (nullptr for Q4_K).
void dequant_q45_k(const uint8_t* b, const uint8_t* qh, const uint8_t* qs, float* y) {
  float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  for (int group = 0; group < 4; ++group) {
    uint8_t sc, mn;
    k_scale_min(2 * group, scales, &sc, &mn);
    float d1 = d * sc, m1 = dmin * mn;
    k_scale_min(2 * group + 1, scales, &sc, &mn);
    float d2 = d * sc, m2 = dmin * mn;
    int lo_bit = 2 * group, hi_bit = 2 * group + 1;
    for (int l = 0; l < 32; ++l) {
      int lo = qs[l] & 0x0f, hi = qs[l] >> 4;
      if (qh != nullptr) {
        lo |= ((qh[l] >> lo_bit) & 1) << 4;
        hi |= ((qh[l] >> hi_bit) & 1) << 4;
      }
      y[l] = d1 * static_cast<float>(lo) - m1;
      y[l + 32] = d2 * static_cast<float>(hi) - m2;
    }
    y += 64;
    qs += 32;
  }
}

void dequant_q4_k(const uint8_t* b, float* y) { dequant_q45_k(b, nullptr, b + 16, y); }
void dequant_q5_k(const uint8_t* b, float* y) { dequant_q45_k(b, b + 16, b + 48, y); }

void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = half_at(b + 208);
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * static_cast<float>(q1);
      y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
      y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
      y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_fn(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0: return dequant_q4_0;
    case TensorType::kQ4_1: return dequant_q4_1;
    case TensorType::kQ5_0: return dequant_q5_0;
    case TensorType::kQ5_1: return dequant_q5_1;
    case TensorType::kQ8_0: return dequant_q8_0;
    case TensorType::kQ4_K: return dequant_q4_k;
    case TensorType::kQ5_K: return dequant_q5_k;
    case TensorType::kQ6_K: return dequant_q6_k;
    default: return nullptr;
  }
}

}  // namespace

bool can_dequantize(TensorType type) {
  return type == TensorType::kF32 || type == TensorType::kF16 || type == TensorType::kBF16 ||
         block_fn(type) != nullptr;
}

void dequantize_row(TensorType type, const uint8_t* src, float* dst, int64_t n) {
  switch (type) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case TensorType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half_at(src + 2 * i);
      return;
    case TensorType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = bf16_to_f32(b);
      }
      return;
    default: break;
  }
  BlockFn fn = block_fn(type);
  if (fn == nullptr) {
    throw FormatError("cannot dequantize tensor type " + std::string(tensor_type_name(type)));
  }
  auto traits = *tensor_type_traits(type);
  for (int64_t i = 0; i < n / traits.block_elems; ++i) {
    fn(src + i * traits.block_bytes, dst + i * traits.block_elems);
  }
}

std::vector<float> dequantize(const TensorInfo& tensor) {
  std::vector<float> out(tensor.n_elements);
  dequantize_row(tensor.type, tensor.data, out.data(), static_cast<int64_t>(tensor.n_elements));
  return out;
}

}  // namespace strata::gguf
