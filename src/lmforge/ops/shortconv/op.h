// Short depthwise causal convolution with the layout change fused in (the short filter of Hyena,
// Poli et al. 2023; H3's shift convolution):
//   out[p][b, d, t] = bias[c] + sum_{j<K} w[c, j] * z[b, t - K + 1 + j, c],   c = p * D + d,
// z: (B, L, C) as the input projection writes it, C = P * D; w: (C, K); bias: (C) or undefined.
// Returns P contiguous tensors (B, D, L): the channel-major layout the FFT convolution reads, one
// per part, so neither a transpose copy nor the `.contiguous()` of a split view is needed.
// Why fused: ATen's conv1d path needs the transposed (B, C, L) copy first, runs a generic
// depthwise kernel (bf16 especially slow on 1.13) and leaves the parts as strided views that the
// next op copies again; this op reads z once and writes each output once, forward and backward.
#pragma once
#include <vector>

#include <ATen/ATen.h>

namespace lmforge {

std::vector<at::Tensor> short_conv_split(const at::Tensor& z, const at::Tensor& w, const at::Tensor& bias,
                                         int64_t parts);
// The oracle: transpose, at::conv1d (groups = C, left padding K-1), split, contiguous.
std::vector<at::Tensor> short_conv_split_ref(const at::Tensor& z, const at::Tensor& w, const at::Tensor& bias,
                                             int64_t parts);

}  // namespace lmforge
