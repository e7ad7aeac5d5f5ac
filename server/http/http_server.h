// The HTTP/1.1 front end: an asynchronous Boost.Beast server on one io_context run by a couple
// of threads, so thousands of open SSE streams cost sockets and buffers, not threads. Requests
// go to the ApiRouter; generations are driven by their connection (http_session.h).
//
// SIGTERM / SIGINT start a drain: the router refuses new work with 503 (the listener stays
// open so probes get an answer instead of a refused connection), running generations get
// `shutdown_grace` to finish and are then cancelled; wait() returns once none is left. A second
// signal skips the rest of the grace period.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/http/api_router.h"

namespace strata::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                         // 0: any free port (see port())
  size_t max_body_bytes = size_t{8} << 20;
  int io_threads = 2;
  std::chrono::seconds shutdown_grace{30};
};

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads and the signal handling. Throws
  // std::runtime_error naming the address when it cannot listen there.
  HttpServer(const HttpServerOptions& options, ApiRouter& router);
  // Stops the I/O threads (if wait() has not) and closes every connection.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // A signal has arrived (e.g. while the model was still loading).
  bool stop_requested() const;
  // Blocks until a signal's drain has finished.
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::http
