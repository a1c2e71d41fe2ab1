#include "lmforge/train/load_run.h"

#include <filesystem>

#include "lmforge/train/checkpoint.h"

namespace lmforge {

namespace fs = std::filesystem;

LoadedRun load_run(const std::string& path, const std::string& device) {
  LoadedRun r;
  r.checkpoint = checkpoint_dir(path);
  r.config = parse_run_config(load_checkpoint_config(r.checkpoint));
  if (!device.empty()) r.config.run.device = device;
  r.model = std::make_shared<LanguageModel>(r.config.model);
  load_weights(weights_path(r.checkpoint), *r.model);
  r.model->to(at::Device(r.config.run.device));
  r.model->eval();
  // The tokenizer lives in the run directory (one level above checkpoint/).
  for (fs::path p : {fs::path(r.checkpoint) / "tokenizer", fs::path(r.checkpoint).parent_path() / "tokenizer"}) {
    if (fs::exists(p / "tokenizer.json")) {
      r.tokenizer = data::load_tokenizer(p.string());
      break;
    }
  }
  if (r.config.data.task == "lm") {
    LMF_REQUIRE(r.tokenizer, InputError, "run '", path, "': no tokenizer/ folder beside the checkpoint");
    LMF_REQUIRE(r.tokenizer->vocab_size() <= r.config.model.vocab_size, InputError, "run '", path,
                "': the tokenizer has ", r.tokenizer->vocab_size(), " entries but the model's vocabulary is ",
                r.config.model.vocab_size, " (tokenizer from another run?)");
  }
  return r;
}

}  // namespace lmforge
