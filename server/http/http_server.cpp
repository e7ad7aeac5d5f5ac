#include "server/http/http_server.h"

#include <sys/resource.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "server/http/http_session.h"
#include "server/http/inflight_requests.h"

namespace strata::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

// How often a drain looks whether the generations have ended.
constexpr auto kDrainPoll = std::chrono::milliseconds(50);
// After the grace period's cancellations, how long connections may take to write their last
// events before the server stops regardless.
constexpr auto kCancelledWriteTimeout = std::chrono::seconds(5);
// An accept that failed (e.g. out of file descriptors) is retried after this.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// Each open stream holds a socket: let the process have as many as its hard limit allows.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) spdlog::debug("open file limit raised to {}", limit.rlim_cur);
}

}  // namespace

struct HttpServer::Impl {
  Impl(const HttpServerOptions& options_, ApiRouter& router_)
      : options(options_),
        router(router_),
        control(net::make_strand(io)),
        acceptor(control),
        accept_retry(control),
        signals(control, SIGTERM, SIGINT),
        drain_timer(control),
        environment{router_, inflight, options_.max_body_bytes} {}

  void listen() {
    raise_open_file_limit();
    error_code ec;
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
    if (ec || endpoints.empty()) throw std::runtime_error("cannot resolve host '" + options.host + "': " + ec.message());
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + ec.message());
    }
    port = acceptor.local_endpoint().port();
  }

  void start() {
    net::dispatch(control, [this] {
      accept();
      wait_for_signal();
    });
    for (int i = 0; i < options.io_threads; ++i) threads.emplace_back([this] { run_io(); });
  }

  void run_io() {
    // The handlers catch what requests can cause; this keeps a thread alive through anything else.
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("I/O thread: {}", e.what());
      }
    }
  }

  void accept() {
    acceptor.async_accept(net::make_strand(io), [this](error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (ec) {
        spdlog::warn("accept failed: {}", ec.message());
        accept_retry.expires_after(kAcceptRetry);
        accept_retry.async_wait([this](error_code wait_ec) {
          if (!wait_ec) accept();
        });
        return;
      }
      error_code option_ec;
      socket.set_option(tcp::no_delay(true), option_ec);  // SSE chunks are small and latency matters
      serve_connection(std::move(socket), environment);
      accept();
    });
  }

  void wait_for_signal() {
    signals.async_wait([this](error_code ec, int signal_number) {
      if (ec) return;
      on_signal(signal_number);
      wait_for_signal();
    });
  }

  void on_signal(int signal_number) {
    if (stop_requested.exchange(true)) {
      spdlog::info("signal {} again: cancelling the requests still running", signal_number);
      cancel_at = Clock::now();
      return;
    }
    spdlog::info("signal {}: draining {} request(s), grace period {} s", signal_number, inflight.count(),
                 options.shutdown_grace.count());
    router.start_draining();
    cancel_at = Clock::now() + options.shutdown_grace;
    check_drain();
  }

  void check_drain() {
    const auto now = Clock::now();
    if (inflight.count() == 0) return finish();
    if (now >= cancel_at) {
      if (!give_up_at) {
        spdlog::warn("cancelling {} request(s) still running", inflight.count());
        give_up_at = now + kCancelledWriteTimeout;
      }
      // Again at every poll: a request accepted after the first sweep is cancelled too.
      for (uint64_t id : inflight.accepted_ids()) router.engine().cancel(id);
      if (now >= *give_up_at) {
        spdlog::warn("{} connection(s) did not take their last events; closing", inflight.count());
        return finish();
      }
    }
    drain_timer.expires_after(kDrainPoll);
    drain_timer.async_wait([this](error_code ec) {
      if (!ec) check_drain();
    });
  }

  void finish() {
    error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    io.stop();
  }

  const HttpServerOptions options;
  ApiRouter& router;
  net::io_context io;
  net::strand<net::io_context::executor_type> control;  // acceptor, signals and the drain
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  net::signal_set signals;
  net::steady_timer drain_timer;
  net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
  InflightRequests inflight;
  ConnectionEnvironment environment;
  std::vector<std::thread> threads;
  std::atomic<bool> stop_requested{false};
  uint16_t port = 0;
  Clock::time_point cancel_at;
  std::optional<Clock::time_point> give_up_at;
};

HttpServer::HttpServer(const HttpServerOptions& options, ApiRouter& router) : impl_(std::make_unique<Impl>(options, router)) {
  impl_->listen();
  impl_->start();
}

HttpServer::~HttpServer() {
  impl_->io.stop();
  wait();
}

uint16_t HttpServer::port() const { return impl_->port; }

bool HttpServer::stop_requested() const { return impl_->stop_requested.load(); }

void HttpServer::wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace strata::http
