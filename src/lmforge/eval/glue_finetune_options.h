// The settings of one GLUE fine-tuning run (eval/glue_finetune.h), in a header of their own so
// that the bench suite's [glue] tables can hold them without including the fine-tuning code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmforge/models/peft_config.h"

namespace lmforge {

struct GlueFinetuneOptions {
  int64_t epochs = 3;
  int64_t batch_size = 32;
  double lr = 1e-4;
  double warmup = 0.1;  // share of the steps
  double weight_decay = 0.01;
  double dropout = 0.1;
  double grad_clip = 1.0;            // global-norm clip; 0 = off
  // A registered optimizer (train/optimizers); the Adam family (adamw, adamw8bit, galore,
  // gradnormlorp) gets BERT's (0.9, 0.999), eps 1e-6 unless optimizer_options set them.
  std::string optimizer = "adamw";
  std::vector<std::string> optimizer_options;  // "KEY=VALUE" as --set reads it, [train.optimizer] keys
  int64_t max_len = 128;
  int64_t max_train = 0;  // 0 = every training example; else a seeded random subset
  int64_t max_eval = 0;   // 0 = the whole dev file
  int64_t seed = 17;
  std::string precision = "fp32";
  std::string device = "cpu";
  bool quiet = false;
  bool unpad = true;  // MosaicBERT unpadding when every mixer is attention
  PeftConfig peft;    // [model.peft] for this fine-tuning (LoRA / MEFT); kind "none" = full
  // TensorBoard events of the fine-tuning (tags "<task>/train/loss", ..., "<task>/dev/<metric>")
  // go to a new events file in this folder; "" = none.
  std::string events_dir;
};

}  // namespace lmforge
