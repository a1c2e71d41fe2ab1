// Data parallelism seam. A run has a rank and a world size; the trainer shards batches by rank,
// calls all_reduce_gradients after backward, and only rank 0 logs and writes checkpoints.
// The single-process implementation is the identity; a c10d (Gloo on CPU, NCCL on GPU) process
// group implementation plugs in here without touching the trainer.
#pragma once
#include <vector>

#include <ATen/ATen.h>

namespace lmforge {

class Distributed {
 public:
  virtual ~Distributed() = default;
  virtual int rank() const { return 0; }
  virtual int world() const { return 1; }
  // Averages gradients over ranks (in place).
  virtual void all_reduce_gradients(const std::vector<at::Tensor>& params) {}
  // Averages a scalar metric over ranks.
  virtual double all_reduce_mean(double v) { return v; }
};

}  // namespace lmforge
