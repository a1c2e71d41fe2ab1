// The short-convolution oracle in plain ATen (see op.h): the way Hyena's reference code does it.
#include "lmforge/ops/shortconv/op.h"

namespace lmforge {

std::vector<at::Tensor> short_conv_split_ref(const at::Tensor& z, const at::Tensor& w, const at::Tensor& bias,
                                             int64_t parts) {
  const int64_t L = z.size(1), C = z.size(2), K = w.size(-1);
  const at::ScalarType out = z.scalar_type(), cdt = out == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor zt = z.to(cdt).transpose(1, 2);
  at::Tensor b = bias.defined() ? bias.to(cdt) : at::Tensor();
  at::Tensor y = at::conv1d(zt, w.to(cdt).reshape({C, 1, K}), b, 1, K - 1, 1, C).narrow(2, 0, L);
  std::vector<at::Tensor> v;
  for (const at::Tensor& s : y.split(C / parts, 1)) v.push_back(s.contiguous().to(out));
  return v;
}

}  // namespace lmforge
