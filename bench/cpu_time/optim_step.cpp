// Optimizer step time and state bytes on the parameter shapes of a BERT-mini-sized encoder
// (MiniLM-L6: a 30522 x 384 embedding and 6 layers of qkv 1152 x 384, out 384 x 384, fc1
// 1536 x 384, fc2 384 x 1536, plus their biases): the peer of bench/peers/optim_step_peer.py,
// which times PyTorch's AdamW and the GaLore authors' GaLoreAdamW on the same shapes. Gradients are
// fixed N(0, 1e-2) tensors; the first step (GaLore's first SVD, lazily created states) is not
// timed; the rest, best and mean of N. Prints one JSON line per optimizer.
// Not part of the CMake build; build against the engine's objects (bench/optim_step.sh does):
//   B=build; g++ -O2 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
//     bench/cpu_time/optim_step.cpp $(find $B/CMakeFiles/lmforge_obj.dir -name '*.o' | grep -v cli/main.cpp.o) \
//     -o /tmp/optim_step -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
//     $(grep -A8 "build lmforge:" $B/build.ninja | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')
// Usage: /tmp/optim_step [STEPS=10] [THREADS=2]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "lmforge/train/optimizer.h"
#include "lmforge/train/optimizers/adam_family.h"

using namespace lmforge;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 10;
  at::set_num_threads(argc > 2 ? std::stoi(argv[2]) : 2);
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"adamw", ""}, {"adamw8bit", "32"}, {"adamw8bit", "8"}, {"galore", "32"}, {"galore", "8"}, {"gradnormlorp", "32"}};
  for (const auto& [name, bits] : runs) {
    at::manual_seed(0);
    ParamGroup decay, no_decay;
    decay.tag = "decay", decay.weight_decay = 0.01, no_decay.tag = "no_decay";
    auto add = [&](ParamGroup& g, const std::string& n, std::vector<int64_t> shape) {
      at::Tensor p = at::randn(shape) * 0.02;
      p.set_requires_grad(true);
      p.mutable_grad() = at::randn(shape) * 1e-2;
      g.params.push_back(p), g.names.push_back(n);
    };
    add(decay, "embed.weight", {30522, 384});
    for (int l = 0; l < 6; ++l) {
      const std::string pre = "layers." + std::to_string(l) + ".";
      add(decay, pre + "mixer.qkv.weight", {1152, 384}), add(no_decay, pre + "mixer.qkv.bias", {1152});
      add(decay, pre + "mixer.out.weight", {384, 384}), add(no_decay, pre + "mixer.out.bias", {384});
      add(decay, pre + "ffn.fc1.weight", {1536, 384}), add(no_decay, pre + "ffn.fc1.bias", {1536});
      add(decay, pre + "ffn.fc2.weight", {384, 1536}), add(no_decay, pre + "ffn.fc2.bias", {384});
    }
    Choice c{name, {}};
    c.options.insert("beta2", 0.999);
    if (name == "galore" || name == "gradnormlorp") {
      c.options.insert("rank", 8), c.options.insert("update_gap", 200), c.options.insert("scale", 2.0);
    }
    if (!bits.empty()) c.options.insert("bits", std::stoi(bits));
    auto opt = build_optimizer(c, {decay, no_decay}, 1e-4).optimizer;
    opt->step();  // first step: states created, GaLore's first SVD
    double best = 1e30, total = 0;
    for (int s = 0; s < steps; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      opt->step();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, ms), total += ms;
    }
    const std::string label = name + (bits.empty() ? "" : "(bits=" + bits + ")");
    std::printf("{\"impl\": \"lmforge\", \"optimizer\": \"%s\", \"best_ms\": %.2f, \"mean_ms\": %.2f, \"state_mib\": %.2f}\n",
                label.c_str(), best, total / steps, optimizer_state_bytes(*opt) / 1048576.0);
  }
  return 0;
}
