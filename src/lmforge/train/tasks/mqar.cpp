// Multi-query associative recall (Arora et al. 2023, "Zoology"), generated from (seed, step) on the
// fly: data.task = "mqar", options in [data.mqar] (data/mqar.h). Loss: cross-entropy on the
// answer positions only; metric: their argmax accuracy.
#include "lmforge/data/mqar.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/tasks/lm.h"

namespace lmforge {
namespace {

class MqarTask : public Task {
 public:
  MqarTask(const data::MqarOptions& o, const RunConfig& cfg) : o_(o), cfg_(cfg) {
    o_.validate();
    LMF_REQUIRE(o_.seq_len == cfg.train.seq_len, ConfigError, "data.mqar.seq_len (", o_.seq_len,
                ") must equal train.seq_len (", cfg.train.seq_len, ")");
  }
  int64_t vocab_size() const override { return o_.vocab_size; }
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    // Rank r of W: the global rows r, r + W, ... of the micro-batch one process would take.
    const int64_t B = rank_batch_size(cfg_.train.batch_size, world);
    const uint64_t index = static_cast<uint64_t>(step * cfg_.train.grad_accum + micro);
    data::MqarBatch b = data::generate_mqar(o_, B, static_cast<uint64_t>(cfg_.run.seed), index, rank, world);
    return {b.inputs, b.targets};
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override {
    std::vector<Batch> out;
    const uint64_t seed = static_cast<uint64_t>(cfg_.run.seed) ^ 0x5eed5eed5eedULL;  // no training step uses it
    for (int64_t i = 0; i < max_batches; ++i) {
      data::MqarBatch b = data::generate_mqar(o_, cfg_.train.batch_size, seed, static_cast<uint64_t>(i));
      out.push_back({b.inputs, b.targets});
    }
    return out;
  }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override {
    return token_loss(model, b, ctx, "mqar");
  }
  nlohmann::json extra_metrics(torch::nn::Module& model, const std::vector<Batch>& batches) override {
    return {{"accuracy", token_accuracy(as_language_model(model, "mqar"), batches)}};
  }

 private:
  data::MqarOptions o_;
  RunConfig cfg_;
};

const bool kRegistered = TaskRegistry::add<data::MqarOptions>(
    "mqar", "multi-query associative recall, generated on the fly ([data.mqar])",
    [](const data::MqarOptions& o, const TaskContext& c) { return std::make_shared<MqarTask>(o, *c.cfg); });

}  // namespace
}  // namespace lmforge
