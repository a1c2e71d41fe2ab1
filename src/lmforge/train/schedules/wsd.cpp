// Warmup-stable-decay (Hu et al. 2024, "MiniCPM", section 4): hold the peak, then decay linearly
// to the floor over the last decay_fraction of the post-warmup steps:
//   s(t) = 1                                   for t <= 1 - f
//   s(t) = (1 - t) / f                          after
// The stable phase lets a run be continued or cut at any point before the decay.
#include "lmforge/core/error.h"
#include "lmforge/train/schedule.h"

namespace lmforge {
namespace {

struct WsdOptions {
  double decay_fraction = 0.2;
  template <class V>
  void visit(V& v) {
    v("decay_fraction", decay_fraction, "share of the post-warmup steps spent decaying, in (0, 1]");
  }
};

class Wsd : public DecayShape {
 public:
  explicit Wsd(double f) : f_(f) {}
  double at(double t) const override { return t <= 1.0 - f_ ? 1.0 : (1.0 - t) / f_; }

 private:
  double f_;
};

const bool kRegistered = ScheduleRegistry::add<WsdOptions>(
    "wsd", "warmup, stable at the peak, then linear decay", [](const WsdOptions& o, const ScheduleContext&) {
      LMF_REQUIRE(o.decay_fraction > 0 && o.decay_fraction <= 1, ConfigError,
                  "config key 'train.schedule.decay_fraction': must be in (0, 1], got ", o.decay_fraction);
      return std::make_shared<Wsd>(o.decay_fraction);
    });

}  // namespace
}  // namespace lmforge
