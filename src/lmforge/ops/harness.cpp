// The operator harness (see harness.h): test / grad / perf modes over registered cases.
#include "lmforge/ops/harness.h"

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include <ATen/Context.h>
#include <torch/autograd.h>

#include "lmforge/core/error.h"

namespace lmforge {
namespace {

std::vector<OpCase>& registry() {
  static std::vector<OpCase> v;
  return v;
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "fp32";
    case at::kDouble: return "fp64";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "fp16";
    default: return c10::toString(t);
  }
}

bool reduced(at::ScalarType t) { return t == at::kBFloat16 || t == at::kHalf; }

OpInputs make(const OpCase& c, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  OpInputs in = c.make_inputs(dtype);
  for (auto& t : in)
    if (t.defined()) t = t.contiguous();
  return in;
}

std::vector<int> grad_indices(const OpCase& c, const OpInputs& in) {
  if (!c.grad_inputs.empty()) return c.grad_inputs;
  std::vector<int> v;
  for (int i = 0; i < static_cast<int>(in.size()); ++i)
    if (in[i].defined() && at::isFloatingType(in[i].scalar_type())) v.push_back(i);
  return v;
}

// Fresh leaves (aliases of the inputs) that require grad at the grad indices (converted to `dtype`
// when given).
OpInputs leaves(const OpInputs& in, const std::vector<int>& gi, c10::optional<at::ScalarType> dtype) {
  OpInputs out;
  for (const auto& t : in) {
    if (!t.defined()) {
      out.push_back(t);
      continue;
    }
    at::Tensor x = t.detach();  // an alias: no copy, so perf's peak memory counts only the op's own
    if (dtype && at::isFloatingType(x.scalar_type())) x = x.to(*dtype);
    out.push_back(x);
  }
  for (int i : gi) out[i].requires_grad_(true);
  return out;
}

// d(sum_i <out_i, g_i>)/d(inputs at gi); undefined gradients become zeros.
std::vector<at::Tensor> input_grads(const std::vector<at::Tensor>& outs, const std::vector<at::Tensor>& g,
                                    const OpInputs& in, const std::vector<int>& gi) {
  std::vector<at::Tensor> o, go, xs;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].defined() && outs[i].requires_grad()) o.push_back(outs[i]), go.push_back(g[i].to(outs[i].scalar_type()));
  for (int i : gi) xs.push_back(in[i]);
  std::vector<at::Tensor> gr;
  if (!o.empty()) gr = torch::autograd::grad(o, xs, go, /*retain_graph=*/false, /*create_graph=*/false,
                                             /*allow_unused=*/true);
  else gr.resize(xs.size());
  for (size_t i = 0; i < gr.size(); ++i)
    if (!gr[i].defined()) gr[i] = at::zeros_like(xs[i]);
  return gr;
}

std::vector<at::Tensor> upstream(const std::vector<at::Tensor>& outs, at::ScalarType dtype) {
  std::vector<at::Tensor> g;
  for (const auto& o : outs) g.push_back(o.defined() ? at::randn(o.sizes(), o.options().dtype(at::kFloat)).to(dtype)
                                                     : at::Tensor());
  return g;
}

using Clock = std::chrono::steady_clock;

double best_ms(const std::function<void()>& f, const HarnessOptions& o) {
  f();  // warm-up
  double best = std::numeric_limits<double>::infinity(), total = 0;
  for (int r = 0; r < o.perf_max_reps && (r < 3 || total < o.perf_seconds * 1e3); ++r) {
    auto t0 = Clock::now();
    f();
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = std::min(best, ms);
    total += ms;
  }
  return best;
}

double read_status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + std::strlen(key));
  return 0;
}

// Resident-memory high-water (MB) that f adds above the resident set at its start.
double peak_mb(const std::function<void()>& f) {
  malloc_trim(0);
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // resets VmHWM to the current VmRSS
  double rss0 = read_status_kb("VmRSS:");
  f();
  double hwm = read_status_kb("VmHWM:");
  return std::max(0.0, hwm - rss0) / 1024.0;
}

void note_worst(CaseResult& r, double share, const std::string& what) {
  if (!(share <= r.worst_share)) r.worst_share = share, r.worst_what = what;  // NaN/inf win
}

CaseResult base_result(const OpCase& c, HarnessMode m, Isa isa, at::ScalarType dt) {
  CaseResult r;
  r.op = c.op, r.shape = c.shape, r.dtype = dtype_name(dt), r.isa = isa_name(isa), r.mode = mode_name(m);
  return r;
}

CaseResult run_test(const OpCase& c, Isa isa, at::ScalarType dt, const HarnessOptions& o) {
  CaseResult r = base_result(c, HarnessMode::test, isa, dt);
  Tolerance tol = c.tol.count(dt) ? c.tol.at(dt) : default_tolerance(dt);
  OpInputs in = make(c, dt, o.seed);
  std::vector<int> gi = grad_indices(c, in);
  OpInputs fin = leaves(in, gi, c10::nullopt);
  OpInputs rin = leaves(in, gi, reduced(dt) ? c10::optional<at::ScalarType>(at::kFloat) : c10::nullopt);
  std::vector<at::Tensor> fo = c.fast(fin), ro = c.ref(rin);
  if (fo.size() != ro.size()) {
    r.pass = false, r.message = str("fast returned ", fo.size(), " outputs, ref ", ro.size());
    return r;
  }
  for (size_t i = 0; i < fo.size(); ++i) note_worst(r, error_share(fo[i], ro[i], tol), str("out", i));
  at::manual_seed(o.seed + 1);
  std::vector<at::Tensor> g = upstream(ro, dt);  // rounded to dt, so fast and ref see the same values
  std::vector<at::Tensor> fg = input_grads(fo, g, fin, gi), rg = input_grads(ro, g, rin, gi);
  for (size_t j = 0; j < gi.size(); ++j) note_worst(r, error_share(fg[j], rg[j], tol), str("grad in", gi[j]));
  r.pass = r.worst_share <= 1.0;
  r.message = str("worst ", r.worst_what, " (atol ", tol.atol, ", rtol ", tol.rtol, ")");
  return r;
}

CaseResult run_grad(const OpCase& c, Isa isa, const HarnessOptions& o) {
  CaseResult r = base_result(c, HarnessMode::grad, isa, at::kDouble);
  OpInputs in = make(c, at::kDouble, o.seed);
  std::vector<int> gi = grad_indices(c, in);
  OpInputs x = leaves(in, gi, c10::nullopt);
  std::vector<at::Tensor> out = c.fast(x);
  at::manual_seed(o.seed + 1);
  std::vector<at::Tensor> g = upstream(out, at::kDouble);
  std::vector<at::Tensor> analytic = input_grads(out, g, x, gi);
  at::NoGradGuard ng;
  OpInputs probe;
  for (const auto& t : in) probe.push_back(t.defined() ? t.detach().clone() : t);
  auto objective = [&] {
    std::vector<at::Tensor> y = c.fast(probe);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (y[i].defined() && at::isFloatingType(y[i].scalar_type())) s += (y[i].to(at::kDouble) * g[i]).sum().item<double>();
    return s;
  };
  std::mt19937_64 rng(o.seed);
  const double eps = 1e-6;
  for (size_t j = 0; j < gi.size(); ++j) {
    at::Tensor flat = probe[gi[j]].view(-1);
    at::Tensor an = analytic[j].reshape(-1);
    const int64_t n = flat.numel();
    std::vector<int64_t> idx;
    if (n <= o.grad_max_elements) {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
      for (int k = 0; k < o.grad_max_elements; ++k) idx.push_back(static_cast<int64_t>(rng() % n));
    }
    std::vector<double> num, ana;
    for (int64_t i : idx) {
      double* p = flat.data_ptr<double>() + i;
      const double x0 = *p;
      *p = x0 + eps;
      double fp = objective();
      *p = x0 - eps;
      double fm = objective();
      *p = x0;
      num.push_back((fp - fm) / (2 * eps));
      ana.push_back(an[i].item<double>());
    }
    auto opt = at::TensorOptions().dtype(at::kDouble);
    note_worst(r, error_share(at::tensor(ana, opt), at::tensor(num, opt), c.grad_tol), str("grad in", gi[j]));
  }
  r.pass = r.worst_share <= 1.0;
  r.message = str("worst ", r.worst_what, " (atol ", c.grad_tol.atol, ", rtol ", c.grad_tol.rtol, ")");
  return r;
}

CaseResult run_perf(const OpCase& c, Isa isa, at::ScalarType dt, const HarnessOptions& o) {
  CaseResult r = base_result(c, HarnessMode::perf, isa, dt);
  OpInputs in = make(c, dt, o.seed);
  std::vector<int> gi = grad_indices(c, in);
  const double flops = c.flops ? c.flops(in) : 0, bytes = c.bytes ? c.bytes(in) : 0;
  {
    at::NoGradGuard ng;
    r.ms = best_ms([&] { c.fast(in); }, o);
    r.ref_ms = best_ms([&] { c.ref(in); }, o);
  }
  if (flops > 0) r.gflops = flops / (r.ms * 1e6);
  if (bytes > 0) r.gbps = bytes / (r.ms * 1e6);
  if (o.perf_backward && !gi.empty()) {
    at::manual_seed(o.seed + 1);
    std::vector<at::Tensor> g;
    auto fb = [&](const OpFn& fn) {
      OpInputs x = leaves(in, gi, c10::nullopt);
      std::vector<at::Tensor> y = fn(x);
      if (g.empty()) g = upstream(y, dt);
      input_grads(y, g, x, gi);
    };
    r.ms_fb = best_ms([&] { fb(c.fast); }, o);
    r.ref_ms_fb = best_ms([&] { fb(c.ref); }, o);
    if (flops > 0) r.gflops_fb = flops * (1 + c.backward_flops_factor) / (r.ms_fb * 1e6);
    r.peak_mb = peak_mb([&] { fb(c.fast); });
    r.ref_peak_mb = peak_mb([&] { fb(c.ref); });
  }
  return r;
}

std::string fixed(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace

Tolerance default_tolerance(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return {1e-10, 1e-8};
    case at::kFloat: return {1e-5, 1e-4};
    case at::kBFloat16: return {1e-2, 2e-2};
    case at::kHalf: return {1e-3, 5e-3};
    default: return {0, 0};
  }
}

bool register_op_case(OpCase c) {
  registry().push_back(std::move(c));
  return true;
}

const std::vector<OpCase>& op_cases() { return registry(); }

std::vector<const OpCase*> select_op_cases(const std::string& op, const std::string& shape_substr) {
  std::vector<const OpCase*> v;
  for (const auto& c : registry())
    if ((op.empty() || c.op == op) && c.shape.find(shape_substr) != std::string::npos) v.push_back(&c);
  return v;
}

const char* mode_name(HarnessMode m) {
  switch (m) {
    case HarnessMode::test: return "test";
    case HarnessMode::grad: return "grad";
    case HarnessMode::perf: return "perf";
  }
  return "?";
}

double error_share(const at::Tensor& a, const at::Tensor& r, const Tolerance& t) {
  if (!a.defined() || !r.defined()) return a.defined() == r.defined() ? 0 : std::numeric_limits<double>::infinity();
  if (a.sizes() != r.sizes()) return std::numeric_limits<double>::infinity();
  if (a.numel() == 0) return 0;
  at::Tensor ad = a.detach().to(at::kDouble), rd = r.detach().to(at::kDouble);
  at::Tensor share = (ad - rd).abs() / (t.atol + t.rtol * rd.abs());
  if (share.isnan().any().item<bool>()) return std::numeric_limits<double>::infinity();
  return share.max().item<double>();
}

std::vector<CaseResult> run_op_case(const OpCase& c, HarnessMode mode, Isa isa, const HarnessOptions& o) {
  ScopedIsa pin(isa);
  std::vector<CaseResult> out;
  auto guarded = [&](at::ScalarType dt, const std::function<CaseResult()>& f) {
    try {
      out.push_back(f());
    } catch (const std::exception& e) {
      CaseResult r = base_result(c, mode, isa, dt);
      r.pass = false, r.worst_share = std::numeric_limits<double>::infinity();
      r.message = str("threw: ", e.what());
      out.push_back(r);
    }
  };
  if (mode == HarnessMode::grad) {
    guarded(at::kDouble, [&] { return run_grad(c, isa, o); });
  } else {
    for (at::ScalarType dt : c.dtypes)
      guarded(dt, [&] { return mode == HarnessMode::test ? run_test(c, isa, dt, o) : run_perf(c, isa, dt, o); });
  }
  return out;
}

std::string result_header(HarnessMode mode) {
  std::ostringstream s;
  char buf[256];
  if (mode == HarnessMode::perf)
    std::snprintf(buf, sizeof buf, "%-10s %-28s %-5s %-6s %9s %9s %8s %6s | %9s %9s %8s %6s | %8s %8s", "op", "shape",
                  "dtype", "isa", "fwd ms", "ref ms", "GFLOP/s", "x ref", "f+b ms", "ref ms", "GFLOP/s", "x ref",
                  "peak MB", "ref MB");
  else
    std::snprintf(buf, sizeof buf, "%-10s %-28s %-5s %-6s %-4s %-4s %10s  %s", "op", "shape", "dtype", "isa", "mode",
                  "ok", "worst/bnd", "detail");
  return buf;
}

std::string format_result(const CaseResult& r) {
  char buf[512];
  if (r.mode == std::string("perf") && r.message.empty()) {
    std::string rate = r.gflops > 0 ? fixed(r.gflops, 1) : (r.gbps > 0 ? fixed(r.gbps, 1) + "GB/s" : "-");
    std::snprintf(buf, sizeof buf, "%-10s %-28s %-5s %-6s %9.3f %9.3f %8s %6.2f | %9.3f %9.3f %8s %6.2f | %8.1f %8.1f",
                  r.op.c_str(), r.shape.c_str(), r.dtype.c_str(), r.isa.c_str(), r.ms, r.ref_ms, rate.c_str(),
                  r.ref_ms / r.ms, r.ms_fb, r.ref_ms_fb, r.gflops_fb > 0 ? fixed(r.gflops_fb, 1).c_str() : "-",
                  r.ms_fb > 0 ? r.ref_ms_fb / r.ms_fb : 0.0, r.peak_mb, r.ref_peak_mb);
  } else {
    std::snprintf(buf, sizeof buf, "%-10s %-28s %-5s %-6s %-4s %-4s %10.3g  %s", r.op.c_str(), r.shape.c_str(),
                  r.dtype.c_str(), r.isa.c_str(), r.mode.c_str(), r.pass ? "ok" : "FAIL", r.worst_share,
                  r.message.c_str());
  }
  return buf;
}

}  // namespace lmforge
