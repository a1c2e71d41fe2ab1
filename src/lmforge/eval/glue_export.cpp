// Merged export of a LoRA fine-tuned GLUE model; see glue_export.h.
#include "lmforge/eval/glue_export.h"

#include <filesystem>

#include <torch/torch.h>

#include "lmforge/core/error.h"
#include "lmforge/eval/glue_finetune.h"
#include "lmforge/models/peft.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

namespace fs = std::filesystem;

MergeReport export_merged_lora(const std::string& dir, const std::string& out) {
  const std::string ckpt = checkpoint_dir(dir);
  LMF_REQUIRE(!out.empty(), UserError, "merge-lora needs --out DIR");
  LMF_REQUIRE(!fs::exists(fs::path(out) / "checkpoint") && !fs::exists(fs::path(out) / "checkpoint.prev"), UserError,
              "'", out, "' already holds a checkpoint; choose a new folder");
  RunConfig cfg = parse_run_config(load_checkpoint_config(ckpt));
  nlohmann::json state = load_state(ckpt);
  LMF_REQUIRE(state.contains("peft_base"), UserError, "checkpoint '", ckpt,
              "': not a PEFT checkpoint (it holds every weight already; nothing to merge)");
  LMF_REQUIRE(cfg.model.peft.kind == "lora", UserError, "checkpoint '", ckpt, "': adapters of kind '",
              cfg.model.peft.kind, "' cannot be merged (MEFT's reversible layers change the network itself); "
              "only LoRA folds into the base weights");

  GlueModel g = load_glue_model(dir, "cpu");
  // A random batch (two segments, a padded tail) to check that the merge leaves the function alone.
  at::manual_seed(0);
  const int64_t vocab = cfg.model.vocab_size, B = 4, L = std::min<int64_t>(32, g.max_len);
  at::Tensor ids = at::randint(vocab, {B, L}, at::kLong);
  at::Tensor seg = cfg.model.type_vocab_size > 0 ? (at::arange(L) >= L / 2).to(at::kLong).expand({B, L}).contiguous()
                                                 : at::zeros({B, L}, at::kLong);
  at::Tensor pad = at::zeros({B, L}, at::kBool);
  pad.index_put_({0, at::indexing::Slice(L - 5, at::indexing::None)}, true);
  torch::NoGradGuard ng;
  const at::Tensor before = g.model->forward(ids, seg, pad);

  MergeReport r;
  r.merged_layers = merge_lora(*g.model);
  const at::Tensor after = g.model->forward(ids, seg, pad);
  r.max_logit_diff = (after - before).abs().max().item<double>();

  cfg.model.peft = PeftConfig{};  // a plain model now
  state.erase("peft_base");
  state["merged_from"] = {{"checkpoint", fs::absolute(ckpt).string()}, {"lora_layers", r.merged_layers}};
  WeightFilter plain = [](const std::string& name) { return !is_adapter_parameter(name); };
  for (const auto& p : g.model->named_parameters())
    if (plain(p.key())) r.parameters += p.value().numel();
  save_checkpoint(out, *g.model, nullptr, state, run_config_to_toml(cfg), plain);
  g.tokenizer->save((fs::path(out) / "tokenizer").string());
  return r;
}

}  // namespace lmforge
