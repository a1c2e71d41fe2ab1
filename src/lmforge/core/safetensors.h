// safetensors (Hugging Face's tensor file format): 8 bytes little-endian N, then N bytes of a JSON
// header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data; offsets are relative to the end of the header.
// The reader validates everything before it touches data, as the reference implementation does:
// N fits the file, the header is a JSON object, every dtype is known, shapes are non-negative,
// end - begin == numel * itemsize, offsets lie inside the data, tensors do not overlap and cover the
// data without holes. A corrupt or truncated file is refused with an InputError naming the file, the
// tensor and what is wrong.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <ATen/ATen.h>

namespace lmforge {

// name -> tensor (CPU, the file's dtype: F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL).
std::map<std::string, at::Tensor> read_safetensors(const std::string& path);
// The same from bytes already in memory (a checkpoint file read once for its checksum); `name`
// is what the errors call it.
std::map<std::string, at::Tensor> read_safetensors(std::string_view bytes, const std::string& name);
// Whether bytes start like a safetensors file (a plausible header size, then '{'); a pickled
// torch.save file starts with a zip signature instead.
bool looks_like_safetensors(std::string_view bytes);

// Size and CRC-32C of what was written, for a checkpoint manifest.
struct WrittenFile {
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};
// Writes tensors (contiguous copies) with an optional metadata map, atomically.
WrittenFile write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace lmforge
