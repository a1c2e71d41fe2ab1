#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/train/schedule.h"

using namespace lmforge;

namespace {

Choice shape(const std::string& name) { return Choice{name, {}}; }

// A schedule defined in this file alone: what adding one to lmforge takes (one file, one
// registration), usable from a config as [train.schedule] name = "test_step".
struct StepDownOptions {
  double at = 0.5, factor = 0.1;
  template <class V>
  void visit(V& v) {
    v("at", at, "progress of the drop");
    v("factor", factor, "multiplier after it");
  }
};
class StepDown : public DecayShape {
 public:
  explicit StepDown(StepDownOptions o) : o_(o) {}
  double at(double t) const override { return t < o_.at ? 1.0 : o_.factor; }
  bool uses_floor() const override { return false; }

 private:
  StepDownOptions o_;
};
const bool kStepDown = ScheduleRegistry::add<StepDownOptions>(
    "test_step", "test: one drop", [](const StepDownOptions& o, const ScheduleContext&) { return std::make_shared<StepDown>(o); });

}  // namespace

TEST(Schedule, WarmupThenCosineToMin) {
  LrSchedule s(shape("cosine"), 1.0, 0.1, 10, 110);
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // half way: (peak + min) / 2
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(1000), 0.1, 1e-12);
}

TEST(Schedule, LinearAndConstant) {
  LrSchedule l(shape("linear"), 2.0, 0.0, 0, 100);
  EXPECT_NEAR(l.at(50), 1.0, 1e-12);
  LrSchedule c(shape("constant"), 2.0, 0.5, 0, 100);
  EXPECT_EQ(c.at(99), 2.0);  // the floor does not apply
}

TEST(Schedule, WarmupStableDecay) {
  Choice wsd{"wsd", {}};
  wsd.options.insert("decay_fraction", 0.25);
  LrSchedule s(wsd, 1.0, 0.0, 0, 100);
  EXPECT_DOUBLE_EQ(s.at(0), 1.0);
  EXPECT_DOUBLE_EQ(s.at(75), 1.0);               // t = 0.75: the end of the stable phase
  EXPECT_NEAR(s.at(90), 0.4, 1e-12);             // t = 0.9: (1 - 0.9) / 0.25
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
  wsd.options.insert_or_assign("decay_fraction", 0.0);
  EXPECT_THROW(LrSchedule(wsd, 1.0, 0.0, 0, 10), ConfigError);
}

TEST(Schedule, ARegisteredScheduleIsUsableByName) {
  Choice c{"test_step", {}};
  c.options.insert("factor", 0.25);
  LrSchedule s(c, 4.0, 0.0, 0, 100);
  EXPECT_DOUBLE_EQ(s.at(10), 4.0);
  EXPECT_DOUBLE_EQ(s.at(60), 1.0);
  c.options.insert("nope", 1);
  try {
    LrSchedule bad(c, 1.0, 0.0, 0, 10);
    FAIL() << "an unknown option of a registered schedule must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.schedule.nope"), std::string::npos) << e.what();
  }
}

TEST(Schedule, UnknownNameGetsASuggestion) {
  try {
    LrSchedule bad(shape("cosin"), 1.0, 0.0, 0, 10);
    FAIL();
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.schedule.name"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'cosine'"), std::string::npos) << m;
  }
}

// The step clock must stay bit-identical to the schedule before fractional positions existed (the
// golden trajectory and bit-exact resume depend on it): the integer formula, copied from then.
TEST(Schedule, WholeStepsAreBitIdenticalToTheIntegerFormula) {
  const double peak = 3e-3, ratio = 0.1;
  const int64_t warmup = 7, total = 53;
  for (const std::string name : {"cosine", "linear", "constant", "wsd"}) {
    LrSchedule s(shape(name), peak, ratio, warmup, total);
    LrSchedule unit(shape(name), 1.0, 0.0, 0, 1);  // the shape alone: s(t) = unit.at_fraction(t)
    for (int64_t step = 0; step < total + 5; ++step) {
      double old;
      if (step < warmup) {
        old = peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
      } else {
        const double t = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(total - warmup), 0.0, 1.0);
        const double min = name == "constant" ? 0.0 : peak * ratio;
        old = name == "constant" ? peak * unit.at_fraction(t) : min + (peak - min) * unit.at_fraction(t);
      }
      EXPECT_EQ(s.at(step), old) << name << " step " << step;
      EXPECT_EQ(s.at_position(static_cast<double>(step)), s.at(step)) << name << " step " << step;
    }
  }
}

// The time clock's oracle: a share f of the schedule is the step clock's lr at step f * total,
// warmup included, and f = 1 is the end of the decay (the floor).
TEST(Schedule, AShareOfTheScheduleIsTheStepAtThatShare) {
  LrSchedule s(shape("cosine"), 2e-3, 0.1, 20, 400);
  for (int k = 0; k <= 16; ++k) {
    const double f = k / 16.0;  // f * 400 = 25 k: a whole step, exactly
    EXPECT_EQ(s.at_fraction(f), s.at(25 * k)) << "f = " << f;
  }
  EXPECT_NEAR(s.at_fraction(1.0), 2e-4, 1e-18);
  // between two whole steps the lr lies between theirs (cosine decays monotonically)
  EXPECT_LT(s.at_position(200.5), s.at(200));
  EXPECT_GT(s.at_position(200.5), s.at(201));
  EXPECT_DOUBLE_EQ(s.at_position(2.5), 2e-3 * 3.5 / 20);  // within warmup: the same line
}
