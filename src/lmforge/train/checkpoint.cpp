#include "lmforge/train/checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/serialize.h>

#include "lmforge/core/config.h"
#include "lmforge/core/error.h"

namespace lmforge {

namespace fs = std::filesystem;

void write_file_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw InputError(lmforge::str("cannot write '", tmp, "'"));
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    f.flush();
    if (!f) throw InputError(lmforge::str("write to '", tmp, "' failed (disk full?)"));
  }
  fs::rename(tmp, path);
}

static void save_weights(const std::string& path, const torch::nn::Module& model) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& p : model.named_parameters()) d.insert(p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers()) d.insert(b.key(), b.value().detach().cpu());
  std::vector<char> bytes = torch::pickle_save(c10::IValue(d));
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw InputError(lmforge::str("write to '", path, "' failed (disk full?)"));
}

void save_checkpoint(const std::string& run_dir, const torch::nn::Module& model, const torch::optim::Optimizer* opt,
                     const nlohmann::json& state, const toml::table& config) {
  fs::path final_dir = fs::path(run_dir) / "checkpoint";
  fs::path tmp = fs::path(run_dir) / ("checkpoint.tmp-" + std::to_string(::getpid()));
  fs::path old = fs::path(run_dir) / "checkpoint.old";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  save_weights((tmp / "model.pt").string(), model);
  if (opt) torch::save(*opt, (tmp / "optimizer.pt").string());
  {
    std::ofstream f(tmp / "state.json");
    f << state.dump(2) << "\n";
    std::ofstream c(tmp / "config.toml");
    c << to_toml_string(config);
    if (!f || !c) throw InputError(lmforge::str("cannot write checkpoint files in '", tmp.string(), "'"));
  }
  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fs::remove_all(old);
}

std::string checkpoint_dir(const std::string& p) {
  if (fs::exists(fs::path(p) / "model.pt")) return p;
  fs::path c = fs::path(p) / "checkpoint";
  if (fs::exists(c / "model.pt")) return c.string();
  // A crash between the two renames leaves only checkpoint.old.
  fs::path old = fs::path(p) / "checkpoint.old";
  if (fs::exists(old / "model.pt")) return old.string();
  if (!fs::exists(p)) throw InputError(lmforge::str("checkpoint '", p, "': no such directory"));
  throw InputError(lmforge::str("checkpoint '", p, "': no checkpoint/model.pt inside (not a run directory, or the run never saved)"));
}

void load_weights(const std::string& path, torch::nn::Module& model) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(lmforge::str("cannot read weights '", path, "'"));
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw InputError(lmforge::str("weights file '", path, "' is corrupt or not a pickled dict of tensors"));
  }
  if (!v.isGenericDict()) throw InputError(lmforge::str("weights file '", path, "': expected a dict of name -> tensor"));
  std::map<std::string, at::Tensor> stored;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor())
      throw InputError(lmforge::str("weights file '", path, "': expected a dict of name -> tensor"));
    stored[kv.key().toStringRef()] = kv.value().toTensor();
  }
  torch::NoGradGuard ng;
  std::set<std::string> used;
  auto copy = [&](const std::string& name, at::Tensor& dst) {
    auto it = stored.find(name);
    if (it == stored.end())
      throw InputError(lmforge::str("weights file '", path, "' has no tensor '", name,
                           "': it was saved from another architecture (check model.* in its config)"));
    if (it->second.sizes() != dst.sizes())
      throw InputError(lmforge::str("weights file '", path, "': tensor '", name, "' has shape ", it->second.sizes(),
                           " but the model expects ", dst.sizes(), " (another architecture or vocabulary)"));
    dst.copy_(it->second);
    used.insert(name);
  };
  for (auto& p : model.named_parameters()) copy(p.key(), p.value());
  for (auto& b : model.named_buffers()) copy(b.key(), b.value());
  for (const auto& [k, t] : stored)
    if (!used.count(k))
      throw InputError(lmforge::str("weights file '", path, "' has tensor '", k, "' that the model does not have (another architecture)"));
}

void load_optimizer(const std::string& path, torch::optim::Optimizer& opt) {
  try {
    torch::load(opt, path);
  } catch (const c10::Error& e) {
    throw InputError(lmforge::str("optimizer state '", path, "' does not match this model's parameters or is corrupt"));
  }
}

nlohmann::json load_state(const std::string& ckpt_dir) {
  std::ifstream f(fs::path(ckpt_dir) / "state.json");
  if (!f) throw InputError(lmforge::str("checkpoint '", ckpt_dir, "': missing state.json"));
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(lmforge::str("checkpoint '", ckpt_dir, "/state.json': invalid JSON: ", e.what()));
  }
}

toml::table load_checkpoint_config(const std::string& ckpt_dir) {
  return parse_toml_file((fs::path(ckpt_dir) / "config.toml").string());
}

}  // namespace lmforge
