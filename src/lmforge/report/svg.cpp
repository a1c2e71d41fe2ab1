// report/svg.h: axes, ticks, polylines, markers and legends as SVG text.
#include "lmforge/report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace lmforge::report {

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string palette(size_t i) {
  static const char* k[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                            "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#ad494a", "#637939", "#843c39"};
  return k[i % (sizeof(k) / sizeof(k[0]))];
}

std::string short_number(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(buf, sizeof(buf), "%.3gG", v / 1e9);
  else if (a >= 1e6) std::snprintf(buf, sizeof(buf), "%.3gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(buf, sizeof(buf), "%.3gk", v / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::vector<double> nice_ticks(double lo, double hi, int n, bool log) {
  std::vector<double> t;
  if (!(hi > lo)) return {lo};
  if (log && lo > 0) {
    const double d0 = std::floor(std::log10(lo) + 1e-9), d1 = std::ceil(std::log10(hi) - 1e-9);
    std::vector<double> decades, steps125;
    for (double d = d0; d <= d1 + 1e-9; ++d) {
      const double p = std::pow(10.0, d);
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * p;
        if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
        steps125.push_back(v);
        if (m == 1.0) decades.push_back(v);
      }
    }
    if (decades.size() >= 3) {  // wide range: every k-th power of ten
      const size_t every = std::max<size_t>(1, (decades.size() + n - 1) / n);
      for (size_t i = 0; i < decades.size(); i += every) t.push_back(decades[i]);
      return t;
    }
    if (steps125.size() >= 2 && steps125.size() <= static_cast<size_t>(2 * n)) return steps125;
    if (decades.size() >= 2) return decades;
  }
  const double raw = (hi - lo) / std::max(1, n);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag * (1 + 1e-9)) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::vector<size_t> pareto_front(const std::vector<double>& x, const std::vector<double>& y, bool higher_is_better) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) idx.push_back(i);
  auto better = [&](double a, double b) { return higher_is_better ? a > b : a < b; };
  std::vector<size_t> front;
  for (size_t i : idx) {
    bool dominated = false;
    for (size_t j : idx) {
      if (i == j) continue;
      const bool ge = x[j] >= x[i] && (y[j] == y[i] || better(y[j], y[i]));
      const bool strict = x[j] > x[i] || better(y[j], y[i]);
      if (ge && strict) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  return front;
}

namespace {

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double px0 = 0, px1 = 1;  // pixel range
  double map(double v) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi;
    const double u = log ? std::log10(v) : v;
    return px0 + (u - a) / (b - a) * (px1 - px0);
  }
  bool ok(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

void fit(Axis& ax, const std::vector<double>& vals) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : vals)
    if (ax.ok(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) {
    ax.lo = ax.log ? 1 : 0, ax.hi = ax.log ? 10 : 1;
    return;
  }
  if (ax.log) {
    if (hi <= lo) lo /= 2, hi *= 2;
    ax.lo = lo / 1.15, ax.hi = hi * 1.15;
  } else {
    if (hi <= lo) {
      const double d = std::max(std::fabs(lo) * 0.1, 1e-3);
      lo -= d, hi += d;
    }
    const double pad = (hi - lo) * 0.06;
    ax.lo = lo - pad, ax.hi = hi + pad;
  }
}

std::string f1(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f", v);
  return b;
}

}  // namespace

std::string chart(const std::vector<Series>& series, const ChartOptions& o) {
  // The legend column is as wide as its longest entry (about 7 px a character at 12 px).
  size_t longest = 8;
  for (const auto& s : series) longest = std::max(longest, s.name.size() + (s.note.empty() ? 0 : s.note.size() + 1));
  const int legend_w = 40 + static_cast<int>(std::min<size_t>(longest, 48) * 7);
  const int ml = 70, mr = 16 + legend_w, mt = 34, mb = 50;
  const int legend_h = 22 + 18 * static_cast<int>(series.size());
  const int H = std::max(o.height, mt + legend_h + 10), W = std::max(o.width, legend_w + 420);
  Axis ax, ay;
  ax.log = o.log_x, ay.log = o.log_y;
  std::vector<double> xs, ys;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (ax.ok(s.x[i]) && ay.ok(s.y[i])) xs.push_back(s.x[i]), ys.push_back(s.y[i]);
  fit(ax, xs);
  fit(ay, ys);
  ax.px0 = ml, ax.px1 = W - mr;
  ay.px0 = H - mb, ay.px1 = mt;

  std::ostringstream os;
  os << "<svg class=\"plot\" data-plot=\"" << html_escape(o.plot) << "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W
     << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" aria-label=\""
     << html_escape(o.title) << "\">\n";
  os << "<title>" << html_escape(o.title) << "</title>\n";
  os << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"#fff\"/>\n";
  os << "<text x=\"" << ml << "\" y=\"20\" class=\"chart-title\" font-size=\"14\" font-weight=\"bold\">" << html_escape(o.title)
     << "</text>\n";
  // Grid, ticks and axis labels.
  os << "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n";
  for (double t : nice_ticks(ax.lo, ax.hi, 6, ax.log)) {
    if (t < ax.lo || t > ax.hi) continue;
    const double px = ax.map(t);
    os << "<line x1=\"" << f1(px) << "\" y1=\"" << mt << "\" x2=\"" << f1(px) << "\" y2=\"" << H - mb
       << "\" stroke=\"#eee\"/><text x=\"" << f1(px) << "\" y=\"" << H - mb + 16 << "\" text-anchor=\"middle\">"
       << short_number(t) << "</text>\n";
  }
  for (double t : nice_ticks(ay.lo, ay.hi, 5, ay.log)) {
    if (t < ay.lo || t > ay.hi) continue;
    const double py = ay.map(t);
    os << "<line x1=\"" << ml << "\" y1=\"" << f1(py) << "\" x2=\"" << W - mr << "\" y2=\"" << f1(py)
       << "\" stroke=\"#eee\"/><text x=\"" << ml - 6 << "\" y=\"" << f1(py + 4) << "\" text-anchor=\"end\">"
       << short_number(t) << "</text>\n";
  }
  os << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << W - mr - ml << "\" height=\"" << H - mb - mt
     << "\" fill=\"none\" stroke=\"#999\"/>\n";
  os << "<text x=\"" << (ml + W - mr) / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">"
     << html_escape(o.x_label + (o.log_x ? " (log)" : "")) << "</text>\n";
  os << "<text transform=\"translate(16," << (mt + H - mb) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
     << html_escape(o.y_label + (o.log_y ? " (log)" : "")) << "</text>\n";
  os << "</g>\n";
  if (xs.empty())
    os << "<text class=\"no-data\" x=\"" << (ml + W - mr) / 2 << "\" y=\"" << (mt + H - mb) / 2
       << "\" text-anchor=\"middle\" fill=\"#999\">no data</text>\n";

  // Pareto frontier under the points.
  if (o.pareto) {
    std::vector<double> px, py;
    for (const auto& s : series)
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (ax.ok(s.x[i]) && ay.ok(s.y[i])) px.push_back(s.x[i]), py.push_back(s.y[i]);
    std::vector<size_t> front = pareto_front(px, py, o.higher_is_better);
    if (front.size() >= 2) {
      os << "<path class=\"pareto\" d=\"";
      for (size_t k = 0; k < front.size(); ++k)
        os << (k ? " L" : "M") << f1(ax.map(px[front[k]])) << " " << f1(ay.map(py[front[k]]));
      os << "\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"5 4\" stroke-width=\"1.5\"/>\n";
    }
  }
  // Series.
  for (const auto& s : series) {
    os << "<g class=\"series\" data-model=\"" << html_escape(s.name) << "\">";
    if (o.lines) {
      std::string d;
      bool pen = false;
      int pts = 0;
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!ax.ok(s.x[i]) || !ay.ok(s.y[i])) {
          pen = false;
          continue;
        }
        d += (pen ? " L" : (d.empty() ? "M" : " M")) + f1(ax.map(s.x[i])) + " " + f1(ay.map(s.y[i]));
        pen = true;
        ++pts;
      }
      if (pts >= 2)
        os << "<path d=\"" << d << "\" fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.8\""
           << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>";
    }
    const bool dots = o.markers || !o.lines;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!ax.ok(s.x[i]) || !ay.ok(s.y[i])) continue;
      const bool single = o.lines && s.x.size() == 1;
      if (!dots && !single) continue;
      const double cx = ax.map(s.x[i]), cy = ay.map(s.y[i]);
      os << "<circle cx=\"" << f1(cx) << "\" cy=\"" << f1(cy) << "\" r=\"" << (o.lines ? 3 : 5) << "\" fill=\"" << s.color
         << "\"><title>" << html_escape(s.name) << ": " << short_number(s.x[i]) << ", " << short_number(s.y[i])
         << "</title></circle>";
      if (o.label_points)
        os << "<text x=\"" << f1(cx + 7) << "\" y=\"" << f1(cy - 6) << "\" font-size=\"11\" fill=\"#333\">"
           << html_escape(s.name) << "</text>";
    }
    os << "</g>\n";
  }
  // Legend: one entry per series.
  const int lx = W - legend_w + 6;
  os << "<g class=\"legend\" font-size=\"12\">\n";
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const int y = mt + 12 + 18 * static_cast<int>(i);
    os << "<g class=\"legend-entry\" data-model=\"" << html_escape(s.name) << "\"><line x1=\"" << lx << "\" y1=\"" << y - 4
       << "\" x2=\"" << lx + 22 << "\" y2=\"" << y - 4 << "\" stroke=\"" << s.color << "\" stroke-width=\"3\""
       << (s.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/><text x=\"" << lx + 28 << "\" y=\"" << y << "\">"
       << html_escape(s.name + (s.note.empty() ? "" : " " + s.note)) << "</text></g>\n";
  }
  os << "</g>\n";
  if (o.pareto)
    os << "<text x=\"" << lx << "\" y=\"" << H - 12 << "\" font-size=\"11\" fill=\"#666\">dashed grey: Pareto front</text>\n";
  os << "</svg>\n";
  return os.str();
}

}  // namespace lmforge::report
