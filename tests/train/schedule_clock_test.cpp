// The schedule clock (train/schedule_clock.h) on its own: positions from given training times, no
// loop and no real clock. The loop's use of it, with a fake clock, is in loop_test.cpp.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/schedule_clock.h"

using namespace lmforge;

TEST(ScheduleClock, StepClockIsTheStep) {
  for (auto mode : {ScheduleClockMode::kSteps, ScheduleClockMode::kAuto}) {
    ScheduleClock c(mode, 100, /*budget_seconds=*/0);  // auto without a budget: steps
    EXPECT_FALSE(c.uses_time());
    for (int64_t s : {0, 1, 50, 99}) {
      const SchedulePosition p = c.position(s, 1e9, 1.0, 10);  // time says nothing here
      EXPECT_EQ(p.step, static_cast<double>(s));
      EXPECT_FALSE(p.last);
    }
  }
  ScheduleClock steps(ScheduleClockMode::kSteps, 100, 60);  // a budget does not change the step clock
  EXPECT_EQ(steps.position(10, 59.0, 1.0, 10).step, 10.0);
}

// Budget B, steps of d seconds: the step starting after e seconds reads f = e / (B - d), so the last
// step that fits (e + d >= B) reads 1, the end of the decay.
TEST(ScheduleClock, TimeClockReadsTheShareOfTheBudgetAndEndsAtOne) {
  const double d = 1.5, budget = 15.0;  // 10 steps fit
  ScheduleClock c(ScheduleClockMode::kTime, 1000, budget);
  EXPECT_TRUE(c.uses_time());
  EXPECT_TRUE(c.time_engaged());
  for (int64_t k = 0; k < 10; ++k) {
    const SchedulePosition p = c.position(k, d * k, k == 0 ? 0.0 : d, k);
    EXPECT_NEAR(p.progress, k / 9.0, 1e-15) << k;
    EXPECT_NEAR(p.step, 1000.0 * k / 9.0, 1e-12) << k;
    EXPECT_EQ(p.last, k == 9) << k;
  }
  EXPECT_EQ(c.position(9, 13.5, d, 9).progress, 1.0);
  // A step that ran past what was left (slower than the median): the next one is the last, at 1.
  ScheduleClock late(ScheduleClockMode::kTime, 1000, budget);
  const SchedulePosition p = late.position(9, 15.2, d, 9);
  EXPECT_TRUE(p.last);
  EXPECT_EQ(p.progress, 1.0);
}

// A budget longer than the steps need: the step count leads, and the run ends at the end of its
// schedule on the steps (the position is the larger of the two).
TEST(ScheduleClock, StepsLeadWhenTheyEndFirst) {
  ScheduleClock c(ScheduleClockMode::kTime, 100, 1000.0);
  const SchedulePosition p = c.position(60, 60 * 0.5, 0.5, 60);  // 30 s of 1000: 3% of the time
  EXPECT_EQ(p.step, 60.0);
  EXPECT_FALSE(p.last);
  // ... and time leads where it is further along: 600 s of 1000 at step 10.
  EXPECT_NEAR(c.position(10, 600, 0.5, 10).step, 100.0 * 600 / 999.5, 1e-12);
}

TEST(ScheduleClock, AutoSwitchesOnlyWhenTheBudgetBinds) {
  // Fast machine: 100 steps of 0.5 s fit in 60 s: the step clock throughout.
  ScheduleClock fast(ScheduleClockMode::kAuto, 100, 60.0);
  for (int64_t k = 0; k < 100; ++k) {
    EXPECT_EQ(fast.position(k, 0.5 * k, k == 0 ? 0.0 : 0.5, k).step, static_cast<double>(k)) << k;
    EXPECT_FALSE(fast.time_engaged()) << k;
  }
  // Slow machine: 2 s per step, 200 s needed: the first steps are steps (too few measured, and the
  // first one alone must not decide), then the time clock for good.
  ScheduleClock slow(ScheduleClockMode::kAuto, 100, 60.0);
  EXPECT_EQ(slow.position(1, 9.0, 9.0, 1).step, 1.0);  // one slow first step: not yet
  EXPECT_FALSE(slow.time_engaged());
  const int64_t k = ScheduleClock::kAutoMinSteps;
  const SchedulePosition p = slow.position(k, 2.0 * k, 2.0, k);
  EXPECT_TRUE(slow.time_engaged());
  EXPECT_NEAR(p.step, 100.0 * 2.0 * k / 58.0, 1e-12);
  // A resumed auto run that had switched keeps the time clock from its first step.
  ScheduleClock resumed(ScheduleClockMode::kAuto, 100, 60.0, /*time_engaged=*/true);
  EXPECT_TRUE(resumed.time_engaged());
  EXPECT_NEAR(resumed.position(20, 40.0, 0.0, 0).step, 100.0 * 40 / 60, 1e-12);
}

TEST(ScheduleClock, ConfigKeyIsCheckedAndNamed) {
  auto message = [](const std::string& text) {
    try {
      parse_run_config(parse_toml_string(text, "t"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(parse_run_config(parse_toml_string("", "t")).train.schedule_clock, "steps");  // the default: as before
  EXPECT_EQ(message("[train]\nschedule_clock = \"auto\"\n"), "accepted");                 // no budget: steps
  EXPECT_EQ(message("[train]\nschedule_clock = \"time\"\nmax_minutes = 2\n"), "accepted");
  const std::string bad = message("[train]\nschedule_clock = \"wall\"\nmax_minutes = 2\n");
  EXPECT_NE(bad.find("train.schedule_clock"), std::string::npos) << bad;
  EXPECT_NE(bad.find("\"wall\""), std::string::npos) << bad;
  const std::string no_budget = message("[train]\nschedule_clock = \"time\"\n");
  EXPECT_NE(no_budget.find("train.schedule_clock"), std::string::npos) << no_budget;
  EXPECT_NE(no_budget.find("train.max_minutes"), std::string::npos) << no_budget;
  // the resolved config holds the key, so --dump-config shows it and a resumed run keeps it
  const toml::table dumped = run_config_to_toml(parse_run_config(parse_toml_string("[train]\nschedule_clock = \"auto\"\n", "t")));
  EXPECT_EQ(dumped["train"]["schedule_clock"].value_or(std::string()), "auto");
}
