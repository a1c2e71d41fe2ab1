// `lmforge convert-monarch --checkpoint RUN --out RUN2 [--nblocks 4] [--to-dense] [--json]`
//
// Dense -> Monarch (Dao et al. 2022, "dense-to-sparse fine-tuning"): every `mlp` feed-forward of the
// checkpoint becomes a `monarch_mlp` whose projections are the Frobenius-nearest Monarch matrices of
// the trained fc1/fc2 weights (nn/monarch_linear.h, the closed-form per-block SVD); biases and every
// other tensor are copied. --to-dense is the reverse ("reverse sparsification", the paper's BERT and
// GPT-2 recipe): every `monarch_mlp` becomes an `mlp` holding the materialised dense matrices, exactly.
// RUN2 gets config.toml, checkpoint/ (weights + config; no optimizer state) and RUN's tokenizer/;
// continue training with `lmforge train -c RUN2/config.toml --init-weights RUN2/checkpoint/model.safetensors`.
#include <filesystem>
#include <iostream>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/dense.h"
#include "lmforge/nn/monarch_linear.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/run_config.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;

struct ConvertArgs {
  std::string checkpoint, out;
  int64_t nblocks = 4;
  bool to_dense = false, json = false;
};

// Rewrites the block specs: mlp -> monarch_mlp (or back); returns how many layers changed.
int64_t rewrite_ffns(ModelConfig& m, bool to_dense, int64_t nblocks) {
  const std::string from = to_dense ? "monarch_mlp" : "mlp", to = to_dense ? "mlp" : "monarch_mlp";
  int64_t n = 0;
  for (BlockSpec& b : m.layers) {
    if (b.ffn != from) continue;
    toml::table opts;
    if (const toml::node* o = b.options.get(from)) opts = *o->as_table();
    if (to_dense) opts.erase("nblocks");
    else opts.insert_or_assign("nblocks", nblocks);
    b.options.erase(from);
    b.options.insert_or_assign(to, std::move(opts));
    b.ffn = to;
    ++n;
  }
  return n;
}

int run_convert(const ConvertArgs& a) {
  const std::string ckpt = checkpoint_dir(a.checkpoint);
  LMF_REQUIRE(!fs::exists(fs::path(a.out) / "checkpoint"), UserError, "output '", a.out,
              "' already holds a checkpoint; choose another --out");
  RunConfig src_cfg = parse_run_config(load_checkpoint_config(ckpt));
  LanguageModel src(src_cfg.model);
  load_weights(weights_path(ckpt), src);

  RunConfig dst_cfg = src_cfg;
  const int64_t changed = rewrite_ffns(dst_cfg.model, a.to_dense, a.nblocks);
  LMF_REQUIRE(changed > 0, UserError, "checkpoint '", a.checkpoint, "' has no ", a.to_dense ? "monarch_mlp" : "mlp",
              " feed-forward to convert");
  const toml::table dst_toml = run_config_to_toml(dst_cfg);
  dst_cfg = parse_run_config(dst_toml);  // validates the rewritten config (e.g. nblocks vs widths)
  LanguageModel dst(dst_cfg.model);

  torch::NoGradGuard ng;
  std::map<std::string, at::Tensor> sp;
  for (const auto& p : src.named_parameters()) sp[p.key()] = p.value();
  for (const auto& b : src.named_buffers()) sp[b.key()] = b.value();
  std::set<std::string> done;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& m : dst.named_modules("", false)) {
    const std::string& name = m.key();
    if (auto ml = std::dynamic_pointer_cast<MonarchLinear>(m.value())) {
      auto it = sp.find(name + ".weight");
      if (it == sp.end()) continue;
      const double err = ml->set_from_dense(it->second);
      done.insert(name + ".blkdiag1"), done.insert(name + ".blkdiag2");
      layers.push_back({{"layer", name}, {"rel_frobenius_error", err}});
    } else if (auto d = std::dynamic_pointer_cast<Dense>(m.value())) {
      auto it = sp.find(name + ".blkdiag1");
      if (it == sp.end()) continue;
      auto srcmod = src.named_modules("", false)[name];
      auto sm = std::dynamic_pointer_cast<MonarchLinear>(srcmod);
      LMF_REQUIRE(sm, InputError, "checkpoint '", a.checkpoint, "': '", name, "' is not a Monarch layer");
      d->weight.copy_(sm->to_dense());
      done.insert(name + ".weight");
      layers.push_back({{"layer", name}, {"rel_frobenius_error", 0.0}});
    }
  }
  auto copy_rest = [&](const std::string& key, at::Tensor& t) {
    if (done.count(key)) return;
    auto it = sp.find(key);
    LMF_REQUIRE(it != sp.end() && it->second.sizes() == t.sizes(), InputError, "convert-monarch: tensor '", key,
                "' of the converted model has no counterpart in '", a.checkpoint, "'");
    t.copy_(it->second);
  };
  for (auto& p : dst.named_parameters()) copy_rest(p.key(), p.value());
  for (auto& b : dst.named_buffers()) copy_rest(b.key(), b.value());

  fs::create_directories(a.out);
  nlohmann::json state = {{"step", 0},
                          {"tokens", 0},
                          {"converted_from", a.checkpoint},
                          {"conversion", a.to_dense ? "monarch_to_dense" : "dense_to_monarch"},
                          {"layers", layers}};
  save_checkpoint(a.out, dst, nullptr, state, dst_toml);
  write_file_atomic((fs::path(a.out) / "config.toml").string(), to_toml_string(dst_toml));
  for (fs::path p : {fs::path(ckpt) / "tokenizer", fs::path(ckpt).parent_path() / "tokenizer"}) {
    if (fs::exists(p / "tokenizer.json")) {
      fs::copy(p, fs::path(a.out) / "tokenizer", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      break;
    }
  }
  const int64_t before = src.num_parameters(), after = dst.num_parameters();
  nlohmann::json j = {{"out", a.out}, {"layers", layers}, {"parameters_before", before}, {"parameters_after", after}};
  if (a.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    for (const auto& l : layers)
      std::printf("%-28s rel. Frobenius error %.4f\n", l["layer"].get<std::string>().c_str(),
                  l["rel_frobenius_error"].get<double>());
    std::printf("%lld -> %lld parameters; wrote %s (continue with: lmforge train -c %s/config.toml --init-weights "
                "%s/checkpoint/model.safetensors --out RUN3)\n",
                static_cast<long long>(before), static_cast<long long>(after), a.out.c_str(), a.out.c_str(),
                a.out.c_str());
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "convert-monarch", "project a checkpoint's mlp feed-forwards onto Monarch matrices (or back with --to-dense)",
    [](CLI::App& app) {
      auto a = std::make_shared<ConvertArgs>();
      app.add_option("--checkpoint,-c", a->checkpoint, "run directory or checkpoint folder to convert")->required();
      app.add_option("--out,-o", a->out, "run directory to write")->required();
      app.add_option("--nblocks", a->nblocks, "blocks per Monarch factor (dense -> Monarch)");
      app.add_flag("--to-dense", a->to_dense, "Monarch -> dense (reverse sparsification)");
      app.add_flag("--json", a->json, "print the result as JSON");
      return [a] { return run_convert(*a); };
    });

}  // namespace
}  // namespace lmforge
