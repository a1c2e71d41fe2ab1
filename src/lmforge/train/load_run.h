// Loads a trained run for evaluation or generation: its resolved config, the model built from it
// with the checkpoint's weights, and the tokenizer saved beside it (for text tasks).
#pragma once
#include <memory>
#include <string>

#include "lmforge/data/tokenizer.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

struct LoadedRun {
  RunConfig config;
  std::shared_ptr<LanguageModel> model;
  std::unique_ptr<data::Tokenizer> tokenizer;  // null for synthetic tasks
  std::string checkpoint;
};

// `path`: a run directory or its checkpoint folder. Checks that the tokenizer's vocabulary fits
// the model's (a checkpoint paired with another run's tokenizer is refused).
LoadedRun load_run(const std::string& path, const std::string& device);

}  // namespace lmforge
