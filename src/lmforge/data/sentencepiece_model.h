// Reader for sentencepiece's .model file (a serialized ModelProto), written from the protobuf wire
// format so that lmforge never links libsentencepiece (its protobuf-lite clashes with libtorch's
// protobuf). It reads only what encoding needs: the pieces with their exact float scores and types,
// the model type, byte_fallback, and the normalizer flags. spm_export_vocab's text output rounds the
// scores to 6 digits, which can flip unigram Viterbi decisions; the .model keeps them exact.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lmforge::data {

struct SpmPiece {
  enum Type { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  std::string piece;
  float score = 0.0f;
  int type = kNormal;
};

struct SpmModel {
  enum ModelType { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };
  std::vector<SpmPiece> pieces;
  int model_type = kUnigram;
  bool byte_fallback = false;
  std::string normalizer_name;     // "identity" for the models lmforge trains
  bool has_charsmap = false;       // a precompiled normalization table (not supported)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Parses the bytes of a .model file; throws InputError naming `path` when malformed.
SpmModel parse_spm_model(const std::string& bytes, const std::string& path);

}  // namespace lmforge::data
