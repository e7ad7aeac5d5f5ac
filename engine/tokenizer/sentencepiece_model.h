// A SentencePiece model (sentencepiece_model.proto's ModelProto, in protobuf wire format) made
// from a GGUF vocabulary, for SentencePieceProcessor::LoadFromSerializedProto. Written by hand
// because Debian's libsentencepiece-dev ships no sentencepiece_model.pb.h.
#pragma once

#include <string>

#include "engine/tokenizer/vocab.h"

namespace strata::tokenizer {

// A BPE model whose pieces 0 .. vocab.size()-1 are the vocabulary's tokens with their scores.
// They are all ordinary pieces, since llama.cpp's SentencePiece tokenizer may merge into any
// token, control tokens included; only the "<0xXX>" byte tokens keep their type (when all 256
// exist), as sentencepiece's byte fallback requires. Piece vocab.size() is the unknown piece
// sentencepiece insists on; it contains a space, which escaped input never does, so no merge
// produces it, and only unknown characters without byte fallback map to it. The normalizer does
// nothing: the caller turns spaces into U+2581 and adds any space prefix itself.
std::string serialize_sentencepiece_model(const Vocab& vocab);

}  // namespace strata::tokenizer
