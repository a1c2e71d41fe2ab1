#include "lmforge/train/task.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "lmforge/core/log.h"
#include "lmforge/core/precision.h"
#include "lmforge/data/counter_rng.h"
#include "lmforge/data/lm_sampler.h"
#include "lmforge/data/mlm.h"
#include "lmforge/data/mqar.h"
#include "lmforge/data/token_file.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/data/wordpiece.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/loss.h"

namespace lmforge {

namespace fs = std::filesystem;

std::string default_token_cache_dir(const DataConfig& d) {
  if (!d.cache_dir.empty()) return d.cache_dir;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
  return (base / "lmforge" / "tokens").string();
}

namespace {

// Argmax accuracy over the scored targets of fixed batches (MQAR answers, masked tokens).
double batches_accuracy(LanguageModel& model, const std::vector<Batch>& batches) {
  int64_t correct = 0, total = 0;
  torch::NoGradGuard ng;
  const at::Device dev = model.output_weight().device();
  for (const auto& b : batches) {
    ForwardContext ctx;
    at::Tensor h = model.hidden(b.inputs.to(dev), ctx);
    auto [c, n] = lm_accuracy(model, h, b.targets.to(dev));
    correct += c, total += n;
  }
  return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

// Next-token prediction on a tokenized text file.
class LmTask : public Task {
 public:
  LmTask(const RunConfig& cfg, const std::string& run_dir) : cfg_(cfg) {
    const DataConfig& d = cfg.data;
    const std::string train_path = resolve_data_path(d, d.train);
    LMF_REQUIRE(!d.train.empty(), ConfigError, "config key 'data.train' is not set (task \"lm\" needs a training file)");
    LMF_REQUIRE(fs::exists(train_path), InputError, "training file '", train_path, "' (data.train) does not exist");
    const fs::path tok_dir = fs::path(run_dir) / "tokenizer";
    if (fs::exists(tok_dir / "tokenizer.json")) {
      tok_ = data::load_tokenizer(tok_dir.string());
    } else {
      log_line(str("training a ", d.tokenizer.kind, " tokenizer on ", train_path));
      tok_ = data::train_tokenizer(d.tokenizer, train_path, (fs::path(run_dir) / "tokenizer-work").string());
      tok_->save(tok_dir.string());
      fs::remove_all(fs::path(run_dir) / "tokenizer-work");
    }
    const std::string cache = default_token_cache_dir(d);
    train_ = std::make_unique<data::TokenFile>(data::TokenFile::open_or_build(*tok_, train_path, cache));
    LMF_REQUIRE(train_->size() > cfg.train.seq_len + 1, InputError, "training file '", train_path, "' has only ",
                train_->size(), " tokens, fewer than train.seq_len + 2");
    sampler_ = std::make_unique<data::LmSampler>(train_->span(), cfg.train.seq_len, cfg.train.batch_size,
                                                 static_cast<uint64_t>(cfg.run.seed));
    if (!d.valid.empty()) {
      const std::string valid_path = resolve_data_path(d, d.valid);
      LMF_REQUIRE(fs::exists(valid_path), InputError, "validation file '", valid_path, "' (data.valid) does not exist");
      valid_ = std::make_unique<data::TokenFile>(data::TokenFile::open_or_build(*tok_, valid_path, cache));
    }
  }
  int64_t vocab_size() const override { return tok_->vocab_size(); }
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    if (world != world_ || rank != rank_) {
      sampler_ = std::make_unique<data::LmSampler>(train_->span(), cfg_.train.seq_len,
                                                   rank_batch_size(cfg_.train.batch_size, world),
                                                   static_cast<uint64_t>(cfg_.run.seed), rank, world);
      rank_ = rank, world_ = world;
    }
    data::LmBatch b = sampler_->batch(step * cfg_.train.grad_accum + micro);
    return {b.inputs, b.targets};
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override {
    std::vector<Batch> out;
    if (!valid_) return out;
    // The first windows of the validation file, disjoint: a cheap, fixed estimate for
    // monitoring (eval-lm scores the whole file with the sliding-window protocol).
    data::SequentialWindows w(valid_->span(), cfg_.train.seq_len, 0, tok_->eos_id(), tok_->pad_id());
    const int64_t B = cfg_.train.batch_size;
    for (int64_t i = 0; i < max_batches && i * B < w.num_windows(); ++i) {
      data::LmBatch b = w.batch(i * B, B);
      out.push_back({b.inputs, b.targets});
    }
    return out;
  }
  const data::Tokenizer* tokenizer() const override { return tok_.get(); }

 private:
  RunConfig cfg_;
  std::unique_ptr<data::Tokenizer> tok_;
  std::unique_ptr<data::TokenFile> train_, valid_;
  std::unique_ptr<data::LmSampler> sampler_;
  int rank_ = 0, world_ = 1;
};

// Multi-query associative recall, generated from (seed, step).
class MqarTask : public Task {
 public:
  explicit MqarTask(const RunConfig& cfg) : cfg_(cfg) {
    LMF_REQUIRE(cfg.data.mqar.seq_len == cfg.train.seq_len, ConfigError, "data.mqar.seq_len (", cfg.data.mqar.seq_len,
                ") must equal train.seq_len (", cfg.train.seq_len, ")");
  }
  int64_t vocab_size() const override { return cfg_.data.mqar.vocab_size; }
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    const int64_t B = rank_batch_size(cfg_.train.batch_size, world);
    const uint64_t index = static_cast<uint64_t>(step * cfg_.train.grad_accum + micro);
    data::MqarBatch b = data::generate_mqar(cfg_.data.mqar, B, static_cast<uint64_t>(cfg_.run.seed), index, rank, world);
    return {b.inputs, b.targets};
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override {
    std::vector<Batch> out;
    // A seed no training step uses.
    const uint64_t seed = static_cast<uint64_t>(cfg_.run.seed) ^ 0x5eed5eed5eedULL;
    for (int64_t i = 0; i < max_batches; ++i) {
      data::MqarBatch b = data::generate_mqar(cfg_.data.mqar, cfg_.train.batch_size, seed, static_cast<uint64_t>(i));
      out.push_back({b.inputs, b.targets});
    }
    return out;
  }
  nlohmann::json extra_metrics(LanguageModel& model, const std::vector<Batch>& batches) override {
    return {{"accuracy", batches_accuracy(model, batches)}};
  }

 private:
  RunConfig cfg_;
};

// Masked language modelling (BERT/MosaicBERT) on the same token files as lm: the windows of the
// LM sampler, corrupted by data::mask_tokens. The mask id is the wordpiece [MASK], or one id past
// the tokenizer's vocabulary for the other kinds.
class MlmTask : public Task {
 public:
  MlmTask(const RunConfig& cfg, const std::string& run_dir) : cfg_(cfg), lm_(make_lm(cfg, run_dir)) {
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
    data::MlmBatch m =
        data::mask_tokens(b.inputs, cfg_.data.mlm.mask_rate, cfg_.data.mlm, mask_, vocab_, specials_, key, rank, world);
    return {m.inputs, m.targets};
  }
  std::vector<Batch> valid_batches(int64_t max_batches) override {
    std::vector<Batch> out;
    int64_t i = 0;
    for (const Batch& b : lm_->valid_batches(max_batches)) {
      const uint64_t key = data::counter_key(static_cast<uint64_t>(cfg_.run.seed) ^ 0x5eed5eedULL, 0x4d4c4dULL, i++);
      data::MlmBatch m =
          data::mask_tokens(b.inputs, cfg_.data.mlm.eval_mask_rate, cfg_.data.mlm, mask_, vocab_, specials_, key);
      out.push_back({m.inputs, m.targets});
    }
    return out;
  }
  nlohmann::json extra_metrics(LanguageModel& model, const std::vector<Batch>& batches) override {
    return {{"mlm_accuracy", batches_accuracy(model, batches)}};
  }
  const data::Tokenizer* tokenizer() const override { return lm_->tokenizer(); }

 private:
  static std::unique_ptr<LmTask> make_lm(RunConfig cfg, const std::string& run_dir) {
    if (!cfg.data.tokenizer.vocab.empty()) cfg.data.tokenizer.vocab = resolve_data_path(cfg.data, cfg.data.tokenizer.vocab);
    return std::make_unique<LmTask>(cfg, run_dir);
  }
  RunConfig cfg_;
  std::unique_ptr<LmTask> lm_;
  int64_t vocab_ = 0, mask_ = 0;
  std::vector<int64_t> specials_;
};

}  // namespace

nlohmann::json evaluate_batches(LanguageModel& model, Task& task, const std::vector<Batch>& batches,
                                at::ScalarType dtype, const at::Device& dev) {
  model.eval();
  torch::NoGradGuard ng;
  AutocastGuard ac(dtype, dev);
  double sum = 0;
  int64_t n = 0;
  for (const auto& b : batches) {
    ForwardContext ctx;
    at::Tensor h = model.hidden(b.inputs.to(dev), ctx);
    auto [loss, count] = lm_loss_sum(model, h, b.targets.to(dev));
    sum += loss.item<double>();
    n += count;
  }
  nlohmann::json r = task.extra_metrics(model, batches);
  if (!r.is_object()) r = nlohmann::json::object();
  r["valid_loss"] = n ? sum / static_cast<double>(n) : 0.0;
  r["valid_ppl"] = std::exp(n ? sum / static_cast<double>(n) : 0.0);
  r["valid_tokens"] = n;
  return r;
}

int64_t rank_batch_size(int64_t global_batch, int world) {
  LMF_REQUIRE(world >= 1 && global_batch % world == 0, ConfigError, "config key 'train.batch_size' (", global_batch,
              ") is the global micro-batch and must split evenly over the ", world,
              " processes; choose a multiple of ", world);
  return global_batch / world;
}

void check_world_fits(const RunConfig& cfg, int world) { rank_batch_size(cfg.train.batch_size, world); }

std::unique_ptr<Task> make_task(const RunConfig& cfg, const std::string& run_dir) {
  if (cfg.data.task == "mqar") return std::make_unique<MqarTask>(cfg);
  if (cfg.data.task == "mlm") return std::make_unique<MlmTask>(cfg, run_dir);
  return std::make_unique<LmTask>(cfg, run_dir);
}

}  // namespace lmforge
