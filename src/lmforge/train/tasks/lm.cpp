// Next-token prediction on a text file; see lm.h.
#include "lmforge/train/tasks/lm.h"

#include <filesystem>

#include "lmforge/core/log.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/loss.h"

namespace lmforge {

namespace fs = std::filesystem;

LmTask::LmTask(const RunConfig& cfg, const std::string& run_dir) : cfg_(cfg) {
  const DataConfig& d = cfg.data;
  const std::string train_path = resolve_data_path(d, d.train);
  LMF_REQUIRE(!d.train.empty(), ConfigError, "config key 'data.train' is not set (task \"", d.task,
              "\" needs a training file)");
  LMF_REQUIRE(fs::exists(train_path), InputError, "training file '", train_path, "' (data.train) does not exist");
  const fs::path tok_dir = fs::path(run_dir) / "tokenizer";
  if (fs::exists(tok_dir / "tokenizer.json")) {
    tok_ = data::load_tokenizer(tok_dir.string());
  } else {
    log_line(d.tokenizer.vocab.empty() ? str("training a ", d.tokenizer.kind, " tokenizer on ", train_path)
                                       : str("loading the ", d.tokenizer.kind, " tokenizer ", d.tokenizer.vocab));
    // A vocabulary file (wordpiece vocab.txt, an hf tokenizer.json) is found like the data files.
    data::TokenizerOptions topts = d.tokenizer;
    topts.vocab = resolve_data_path(d, topts.vocab);
    tok_ = data::train_tokenizer(topts, train_path, (fs::path(run_dir) / "tokenizer-work").string());
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

Batch LmTask::train_batch(int64_t step, int64_t micro, int rank, int world) {
  if (world != world_ || rank != rank_) {
    sampler_ = std::make_unique<data::LmSampler>(train_->span(), cfg_.train.seq_len,
                                                 rank_batch_size(cfg_.train.batch_size, world),
                                                 static_cast<uint64_t>(cfg_.run.seed), rank, world);
    rank_ = rank, world_ = world;
  }
  data::LmBatch b = sampler_->batch(step * cfg_.train.grad_accum + micro);
  return {b.inputs, b.targets};
}

std::vector<Batch> LmTask::valid_batches(int64_t max_batches) {
  std::vector<Batch> out;
  if (!valid_) return out;
  // The first windows of the validation file, disjoint: a cheap, fixed estimate for monitoring
  // (eval-lm scores the whole file with the sliding-window protocol).
  data::SequentialWindows w(valid_->span(), cfg_.train.seq_len, 0, tok_->eos_id(), tok_->pad_id());
  const int64_t B = cfg_.train.batch_size;
  for (int64_t i = 0; i < max_batches && i * B < w.num_windows(); ++i) {
    data::LmBatch b = w.batch(i * B, B);
    out.push_back({b.inputs, b.targets});
  }
  return out;
}

double LmTask::tokens_per_word() const {
  if (!valid_ || valid_->counts().words == 0) return 0;
  return static_cast<double>(valid_->size()) / static_cast<double>(valid_->counts().words);
}

LossSum token_loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx, const char* task) {
  LanguageModel& lm = as_language_model(model, task);
  auto [sum, count] = lm_loss_sum(lm, lm.hidden(b.inputs, ctx), b.targets);
  return {sum, count};
}

LossSum LmTask::loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) {
  return token_loss(model, b, ctx, "lm");
}

double token_accuracy(LanguageModel& model, const std::vector<Batch>& batches) {
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

namespace {
const bool kRegistered = TaskRegistry::add<NoOptions>(
    "lm", "next-token language modelling on text files (data.train, data.valid)",
    [](const NoOptions&, const TaskContext& c) { return std::make_shared<LmTask>(*c.cfg, c.run_dir); });
}  // namespace

}  // namespace lmforge
