// GaLore (Zhao, Zhang, Chen, Wang, Anandkumar & Tian, ICML 2024), "GaLore: Memory-Efficient LLM
// Training by Gradient Low-Rank Projection"; an optimiser wrapper over the matrices it targets:
//   R = project(G)                      (low_rank.h: P from G's SVD every update_gap steps)
//   N = Adam(R)  = m^ / (sqrt(v^) + eps) on R's shape (or, inner = "sgd": N = b = mu b + R)
//   W <- (1 - lr wd) W - lr * scale * project_back(N)
// Everything else (embeddings, norms, biases, heads; any parameter not matched by `targets`) takes
// plain AdamW in the same optimiser. bits = 8 keeps every Adam moment in block-wise 8-bit (8-bit
// GaLore). State per targeted m x n matrix: 2 r max(m,n) moments + r min(m,n) basis, against 2 m n.
//
//   [train.optimizer]
//   name = "galore"
//   rank = 128          # r (clipped to the matrix's smaller side)
//   update_gap = 200    # T: steps between SVD refreshes of the projector
//   scale = 0.25        # alpha
//   targets = ["*layers.*"]
#include "lmforge/core/error.h"
#include "lmforge/core/glob.h"
#include "lmforge/train/optimizers/galore.h"

namespace lmforge {

namespace {

class GaLoreRule : public ParamRule {
 public:
  GaLoreRule(const at::Tensor& p, const GaLoreSettings& s)
      : proj_(p.sizes(), s.rank, s.update_gap), s_(s) {
    const auto shape = proj_.low_rank_shape();
    if (s.inner == "adam")
      moments_ = AdamMoments(shape, s.eight_bit());
    else
      buffer_ = at::zeros(shape, at::kFloat);
  }
  void step(at::Tensor& w, const at::Tensor& grad, double lr, double wd, int64_t t, const AdamHyper& h) override {
    at::Tensor R = proj_.project(grad, t);
    at::Tensor N;
    if (buffer_.defined())
      N = buffer_.mul_(s_.momentum).add_(R);
    else
      N = moments_.direction(R, t, h);
    if (wd != 0) w.mul_(1 - lr * wd);
    w.add_(proj_.project_back(N).to(w.scalar_type()), -lr * s_.scale);
  }
  int64_t state_bytes() const override {
    return proj_.bytes() + (buffer_.defined() ? buffer_.numel() * 4 : moments_.bytes());
  }
  void save(torch::serialize::OutputArchive& a, const std::string& prefix) const override {
    proj_.save(a, prefix);
    if (buffer_.defined())
      a.write(prefix + "momentum", buffer_, true);
    else
      moments_.save(a, prefix);
  }
  void load(torch::serialize::InputArchive& a, const std::string& prefix) override {
    proj_.load(a, prefix);
    if (buffer_.defined())
      read_optimizer_state(a, prefix + "momentum", buffer_);
    else
      moments_.load(a, prefix);
  }

 private:
  LowRankProjector proj_;
  GaLoreSettings s_;
  AdamMoments moments_;
  at::Tensor buffer_;  // inner = "sgd"
};

struct GaLoreConfig : AdamOptionsBase {
  GaLoreSettings s;
  template <class V>
  void visit(V& v) {
    s.visit(v);
    visit_adam(v);
  }
};

const bool kRegistered = OptimizerRegistry::add<GaLoreConfig>(
    "galore", "GaLore: Adam on a low-rank projection of each targeted matrix's gradient",
    [](const GaLoreConfig& o, const OptimizerContext& c) -> std::shared_ptr<torch::optim::Optimizer> {
      o.s.check("train.optimizer");
      const GaLoreSettings s = o.s;
      return make_projected_optimizer(c, o.hyper(s.eight_bit(), "train.optimizer"), s.targets, "train.optimizer.targets",
                                      [s](const at::Tensor& p) -> std::unique_ptr<ParamRule> {
                                        return std::make_unique<GaLoreRule>(p, s);
                                      });
    });

}  // namespace

void GaLoreSettings::check(const std::string& where) const {
  LMF_REQUIRE(rank >= 1, ConfigError, "config key '", where, ".rank': must be >= 1, got ", rank);
  LMF_REQUIRE(update_gap >= 1, ConfigError, "config key '", where, ".update_gap': must be >= 1, got ", update_gap);
  LMF_REQUIRE(scale > 0, ConfigError, "config key '", where, ".scale': must be > 0, got ", scale);
  LMF_REQUIRE(bits == 32 || bits == 8, ConfigError, "config key '", where, ".bits': 32 or 8, got ", bits);
  LMF_REQUIRE(inner == "adam" || inner == "sgd", ConfigError, "config key '", where,
              ".inner': \"adam\" or \"sgd\", got \"", inner, "\"");
  LMF_REQUIRE(!targets.empty(), ConfigError, "config key '", where, ".targets': needs at least one pattern");
}

std::shared_ptr<torch::optim::Optimizer> make_projected_optimizer(
    const OptimizerContext& c, const AdamHyper& h, const std::vector<std::string>& targets, const std::string& where,
    const std::function<std::unique_ptr<ParamRule>(const at::Tensor&)>& matrix_rule) {
  int64_t matched = 0;
  std::vector<std::string> matrices;
  auto rule_for = [&](const std::string& name, const at::Tensor& p) {
    if (p.dim() == 2) matrices.push_back(name);
    if (p.dim() == 2 && glob_match_any(targets, name)) {
      ++matched;
      return matrix_rule(p);
    }
    return make_adam_rule(p, h.eight_bit);
  };
  auto opt = std::make_shared<AdamFamily>(c.groups, c.lr, h, rule_for);
  if (matched == 0) {
    std::string some;
    for (size_t i = 0; i < matrices.size() && i < 6; ++i) some += (i ? ", " : "") + matrices[i];
    throw ConfigError(str("config key '", where, "': no trainable matrix of the model matches ",
                          targets.empty() ? std::string("[]") : "\"" + targets[0] + "\"",
                          targets.size() > 1 ? " (or the other patterns)" : "", "; its matrices are named like: ",
                          some.empty() ? std::string("(none)") : some));
  }
  return opt;
}

}  // namespace lmforge
