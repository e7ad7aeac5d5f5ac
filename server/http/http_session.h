// One client connection of the HTTP server (Boost.Beast): reads requests one after another,
// answers through the ApiRouter, and drives generations: submits them to the engine, streams
// their events as they come and cancels them as soon as the client goes away.
#pragma once

#include <cstddef>

#include <boost/asio/ip/tcp.hpp>

#include "server/http/api_router.h"
#include "server/http/inflight_requests.h"

namespace strata::http {

struct ConnectionEnvironment {
  const ApiRouter& router;
  InflightRequests& inflight;
  size_t max_body_bytes;
};

// `socket` must use a strand of the server's io_context as its executor (the connection's
// handlers and the engine events posted to it then never run at once); `environment` must
// outlive the connection.
void serve_connection(boost::asio::ip::tcp::socket socket, const ConnectionEnvironment& environment);

}  // namespace strata::http
