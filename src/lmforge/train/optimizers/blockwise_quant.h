// Block-wise dynamic 8-bit quantisation of optimiser states (Dettmers, Lewis, Shleifer &
// Zettlemoyer 2022, "8-bit Optimizers via Block-wise Quantization"):
//   split the flattened state into blocks of 2048; per block keep absmax = max |x| (fp32);
//   store each x as the index of the code c (one of 256) nearest to x / absmax;
//   dequantise: x ~= code[index] * absmax.
// The codebook is the paper's "dynamic tree" map: a magnitude is 10^-e x f, the decimal exponent
// e in 0..6 and a linear fraction f in (0.1, 1]; small exponents get few fractions, large ones
// many, so relative error stays roughly even over seven decades (Adam's v spans that many). The
// signed map (for Adam's m) spends one bit on the sign; the unsigned one (for v >= 0) spends it on
// twice as many fractions. Both hold 0 and 1 exactly, so zeros stay zero and a block's largest
// entry round-trips exactly when positive; the signed map's most negative code is -0.99297 (254
// fraction codes, 0 and 1 fill the 256; the same asymmetry as bitsandbytes' map), so a negative
// block maximum comes back 0.7% small.
// Why blocks: one outlier only coarsens its own 2048 entries, and blocks quantise independently.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmforge/train/optimizers/adam_kernel.h"

namespace lmforge {

// The 256 codes in increasing order (fp32), signed (in [-1, 1]) or unsigned (in [0, 1]).
const at::Tensor& dynamic_codebook(bool is_signed);

struct QuantizedTensor {
  at::Tensor codes;   // uint8, numel of the original, flat
  at::Tensor absmax;  // fp32, one per block
  bool is_signed = true;
  std::vector<int64_t> shape;
  int64_t bytes() const { return codes.numel() + absmax.numel() * 4; }
};

// x: fp32 (any shape). A block of zeros gets absmax 0 and dequantises to zeros.
QuantizedTensor quantize_blockwise(const at::Tensor& x, bool is_signed);
at::Tensor dequantize_blockwise(const QuantizedTensor& q);

// One Adam step on 8-bit moments, fused (adam_kernel.h): per block of 2048 (blocks in parallel)
// dequantise m and v, take the fp32 Adam update and the direction d, and requantise m and v
// against the block's new absmax; no tensor-sized temporaries (the unfused ATen chain makes about
// ten per step). The result is what quantize_blockwise(update(dequantize_blockwise(q))) gives
// (tested against it). Writes d to `dir` (fp32, g's numel), or, with `w` given (fp32, contiguous),
// applies w <- (1 - lr wd) w - lr d in the same pass and leaves `dir` alone.
void adam_step_8bit(QuantizedTensor& m, QuantizedTensor& v, const at::Tensor& g, const AdamCoeffs& c,
                    float* dir, float* w);

}  // namespace lmforge
