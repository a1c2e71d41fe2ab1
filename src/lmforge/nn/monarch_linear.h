// MonarchLinear: a drop-in for Dense whose weight is a Monarch matrix (Dao et al., ICML 2022;
// ops/monarch/op.h), as fly's MonarchLinear(in, out, nblocks):
//   in_blk = ceil(in/nb), out_blk = ceil(out/nb);
//   in <= out: blkdiag1 (nb, in_blk, in_blk),  blkdiag2 (nb, out_blk, in_blk)
//   in >  out: blkdiag1 (nb, out_blk, in_blk), blkdiag2 (nb, out_blk, out_blk)
// The input is zero-padded to nb*in_blk and the output truncated to `out`; bias as a linear layer.
// Init: blkdiag1 kaiming-uniform (bound 1/sqrt(fan_in), as fly), blkdiag2 normal with the std that
// gives the materialised matrix the entry std `std` of the Dense layer it replaces, so dense and
// Monarch models start at the same activation scale.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace lmforge {

class MonarchLinear : public torch::nn::Module {
 public:
  MonarchLinear(int64_t in, int64_t out, int64_t nblocks, bool bias, double std);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  int64_t nblocks() const { return blkdiag1.size(0); }
  // 2 * multiply-adds per input row (bias excluded, as for Dense).
  double flops_per_row() const { return 2.0 * static_cast<double>(blkdiag1.numel() + blkdiag2.numel()); }
  // The (out, in) dense weight this layer applies.
  at::Tensor to_dense() const;
  // Sets the factors to the Frobenius-nearest Monarch matrix of a dense (out, in) weight; returns the
  // relative error ||W - M||_F / ||W||_F.
  double set_from_dense(const at::Tensor& weight);

  at::Tensor blkdiag1, blkdiag2, bias;  // bias undefined when disabled

 private:
  int64_t in_, out_;
};

}  // namespace lmforge
