// Distillation task; see distill.h.
#include "lmforge/train/tasks/distill.h"

#include "lmforge/models/language_model.h"

namespace lmforge {

DistillTask::DistillTask(std::shared_ptr<Task> data, const DistillOptions& o, std::shared_ptr<LanguageModel> teacher)
    : data_(std::move(data)), o_(o), teacher_(std::move(teacher)) {
  LMF_REQUIRE(o_.target == "attention" || o_.target == "logits", ConfigError,
              "distillation target: expected \"attention\" or \"logits\", got \"", o_.target, "\"");
  LMF_REQUIRE(o_.target != "logits" || teacher_, UserError, "logit distillation needs a teacher model");
  LMF_REQUIRE(o_.temperature > 0, ConfigError, "distillation temperature must be positive, got ", o_.temperature);
  if (teacher_) teacher_->eval();
}

LossSum DistillTask::loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) {
  LanguageModel& student = as_language_model(model, "distill");
  at::Tensor h = student.hidden(b.inputs, ctx);
  if (o_.target == "attention") {
    // The layers' attention cross-entropies are in ctx.aux_losses; the loop adds them. No term
    // of our own: backward then runs only through the layers that distil.
    LMF_REQUIRE(!ctx.aux_losses.empty(), UserError,
                "attention distillation: no layer reported an attention loss (no linear-attention layer in distill mode)");
    return {at::zeros({}, h.options().dtype(at::kFloat)), 1};
  }
  at::Tensor y = b.targets.reshape({-1});
  at::Tensor rows = (y != -100).nonzero().squeeze(1);
  at::Tensor zs = student.logits(h.reshape({-1, h.size(-1)}).index_select(0, rows)).to(at::kFloat);
  at::Tensor zt;
  {
    torch::NoGradGuard ng;
    ForwardContext tctx;
    at::Tensor ht = teacher_->hidden(b.inputs, tctx);
    zt = teacher_->logits(ht.reshape({-1, ht.size(-1)}).index_select(0, rows)).to(at::kFloat);
  }
  const double T = o_.temperature;
  at::Tensor log_ps = at::log_softmax(zs / T, -1), log_pt = at::log_softmax(zt / T, -1);
  at::Tensor sum = (log_pt.exp() * (log_pt - log_ps)).sum() * (T * T);
  if (o_.hard_weight > 0)
    sum = sum + o_.hard_weight * at::cross_entropy_loss(zs, y.index_select(0, rows), {}, at::Reduction::Sum);
  return {sum, rows.size(0)};
}

}  // namespace lmforge
