// Masked language modelling (Devlin et al. 2019; MosaicBERT's 30% rate, Portes et al. 2023) on the
// same token files as lm: the windows of the LM sampler, corrupted by data::mask_tokens
// (data.task = "mlm", options in [data.mlm]). The mask id is the wordpiece [MASK], or one id past
// the tokenizer's vocabulary for the other kinds. Loss: cross-entropy on the masked positions.
#include "lmforge/data/counter_rng.h"
#include "lmforge/data/mlm.h"
#include "lmforge/data/wordpiece.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/tasks/lm.h"

namespace lmforge {
namespace {

// The subset trick gives the full computation's loss only when the last layer treats rows
// independently: PowerNorm/BatchNorm pool statistics over the tokens, and a MoE's capacity and
// balance loss count them.
void check_subset_layer(const ModelConfig& m) {
  const BlockSpec& last = m.layers.back();
  LMF_REQUIRE(last.norm == "layernorm" || last.norm == "rmsnorm", ConfigError, "config key 'data.mlm.last_layer_subset' ",
              "needs a row-wise norm in the last layer (layernorm or rmsnorm), but ", last.path, ".norm = \"", last.norm,
              "\" pools statistics over tokens");
  LMF_REQUIRE(last.ffn != "moe", ConfigError, "config key 'data.mlm.last_layer_subset' cannot be used with ", last.path,
              ".ffn = \"moe\" (its capacity and balance loss count the tokens)");
}

class MlmTask : public Task {
 public:
  MlmTask(const data::MlmOptions& o, const RunConfig& cfg, const std::string& run_dir)
      : o_(o), cfg_(cfg), lm_(make_lm(cfg, run_dir)) {
    const data::Tokenizer* t = lm_->tokenizer();
    vocab_ = t->vocab_size();
    specials_ = {t->eos_id(), t->pad_id()};
    if (const auto* wp = dynamic_cast<const data::WordPieceTokenizer*>(t)) {
      mask_ = wp->mask_id();
      specials_.push_back(wp->cls_id());
    } else {
      mask_ = vocab_;
    }
  }
  int64_t vocab_size() const override { return mask_ == vocab_ ? vocab_ + 1 : vocab_; }
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    Batch b = lm_->train_batch(step, micro, rank, world);
    const uint64_t key = data::counter_key(static_cast<uint64_t>(cfg_.run.seed), 0x4d4c4dULL,
                                           static_cast<uint64_t>(step * cfg_.train.grad_accum + micro));
    // Masks keyed by the global row: rank r of W masks its rows as one process would.
    data::MlmBatch m = data::mask_tokens(b.inputs, o_.mask_rate, o_, mask_, vocab_, specials_, key, rank, world);
    return {m.inputs, m.targets};
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override {
    std::vector<Batch> out;
    int64_t i = 0;
    for (const Batch& b : lm_->valid_batches(max_batches)) {
      const uint64_t key = data::counter_key(static_cast<uint64_t>(cfg_.run.seed) ^ 0x5eed5eedULL, 0x4d4c4dULL, i++);
      data::MlmBatch m = data::mask_tokens(b.inputs, o_.eval_mask_rate, o_, mask_, vocab_, specials_, key);
      out.push_back({m.inputs, m.targets});
    }
    return out;
  }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override {
    if (!o_.last_layer_subset) return token_loss(model, b, ctx, "mlm");
    // MosaicBERT's subset trick: the last layer and the head on the masked rows only.
    LanguageModel& lm = as_language_model(model, "mlm");
    at::Tensor y = b.targets.reshape({-1});
    at::Tensor rows = (y != -100).nonzero().squeeze(1);
    at::Tensor h = lm.hidden_rows(b.inputs, ctx, rows);
    return {lm.loss_sum(h, y.index_select(0, rows)), rows.size(0)};
  }
  nlohmann::json extra_metrics(torch::nn::Module& model, const std::vector<Batch>& batches) override {
    return {{"mlm_accuracy", token_accuracy(as_language_model(model, "mlm"), batches)}};
  }
  const data::Tokenizer* tokenizer() const override { return lm_->tokenizer(); }

 private:
  static std::unique_ptr<LmTask> make_lm(RunConfig cfg, const std::string& run_dir) {
    return std::make_unique<LmTask>(cfg, run_dir);  // LmTask resolves data.tokenizer.vocab
  }
  data::MlmOptions o_;
  RunConfig cfg_;
  std::unique_ptr<LmTask> lm_;
  int64_t vocab_ = 0, mask_ = 0;
  std::vector<int64_t> specials_;
};

const bool kRegistered = TaskRegistry::add<data::MlmOptions>(
    "mlm", "masked language modelling for encoders ([data.mlm]; same text files as lm)",
    [](const data::MlmOptions& o, const TaskContext& c) {
      // Checked before the tokenizer is trained: the config alone is wrong.
      LMF_REQUIRE(c.cfg->model.kind == "encoder", ConfigError,
                  "config key 'data.task' = \"mlm\" needs model.kind = \"encoder\" (a causal model cannot see the "
                  "masked token's right context)");
      if (o.last_layer_subset) check_subset_layer(c.cfg->model);
      return std::make_shared<MlmTask>(o, *c.cfg, c.run_dir);
    });

}  // namespace
}  // namespace lmforge
