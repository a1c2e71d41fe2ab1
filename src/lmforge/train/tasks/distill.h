// Teacher-student distillation as a task on the training loop: the batches of a data task, a
// student being trained, and one of two targets.
//   attention  Hedgehog's attention distillation (Zhang et al. ICLR 2024, eq. 4): the student's
//              linear-attention layers in distill mode (nn/linear_attention.h set_distill) put
//              the cross-entropy between the teacher's softmax weights -- computed inside the layer
//              from the same q, k -- and their own into ctx.aux_losses; the task's own term is 0
//              and the loop adds the auxiliary losses, as for every task.
//   logits     knowledge distillation (Hinton et al. 2015) from a teacher LanguageModel:
//                loss = (1/N) sum_t [ T^2 KL(softmax(z_t^T / T) || softmax(z_t^S / T))
//                                     + hard_weight * CE(z_t^S, y_t) ]
//              over the scored tokens t of the data task's targets.
#pragma once
#include <memory>
#include <string>

#include "lmforge/train/task.h"

namespace lmforge {

struct DistillOptions {
  std::string target = "attention";  // attention | logits
  double temperature = 2.0;          // logits: softmax temperature T
  double hard_weight = 0.0;          // logits: weight of the hard-label cross-entropy
  template <class V>
  void visit(V& v) {
    v("target", target, "attention (Hedgehog attention maps) | logits (soft labels from a teacher)");
    v("temperature", temperature, "logits: softmax temperature");
    v("hard_weight", hard_weight, "logits: weight of the cross-entropy on the true tokens");
  }
};

class DistillTask : public Task {
 public:
  // `teacher` is needed for target = "logits" (kept in eval mode, never trained).
  DistillTask(std::shared_ptr<Task> data, const DistillOptions& o, std::shared_ptr<LanguageModel> teacher = nullptr);
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    return data_->train_batch(step, micro, rank, world);
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override { return data_->valid_batches(max_batches); }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override;
  bool reports_perplexity() const override { return false; }
  int64_t vocab_size() const override { return data_->vocab_size(); }
  const data::Tokenizer* tokenizer() const override { return data_->tokenizer(); }

 private:
  std::shared_ptr<Task> data_;
  DistillOptions o_;
  std::shared_ptr<LanguageModel> teacher_;
};

}  // namespace lmforge
