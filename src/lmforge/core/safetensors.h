// safetensors (Hugging Face's tensor file format): 8 bytes little-endian N, then N bytes of a JSON
// header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data; offsets are relative to the end of the header.
// The reader validates everything before it touches data, as the reference implementation does:
// N fits the file, the header is a JSON object, every dtype is known, shapes are non-negative,
// end - begin == numel * itemsize, offsets lie inside the data, tensors do not overlap and cover the
// data without holes. A corrupt or truncated file is refused with an InputError naming the file, the
// tensor and what is wrong.
#pragma once
#include <map>
#include <string>

#include <ATen/ATen.h>

namespace lmforge {

// name -> tensor (CPU, the file's dtype: F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL).
std::map<std::string, at::Tensor> read_safetensors(const std::string& path);
// Writes tensors (contiguous copies) with an optional metadata map, atomically.
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lmforge
