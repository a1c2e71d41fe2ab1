// c10d data parallelism: process group, gradient buckets, autograd hooks, failure diagnosis.
// See dist_c10d.h.
#include "lmforge/train/dist_c10d.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "lmforge/core/error.h"
#include "lmforge/core/log.h"

#if LMFORGE_HAVE_C10D
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if LMFORGE_HAVE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace lmforge {

namespace {

// A strict integer from an environment variable; nullopt when unset or empty.
std::optional<long> env_int(const char* name, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v, &end, 10);
  LMF_REQUIRE(errno == 0 && end && *end == '\0' && x >= lo && x <= hi, UserError, "environment variable ", name,
              "='", v, "': expected an integer in [", lo, ", ", hi, "]");
  return x;
}

}  // namespace

std::optional<DistOptions> dist_options_from_env() {
  const auto rank = env_int("RANK", 0, 1 << 20);
  const auto world = env_int("WORLD_SIZE", 1, 1 << 20);
  if (!rank && !world) return std::nullopt;
  LMF_REQUIRE(rank && world, UserError, rank ? "RANK is set but WORLD_SIZE is not" : "WORLD_SIZE is set but RANK is not",
              " (a torchrun-style launch sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; on one machine use "
              "--nproc N instead)");
  DistOptions o;
  o.rank = static_cast<int>(*rank);
  o.world = static_cast<int>(*world);
  LMF_REQUIRE(o.rank < o.world, UserError, "RANK=", o.rank, " is not below WORLD_SIZE=", o.world);
  o.local_world = static_cast<int>(env_int("LOCAL_WORLD_SIZE", 1, o.world).value_or(o.world));
  o.local_rank = static_cast<int>(env_int("LOCAL_RANK", 0, o.world - 1).value_or(o.rank % o.local_world));
  if (o.world > 1) {
    const char* addr = std::getenv("MASTER_ADDR");
    LMF_REQUIRE(addr && *addr, UserError, "RANK=", o.rank, " and WORLD_SIZE=", o.world,
                " are set (a torchrun-style launch) but MASTER_ADDR is not: set MASTER_ADDR and MASTER_PORT to the "
                "address and a free port of rank 0's machine, or use --nproc N on one machine");
    o.master_addr = addr;
    o.master_port = static_cast<int>(env_int("MASTER_PORT", 1, 65535).value_or(29500));
  }
  return o;
}

#if !LMFORGE_HAVE_C10D

bool c10d_available() { return false; }

std::unique_ptr<Distributed> make_c10d_distributed(const DistOptions& o) {
  throw UserError(str("rank ", o.rank, ": this lmforge was built without c10d (its LibTorch has no "
                      "ProcessGroupGloo headers, or libgloo-dev was missing): it cannot train on ",
                      o.world, " ranks"));
}

#else

bool c10d_available() { return true; }

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHeartbeat = std::chrono::milliseconds(1000);

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const c10::Error& x) {
    return x.what_without_backtrace();
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

// The first line of a (possibly long, multi-line) c10d message.
std::string first_line(std::string s) {
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

// Test-only fault injection: LMFORGE_DDP_TEST_KILL="RANK:STEP" makes that rank kill itself
// (SIGKILL, as the OOM killer would) when its step STEP starts synchronising gradients.
std::pair<int, int64_t> test_kill_point() {
  const char* v = std::getenv("LMFORGE_DDP_TEST_KILL");
  int r = -1;
  long long s = -1;
  if (v && std::sscanf(v, "%d:%lld", &r, &s) == 2) return {r, s};
  return {-1, -1};
}

class C10dDistributed;

// A post hook on a parameter's gradient accumulator: runs after backward wrote its .grad.
struct ReadyHook : torch::autograd::FunctionPostHook {
  ReadyHook(std::weak_ptr<std::function<void(size_t)>> f, size_t i) : fn(std::move(f)), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    if (auto f = fn.lock()) (*f)(index);
    return outputs;
  }
  std::weak_ptr<std::function<void(size_t)>> fn;
  size_t index;
};

struct Bucket {
  std::vector<size_t> params;    // indices into params_
  std::vector<int64_t> offsets;  // element offset of each parameter in flat
  int64_t numel = 0;             // gradient elements; flat holds numel + params.size() presence flags
  at::Tensor flat;
  size_t pending = 0;  // parameters not yet ready in this step
  bool launched = false;
  bool in_backward = false;  // launched from a hook (overlapped with backward)
  c10::intrusive_ptr<c10d::Work> work;
};

class C10dDistributed : public Distributed {
 public:
  explicit C10dDistributed(const DistOptions& o) : o_(o), timeout_(static_cast<int64_t>(o.timeout_s * 1000)) {
    LMF_REQUIRE(o.timeout_s > 0, ConfigError, "config key 'train.ddp_timeout_s': must be positive, got ", o.timeout_s);
    LMF_REQUIRE(o.bucket_mb > 0, ConfigError, "config key 'train.ddp_bucket_mb': must be positive, got ", o.bucket_mb);
    const bool cuda = o.device.rfind("cuda", 0) == 0;
#if LMFORGE_HAVE_NCCL
    if (cuda && o.device == "cuda") c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.local_rank));
#else
    LMF_REQUIRE(!cuda, UserError, "run.device = \"", o.device,
                "\": this lmforge has no NCCL (build against a CUDA LibTorch with -DLMFORGE_CUDA=ON)");
#endif
    const std::string where = str(o.master_addr, ":", o.master_port);
    // Under torchrun, its agent already hosts a store at MASTER_ADDR:MASTER_PORT: every rank is a
    // client there, with keys under the agent's attempt prefix (as PyTorch's own ranks do).
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool agent_store = agent && std::string(agent) == "True";
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(o.master_port);
      so.isServer = o.rank == 0 && !agent_store;
      so.numWorkers = static_cast<std::size_t>(o.world);
      so.waitWorkers = !agent_store;
      so.timeout = timeout_;
      c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      store_ = c10::make_intrusive<c10d::PrefixStore>(
          agent_store ? str("/worker/attempt_", attempt ? attempt : "0", "/lmforge") : std::string("lmforge"), tcp);
    } catch (const std::exception& e) {
      const std::string why = first_line(what_of(std::current_exception()));
      throw UserError(o.rank == 0
                          ? str("rank 0: could not host the rendezvous store at ", where, " or not all ", o.world,
                                " ranks joined within train.ddp_timeout_s = ", o.timeout_s, " s (", why,
                                "); is MASTER_PORT free and did every rank start?")
                          : str("rank ", o.rank, ": could not reach the rendezvous store of rank 0 at ", where,
                                " within train.ddp_timeout_s = ", o.timeout_s, " s (", why,
                                "); is rank 0 running and are MASTER_ADDR/MASTER_PORT right?"));
    }
    try {
#if LMFORGE_HAVE_NCCL
      if (cuda) {
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = timeout_;
        nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, o.rank, o.world, opts);
      }
#endif
      if (!cuda) {
        auto opts = c10d::ProcessGroupGloo::Options::create(timeout_);
        if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
          opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else if (o.master_addr == "localhost" || o.master_addr.rfind("127.", 0) == 0)
          opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
          opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, o.rank, o.world, opts);
      }
    } catch (const std::exception&) {
      throw UserError(str("rank ", o.rank, ": could not connect the ", o.world, " ranks (", cuda ? "NCCL" : "Gloo",
                          ") through the store at ", where, ": ", first_line(what_of(std::current_exception()))));
    }
    store_->set(key("hb", o.rank), bytes("0"));
    heartbeat_ = std::thread([this] { beat(); });
    on_ready_ = std::make_shared<std::function<void(size_t)>>([this](size_t i) { mark_ready(i); });
    kill_at_ = test_kill_point();
    if (o.rank == 0 && !o.quiet)
      log_line(str("ddp: ", o.world, " ranks (", cuda ? "NCCL" : "Gloo", ") via ", where, ", timeout ", o.timeout_s,
                   " s"));
  }

  ~C10dDistributed() override {
    on_ready_.reset();  // hooks left on the model become no-ops
    if (std::uncaught_exceptions() > 0 && !failed_) {
      // This rank stops on an error of its own: tell the others why they lose it.
      try {
        store_->set(key("exit", o_.rank), bytes("error"));
      } catch (...) {
      }
    }
    stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
    if (failed_) {
      // A process group with a broken peer may block in its destructor: leave it to the exit.
      gloo_.release();
#if LMFORGE_HAVE_NCCL
      nccl_.release();
#endif
    }
  }

  int rank() const override { return o_.rank; }
  int world() const override { return o_.world; }
  int local_world() const override { return o_.local_world; }

  void prepare(const std::vector<at::Tensor>& params) override {
    build_buckets(params);
    for (size_t i = 0; i < params_.size(); ++i) {
      std::shared_ptr<torch::autograd::Node> acc = torch::autograd::impl::grad_accumulator(params_[i]);
      LMF_REQUIRE(acc, UserError, "ddp: parameter ", i, " has no gradient accumulator (not a leaf?)");
      acc->add_post_hook(std::make_unique<ReadyHook>(on_ready_, i));
      accumulators_.push_back(std::move(acc));  // the parameter holds it weakly: keep the hooks alive
    }
    hooked_ = true;
    if (o_.rank == 0 && !o_.quiet) {
      log_line(str("ddp: ", params_.size(), " parameters in ", buckets_.size(), " buckets of <= ", o_.bucket_mb,
                   " MiB; ", bytes_per_step_, " bytes all-reduced per step"));
    }
  }

  void broadcast_parameters(const std::vector<at::Tensor>& tensors) override {
    at::NoGradGuard ng;
    for (const at::Tensor& t : tensors) {
      if (!t.defined() || t.numel() == 0) continue;
      // Gloo has no bool: send bytes.
      at::Tensor buf = t.scalar_type() == at::kBool ? t.to(at::kByte) : t.contiguous();
      std::vector<at::Tensor> v{buf};
      c10d::BroadcastOptions bo;
      bo.rootRank = 0;
      wait(collective([&] { return pg_broadcast(v, bo); }), "parameter broadcast");
      if (!buf.is_same(t)) t.copy_(buf);
    }
  }

  void set_sync(bool sync) override { sync_ = sync; }

  void finish_gradient_sync(const std::vector<at::Tensor>& params) override {
    ++steps_;
    if (kill_at_.first == o_.rank && kill_at_.second == steps_) {
      std::fprintf(stderr, "lmforge: test fault: rank %d kills itself at step %lld\n", o_.rank,
                   static_cast<long long>(steps_));
      std::fflush(stderr);
      ::raise(SIGKILL);
    }
    if (params_.empty() && !hooked_) build_buckets(params);
    const auto t0 = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (; next_launch_ < buckets_.size(); ++next_launch_) launch(buckets_[next_launch_], false);
    }
    int64_t overlapped = 0;
    for (Bucket& b : buckets_) {
      wait(b.work, "gradient all-reduce");
      b.work.reset();
      overlapped += b.in_backward;
    }
    // Agreed, since ranks whose graphs differ (unused parameters) may disagree.
    if (any_of(stale_, "re-send check")) {
      if (!warned_stale_ && o_.rank == 0)
        log_line("ddp: gradients were all-reduced before the last micro-batch; call set_sync(false) before the "
                 "earlier backwards (re-sending them, without overlap)");
      warned_stale_ = true;
      for (Bucket& b : buckets_) launch(b, false);
      for (Bucket& b : buckets_) wait(b.work, "gradient all-reduce"), b.work.reset();
      overlapped = 0;
      stale_ = false;
    }
    at::NoGradGuard ng;
    for (Bucket& b : buckets_) {
      at::Tensor grads = b.flat.narrow(0, 0, b.numel);
      grads.div_(static_cast<double>(o_.world));
      at::Tensor flags =
          b.flat.narrow(0, b.numel, static_cast<int64_t>(b.params.size())).to(at::kCPU, at::kFloat).contiguous();
      const float* present = flags.data_ptr<float>();
      for (size_t j = 0; j < b.params.size(); ++j) {
        at::Tensor& p = params_[b.params[j]];
        if (present[j] == 0) continue;  // no rank has a gradient: leave it undefined, as one process would
        at::Tensor avg = grads.narrow(0, b.offsets[j], p.numel()).view(p.sizes());
        if (p.grad().defined())
          p.mutable_grad().copy_(avg);
        else
          p.mutable_grad() = avg.clone();
      }
      b.launched = b.in_backward = false;
      b.pending = b.params.size();
    }
    std::fill(ready_.begin(), ready_.end(), 0);
    next_launch_ = 0;
    sync_ = true;
    wait_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    overlapped_ = overlapped;
  }

  double all_reduce_mean(double v) override {
    std::vector<at::Tensor> t{at::full({1}, v, at::kDouble).to(device())};
    wait(collective([&] { return pg_allreduce(t, c10d::AllreduceOptions()); }), "metric all-reduce");
    return t[0].item<double>() / o_.world;
  }

  void all_reduce_sum(std::vector<double>& v) override {
    if (v.empty()) return;
    std::vector<at::Tensor> t{at::tensor(v, at::kDouble).to(device())};
    wait(collective([&] { return pg_allreduce(t, c10d::AllreduceOptions()); }), "token-count all-reduce");
    at::Tensor c = t[0].cpu();
    for (size_t i = 0; i < v.size(); ++i) v[i] = c.data_ptr<double>()[i];
  }

  bool any(bool v) override { return any_of(v, "stop-flag all-reduce"); }

  bool any_of(bool v, const char* what) {
    std::vector<at::Tensor> t{at::full({1}, v ? 1.0 : 0.0, at::kFloat).to(device())};
    c10d::AllreduceOptions ao;
    ao.reduceOp = c10d::ReduceOp::MAX;
    wait(collective([&] { return pg_allreduce(t, ao); }), what);
    return t[0].item<float>() > 0;
  }

  void barrier() override {
    std::vector<at::Tensor> t{at::zeros({1}, at::kFloat).to(device())};
    wait(collective([&] { return pg_allreduce(t, c10d::AllreduceOptions()); }), "barrier");
  }

  nlohmann::json stats() const override {
    return {{"ddp_world", o_.world}, {"ddp_bytes_per_step", bytes_per_step_},
            {"ddp_buckets", buckets_.size()}, {"ddp_buckets_overlapped", overlapped_},
            {"ddp_wait_ms", wait_ms_}};
  }

 private:
  static std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
  static std::string key(const char* what, int r) { return str(what, "/", r); }
  at::Device device() const { return params_.empty() ? at::Device(at::kCPU) : params_[0].device(); }

  c10::intrusive_ptr<c10d::Work> pg_allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& ao) {
#if LMFORGE_HAVE_NCCL
    if (nccl_) return nccl_->allreduce(t, ao);
#endif
    return gloo_->allreduce(t, ao);
  }
  c10::intrusive_ptr<c10d::Work> pg_broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& bo) {
#if LMFORGE_HAVE_NCCL
    if (nccl_) return nccl_->broadcast(t, bo);
#endif
    return gloo_->broadcast(t, bo);
  }

  // Issues a collective; an error while issuing it is explained like an error while waiting.
  template <class F>
  c10::intrusive_ptr<c10d::Work> collective(F&& f) {
    try {
      return f();
    } catch (const std::exception&) {
      fail("issuing a collective", std::current_exception());
    }
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& w, const char* what) {
    if (!w) return;
    try {
      w->wait();
    } catch (const std::exception&) {
      fail(what, std::current_exception());
    }
  }

  // Reverse parameter order (backward produces the last layers' gradients first); a new bucket
  // when the current one is full or the dtype/device changes.
  void build_buckets(const std::vector<at::Tensor>& params) {
    const int64_t cap = static_cast<int64_t>(o_.bucket_mb * 1024 * 1024);
    params_.clear();
    buckets_.clear();
    for (const at::Tensor& p : params)
      if (p.requires_grad()) params_.push_back(p);
    bucket_of_.assign(params_.size(), 0);
    ready_.assign(params_.size(), 0);
    int64_t bytes = 0;
    for (size_t k = params_.size(); k-- > 0;) {
      const at::Tensor& p = params_[k];
      const int64_t nbytes = p.numel() * static_cast<int64_t>(p.element_size());
      bool fresh = buckets_.empty() || bytes + nbytes > cap;
      if (!fresh) {
        const at::Tensor& q = params_[buckets_.back().params.front()];
        fresh = q.scalar_type() != p.scalar_type() || q.device() != p.device();
      }
      if (fresh) {
        buckets_.emplace_back();
        bytes = 0;
      }
      Bucket& b = buckets_.back();
      b.offsets.push_back(b.numel);
      b.params.push_back(k);
      b.numel += p.numel();
      bytes += nbytes;
      bucket_of_[k] = buckets_.size() - 1;
    }
    bytes_per_step_ = 0;
    for (Bucket& b : buckets_) {
      const at::Tensor& p = params_[b.params.front()];
      b.flat = at::zeros({b.numel + static_cast<int64_t>(b.params.size())}, p.options().requires_grad(false));
      b.pending = b.params.size();
      bytes_per_step_ += b.flat.numel() * static_cast<int64_t>(b.flat.element_size());
    }
    next_launch_ = 0;
  }

  // From the autograd hooks (backward's thread).
  void mark_ready(size_t i) {
    if (!sync_) return;  // an accumulating micro-batch: the last one all-reduces
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_[i]) {
      // A second backward with sync on in one step (the loop did not call set_sync(false) before
      // the earlier micro-batches): buckets went out with partial gradients; finish re-sends.
      stale_ = true;
      return;
    }
    ready_[i] = 1;
    --buckets_[bucket_of_[i]].pending;
    // In index order only, so that every rank issues the same collectives in the same order.
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
      launch(buckets_[next_launch_++], true);
  }

  void launch(Bucket& b, bool in_backward) {
    at::NoGradGuard ng;
    at::Tensor flags = at::zeros({static_cast<int64_t>(b.params.size())}, at::kFloat);
    float* f = flags.data_ptr<float>();
    for (size_t j = 0; j < b.params.size(); ++j) {
      const at::Tensor& p = params_[b.params[j]];
      at::Tensor dst = b.flat.narrow(0, b.offsets[j], p.numel());
      const at::Tensor& g = p.grad();
      if (g.defined()) {
        dst.view(p.sizes()).copy_(g.is_sparse() ? g.to_dense() : g);
        f[j] = 1;
      } else {
        dst.zero_();
      }
    }
    b.flat.narrow(0, b.numel, static_cast<int64_t>(b.params.size())).copy_(flags);
    std::vector<at::Tensor> v{b.flat};
    b.work = collective([&] { return pg_allreduce(v, c10d::AllreduceOptions()); });
    b.launched = true;
    b.in_backward = in_backward;
  }

  void beat() {
    int64_t n = 0;
    auto next = Clock::now();
    while (!stop_) {
      if (Clock::now() >= next) {
        try {
          store_->set(key("hb", o_.rank), bytes(std::to_string(++n)));
        } catch (...) {
          return;  // the store is gone (rank 0 ended): nothing left to tell
        }
        next = Clock::now() + kHeartbeat;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Explains a failed collective: which rank is gone, stopped on an error, or is alive but stuck.
  [[noreturn]] void fail(const char* what, const std::exception_ptr& e) {
    failed_ = true;
    const std::string cause = first_line(what_of(e));
    const std::string head = str("rank ", o_.rank, ": the ", what, " of step ", steps_, " failed");
    std::vector<std::string> before(o_.world), after(o_.world);
    std::vector<bool> exited(o_.world, false);
    try {
      store_->set(key("exit", o_.rank), bytes("collective"));
      auto read = [&](std::vector<std::string>& out) {
        for (int r = 0; r < o_.world; ++r) {
          if (r == o_.rank) continue;
          if (store_->check({key("hb", r)})) {
            auto v = store_->get(key("hb", r));
            out[r] = std::string(v.begin(), v.end());
          }
          if (store_->check({key("exit", r)})) exited[r] = true;
        }
      };
      read(before);
      std::this_thread::sleep_for(kHeartbeat * 5 / 2);
      read(after);
    } catch (...) {
      throw UserError(str(head, ": rank 0 is gone (it hosts the rendezvous store at ", o_.master_addr, ":",
                          o_.master_port, ", which no longer answers) [", cause, "]"));
    }
    std::vector<int> gone, errored;
    for (int r = 0; r < o_.world; ++r) {
      if (r == o_.rank) continue;
      if (exited[r])
        errored.push_back(r);
      else if (before[r] == after[r])
        gone.push_back(r);
    }
    auto list = [](const std::vector<int>& v) {
      std::string s = v.size() > 1 ? "ranks " : "rank ";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
      return s;
    };
    std::ostringstream os;
    os << head << ": ";
    if (!gone.empty())
      os << list(gone) << (gone.size() > 1 ? " are" : " is")
         << " gone (no heartbeat for 2.5 s: killed or crashed)";
    if (!errored.empty())
      os << (gone.empty() ? "" : "; ") << list(errored) << " stopped with an error (see its own message)";
    if (gone.empty() && errored.empty())
      os << "every other rank is still alive, so one is stuck or too slow (collectives time out after "
            "train.ddp_timeout_s = "
         << o_.timeout_s << " s)";
    os << " [" << cause << "]";
    throw UserError(os.str());
  }

  DistOptions o_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#if LMFORGE_HAVE_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
  std::thread heartbeat_;
  std::atomic<bool> stop_{false};
  bool failed_ = false;

  std::shared_ptr<std::function<void(size_t)>> on_ready_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<char> ready_;
  size_t next_launch_ = 0;
  std::mutex mu_;
  std::atomic<bool> sync_{true};
  bool hooked_ = false;
  bool stale_ = false, warned_stale_ = false;
  int64_t steps_ = 0;
  int64_t bytes_per_step_ = 0;
  double wait_ms_ = 0;
  int64_t overlapped_ = 0;
  std::pair<int, int64_t> kill_at_{-1, -1};
};

}  // namespace

std::unique_ptr<Distributed> make_c10d_distributed(const DistOptions& opts) {
  return std::make_unique<C10dDistributed>(opts);
}

#endif  // LMFORGE_HAVE_C10D

}  // namespace lmforge
