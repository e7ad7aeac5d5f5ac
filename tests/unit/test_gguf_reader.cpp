#include <gtest/gtest.h>

#include <system_error>

#include "engine/gguf/dequantize.h"
#include "engine/gguf/gguf_file.h"
#include "tests/unit/gguf_builder.h"
#include "tests/unit/test_paths.h"

namespace strata::gguf {
namespace {

using test::GgufBuilder;

// A small valid file: one key of every scalar type, a nested array, two F32 tensors.
GgufBuilder valid_file() {
  GgufBuilder b;
  b.header(2, 15);
  b.str("u8").raw<uint32_t>(0).raw<uint8_t>(200);
  b.str("i8").raw<uint32_t>(1).raw<int8_t>(-100);
  b.str("u16").raw<uint32_t>(2).raw<uint16_t>(60000);
  b.str("i16").raw<uint32_t>(3).raw<int16_t>(-30000);
  b.str("u32").raw<uint32_t>(4).raw<uint32_t>(4000000000u);
  b.str("i32").raw<uint32_t>(5).raw<int32_t>(-2000000000);
  b.str("f32").raw<uint32_t>(6).raw<float>(1.5f);
  b.str("bool").raw<uint32_t>(7).raw<uint8_t>(1);
  b.kv_str("general.architecture", "llama");
  b.str("u64").raw<uint32_t>(10).raw<uint64_t>(1ull << 40);
  b.str("i64").raw<uint32_t>(11).raw<int64_t>(-(1ll << 40));
  b.str("f64").raw<uint32_t>(12).raw<double>(0.25);
  b.str("strings").raw<uint32_t>(9).raw<uint32_t>(8).raw<uint64_t>(2).str("a").str("bc");
  b.str("nested").raw<uint32_t>(9).raw<uint32_t>(9).raw<uint64_t>(1).raw<uint32_t>(5).raw<uint64_t>(2).raw<int32_t>(7).raw<int32_t>(-7);
  b.kv_u32("general.alignment", 32);
  b.tensor("a", {4}, 0, 0).tensor("b", {2, 2}, 0, 32);
  b.align().floats({1, 2, 3, 4}).align().floats({5, 6, 7, 8});
  return b;
}

TEST(GgufReader, ReadsEveryValueTypeAndTensor) {
  auto f = GgufFile::open(valid_file().write("valid"));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i8"), -100);
  EXPECT_EQ(f->get_int("u16"), 60000);
  EXPECT_EQ(f->get_int("i16"), -30000);
  EXPECT_EQ(f->get_int("u32"), 4000000000ll);
  EXPECT_EQ(f->get_int("i32"), -2000000000);
  EXPECT_EQ(f->get_double("f32"), 1.5);
  EXPECT_TRUE(f->get_bool("bool", false));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("u64"), 1ll << 40);
  EXPECT_EQ(f->get_int("i64"), -(1ll << 40));
  EXPECT_EQ(f->get_double("f64"), 0.25);
  EXPECT_EQ(f->get_string_array("strings"), (std::vector<std::string>{"a", "bc"}));
  const auto& nested = f->find("nested")->as_array("nested");
  ASSERT_EQ(nested.size(), 1u);
  EXPECT_EQ(nested[0].as_array("nested")[1].as_int("nested"), -7);
  ASSERT_EQ(f->tensors().size(), 2u);
  const auto& b = f->tensor("b");
  EXPECT_EQ(b.dims, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(dequantize(b), (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ(dequantize(f->tensor("a")), (std::vector<float>{1, 2, 3, 4}));
}

TEST(GgufReader, WrongTypesAndMissingKeysAreClearErrors) {
  auto f = GgufFile::open(valid_file().write("types"));
  EXPECT_THROW(f->get_string("u8"), FormatError);
  EXPECT_THROW(f->get_int("general.architecture"), FormatError);
  EXPECT_EQ(f->get_int("absent", 7), 7);
  try {
    f->get_int("absent");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing metadata key 'absent'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f->tensor("nope"), FormatError);
}

// Every proper prefix of a valid file is a truncated file: each must be refused cleanly.
TEST(GgufReader, EveryTruncationIsAFormatError) {
  auto b = valid_file();
  for (size_t n = 0; n < b.bytes.size(); ++n) {
    EXPECT_THROW(GgufFile::open(b.write_prefix("trunc", n)), FormatError) << "prefix of " << n << " bytes";
  }
}

void expect_error(const GgufBuilder& b, const std::string& name, const std::string& fragment) {
  try {
    GgufFile::open(b.write(name));
    FAIL() << "no error for " << name;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(GgufReader, CorruptFilesNameTheirDefect) {
  GgufBuilder bad_magic;
  bad_magic.raw<uint32_t>(0x46554748).raw<uint32_t>(3).raw<uint64_t>(0).raw<uint64_t>(0);
  expect_error(bad_magic, "magic", "bad magic");

  expect_error(GgufBuilder().header(0, 0, 7), "version", "unsupported GGUF version 7");
  expect_error(GgufBuilder().header(1ull << 40, 0), "tensors", "absurd tensor count");
  expect_error(GgufBuilder().header(0, 1ull << 40), "kvs", "absurd metadata count");

  GgufBuilder long_string;
  long_string.header(0, 1).raw<uint64_t>(1ull << 50);
  expect_error(long_string, "strlen", "runs past the end");

  GgufBuilder huge_array;
  huge_array.header(0, 1).str("k").raw<uint32_t>(9).raw<uint32_t>(4).raw<uint64_t>(1ull << 60);
  expect_error(huge_array, "array", "runs past the end");

  GgufBuilder bad_value_type;
  bad_value_type.header(0, 1).str("k").raw<uint32_t>(99);
  expect_error(bad_value_type, "vtype", "unknown value type 99");

  GgufBuilder duplicate;
  duplicate.header(0, 2).kv_u32("k", 1).kv_u32("k", 2);
  expect_error(duplicate, "dup", "duplicate metadata key 'k'");

  GgufBuilder bad_alignment;
  bad_alignment.header(0, 1).kv_u32("general.alignment", 3);
  expect_error(bad_alignment, "align", "not a power of two");

  GgufBuilder past_end;
  past_end.header(1, 0).tensor("w", {1024}, 0, 0).align().floats({1, 2});
  expect_error(past_end, "pastend", "lies past the end of the file");

  GgufBuilder absurd_dim;
  absurd_dim.header(1, 0).tensor("w", {1ull << 50}, 0, 0);
  expect_error(absurd_dim, "dim", "absurd dimension");

  GgufBuilder too_many_dims;
  too_many_dims.header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0);
  expect_error(too_many_dims, "ndims", "5 dimensions");

  GgufBuilder unknown_type;
  unknown_type.header(1, 0).tensor("w", {32}, 77, 0);
  expect_error(unknown_type, "ttype", "unknown type 77");

  GgufBuilder partial_block;
  partial_block.header(1, 0).tensor("w", {33}, 2, 0);
  expect_error(partial_block, "block", "not a multiple of the Q4_0 block size");

  GgufBuilder misaligned;
  misaligned.header(1, 0).tensor("w", {4}, 0, 3);
  expect_error(misaligned, "misaligned", "not aligned");
}

TEST(GgufReader, MissingFileAndDirectory) {
  EXPECT_THROW(GgufFile::open("/nonexistent/model.gguf"), std::system_error);
  EXPECT_THROW(GgufFile::open("/tmp"), FormatError);
}

TEST(GgufReader, RealModelMetadata) {
  auto f = GgufFile::open(test::default_model_path());
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 30);
  EXPECT_EQ(f->tensors().size(), 272u);
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(f->tensor("token_embd.weight").type, TensorType::kQ8_0);
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight").type, TensorType::kQ4_1);
}

}  // namespace
}  // namespace strata::gguf
