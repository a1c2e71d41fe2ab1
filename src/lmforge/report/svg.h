// Inline SVG charts for the benchmark report: line charts (loss curves, kernel speed-ups) and
// scatter plots with a Pareto frontier (quality against throughput, the view MosaicBERT's paper
// uses). Plain SVG text with no scripts or fonts, so a report opens anywhere without a network.
// Every chart carries class "plot" and a data-plot name; each series draws one legend entry
// (class "legend-entry", data-model = the series name), which the report tests count.
#pragma once
#include <string>
#include <vector>

namespace lmforge::report {

struct Series {
  std::string name;   // legend text (and data-model)
  std::string color;  // CSS colour
  std::vector<double> x, y;
  bool dashed = false;
  std::string note;  // appended to the legend text, e.g. "(failed)"
};

struct ChartOptions {
  std::string plot;  // data-plot name
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  bool lines = true;     // connect points (line chart) or not (scatter)
  bool markers = false;  // draw a dot at each point
  bool pareto = false;   // scatter: draw the frontier (max x, y better in the direction below)
  bool higher_is_better = true;  // for the Pareto frontier and its caption
  bool label_points = false;     // scatter: write the series name beside its point
  int width = 720, height = 380;
};

// The whole <svg>...</svg> element, legend included (one entry per series, even empty ones).
std::string chart(const std::vector<Series>& series, const ChartOptions& o);

// Tick values for an axis from lo to hi: about n "nice" steps (1, 2, 5 x 10^k); log axes get
// powers of ten (or 2 when the range is narrow).
std::vector<double> nice_ticks(double lo, double hi, int n, bool log);
// Short number text for ticks and tables: 1.2k, 3.4M, 0.012, 12.3.
std::string short_number(double v);
// A distinct colour for series i.
std::string palette(size_t i);
// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(const std::string& s);

// Indices of the Pareto-optimal points: no other point has x >= and y better-or-equal with one
// strictly better. Returned sorted by x.
std::vector<size_t> pareto_front(const std::vector<double>& x, const std::vector<double>& y, bool higher_is_better);

}  // namespace lmforge::report
