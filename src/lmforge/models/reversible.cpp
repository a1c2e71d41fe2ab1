// Reversible stack with a recomputing backward; see reversible.h.
#include "lmforge/models/reversible.h"

#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lmforge {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void seed_generator(const at::Device& device, uint64_t seed) {
  at::Generator g = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(seed);
}

namespace {

uint64_t draw_seed() {
  return static_cast<uint64_t>(at::randint(int64_t{1} << 62, {1}, at::TensorOptions().dtype(at::kLong)).item<int64_t>());
}

// What the backward needs from the forward besides the outputs: the stack, a copy of the forward
// context (attention mask, training flag) and the dropout seeds of each reversible layer.
struct RevState : torch::CustomClassHolder {
  const ReversibleStack* stack = nullptr;
  ForwardContext ctx;
  std::vector<std::vector<uint64_t>> seeds;
  at::Device device = at::kCPU;
};

class RevFunction : public torch::autograd::Function<RevFunction> {
 public:
  static variable_list forward(AutogradContext* ac, const at::Tensor& h0, at::TensorList params,
                               c10::intrusive_ptr<RevState> st) {
    (void)params;  // inputs only so that autograd calls backward and takes their gradients
    const ReversibleStack& s = *st->stack;
    at::Tensor x1 = h0, x2 = h0;
    st->seeds.assign(static_cast<size_t>(s.num_rev()), {});
    for (int64_t l = 0; l < s.num_rev(); ++l) {
      ForwardContext c = st->ctx;
      auto [y1, y2] = s.couple(static_cast<size_t>(l), x1, x2, c, &st->seeds[static_cast<size_t>(l)]);
      x1 = s.swap() ? y2 : y1;
      x2 = s.swap() ? y1 : y2;
    }
    ac->saved_data["o1"] = x1.detach();
    ac->saved_data["o2"] = x2.detach();
    ac->saved_data["state"] = c10::IValue::make_capsule(st);
    return {x1, x2};
  }

  static variable_list backward(AutogradContext* ac, variable_list grads) {
    auto st = c10::static_intrusive_pointer_cast<RevState>(ac->saved_data["state"].toCapsule());
    const ReversibleStack& s = *st->stack;
    at::Tensor o1 = ac->saved_data["o1"].toTensor(), o2 = ac->saved_data["o2"].toTensor();
    at::Tensor g1 = grads[0].defined() ? grads[0] : at::zeros_like(o1);
    at::Tensor g2 = grads[1].defined() ? grads[1] : at::zeros_like(o2);
    size_t n_params = 0;
    std::vector<size_t> offset;
    for (int64_t l = 0; l < s.num_rev(); ++l) {
      offset.push_back(n_params);
      n_params += s.layers()[static_cast<size_t>(l)].params.size();
    }
    std::vector<at::Tensor> pgrad(n_params);
    // Replaying the seeds moves the generator: put it back afterwards, as the forward left it.
    at::Generator gen = at::globalContext().defaultGenerator(st->device);
    at::Tensor gen_state = gen.get_state();
    const bool replay = st->ctx.training;
    at::AutoGradMode grad_on(true);
    auto run = [&](const ReversibleStack::Fn& f, const at::Tensor& in, const at::Tensor& dout, size_t l, uint64_t seed,
                   at::Tensor& din) {
      at::Tensor leaf = in.detach().requires_grad_(true);
      ForwardContext c = st->ctx;
      if (replay) seed_generator(st->device, seed);
      at::Tensor out = f(leaf, c);
      const auto& ps = s.layers()[l].params;
      variable_list inputs{leaf};
      std::vector<size_t> slot;  // parameters that train (autograd refuses the others)
      for (size_t i = 0; i < ps.size(); ++i)
        if (ps[i].requires_grad()) inputs.push_back(ps[i]), slot.push_back(offset[l] + i);
      variable_list r = torch::autograd::grad({out}, inputs, {dout}, /*retain_graph=*/false, /*create_graph=*/false,
                                              /*allow_unused=*/true);
      din = r[0];
      for (size_t i = 0; i < slot.size(); ++i)
        if (r[i + 1].defined()) pgrad[slot[i]] = pgrad[slot[i]].defined() ? pgrad[slot[i]] + r[i + 1] : r[i + 1];
      return out.detach();
    };
    for (int64_t li = s.num_rev() - 1; li >= 0; --li) {
      const size_t l = static_cast<size_t>(li);
      const at::Tensor& y1 = s.swap() ? o2 : o1;
      const at::Tensor& y2 = s.swap() ? o1 : o2;
      at::Tensor dy1 = s.swap() ? g2 : g1;
      at::Tensor dy2 = s.swap() ? g1 : g2;
      const std::vector<uint64_t>& seeds = st->seeds[l];
      at::Tensor dy1_from_g, dx2_from_f;
      at::Tensor gy = run(s.layers()[l].G, y1, dy2, l, replay ? seeds[1] : 0, dy1_from_g);
      dy1 = dy1 + dy1_from_g;
      at::Tensor x2 = (y2 - gy) / s.beta();
      at::Tensor fx = run(s.layers()[l].F, x2, dy1, l, replay ? seeds[0] : 0, dx2_from_f);
      at::Tensor x1 = (y1 - fx) / s.lambda();
      g1 = dy1 * s.lambda();
      g2 = dy2 * s.beta() + dx2_from_f;
      o1 = x1, o2 = x2;
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(gen_state);
    }
    variable_list out{g1 + g2};  // h0 fed both streams
    out.insert(out.end(), pgrad.begin(), pgrad.end());
    out.emplace_back();  // the state argument
    return out;
  }
};

}  // namespace

ReversibleStack::ReversibleStack(std::vector<Layer> layers, double lambda, double beta, bool swap, int64_t num_rev)
    : layers_(std::move(layers)), lambda_(lambda), beta_(beta), swap_(swap), num_rev_(num_rev) {}

std::pair<at::Tensor, at::Tensor> ReversibleStack::couple(size_t l, const at::Tensor& x1, const at::Tensor& x2,
                                                          ForwardContext& ctx, std::vector<uint64_t>* seeds) const {
  const bool replay = ctx.training && seeds;
  if (replay && seeds->empty()) seeds->assign({draw_seed(), draw_seed()});
  if (replay) seed_generator(x1.device(), (*seeds)[0]);
  at::Tensor y1 = x1 * lambda_ + layers_[l].F(x2, ctx);
  if (replay) seed_generator(x1.device(), (*seeds)[1]);
  at::Tensor y2 = x2 * beta_ + layers_[l].G(y1, ctx);
  return {y1, y2};
}

std::pair<at::Tensor, at::Tensor> ReversibleStack::uncouple(size_t l, const at::Tensor& y1, const at::Tensor& y2,
                                                            ForwardContext& ctx) const {
  at::Tensor x2 = (y2 - layers_[l].G(y1, ctx)) / beta_;
  at::Tensor x1 = (y1 - layers_[l].F(x2, ctx)) / lambda_;
  return {x1, x2};
}

std::pair<at::Tensor, at::Tensor> ReversibleStack::forward_pair(const at::Tensor& h0, ForwardContext& ctx) {
  at::Tensor x1 = h0, x2 = h0;
  size_t start = 0;
  std::vector<at::Tensor> params;
  for (int64_t l = 0; l < num_rev_; ++l)
    for (const auto& p : layers_[static_cast<size_t>(l)].params) params.push_back(p);
  bool needs_grad = h0.requires_grad();
  for (const auto& p : params) needs_grad = needs_grad || p.requires_grad();
  if (recompute_ && num_rev_ > 0 && at::GradMode::is_enabled() && needs_grad) {
    auto st = c10::make_intrusive<RevState>();
    st->stack = this;
    st->ctx = ctx;
    st->ctx.aux_losses.clear();
    st->device = h0.device();
    variable_list o = RevFunction::apply(h0, at::TensorList(params), st);
    x1 = o[0], x2 = o[1];
    start = static_cast<size_t>(num_rev_);
  }
  for (size_t l = start; l < layers_.size(); ++l) {
    std::vector<uint64_t> seeds;
    auto [y1, y2] = couple(l, x1, x2, ctx, &seeds);
    x1 = swap_ ? y2 : y1;
    x2 = swap_ ? y1 : y2;
  }
  return {x1, x2};
}

at::Tensor ReversibleStack::forward(const at::Tensor& h0, ForwardContext& ctx) {
  auto [x1, x2] = forward_pair(h0, ctx);
  return (x1 + x2) * 0.5;
}

std::pair<at::Tensor, at::Tensor> ReversibleStack::inverse(at::Tensor o1, at::Tensor o2, ForwardContext& ctx) const {
  at::NoGradGuard ng;
  for (size_t l = layers_.size(); l-- > 0;) {
    auto [x1, x2] = swap_ ? uncouple(l, o2, o1, ctx) : uncouple(l, o1, o2, ctx);
    o1 = x1, o2 = x2;
  }
  return {o1, o2};
}

}  // namespace lmforge
