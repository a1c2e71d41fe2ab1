// Base pointer of a PEFT checkpoint; see peft_checkpoint.h.
#include "lmforge/train/peft_checkpoint.h"

#include <filesystem>

#include "lmforge/core/error.h"
#include "lmforge/train/checkpoint.h"

namespace lmforge {

namespace fs = std::filesystem;

nlohmann::json peft_base_pointer(const std::string& base_run) {
  const std::string dir = fs::absolute(checkpoint_dir(base_run)).lexically_normal().string();
  nlohmann::json manifest = verify_checkpoint(dir);
  return {{"checkpoint", dir}, {"model_crc32c", manifest["files"][weights_file_name(manifest)]["crc32c"]}};
}

std::string check_peft_base(const nlohmann::json& pointer, const std::string& ckpt) {
  LMF_REQUIRE(pointer.is_object() && pointer.contains("checkpoint") && pointer.contains("model_crc32c"), InputError,
              "checkpoint '", ckpt, "': state.json peft_base must hold checkpoint and model_crc32c");
  const std::string base = pointer["checkpoint"].get<std::string>();
  LMF_REQUIRE(fs::exists(base), InputError, "checkpoint '", ckpt, "' holds adapters of the base model '", base,
              "', which no longer exists (restore it, or fine-tune again)");
  nlohmann::json manifest = verify_checkpoint(base);
  const std::string want = pointer["model_crc32c"].get<std::string>();
  const std::string got = manifest["files"][weights_file_name(manifest)]["crc32c"].get<std::string>();
  LMF_REQUIRE(got == want, InputError, "checkpoint '", ckpt, "' holds adapters trained on base weights with CRC-32C ",
              want, ", but '", base, "' now holds one with ", got, " (another model): the adapters do not fit it");
  return base;
}

}  // namespace lmforge
