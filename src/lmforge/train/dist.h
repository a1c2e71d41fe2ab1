// Data parallelism seam. A run has a rank and a world size; every rank holds the whole model,
// trains on its own rows of each global micro-batch (train.batch_size is the GLOBAL micro-batch,
// split evenly over the ranks: see Task::train_batch) and the ranks average their gradients
// before every optimizer step, so N ranks take exactly the steps one process would take with
// the same config. Only rank 0 logs and writes checkpoints.
//
// This base class is the single-process implementation (every call is the identity or a
// no-op). train/dist_c10d.h plugs in a c10d process group (Gloo on CPU, NCCL where LibTorch has
// CUDA) that all-reduces gradients in buckets launched from autograd hooks while backward is
// still running.
//
// What the training loop must call, and when (every rank calls the same functions in the same
// order: each one may be a collective):
//
//   once, before building the task:      if (rank() != 0) barrier();  make_task(...);
//                                        if (rank() == 0) barrier();
//       (rank 0 trains the tokenizer and builds the token caches; the others then find them)
//   once, after the model is on its device, the optimizer exists and a resumed checkpoint is
//   loaded:                              broadcast_parameters(params_and_buffers);
//                                        prepare(params);
//   every step, before the forward passes: the scored tokens of each micro-batch, summed over
//   ranks; each rank's loss is its loss sum / (that count / world()):
//                                        all_reduce_sum(counts);
//   every step, for each micro-batch m of M, before its backward:
//                                        set_sync(m == M - 1);
//       (only the last micro-batch's backward launches the all-reduce; the others accumulate)
//   every step, after the last backward, before clipping / the optimizer:
//                                        finish_gradient_sync(params);
//       (waits for the buckets; on return every rank holds the same averaged .grad)
//   every step, for what rank 0 logs:    loss = all_reduce_mean(loss);
//   every step, before acting on a stop request (SIGINT, --stop-after, max_minutes), so that
//   all ranks stop after the same step:  if (any(stop_here)) ...
//   in rank 0's log record:              rec.update(stats());
//   at the very end, after rank 0 saved: barrier();
//
// Every collective has a timeout (train.ddp_timeout_s): when a rank dies or stops answering, the
// others throw UserError naming it instead of hanging.
#pragma once
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace lmforge {

class Distributed {
 public:
  virtual ~Distributed() = default;
  virtual int rank() const { return 0; }
  virtual int world() const { return 1; }
  // Ranks on this machine (threads default to cores / local_world()).
  virtual int local_world() const { return 1; }

  // Registers the gradient hooks and lays out the buckets (parameters that do not require a
  // gradient are left out). Call once, before the first backward. Without it,
  // finish_gradient_sync still works but all-reduces only after backward (no overlap).
  virtual void prepare(const std::vector<at::Tensor>& params) {}
  // Copies rank 0's values of these tensors (parameters and buffers) to every rank.
  virtual void broadcast_parameters(const std::vector<at::Tensor>& tensors) {}
  // Whether the next backward ends a step (and should all-reduce). Default: true.
  virtual void set_sync(bool sync) {}
  // Waits for every bucket (launching those that backward did not fill: parameters without a
  // gradient on some rank count as zeros there) and leaves the mean gradient over ranks in
  // .grad on every rank. A parameter no rank produced a gradient for keeps an undefined .grad.
  virtual void finish_gradient_sync(const std::vector<at::Tensor>& params) {}
  // Old name of finish_gradient_sync.
  void all_reduce_gradients(const std::vector<at::Tensor>& params) { finish_gradient_sync(params); }

  // Averages a scalar metric over ranks.
  virtual double all_reduce_mean(double v) { return v; }
  // Sums each element over ranks (in place).
  virtual void all_reduce_sum(std::vector<double>& v) {}
  // True on every rank when it is true on any rank.
  virtual bool any(bool v) { return v; }
  virtual void barrier() {}
  // For the log: bytes all-reduced per step, buckets, time spent waiting for them.
  virtual nlohmann::json stats() const { return nlohmann::json::object(); }
};

}  // namespace lmforge
