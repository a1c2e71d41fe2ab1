// Checkpoints: a folder RUN_DIR/checkpoint holding
//   model.safetensors  the weights by name, in their own dtypes (safetensors: Hugging Face's
//                  loaders and Python's safetensors.torch.load_file read it); checkpoints of an
//                  older lmforge hold model.pt (a pickled dict) instead, and still load
//   optimizer.pt   the optimizer state (torch::serialize archive; absent for weights-only saves)
//   state.json     step, tokens seen, the metrics so far
//   config.toml    the resolved config the model was built from
//   manifest.json  size and CRC-32C (core/crc32c.h) of each file above; written last
//
// Save protocol (save_checkpoint), each file written and fsync'ed by core/file_io:
//   1. remove stale RUN_DIR/checkpoint.tmp-* folders, create RUN_DIR/checkpoint.tmp-<pid>;
//   2. write model.safetensors, optimizer.pt, state.json, config.toml into it, then manifest.json,
//      fsync it;
//   3. if RUN_DIR/checkpoint exists: remove checkpoint.old, rename checkpoint -> checkpoint.old,
//      fsync RUN_DIR;
//   4. rename checkpoint.tmp-<pid> -> checkpoint, fsync RUN_DIR;
//   5. remove checkpoint.old, fsync RUN_DIR.
// A crash (SIGKILL, power cut) during 1-2 leaves the previous checkpoint/ untouched (the tmp folder
// is ignored and removed by the next save); between 3 and 4 leaves only checkpoint.old, which is
// complete and which checkpoint_dir() then picks; after 4, checkpoint/ is the new complete one.
// checkpoint.old is only ever removed while a complete checkpoint/ exists, so at every instant the
// disk holds at least one complete checkpoint (once the first save has finished).
// tests/train/crash_test.cpp checks this with random SIGKILLs of `lmforge train` and with a kill at
// each point above (the test hook LMFORGE_TEST_KILL_AT=POINT:N in checkpoint.cpp).
//
// Load: every file read through this header (load_weights, load_optimizer, load_state,
// load_checkpoint_config) is checked against the manifest of its folder: a size or checksum that
// differs is an InputError "checkpoint file '<path>' is corrupt (...)". A checkpoint folder from
// an older lmforge (state.json but no manifest.json) still loads, with a one-time warning; a
// weights file outside a checkpoint folder (--init-weights of a torch.save dict) is not checked.
// A damaged checkpoint/ is never replaced silently by checkpoint.old: the error names the damaged
// file and, when checkpoint.old is also there, names it as the way back (move it to checkpoint/).
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace lmforge {

// Which tensors (parameters and buffers, by name) a save or a load covers; empty = all of them.
// A PEFT checkpoint (models/peft.h) saves and loads only the trained adapters (and head).
using WeightFilter = std::function<bool(const std::string&)>;

void save_checkpoint(const std::string& run_dir, const torch::nn::Module& model, const torch::optim::Optimizer* opt,
                     const nlohmann::json& state, const toml::table& config, const WeightFilter& only = {});
// The same protocol into RUN_DIR/<name> (name.old, name.tmp-<pid>): "checkpoint-best" for
// train.keep_best (train/retention.h). save_checkpoint is save_checkpoint_as(.., "checkpoint", ..).
void save_checkpoint_as(const std::string& run_dir, const std::string& name, const torch::nn::Module& model,
                        const torch::optim::Optimizer* opt, const nlohmann::json& state, const toml::table& config,
                        const WeightFilter& only = {});

// The checkpoint folder of a run: the folder itself if it holds weights or manifest.json,
// else RUN_DIR/checkpoint, else RUN_DIR/checkpoint.old (a crash between the renames of a save);
// throws InputError naming what is missing.
std::string checkpoint_dir(const std::string& run_or_checkpoint);

// The weights file of a checkpoint folder: model.safetensors, or model.pt where only that is there
// (an older lmforge's checkpoint).
std::string weights_path(const std::string& ckpt_dir);
// The name of the weights file a checkpoint manifest lists (model.safetensors or model.pt).
std::string weights_file_name(const nlohmann::json& manifest);

// Loads weights by name from a safetensors or a pickled file (told apart by their bytes), checking that every parameter and buffer is present with its shape;
// a mismatch (another architecture, another vocabulary) is an InputError that names the tensor.
// With `only`, the selected tensors must all be in the file and the file must hold nothing else.
void load_weights(const std::string& path, torch::nn::Module& model, const WeightFilter& only = {});
void load_optimizer(const std::string& path, torch::optim::Optimizer& opt);
nlohmann::json load_state(const std::string& ckpt_dir);
toml::table load_checkpoint_config(const std::string& ckpt_dir);

// The bytes of a file of a checkpoint folder, checked against the folder's manifest.json (see
// above). Throws InputError naming the file when it is missing, unlisted or corrupt.
std::string read_checkpoint_file(const std::string& path);

// Checks every file the manifest of ckpt_dir lists (and that the weights, state.json, config.toml
// are among them); returns the manifest. Throws InputError naming the first bad file, or the
// folder when it has no manifest.json.
nlohmann::json verify_checkpoint(const std::string& ckpt_dir);

}  // namespace lmforge
