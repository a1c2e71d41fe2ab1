// The training ETA (core/eta.h): its format and its estimate (median of recent steps, the
// evaluations still to come, the time budget).
#include <gtest/gtest.h>

#include <cmath>

#include "lmforge/core/eta.h"

namespace lmforge {
namespace {

TEST(Eta, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(0.4), "0s");
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(59.6), "1m00s");
  EXPECT_EQ(format_duration(192), "3m12s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600), "1h00m");
  EXPECT_EQ(format_duration(2 * 3600 + 5 * 60 + 30), "2h05m");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600 + 10), "3d04h");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(NAN), "?");
  EXPECT_EQ(format_duration(INFINITY), "?");
}

TEST(Eta, MedianOfRecentStepsIgnoresOutliersAndFollowsAChangeOfSpeed) {
  EtaEstimator e(5);
  EXPECT_EQ(e.step_seconds(), 0);
  EXPECT_EQ(e.remaining(100), 0);
  e.add_step(30);  // the first step: allocation, warm-up
  for (int i = 0; i < 4; ++i) e.add_step(0.5);
  EXPECT_EQ(e.step_seconds(), 0.5);
  EXPECT_EQ(e.remaining(100), 50);
  e.add_step(NAN);  // ignored
  EXPECT_EQ(e.step_seconds(), 0.5);
  for (int i = 0; i < 3; ++i) e.add_step(2.0);  // slower now: the window of 5 holds 0.5 0.5 2 2 2
  EXPECT_EQ(e.step_seconds(), 2.0);
  EtaEstimator even(4);
  for (double s : {1.0, 2.0, 4.0, 100.0}) even.add_step(s);
  EXPECT_EQ(even.step_seconds(), 3.0);  // the mean of the middle two
}

TEST(Eta, AddsTheEvaluationsStillToComeAndStopsAtTheTimeBudget) {
  EtaEstimator e;
  e.add_step(2.0);
  EXPECT_EQ(e.remaining(10), 20);
  EXPECT_EQ(e.remaining(10, 6), 26);       // + evaluations
  EXPECT_EQ(e.remaining(10, 6, 15), 15);   // the budget ends first
  EXPECT_EQ(e.remaining(10, 6, 100), 26);  // the steps end first
  EXPECT_EQ(e.remaining(0, 0, 100), 0);
  EXPECT_EQ(e.remaining(-5), 0);
}

TEST(Eta, CountsTheEvaluationsStillToCome) {
  // steps 10, eval_every 4: evaluations after steps 4, 8 and 10 (the last).
  EXPECT_EQ(evaluations_left(1, 10, 4), 3);
  EXPECT_EQ(evaluations_left(4, 10, 4), 3);  // logged at 4, its evaluation not yet run
  EXPECT_EQ(evaluations_left(5, 10, 4), 2);
  EXPECT_EQ(evaluations_left(9, 10, 4), 1);
  EXPECT_EQ(evaluations_left(10, 10, 4), 1);
  EXPECT_EQ(evaluations_left(7, 8, 4), 1);   // the last step is an eval_every step: counted once
  EXPECT_EQ(evaluations_left(8, 8, 4), 1);
  EXPECT_EQ(evaluations_left(3, 10, 0), 1);  // only at the end
  EXPECT_EQ(evaluations_left(11, 10, 4), 0);
}

}  // namespace
}  // namespace lmforge
