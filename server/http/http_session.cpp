#include "server/http/http_session.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "server/http/api_error.h"

namespace strata::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The whole of one request (headers and body) must arrive within this, and so must the next
// request on a kept-alive connection.
constexpr auto kRequestTimeout = std::chrono::seconds(60);
// After the last response of a connection, how long its remaining input is read and dropped,
// so a client still sending (e.g. a body over the limit) gets to read the answer instead of a
// connection reset.
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr uint32_t kHeaderLimit = 16 * 1024;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const ConnectionEnvironment& environment)
      : stream_(std::move(socket)), environment_(environment) {}

  void start() { net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); }); }

 private:
  // Reading requests ------------------------------------------------------------------------

  void read_header() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(environment_.max_body_bytes);
    stream_.expires_after(kRequestTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code write_ec, size_t) {
        if (write_ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_read_error(ec);
      self->handle(self->parser_->release());
    });
  }

  void on_read_error(beast::error_code ec) {
    keep_alive_ = false;
    if (ec == bhttp::error::body_limit) {
      return send(error_response(ApiError(413, "the request body is larger than " +
                                                   std::to_string(environment_.max_body_bytes) + " bytes")));
    }
    if (ec == bhttp::error::header_limit) return send(error_response(ApiError(431, "the request headers are too large")));
    const bool malformed = ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() && ec != bhttp::error::end_of_stream &&
                           ec != bhttp::error::partial_message;
    if (malformed) return send(error_response(ApiError(400, "malformed HTTP request: " + ec.message())));
    close();  // the client closed, reset, or timed out
  }

  void handle(bhttp::request<bhttp::string_body> request) {
    HttpRequest r;
    r.method = std::string(request.method_string());
    const std::string_view target = request.target();
    r.path = std::string(target.substr(0, target.find('?')));
    r.authorization = std::string(request[bhttp::field::authorization]);
    r.body = std::move(request.body());
    keep_alive_ = request.keep_alive() && !environment_.router.draining();
    spdlog::debug("{} {} ({} bytes)", r.method, r.path, r.body.size());
    Reply reply = environment_.router.handle(r);
    if (auto* response = std::get_if<HttpResponse>(&reply)) return send(std::move(*response));
    start_generation(std::move(std::get<std::unique_ptr<GenerationJob>>(reply)));
  }

  // Complete responses ----------------------------------------------------------------------

  void send(HttpResponse response) {
    response_ = std::make_unique<bhttp::response<bhttp::string_body>>();
    response_->version(11);
    response_->result(response.status);
    response_->set(bhttp::field::server, "strata");
    response_->set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) response_->set(name, value);
    response_->body() = std::move(response.body);
    response_->keep_alive(keep_alive_);
    response_->prepare_payload();
    stream_.expires_after(kRequestTimeout);
    bhttp::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->response_.reset();
      if (ec) return self->close();
      if (self->keep_alive_) return self->read_header();
      self->close_after_response();
    });
  }

  // Generations -----------------------------------------------------------------------------
  // The engine's events are posted to this connection's strand and turned into bytes here;
  // flush() writes what is pending whenever no write is in flight, so a slow client gets its
  // chunks coalesced rather than holding the engine back.

  void start_generation(std::unique_ptr<GenerationJob> job) {
    job_ = std::move(job);
    environment_.inflight.begin();
    stream_.expires_never();  // a stream may run for minutes
    auto executor = stream_.get_executor();
    environment_.router.engine().submit(
        job_->take_request(),
        [self = shared_from_this(), executor](const scheduler::SequenceEvent& event) {
          const auto at = metrics::Clock::now();
          net::post(executor, [self, event, at] { self->on_event(event, at); });
        },
        [self = shared_from_this(), executor](const scheduler::SubmitResult& result) {
          net::post(executor, [self, result] { self->on_submitted(result); });
        });
    watch_for_disconnect();
  }

  void on_submitted(const scheduler::SubmitResult& result) {
    if (result.status != scheduler::SubmitStatus::kAccepted) {
      end_generation();  // no event will come, nothing was written
      if (client_gone_) return close();
      return send(GenerationJob::refusal(result));
    }
    request_id_ = result.request_id;
    environment_.inflight.accepted(result.request_id);
    if (client_gone_) environment_.router.engine().cancel(result.request_id);
    if (job_->streaming()) pending_.insert(0, job_->stream_opening());  // events may have come first
    flush();
  }

  void on_event(const scheduler::SequenceEvent& event, metrics::Clock::time_point at) {
    std::string bytes = job_->on_event(event, at);
    if (!client_gone_) pending_ += bytes;
    flush();
  }

  void flush() {
    if (!request_id_ || writing_) return;  // the generation ends only once the engine has answered
    if (client_gone_) {
      if (job_->finished()) {
        end_generation();
        close();
      }
      return;
    }
    if (!job_->streaming()) {
      if (!job_->finished()) return;
      HttpResponse response = job_->response();
      end_generation();
      return send(std::move(response));
    }
    auto written = [self = shared_from_this()](beast::error_code ec, size_t) { self->on_stream_written(ec); };
    if (!stream_head_) {
      stream_head_.emplace(bhttp::status::ok, 11);
      stream_head_->set(bhttp::field::server, "strata");
      stream_head_->set(bhttp::field::content_type, "text/event-stream");
      stream_head_->set(bhttp::field::cache_control, "no-cache");
      stream_head_->keep_alive(keep_alive_);
      stream_head_->chunked(true);
      head_serializer_.emplace(*stream_head_);
      writing_ = true;
      return bhttp::async_write_header(stream_, *head_serializer_, written);
    }
    if (!pending_.empty()) {
      in_flight_ = std::move(pending_);
      pending_.clear();
      writing_ = true;
      return net::async_write(stream_, bhttp::make_chunk(net::buffer(in_flight_)), written);
    }
    if (!job_->finished()) return;  // waiting for more events
    if (!last_chunk_sent_) {
      last_chunk_sent_ = true;
      writing_ = true;
      return net::async_write(stream_, bhttp::make_chunk_last(), written);
    }
    end_generation();
    if (keep_alive_) return read_header();
    close_after_response();
  }

  void on_stream_written(beast::error_code ec) {
    writing_ = false;
    if (ec) on_client_gone();
    flush();
  }

  void end_generation() {
    stop_watching();
    environment_.inflight.end(request_id_);
    job_.reset();
    request_id_.reset();
    pending_.clear();
    in_flight_.clear();
    head_serializer_.reset();
    stream_head_.reset();
    last_chunk_sent_ = false;
  }

  // Noticing a client that went away --------------------------------------------------------
  // While a generation runs the connection waits for the socket to become readable: a closed
  // or reset connection cancels the request at once. (A client that half-closes its side after
  // sending counts as gone too.) Bytes of a pipelined next request stay in the socket for the
  // next read and end the watch.

  void watch_for_disconnect() {
    watching_ = true;
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), watch = ++watch_](beast::error_code ec) {
      self->on_readable(ec, watch);
    });
  }

  void on_readable(beast::error_code ec, uint64_t watch) {
    if (!watching_ || watch != watch_) return;  // stopped: the generation is over
    watching_ = false;
    if (!ec) {
      // Readiness can be stale (an edge for bytes the request's read already took), so peek
      // without blocking: nothing there yet means keep watching.
      char byte;
      const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return watch_for_disconnect();
      if (n > 0) return;
    }
    on_client_gone();
    flush();
  }

  // Only while no write is in flight: cancel() ends every operation on the socket.
  void stop_watching() {
    if (!watching_) return;
    watching_ = false;
    ++watch_;
    beast::error_code ec;
    stream_.socket().cancel(ec);
  }

  void on_client_gone() {
    if (client_gone_) return;
    client_gone_ = true;
    pending_.clear();
    if (request_id_) environment_.router.engine().cancel(*request_id_);
    // Otherwise on_submitted() cancels it; either way the request's last event ends it.
  }

  // Closing ---------------------------------------------------------------------------------

  void close_after_response() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLingerTimeout);
    linger();
  }

  void linger() {
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->linger();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  const ConnectionEnvironment& environment_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<bhttp::response<bhttp::string_body>> response_;  // while it is written
  bool keep_alive_ = false;

  // The generation in progress.
  std::unique_ptr<GenerationJob> job_;
  std::optional<uint64_t> request_id_;  // once the engine accepted it
  bool client_gone_ = false;
  bool writing_ = false;
  std::string pending_;    // bytes of events not yet written
  std::string in_flight_;  // bytes being written
  std::optional<bhttp::response<bhttp::empty_body>> stream_head_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> head_serializer_;
  bool last_chunk_sent_ = false;
  bool watching_ = false;
  uint64_t watch_ = 0;  // tells a cancelled wait from the current one

  std::array<char, 4096> discard_;
};

}  // namespace

void serve_connection(tcp::socket socket, const ConnectionEnvironment& environment) {
  std::make_shared<Connection>(std::move(socket), environment)->start();
}

}  // namespace strata::http
