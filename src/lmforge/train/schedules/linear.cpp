// Linear decay: s(t) = 1 - t (BERT's fine-tuning recipe with min_lr_ratio 0).
#include "lmforge/train/schedule.h"

namespace lmforge {
namespace {

class Linear : public DecayShape {
 public:
  double at(double t) const override { return 1.0 - t; }
};

const bool kRegistered = ScheduleRegistry::add<NoOptions>(
    "linear", "linear decay from the peak to the floor", [](const NoOptions&, const ScheduleContext&) {
      return std::make_shared<Linear>();
    });

}  // namespace
}  // namespace lmforge
