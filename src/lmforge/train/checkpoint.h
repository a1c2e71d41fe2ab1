// Checkpoints: a folder RUN_DIR/checkpoint holding
//   model.pt       the weights, as a pickled dict name -> tensor (Python's torch.load reads it)
//   optimizer.pt   the optimizer state (torch::serialize archive)
//   state.json     step, tokens seen, the metrics so far
//   config.toml    the resolved config the model was built from
// Written into a temporary folder that is then renamed over the old one, so a crash at any
// moment leaves either the old or the new checkpoint, never a torn one.
#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace lmforge {

void save_checkpoint(const std::string& run_dir, const torch::nn::Module& model, const torch::optim::Optimizer* opt,
                     const nlohmann::json& state, const toml::table& config);

// The checkpoint folder of a run (RUN_DIR/checkpoint, or the folder itself if it holds model.pt);
// throws InputError naming what is missing.
std::string checkpoint_dir(const std::string& run_or_checkpoint);

// Loads weights by name, checking that every parameter and buffer is present with its shape;
// a mismatch (another architecture, another vocabulary) is an InputError that names the tensor.
void load_weights(const std::string& path, torch::nn::Module& model);
void load_optimizer(const std::string& path, torch::optim::Optimizer& opt);
nlohmann::json load_state(const std::string& ckpt_dir);
toml::table load_checkpoint_config(const std::string& ckpt_dir);

// Writes a file by writing a temporary sibling and renaming it into place.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace lmforge
