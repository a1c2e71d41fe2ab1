// Constant: the peak after warmup, for the whole run (the floor is not used).
#include "lmforge/train/schedule.h"

namespace lmforge {
namespace {

class Constant : public DecayShape {
 public:
  double at(double) const override { return 1.0; }
  bool uses_floor() const override { return false; }
};

const bool kRegistered = ScheduleRegistry::add<NoOptions>(
    "constant", "the peak after warmup", [](const NoOptions&, const ScheduleContext&) {
      return std::make_shared<Constant>();
    });

}  // namespace
}  // namespace lmforge
