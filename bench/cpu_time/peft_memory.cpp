// Activation memory of fine-tuning an encoder: full fine-tuning vs LoRA vs MEFT1/2/3, for one
// training step (forward + backward) of a SequenceClassifier on a pretrained run (e.g.
// /work/runs/minilm), batch B, all sequences of length L (no padding).
// Prints, for one (mode, L): bytes the process holds after the forward (glibc heap counters:
// what autograd keeps for backward plus the logits; LibTorch's CPU allocator does not cache, so
// this is exact for tensors) and the process's peak RSS (getrusage) after forward + backward.
// One configuration per process, so that peak RSS belongs to it. Not part of the CMake build;
// build against the engine's objects like bench/cpu_time/monarch_vs_linear.cpp:
//   B=build; g++ -O2 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
//     bench/cpu_time/peft_memory.cpp $(find $B/CMakeFiles/lmforge_obj.dir -name '*.o' | grep -v cli/main.cpp.o) \
//     -o /tmp/peft_memory -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
//     $(grep -A8 "build lmforge:" $B/build.ninja | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')
// Usage: /tmp/peft_memory RUN_DIR MODE(full|lora|meft1|meft2|meft3) SEQ_LEN [BATCH=8]
// A SEQ_LEN beyond the run's positions (MiniLM has 512) builds the same architecture with
// max_seq_len = SEQ_LEN and fresh weights: memory does not depend on the weights' values.
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "lmforge/core/threads.h"
#include "lmforge/models/peft.h"
#include "lmforge/models/sequence_classifier.h"
#include "lmforge/train/load_run.h"

using namespace lmforge;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s RUN_DIR full|lora|meft1|meft2|meft3 SEQ_LEN [BATCH]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[2];
  const int64_t L = std::stoll(argv[3]), B = argc > 4 ? std::stoll(argv[4]) : 8;
  set_threads(0);
  LoadedRun run = load_run(argv[1], "cpu");
  if (L > run.config.model.max_seq_len) {
    ModelConfig longer = run.config.model;
    longer.max_seq_len = L;
    run.model = std::make_shared<LanguageModel>(longer);
  }
  PeftConfig p;
  p.kind = mode == "full" ? "none" : mode;
  apply_peft(*run.model, p);
  auto clf = std::make_shared<SequenceClassifier>(run.model, 2, 0.1);
  clf->set_unpad(false);
  clf->train();
  at::manual_seed(1);
  const at::Tensor ids = at::randint(1000, 2000, {B, L});
  const at::Tensor keep = at::ones({B, L}, at::kBool);
  malloc_trim(0);
  const struct mallinfo2 before = mallinfo2();
  at::Tensor loss = clf->forward(ids, at::Tensor(), keep).logsumexp(-1).mean();
  const struct mallinfo2 after = mallinfo2();
  loss.backward();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  int64_t trainable = 0;
  for (const auto& q : clf->parameters())
    if (q.requires_grad()) trainable += q.numel();
  const double held = static_cast<double>((after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd));
  std::printf("{\"mode\": \"%s\", \"seq_len\": %ld, \"batch\": %ld, \"held_after_forward_mib\": %.1f, "
              "\"peak_rss_mib\": %.1f, \"trainable_params\": %ld}\n",
              mode.c_str(), static_cast<long>(L), static_cast<long>(B), held / (1 << 20), ru.ru_maxrss / 1024.0,
              static_cast<long>(trainable));
  return 0;
}
