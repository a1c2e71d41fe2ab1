// A PEFT checkpoint (LoRA / MEFT fine-tuning, models/peft.h) stores only the trained tensors
// (adapters, and a task head) plus a pointer to the pretrained checkpoint they adapt:
//   state.json  "peft_base": {"checkpoint": "<absolute path of the base checkpoint folder>",
//                             "model_crc32c": "<CRC-32C of its weights file, from its manifest>"}
// Loading verifies the base (its manifest, and that its weights file is the one the adapters were
// trained on), so adapters are never silently put on another model.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge {

// The pointer to the base run (a run directory or its checkpoint folder); verifies its files.
nlohmann::json peft_base_pointer(const std::string& base_run);

// Checks the base named by `pointer` (read from the PEFT checkpoint `ckpt`, for messages) and
// returns its checkpoint folder. InputError when it is missing, corrupt, or another model.
std::string check_peft_base(const nlohmann::json& pointer, const std::string& ckpt);

}  // namespace lmforge
