#include "server/metrics/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace strata::metrics {
namespace {

// Prometheus floats: shortest round-trip digits; integral values keep a ".0" as Python's
// prometheus_client writes them (so `le` labels match what vLLM exposes); +Inf, -Inf, NaN.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {
  if (!std::is_sorted(upper_bounds_.begin(), upper_bounds_.end()) ||
      std::adjacent_find(upper_bounds_.begin(), upper_bounds_.end()) != upper_bounds_.end()) {
    throw std::logic_error("histogram bucket bounds must be strictly increasing");
  }
}

void Histogram::observe(double value) {
  // Bucket i counts values <= upper_bounds_[i] (Prometheus' `le`).
  const auto bucket = static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                                          upper_bounds_.begin());
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t running = 0;
  for (uint64_t c : counts_) s.cumulative_counts.push_back(running += c);
  s.sum = sum_;
  return s;
}

const char* Registry::type_name(Type type) {
  switch (type) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

Registry::Registry(Labels constant_labels) : constant_labels_(std::move(constant_labels)) {}

Registry::Family& Registry::family(const std::string& name, const std::string& help, Type type) {
  for (auto& f : families_) {
    if (f->name != name) continue;
    if (f->type != type || f->help != help) throw std::logic_error("metric " + name + " registered twice differently");
    return *f;
  }
  families_.push_back(std::make_unique<Family>(Family{name, help, type, {}, {}, {}}));
  return *families_.back();
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Type::kCounter).counters[label_text(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Type::kGauge).gauges[label_text(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const std::vector<double>& upper_bounds,
                               const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Type::kHistogram).histograms[label_text(labels)];
  if (!slot.second) slot = {labels, std::make_unique<Histogram>(upper_bounds)};
  return *slot.second;
}

std::string Registry::label_text(const Labels& labels, const std::pair<std::string, std::string>* extra) const {
  std::string out;
  auto add = [&](const std::pair<std::string, std::string>& label) {
    out += out.empty() ? "{" : ",";
    out += label.first + "=\"" + escape_label_value(label.second) + "\"";
  };
  for (const auto& l : constant_labels_) add(l);
  for (const auto& l : labels) add(l);
  if (extra) add(*extra);
  if (!out.empty()) out += "}";
  return out;
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f->name + " " + escape_help(f->help) + "\n";
    out += "# TYPE " + f->name + " " + type_name(f->type) + "\n";
    for (const auto& [labels, c] : f->counters) out += f->name + labels + " " + format_value(c->value()) + "\n";
    for (const auto& [labels, g] : f->gauges) out += f->name + labels + " " + format_value(g->value()) + "\n";
    for (const auto& [key, entry] : f->histograms) {
      const auto s = entry.second->snapshot();
      for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
        const std::pair<std::string, std::string> le{
            "le", i < s.upper_bounds.size() ? format_value(s.upper_bounds[i]) : "+Inf"};
        out += f->name + "_bucket" + label_text(entry.first, &le) + " " + std::to_string(s.cumulative_counts[i]) + "\n";
      }
      out += f->name + "_sum" + key + " " + format_value(s.sum) + "\n";
      out += f->name + "_count" + key + " " + std::to_string(s.cumulative_counts.back()) + "\n";
    }
  }
  return out;
}

}  // namespace strata::metrics
