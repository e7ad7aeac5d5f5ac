// A small Prometheus registry: counters, gauges and histograms, grouped in families by name,
// rendered in the text exposition format 0.0.4 (what Prometheus and the Kubernetes Gateway API
// Inference Extension scrape). Metrics are registered once at start-up; updating them is
// thread-safe and lock-free except for histograms (one short lock per observation).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace strata::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
  // For counters that mirror a monotonic total kept elsewhere (the scheduler's statistics).
  void set_total(double total) { value_.store(total, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `upper_bounds` strictly increasing; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (= count)
    double sum = 0.0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last = above every bound
  double sum_ = 0.0;
};

class Registry {
 public:
  // `constant_labels` go on every sample (e.g. model_name, as vLLM labels its metrics).
  explicit Registry(Labels constant_labels = {});

  // Registering the same name and labels twice returns the same metric; the same name with
  // another type or help throws std::logic_error. References stay valid for the registry's life.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& upper_bounds,
                       const Labels& labels = {});

  // Every family in registration order, with # HELP and # TYPE lines.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    // Keyed by the rendered label set, so samples come out in a stable order. Histograms keep
    // their labels to render each bucket with an extra `le`.
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::pair<Labels, std::unique_ptr<Histogram>>> histograms;
  };

  static const char* type_name(Type type);
  Family& family(const std::string& name, const std::string& help, Type type);
  // `{a="x",b="y"}` with the constant labels first and `extra` (e.g. le) last; "" when empty.
  std::string label_text(const Labels& labels, const std::pair<std::string, std::string>* extra = nullptr) const;

  Labels constant_labels_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace strata::metrics
