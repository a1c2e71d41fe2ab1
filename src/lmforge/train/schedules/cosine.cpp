// Cosine decay (Loshchilov & Hutter 2017, SGDR without restarts): s(t) = (1 + cos(pi t)) / 2.
#include <cmath>

#include "lmforge/train/schedule.h"

namespace lmforge {
namespace {

class Cosine : public DecayShape {
 public:
  double at(double t) const override { return 0.5 * (1.0 + std::cos(M_PI * t)); }
};

const bool kRegistered = ScheduleRegistry::add<NoOptions>(
    "cosine", "cosine decay from the peak to the floor", [](const NoOptions&, const ScheduleContext&) {
      return std::make_shared<Cosine>();
    });

}  // namespace
}  // namespace lmforge
