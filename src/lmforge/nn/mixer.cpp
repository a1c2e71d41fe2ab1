// Default incremental decoding for mixers without a cache of their own: keep the inputs seen so
// far and recompute the whole sequence each step (O(L) per token, but always correct).
#include "lmforge/nn/components.h"

namespace lmforge {

namespace {
struct HistoryState : MixerState {
  at::Tensor history;  // (B, L_seen, D)
  void select_rows(const at::Tensor& rows) override { history = select_state_rows(history, rows); }
};
}  // namespace

std::unique_ptr<MixerState> Mixer::new_state() const { return std::make_unique<HistoryState>(); }

at::Tensor Mixer::step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) {
  auto& s = dynamic_cast<HistoryState&>(state);
  s.history = s.history.defined() ? at::cat({s.history, x}, 1) : x;
  ForwardContext full = ctx;
  full.pos_offset = ctx.pos_offset - (s.history.size(1) - x.size(1));
  at::Tensor y = forward(s.history, full);
  return y.narrow(1, y.size(1) - x.size(1), x.size(1));
}

at::Tensor Mixer::forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows) {
  at::Tensor y = forward(x, ctx);
  return y.reshape({-1, y.size(-1)}).index_select(0, rows);
}

}  // namespace lmforge
