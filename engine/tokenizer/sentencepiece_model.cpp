#include "engine/tokenizer/sentencepiece_model.h"

#include <bit>
#include <cstdint>
#include <string_view>

namespace strata::tokenizer {
namespace {

// Field numbers and values from sentencepiece_model.proto.
namespace model_proto {
constexpr int kPieces = 1;
constexpr int kTrainerSpec = 2;
constexpr int kNormalizerSpec = 3;
}  // namespace model_proto
namespace piece_proto {
constexpr int kPiece = 1;
constexpr int kScore = 2;
constexpr int kType = 3;
constexpr uint64_t kTypeUnknown = 2;
constexpr uint64_t kTypeByte = 6;
}  // namespace piece_proto
namespace trainer_spec {
constexpr int kModelType = 3;
constexpr int kVocabSize = 4;
constexpr int kByteFallback = 35;
constexpr int kUnkId = 40;
constexpr int kBosId = 41;
constexpr int kEosId = 42;
constexpr int kPadId = 43;
constexpr uint64_t kModelTypeBpe = 2;
}  // namespace trainer_spec
namespace normalizer_spec {
constexpr int kName = 1;
constexpr int kAddDummyPrefix = 3;
constexpr int kRemoveExtraWhitespaces = 4;
constexpr int kEscapeWhitespaces = 5;
}  // namespace normalizer_spec

constexpr std::string_view kUnknownPiece = " <unk> ";

// Protobuf wire format, the few field kinds a ModelProto needs.
class ProtoWriter {
 public:
  void varint_field(int field, uint64_t value) {
    tag(field, kVarint);
    varint(value);
  }
  // int32 fields are sign-extended to 64 bits on the wire.
  void int32_field(int field, int32_t value) {
    varint_field(field, static_cast<uint64_t>(static_cast<int64_t>(value)));
  }
  void float_field(int field, float value) {
    tag(field, kFixed32);
    const auto bits = std::bit_cast<uint32_t>(value);
    for (int shift = 0; shift < 32; shift += 8) bytes_ += static_cast<char>((bits >> shift) & 0xFF);
  }
  void bytes_field(int field, std::string_view value) {
    tag(field, kLengthDelimited);
    varint(value.size());
    bytes_ += value;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  static constexpr int kVarint = 0;
  static constexpr int kLengthDelimited = 2;
  static constexpr int kFixed32 = 5;

  void tag(int field, int wire_type) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type)); }
  void varint(uint64_t value) {
    while (value >= 0x80) {
      bytes_ += static_cast<char>((value & 0x7F) | 0x80);
      value >>= 7;
    }
    bytes_ += static_cast<char>(value);
  }

  std::string bytes_;
};

constexpr int kByteValues = 256;

std::string piece_message(const Token& token, bool as_byte) {
  ProtoWriter piece;
  piece.bytes_field(piece_proto::kPiece, token.text);
  piece.float_field(piece_proto::kScore, token.score);
  if (as_byte) piece.varint_field(piece_proto::kType, piece_proto::kTypeByte);
  return piece.bytes();
}

}  // namespace

std::string serialize_sentencepiece_model(const Vocab& vocab) {
  int byte_tokens = 0;
  for (int32_t id = 0; id < vocab.size(); ++id) byte_tokens += vocab.token(id).type == TokenType::kByte;
  const bool byte_fallback = byte_tokens == kByteValues;  // sentencepiece wants all or none

  ProtoWriter model;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const Token& token = vocab.token(id);
    model.bytes_field(model_proto::kPieces, piece_message(token, byte_fallback && token.type == TokenType::kByte));
  }
  ProtoWriter unknown;
  unknown.bytes_field(piece_proto::kPiece, kUnknownPiece);
  unknown.varint_field(piece_proto::kType, piece_proto::kTypeUnknown);
  model.bytes_field(model_proto::kPieces, unknown.bytes());

  ProtoWriter trainer;
  trainer.varint_field(trainer_spec::kModelType, trainer_spec::kModelTypeBpe);
  trainer.int32_field(trainer_spec::kVocabSize, vocab.size() + 1);
  trainer.varint_field(trainer_spec::kByteFallback, byte_fallback ? 1 : 0);
  trainer.int32_field(trainer_spec::kUnkId, vocab.size());
  // BOS, EOS and padding are the caller's business.
  trainer.int32_field(trainer_spec::kBosId, -1);
  trainer.int32_field(trainer_spec::kEosId, -1);
  trainer.int32_field(trainer_spec::kPadId, -1);
  model.bytes_field(model_proto::kTrainerSpec, trainer.bytes());

  ProtoWriter normalizer;
  normalizer.bytes_field(normalizer_spec::kName, "identity");
  normalizer.varint_field(normalizer_spec::kAddDummyPrefix, 0);
  normalizer.varint_field(normalizer_spec::kRemoveExtraWhitespaces, 0);
  normalizer.varint_field(normalizer_spec::kEscapeWhitespaces, 0);
  model.bytes_field(model_proto::kNormalizerSpec, normalizer.bytes());
  return model.bytes();
}

}  // namespace strata::tokenizer
