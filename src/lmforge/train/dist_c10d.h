// Data parallelism on c10d: a Distributed (train/dist.h) over a ProcessGroupGloo (CPU) or, in a
// build against a CUDA LibTorch, a ProcessGroupNCCL, rendezvousing through a TCPStore.
//
// Gradients are all-reduced in buckets of about train.ddp_bucket_mb, laid out in reverse
// parameter order (roughly the order backward produces them). A post hook on each parameter's
// gradient accumulator marks it ready; a bucket whose parameters are all ready is launched
// asynchronously while backward continues. Buckets are launched strictly in index order so that
// every rank issues the same collectives in the same order, whatever its graph; buckets that
// backward did not complete (a parameter got no gradient on this rank: an unused expert, a branch
// not taken) are launched by finish_gradient_sync with zeros for the missing gradients, and a
// presence flag per parameter travels in the bucket so that a parameter no rank touched keeps an
// undefined gradient, as it would in one process.
//
// Failures: every collective and store operation has a timeout (train.ddp_timeout_s). A failed
// collective is explained through the store: each rank beats a heartbeat key every second and
// records why it stops, so the survivors name the rank that died (or that is still alive but
// stuck) in a UserError instead of hanging or printing a socket error.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "lmforge/train/dist.h"

namespace lmforge {

struct DistOptions {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string device = "cpu";  // cpu: Gloo; cuda: NCCL (when built with it)
  double timeout_s = 300;      // every collective and store operation
  double bucket_mb = 25;       // MiB of gradients per bucket
  bool quiet = false;          // no "ddp: ..." lines from rank 0
};

// The torchrun variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE (defaults: RANK and
// WORLD_SIZE), MASTER_ADDR, MASTER_PORT. Returns nullopt when neither RANK nor WORLD_SIZE is set
// (a single process); throws UserError naming the variable when the set is incomplete or bad.
std::optional<DistOptions> dist_options_from_env();

// Whether this build has a c10d backend (Gloo).
bool c10d_available();

// Joins the process group (blocks until all ranks arrive, at most timeout_s). Throws UserError
// when the store cannot be reached or not every rank arrives in time.
std::unique_ptr<Distributed> make_c10d_distributed(const DistOptions& opts);

}  // namespace lmforge
