// Checkpoint save (temporary folder, manifest last, renames) and verified loads; see checkpoint.h.
#include "lmforge/train/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>

#include <torch/serialize.h>

#include "lmforge/core/config.h"
#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/safetensors.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kManifestFormat = "lmforge checkpoint manifest";
constexpr const char* kWeights = "model.safetensors";
constexpr const char* kLegacyWeights = "model.pt";  // pickled, written before safetensors

// What the manifest records of one file.
struct FileSum {
  uint64_t bytes = 0;
  uint32_t crc = 0;
};

nlohmann::json entry(const FileSum& s) { return {{"bytes", s.bytes}, {"crc32c", crc32c_hex(s.crc)}}; }

FileSum write_whole(const fs::path& path, std::string_view bytes) {
  write_file_atomic(path.string(), bytes);
  return {bytes.size(), crc32c(bytes.data(), bytes.size())};
}

// Parameters and buffers by name, in their own dtypes, as safetensors with the metadata
// Hugging Face's loaders look for ("format": "pt").
FileSum save_weights(const fs::path& path, const torch::nn::Module& model, const WeightFilter& only) {
  std::map<std::string, at::Tensor> d;
  for (const auto& p : model.named_parameters())
    if (!only || only(p.key())) d.emplace(p.key(), p.value().detach());
  for (const auto& b : model.named_buffers())
    if (!only || only(b.key())) d.emplace(b.key(), b.value().detach());
  const WrittenFile w = write_safetensors(path.string(), d, {{"format", "pt"}, {"writer", "lmforge"}});
  return {w.bytes, w.crc32c};
}

// The tensors of a weights file in either format: safetensors (lmforge's checkpoints since
// safetensors landed, Hugging Face's files) or a pickled dict name -> tensor (older lmforge
// checkpoints, Python's torch.save(dict(model.state_dict()))).
std::map<std::string, at::Tensor> decode_weights(const std::string& path, const std::string& bytes) {
  if (looks_like_safetensors(bytes)) return read_safetensors(std::string_view(bytes), path);
  c10::IValue v;
  try {
    v = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error& e) {
    throw InputError(lmforge::str("weights file '", path,
                                  "' is neither safetensors nor a pickled dict of tensors (corrupt or another format)"));
  }
  if (!v.isGenericDict()) throw InputError(lmforge::str("weights file '", path, "': expected a dict of name -> tensor"));
  std::map<std::string, at::Tensor> stored;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor())
      throw InputError(lmforge::str("weights file '", path, "': expected a dict of name -> tensor"));
    stored[kv.key().toStringRef()] = kv.value().toTensor();
  }
  return stored;
}

bool has_weights(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / kWeights, ec) || fs::exists(dir / kLegacyWeights, ec);
}

// Streams the optimizer archive into the file, checksumming on the way. A write error is kept and
// rethrown after torch::save returns: throwing through the archive writer (C code in miniz, and a
// destructor that writes the zip's end) could end the process instead of reporting the error.
FileSum save_optimizer(const fs::path& path, const torch::optim::Optimizer& opt) {
  AtomicFile f(path.string());
  FileSum s;
  std::exception_ptr error;
  std::function<size_t(const void*, size_t)> sink = [&](const void* p, size_t n) -> size_t {
    if (!error) {
      try {
        f.write(p, n);
        s.crc = crc32c(p, n, s.crc);
        s.bytes += n;
      } catch (...) {
        error = std::current_exception();
      }
    }
    return n;
  };
  torch::save(opt, sink);
  if (error) std::rethrow_exception(error);
  f.commit();
  return s;
}

std::string dir_of(const std::string& file) {
  fs::path p = fs::path(file).parent_path();
  return p.empty() ? "." : p.string();
}

// "; an older checkpoint ..." when a damaged RUN/checkpoint has a complete-looking RUN/checkpoint.old
// beside it (a crash after the last save's second rename and before its cleanup).
std::string older_hint(const std::string& ckpt_dir) {
  fs::path d = fs::path(ckpt_dir).lexically_normal();
  if (d.filename().empty()) d = d.parent_path();
  if (d.filename() != "checkpoint") return "";
  const fs::path old = d.parent_path() / "checkpoint.old";
  if (!has_weights(old)) return "";
  return lmforge::str("; an older checkpoint is still at '", old.string(), "': move it to '", d.string(),
             "' to resume from it");
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw InputError(lmforge::str("checkpoint file '", path, "' is corrupt (", why, ")", older_hint(dir_of(path))));
}

// The manifest of a checkpoint folder, or null when it has none. Throws when it is malformed.
nlohmann::json read_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifest).string();
  std::optional<std::string> text = read_file_if_exists(path);
  if (!text) return nullptr;
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    corrupt(path, lmforge::str("not valid JSON: ", e.what()));
  }
  if (!m.is_object() || m.value("format", "") != kManifestFormat || !m.contains("files") || !m["files"].is_object())
    corrupt(path, "not an lmforge checkpoint manifest");
  for (const auto& [name, e] : m["files"].items())
    if (!e.is_object() || !e.contains("bytes") || !e["bytes"].is_number_unsigned() || !e.contains("crc32c") ||
        !e["crc32c"].is_string())
      corrupt(path, lmforge::str("malformed entry for '", name, "'"));
  return m;
}

void warn_unverified_once(const std::string& dir) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(fs::absolute(dir).lexically_normal().string()).second) return;
  std::cerr << "lmforge: warning: checkpoint '" << dir
            << "' has no manifest.json (saved by an older lmforge): its files are loaded without checksum checks;"
               " the next save of this run adds one\n";
}

void check_against(const nlohmann::json& manifest, const std::string& path, const std::string& bytes) {
  const std::string name = fs::path(path).filename().string();
  const auto& files = manifest["files"];
  if (!files.contains(name))
    throw InputError(lmforge::str("checkpoint file '", path, "' is not listed in ", kManifest,
                         " beside it (the folder was changed after it was saved)"));
  const uint64_t want_bytes = files[name]["bytes"].get<uint64_t>();
  const std::string want_crc = files[name]["crc32c"].get<std::string>();
  if (bytes.size() != want_bytes)
    corrupt(path, lmforge::str("size mismatch: ", bytes.size(), " bytes, the manifest says ", want_bytes,
                      "; truncated or overwritten"));
  const std::string got_crc = crc32c_hex(crc32c(bytes.data(), bytes.size()));
  if (got_crc != want_crc)
    corrupt(path, lmforge::str("checksum mismatch: CRC-32C ", got_crc, ", the manifest says ", want_crc,
                      "; the file was damaged or changed after it was saved"));
}

// Test hook: LMFORGE_TEST_KILL_AT=POINT:N makes the process SIGKILL itself at POINT of its Nth
// save (tests/train/crash_test.cpp puts a crash at each point of the protocol, deterministically).
void kill_point(const char* point) {
  static const std::string spec = [] {
    const char* v = std::getenv("LMFORGE_TEST_KILL_AT");
    return std::string(v ? v : "");
  }();
  if (spec.empty()) return;
  static int saves = 0;
  if (std::string(point) == "start") ++saves;
  const size_t colon = spec.rfind(':');
  if (spec.substr(0, colon) == point && (colon == std::string::npos || std::atoi(spec.c_str() + colon + 1) == saves))
    ::kill(::getpid(), SIGKILL);
}

}  // namespace

void save_checkpoint(const std::string& run_dir, const torch::nn::Module& model, const torch::optim::Optimizer* opt,
                     const nlohmann::json& state, const toml::table& config, const WeightFilter& only) {
  save_checkpoint_as(run_dir, "checkpoint", model, opt, state, config, only);
}

void save_checkpoint_as(const std::string& run_dir, const std::string& name, const torch::nn::Module& model,
                        const torch::optim::Optimizer* opt, const nlohmann::json& state, const toml::table& config,
                        const WeightFilter& only) {
  const fs::path run(run_dir);
  const fs::path final_dir = run / name;
  const fs::path old = run / (name + ".old");
  const std::string tmp_prefix = name + ".tmp-";
  const fs::path tmp = run / (tmp_prefix + std::to_string(::getpid()));
  std::error_code ec;
  kill_point("start");
  fs::create_directories(run, ec);
  // 1. Stale temporary folders of crashed saves (only rank 0 of one run writes here).
  for (const auto& e : fs::directory_iterator(run, ec))
    if (e.path().filename().string().rfind(tmp_prefix, 0) == 0) fs::remove_all(e.path(), ec);
  fs::create_directories(tmp, ec);
  LMF_REQUIRE(fs::is_directory(tmp), InputError, "checkpoint folder '", tmp.string(), "' cannot be created",
              ec ? " (" + ec.message() + ")" : "");

  // 2. The files, then the manifest that vouches for them.
  try {
    nlohmann::json files = nlohmann::json::object();
    files[kWeights] = entry(save_weights(tmp / kWeights, model, only));
    if (opt) files["optimizer.pt"] = entry(save_optimizer(tmp / "optimizer.pt", *opt));
    files["state.json"] = entry(write_whole(tmp / "state.json", state.dump(2) + "\n"));
    files["config.toml"] = entry(write_whole(tmp / "config.toml", to_toml_string(config)));
    kill_point("before-manifest");
    nlohmann::json manifest = {{"format", kManifestFormat}, {"version", 1}, {"checksum", "crc32c"}, {"files", files}};
    write_file_atomic((tmp / kManifest).string(), manifest.dump(2) + "\n");  // fsyncs tmp/ as well
  } catch (const InputError& e) {
    fs::remove_all(tmp, ec);
    throw InputError(lmforge::str("cannot save a checkpoint in '", run_dir, "': ", e.what()));
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }

  // 3-5. Publish: checkpoint -> checkpoint.old, tmp -> checkpoint, drop checkpoint.old.
  auto rename_or_throw = [&](const fs::path& from, const fs::path& to) {
    fs::rename(from, to, ec);
    LMF_REQUIRE(!ec, InputError, "checkpoint: cannot rename '", from.string(), "' to '", to.string(), "' (",
                ec.message(), ")");
    fsync_dir(run.string());
  };
  kill_point("after-manifest");
  if (fs::exists(final_dir)) {
    fs::remove_all(old, ec);  // a leftover beside a complete checkpoint/
    rename_or_throw(final_dir, old);
  }
  kill_point("between-renames");
  // Else checkpoint.old, if any, is the last complete checkpoint (a crash between the renames of the
  // previous save): it stays until the new one is in place.
  rename_or_throw(tmp, final_dir);
  kill_point("after-renames");
  if (fs::exists(old)) {
    fs::remove_all(old, ec);
    fsync_dir(run.string());
  }
}

std::string checkpoint_dir(const std::string& p) {
  std::error_code ec;
  auto has = [&](const fs::path& d) { return fs::exists(d / kManifest, ec) || has_weights(d); };
  if (has(p)) return p;
  const fs::path c = fs::path(p) / "checkpoint";
  if (has(c)) return c.string();
  // A crash between the two renames of a save leaves only checkpoint.old, complete.
  const fs::path old = fs::path(p) / "checkpoint.old";
  if (has(old)) return old.string();
  if (!fs::exists(p)) throw InputError(lmforge::str("checkpoint '", p, "': no such directory"));
  throw InputError(lmforge::str("checkpoint '", p, "': no checkpoint/", kWeights,
                                " inside (not a run directory, or the run never saved)"));
}

std::string weights_path(const std::string& ckpt_dir) {
  const fs::path d(ckpt_dir);
  std::error_code ec;
  if (!fs::exists(d / kWeights, ec) && fs::exists(d / kLegacyWeights, ec)) return (d / kLegacyWeights).string();
  return (d / kWeights).string();
}

std::string weights_file_name(const nlohmann::json& manifest) {
  const auto& files = manifest.at("files");
  return files.contains(kWeights) || !files.contains(kLegacyWeights) ? kWeights : kLegacyWeights;
}

std::string read_checkpoint_file(const std::string& path) {
  const std::string dir = dir_of(path);
  std::optional<std::string> bytes = read_file_if_exists(path);
  if (!bytes)
    throw InputError(lmforge::str("checkpoint '", dir, "': missing ", fs::path(path).filename().string(), older_hint(dir)));
  nlohmann::json manifest = read_manifest(dir);
  if (manifest.is_null()) {
    // An lmforge checkpoint folder always has state.json; a bare weights file is not ours to check.
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "state.json", ec)) warn_unverified_once(dir);
    return std::move(*bytes);
  }
  check_against(manifest, path, *bytes);
  return std::move(*bytes);
}

nlohmann::json verify_checkpoint(const std::string& ckpt_dir) {
  nlohmann::json manifest = read_manifest(ckpt_dir);
  LMF_REQUIRE(!manifest.is_null(), InputError, "checkpoint '", ckpt_dir, "': no ", kManifest,
              " (an unfinished save, or saved by an older lmforge)");
  for (const std::string& required : {weights_file_name(manifest), std::string("state.json"), std::string("config.toml")})
    LMF_REQUIRE(manifest["files"].contains(required), InputError, "checkpoint manifest '",
                (fs::path(ckpt_dir) / kManifest).string(), "' does not list ", required);
  for (const auto& [name, e] : manifest["files"].items()) {
    const std::string path = (fs::path(ckpt_dir) / name).string();
    std::optional<std::string> bytes = read_file_if_exists(path);
    if (!bytes) throw InputError(lmforge::str("checkpoint '", ckpt_dir, "': missing ", name, older_hint(ckpt_dir)));
    check_against(manifest, path, *bytes);
  }
  return manifest;
}

void load_weights(const std::string& path, torch::nn::Module& model, const WeightFilter& only) {
  std::map<std::string, at::Tensor> stored = decode_weights(path, read_checkpoint_file(path));
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
  for (auto& p : model.named_parameters())
    if (!only || only(p.key())) copy(p.key(), p.value());
  for (auto& b : model.named_buffers())
    if (!only || only(b.key())) copy(b.key(), b.value());
  for (const auto& [k, t] : stored)
    if (!used.count(k))
      throw InputError(lmforge::str("weights file '", path, "' has tensor '", k, "' that the model does not have (another architecture)"));
}

void load_optimizer(const std::string& path, torch::optim::Optimizer& opt) {
  const std::string bytes = read_checkpoint_file(path);
  try {
    torch::load(opt, bytes.data(), bytes.size());
  } catch (const c10::Error& e) {
    throw InputError(lmforge::str("optimizer state '", path, "' does not match this model's parameters or is corrupt"));
  }
}

nlohmann::json load_state(const std::string& ckpt_dir) {
  const std::string path = (fs::path(ckpt_dir) / "state.json").string();
  const std::string text = read_checkpoint_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(lmforge::str("checkpoint file '", path, "': invalid JSON: ", e.what()));
  }
}

toml::table load_checkpoint_config(const std::string& ckpt_dir) {
  const std::string path = (fs::path(ckpt_dir) / "config.toml").string();
  return parse_toml_string(read_checkpoint_file(path), path);
}

}  // namespace lmforge
