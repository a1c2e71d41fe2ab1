#include <gtest/gtest.h>

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
