#include "fca/http/server.hpp"

#include <ostream>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "fca/core/clock.hpp"
#include "tls_impl.hpp"

namespace fca::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A fixed pool with a bounded queue: a burst of signing work waits here, not on the I/O threads,
// and beyond the bound it is refused instead of piling up.
class WorkerPool {
 public:
  WorkerPool(int threads, std::size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~WorkerPool() { stop(); }

  bool try_post(std::function<void()> job) {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
    wake_.notify_one();
    return true;
  }

  // Drops what has not started; waits for the jobs running now.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queue_.clear();
      wake_.notify_all();
    }
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  std::size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// "Date" changes once a second; formatting it per response is measurable at 50k responses/s.
std::string date_now() {
  thread_local std::int64_t second = -1;
  thread_local std::string text;
  const auto now = std::chrono::system_clock::now();
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (s != second) {
    second = s;
    text = http_date(now);
  }
  return text;
}

std::string_view reason_of(int status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status));
}

}  // namespace

struct ListenerState {
  ListenerSpec spec;
  tcp::acceptor acceptor;
  asio::steady_timer retry;  // after a failed accept (out of descriptors): wait, do not spin
  std::atomic<std::size_t> connections{0};
  mutable std::mutex tls_mutex;
  std::shared_ptr<TlsContext> tls;
  std::string label;  // "127.0.0.1:8080", for log lines
  Clock::time_point last_refusal_log{};

  ListenerState(asio::io_context& io, ListenerSpec s) : spec(std::move(s)), acceptor(io), retry(io), tls(spec.tls) {}
  std::shared_ptr<TlsContext> current_tls() const {
    std::lock_guard lock(tls_mutex);
    return tls;
  }
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void request_stop() = 0;  // at shutdown; the session acts on its own strand
};

struct Server::Impl {
  ServerSettings settings;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<spdlog::logger> access;
  std::atomic<bool> stopping{false};

  // Declared before the io_context: sessions that die while it is destroyed still unregister here.
  std::mutex sessions_mutex;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  std::condition_variable sessions_gone;

  // One event loop per I/O thread, each connection on one of them (round robin at accept): a
  // connection's handlers never wake another thread. One loop run by every thread handed
  // completions between them: 0.47 futex calls per answer at 8 keep-alive connections.
  // The loops reach into each other: a connection on any loop holds its listener, whose acceptor
  // is on loops[0], and an accept on loops[0] holds a socket for another loop. So every loop drops
  // what it still holds (shutdown) before any of them is destroyed; Asio's own destructor shuts
  // down again, which it allows.
  struct Loop : asio::io_context {
    using io_context::io_context;
    using io_context::shutdown;
  };
  struct Loops {
    std::vector<std::unique_ptr<Loop>> all;
    ~Loops() {
      for (auto& loop : all) loop->shutdown();
    }
  } loops;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;  // until shutdown
  std::size_t next_loop = 0;  // used by accept handlers only, which all run on loops[0]
  std::vector<std::shared_ptr<ListenerState>> listeners;
  std::vector<std::thread> io_threads;
  std::unique_ptr<WorkerPool> pool;
  bool started = false;
  bool shut_down = false;

  void accept(const std::shared_ptr<ListenerState>& listener);
  void refuse(const std::shared_ptr<ListenerState>& listener, tcp::socket socket);

  void add_session(SessionBase* key, std::weak_ptr<SessionBase> session) {
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(key, std::move(session));
  }
  void remove_session(SessionBase* key) {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(key);
    if (sessions.empty()) sessions_gone.notify_all();
  }
};

namespace {

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  // Plain HTTP.
  Session(Server::Impl& server, std::shared_ptr<ListenerState> listener, tcp::socket socket)
    requires(!kTls)
      : server_(server), listener_(std::move(listener)), stream_(std::move(socket)), timer_(stream_.get_executor()) {
    init();
  }
  // TLS: the session keeps the context it started with, whatever replace_tls does meanwhile.
  Session(Server::Impl& server, std::shared_ptr<ListenerState> listener, tcp::socket socket, std::shared_ptr<TlsContext> tls)
    requires(kTls)
      : server_(server),
        listener_(std::move(listener)),
        tls_(std::move(tls)),
        stream_(std::move(socket), tls_->impl().context),
        timer_(stream_.get_executor()) {
    init();
  }

  ~Session() override {
    listener_->connections.fetch_sub(1);
    server_.remove_session(this);
  }

  void start() {
    server_.add_session(this, this->weak_from_this());
    if constexpr (kTls) {
      phase_ = Phase::handshake;
      arm(server_.settings.limits.request_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        self->on_handshake(ec);
      });
    } else {
      wait_for_request();
    }
  }

  void request_stop() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->stop(); });
  }

  void stop() {
    stopping_ = true;
    // Between requests, or mid-handshake: nothing is in flight, close now. A request being read,
    // handled or answered finishes (within the grace time) and its connection closes after.
    if (phase_ == Phase::idle || phase_ == Phase::handshake) close();
  }

 private:
  enum class Phase { handshake, idle, reading, handling, writing, closing, closed };

  void init() {
    keep_alive_header_ = "Keep-Alive: timeout=" +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(server_.settings.limits.idle_timeout).count()) +
                         "\r\n";
    beast::error_code ec;
    const auto remote = beast::get_lowest_layer(stream_).remote_endpoint(ec);
    if (!ec) {
      peer_ = remote.address().is_v6() ? "[" + remote.address().to_string() + "]:" + std::to_string(remote.port())
                                       : remote.address().to_string() + ":" + std::to_string(remote.port());
    } else {
      peer_ = "?";
    }
    beast::get_lowest_layer(stream_).set_option(tcp::no_delay(true), ec);
  }

  tcp::socket& socket() { return beast::get_lowest_layer(stream_); }

  // One deadline per connection. Moving it is a store: the asio timer is only re-armed when the new
  // deadline is earlier than the wait already running, and a wait that fires early re-arms for
  // the current deadline, so a keep-alive request does not reprogram the reactor's timer three times.
  void arm(std::chrono::milliseconds after) {
    deadline_ = Clock::now() + after;
    deadline_set_ = true;
    if (timer_pending_ && timer_expiry_ <= deadline_) return;
    start_timer(deadline_);
  }
  void start_timer(Clock::time_point at) {
    timer_expiry_ = at;
    timer_pending_ = true;
    timer_.expires_at(at);  // a wait already running completes with operation_aborted
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // superseded, or the connection closed
      self->timer_pending_ = false;
      self->on_timer();
    });
  }
  void on_timer() {
    if (phase_ == Phase::closed || !deadline_set_) return;
    if (Clock::now() < deadline_) return start_timer(deadline_);
    deadline_set_ = false;
    on_timeout();
  }
  void disarm() { deadline_set_ = false; }

  void on_timeout() {
    switch (phase_) {
      case Phase::reading:
        // The whole-request deadline: cancel the read; its handler answers 408.
        deadline_hit_ = true;
        socket().cancel();
        break;
      case Phase::handling: break;  // a worker is on it; its answer is bounded by the write deadline
      default: close(); break;      // idle keep-alive, a handshake or a write that took too long
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return close();
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      const auto add = [this](X509* cert) {
        const int len = i2d_X509(cert, nullptr);
        if (len <= 0) return;
        std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
        unsigned char* p = der.data();
        i2d_X509(cert, &p);
        client_chain_.push_back(std::move(der));
        X509_up_ref(cert);
        client_certificates_.emplace_back(cert, X509_free);
      };
      channel_binding(ssl);
      if (X509* leaf = SSL_get0_peer_certificate(ssl)) {
        add(leaf);
        // On a server the peer chain excludes the leaf.
        if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
          for (int i = 0; i < sk_X509_num(chain); ++i) add(sk_X509_value(chain, i));
        }
      }
    }
    wait_for_request();
  }

  void wait_for_request() {
    if (stopping_ || server_.stopping) return close();
    phase_ = Phase::idle;
    if (buffer_.size() > 0) return read_request();  // pipelined: the next request is already here
    arm(server_.settings.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_request();
    });
  }

  void read_request() {
    phase_ = Phase::reading;
    deadline_hit_ = false;
    started_ = Clock::now();
    arm(server_.settings.limits.request_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.settings.limits.max_header_bytes));
    parser_->body_limit(server_.settings.limits.max_body_bytes);
    bhttp::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_header(ec);
    });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& header = parser_->get();
    // RFC 9112 3.2: a 1.1 request without exactly one Host is a 400.
    const auto hosts = header.count(bhttp::field::host);
    if ((header.version() >= 11 && hosts == 0) || hosts > 1) return refuse(400, "Host header missing or repeated");
    // Beast accepts repeated Content-Length headers that agree; a request smuggler relies on exactly
    // such leniency somewhere along the path, so only one plain value passes.
    if (const auto lengths = header.count(bhttp::field::content_length); lengths > 1) {
      return refuse(400, "Content-Length repeated");
    } else if (lengths == 1 && header[bhttp::field::content_length].find(',') != std::string_view::npos) {
      return refuse(400, "Content-Length is a list");
    }
    if (auto te = header.find(bhttp::field::transfer_encoding); te != header.end()) {
      std::string_view value = te->value();
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      if (!iequals(value, "chunked")) {
        // Only chunked is understood; a coding before it would have to be inflated.
        const bool chunked_last = value.size() >= 7 && iequals(value.substr(value.size() - 7), "chunked");
        return refuse(chunked_last ? 501 : 400, "Transfer-Encoding other than chunked");
      }
    }
    // No request content-coding is taken: nothing is ever inflated (a 1 KB brotli body can be 1 GB).
    if (auto coding = header.find(bhttp::field::content_encoding); coding != header.end()) {
      if (!iequals(coding->value(), "identity")) return refuse(415, "request Content-Encoding is not accepted");
    }
    if (parser_->is_done()) return on_request();
    if (auto expect = header.find(bhttp::field::expect); expect != header.end() && iequals(expect->value(), "100-continue")) {
      // The limits were checked against Content-Length already; tell the client to send the body.
      interim_ = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(interim_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(beast::error_code ec) {
    if (deadline_hit_) return refuse(408, "request not complete within the deadline");
    if (ec == bhttp::error::header_limit) return refuse(431, "request header block over the limit");
    if (ec == bhttp::error::body_limit) return refuse(413, "request body over the limit");
    if (ec == bhttp::error::buffer_overflow) return refuse(431, "request header block over the limit");
    if (ec.category() == beast::error_code(bhttp::error::header_limit).category()) {
      // end_of_stream before any byte of a request is a client that closed: nothing to answer.
      if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return close();
      return refuse(400, "malformed request: " + ec.message());
    }
    close();  // the socket failed or the peer went away
  }

  // An answer the transport gives itself (limits, framing): logged, then the connection is closed,
  // since what follows on it cannot be trusted to be a request boundary.
  void refuse(int status, const std::string& reason) {
    if (server_.log->should_log(spdlog::level::warn)) {
      server_.log->warn("http {} from {}: {} ({})", listener_->label, peer_, status, reason);
    }
    Response response = text_response(status, reason);
    keep_alive_ = false;
    head_ = false;
    const std::string method = parser_ ? std::string(parser_->get().method_string()) : "-";
    const std::string target = parser_ ? std::string(parser_->get().target()) : "-";
    send(std::move(response), method, target);
  }

  // RFC 9266: TLS 1.3 exports 32 bytes under "EXPORTER-Channel-Binding" with an empty context. RFC 5929
  // tls-unique: the first Finished message of the latest handshake, the client's in a full handshake,
  // the server's in a resumed one.
  void channel_binding(SSL* ssl) {
    if (SSL_version(ssl) == TLS1_3_VERSION) {
      static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
      channel_binding_.resize(32);
      if (SSL_export_keying_material(ssl, channel_binding_.data(), channel_binding_.size(), kLabel, sizeof kLabel - 1,
                                     nullptr, 0, 0) == 1) {
        channel_binding_type_ = "tls-exporter";
      } else {
        channel_binding_.clear();
      }
      return;
    }
    // Without the extended master secret (RFC 7627) tls-unique can be the same on two connections
    // (the triple handshake attack): no binding then, so a label that requires one refuses.
    if (SSL_get_extms_support(ssl) != 1) return;
    unsigned char finished[EVP_MAX_MD_SIZE];
    const std::size_t n = SSL_session_reused(ssl) ? SSL_get_finished(ssl, finished, sizeof finished)
                                                  : SSL_get_peer_finished(ssl, finished, sizeof finished);
    if (n == 0 || n > sizeof finished) return;
    channel_binding_.assign(finished, finished + n);
    channel_binding_type_ = "tls-unique";
  }

  void on_request() {
    phase_ = Phase::handling;
    disarm();
    auto message = parser_->release();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.headers.reserve(8);
    for (const auto& field : message) request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    request.body = std::move(message.body());
    request.peer = peer_;
    request.tls = kTls;
    request.client_chain = client_chain_;
    request.client_certificates = client_certificates_;
    request.channel_binding_type = channel_binding_type_;
    request.channel_binding = channel_binding_;
    ++served_;
    http10_ = message.version() < 11;
    keep_alive_ = message.keep_alive() && served_ < server_.settings.limits.max_requests_per_connection;
    head_ = request.method == "HEAD";
    std::string asked = request.method;
    const auto& router = *listener_->spec.router;

    Dispatch dispatch;
    try {
      dispatch = router.route(request);
    } catch (const std::exception& e) {
      server_.log->error("routing {}: {}", escape_for_log(request.target, 128), e.what());
      dispatch.now = text_response(500);
    }
    if (dispatch.now) return send(std::move(*dispatch.now), asked, request.target);

    auto job = [self = this->shared_from_this(), request = std::move(request), handler = std::move(dispatch.later),
                &router, asked]() mutable {
      Response response = router.guarded(handler, request);
      asio::post(self->stream_.get_executor(), [self, response = std::move(response), method = std::move(asked),
                                                target = std::move(request.target)]() mutable {
        self->send(std::move(response), method, target);
      });
    };
    if (!server_.pool->try_post(std::move(job))) {
      Response busy = text_response(503, "busy, try again");
      busy.set("Retry-After", "1");
      server_.log->warn("http {} from {}: 503 (worker queue full)", listener_->label, peer_);
      send(std::move(busy), asked, "-");
    }
  }

  void send(Response response, const std::string& method, const std::string& target) {
    if (phase_ == Phase::closed) return;
    if (response.close_without_answer) {
      if (server_.access) server_.access->info("{} {} {} closed", peer_, escape_for_log(method, 16), escape_for_log(target, 256));
      return close();
    }
    phase_ = Phase::writing;
    if (stopping_ || server_.stopping) keep_alive_ = false;
    const bool no_body = response.status == 204 || response.status == 304 || (response.status >= 100 && response.status < 200);
    out_.clear();
    out_.reserve(256 + response.body.size());
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(response.status);
    out_ += ' ';
    out_ += reason_of(response.status);
    out_ += "\r\n";
    for (const auto& [name, value] : response.headers) {
      if (iequals(name, "Content-Length") || iequals(name, "Connection") || iequals(name, "Date") ||
          iequals(name, "Transfer-Encoding")) {
        continue;  // the transport's own
      }
      out_ += name;
      out_ += ": ";
      out_ += value;
      out_ += "\r\n";
    }
    out_ += "Date: ";
    out_ += date_now();
    out_ += "\r\n";
    if (kTls && listener_->spec.hsts_max_age_seconds > 0) {
      out_ += "Strict-Transport-Security: max-age=" + std::to_string(listener_->spec.hsts_max_age_seconds) + "\r\n";
    }
    if (!no_body) {
      // HEAD gets the length the GET would have had.
      out_ += "Content-Length: ";
      out_ += std::to_string(response.body.size());
      out_ += "\r\n";
    }
    if (!keep_alive_) {
      out_ += "Connection: close\r\n";
    } else {
      if (http10_) out_ += "Connection: keep-alive\r\n";  // 1.0 clients close unless told
      // Tells clients when an idle connection goes, so they do not race its close with a request.
      out_ += keep_alive_header_;
    }
    out_ += "\r\n";
    pending_ = std::move(response);
    if (no_body || head_) pending_.body.clear();

    if (server_.access) {
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
      server_.access->info("{} {} {} {} {} {}us", peer_, escape_for_log(method, 16), escape_for_log(target, 256),
                           pending_.status, pending_.body.size(), micros);
    }
    arm(server_.settings.limits.write_timeout);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(out_), asio::buffer(pending_.body)};
    asio::async_write(stream_, buffers, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->disarm();
      self->release_memory();
      if (!self->keep_alive_) return self->linger();
      self->wait_for_request();
    });
  }

  // A connection that once carried a large body or answer does not keep that memory while idle.
  void release_memory() {
    pending_ = Response();
    if (out_.capacity() > 4096) std::string().swap(out_);
    if (buffer_.size() == 0 && buffer_.capacity() > 16 * 1024) buffer_.shrink_to_fit();
  }

  // Closing right after an early answer (413 while the client still sends) would make the kernel
  // reset the connection and drop the answer before the client reads it: stop sending, read and
  // discard for a short, bounded while, then close.
  void linger() {
    phase_ = Phase::closing;
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    arm(std::chrono::seconds(1));
    discard_ = std::make_unique<std::array<char, 4096>>();
    drain();
  }
  void drain() {
    socket().async_read_some(asio::buffer(*discard_), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      self->discarded_ += n;
      if (ec || self->discarded_ > 1024 * 1024 || self->phase_ == Phase::closed) return self->close();
      self->drain();
    });
  }

  void close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    disarm();
    timer_.cancel();  // the pending wait holds the session
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

  Server::Impl& server_;
  std::shared_ptr<ListenerState> listener_;
  std::shared_ptr<TlsContext> tls_;
  Stream stream_;
  asio::steady_timer timer_;
  Clock::time_point deadline_{};
  Clock::time_point timer_expiry_{};
  bool deadline_set_ = false;
  bool timer_pending_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string out_;
  std::string interim_;
  std::string keep_alive_header_;
  std::unique_ptr<std::array<char, 4096>> discard_;  // only while lingering: idle connections stay small
  Response pending_;                                 // the response being written (its body is not copied)
  std::size_t discarded_ = 0;
  std::string peer_;
  std::vector<std::vector<std::uint8_t>> client_chain_;
  std::vector<std::shared_ptr<X509>> client_certificates_;
  std::string channel_binding_type_;
  std::vector<std::uint8_t> channel_binding_;
  Phase phase_ = Phase::idle;
  Clock::time_point started_ = Clock::now();
  std::size_t served_ = 0;
  bool keep_alive_ = true;
  bool head_ = false;
  bool http10_ = false;
  bool deadline_hit_ = false;
  bool stopping_ = false;
};

}  // namespace

void Server::Impl::refuse(const std::shared_ptr<ListenerState>& listener, tcp::socket socket) {
  // Over the connection cap: a clear answer for plain HTTP clients (TLS ones just see the close),
  // sent without waiting: it fits any socket buffer, and a peer that does not read loses it.
  if (!listener->spec.tls) {
    const std::string busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nDate: " + date_now() +
                             "\r\nRetry-After: 1\r\nContent-Length: 26\r\nConnection: close\r\n\r\n"
                             "503: too many connections\n";
    ::send(socket.native_handle(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  const auto now = Clock::now();
  if (now - listener->last_refusal_log > std::chrono::seconds(1)) {  // a flood must not flood the log
    listener->last_refusal_log = now;
    log->warn("http {}: connection refused, {} open (serve.max_connections)", listener->label, listener->connections.load());
  }
}

void Server::Impl::accept(const std::shared_ptr<ListenerState>& listener) {
  auto& loop = *loops.all[next_loop++ % loops.all.size()];
  listener->acceptor.async_accept(asio::make_strand(loop), [this, listener](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !listener->acceptor.is_open()) return;
    if (!ec) {
      if (stopping) {
        beast::error_code ignored;
        socket.close(ignored);
      } else if (listener->connections.load() >= settings.limits.max_connections) {
        refuse(listener, std::move(socket));
      } else {
        listener->connections.fetch_add(1);
        try {
          if (auto tls = listener->current_tls()) {
            auto session = std::make_shared<Session<asio::ssl::stream<tcp::socket>>>(*this, listener, std::move(socket), std::move(tls));
            session->start();
          } else {
            auto session = std::make_shared<Session<tcp::socket>>(*this, listener, std::move(socket));
            session->start();
          }
        } catch (const std::exception& e) {
          log->error("http {}: cannot start a connection: {}", listener->label, e.what());
        }
      }
    } else {
      const auto now = Clock::now();
      if (now - listener->last_refusal_log > std::chrono::seconds(1)) {
        listener->last_refusal_log = now;
        log->error("http {}: accept failed: {}", listener->label, ec.message());
      }
      listener->retry.expires_after(std::chrono::milliseconds(100));
      listener->retry.async_wait([this, listener](beast::error_code) {
        if (!stopping) accept(listener);
      });
      return;
    }
    accept(listener);
  });
}

Server::Server(ServerSettings settings, std::shared_ptr<spdlog::logger> log, std::shared_ptr<spdlog::logger> access)
    : impl_(std::make_unique<Impl>()) {
  impl_->settings = settings;
  impl_->log = std::move(log);
  impl_->access = std::move(access);
  for (int i = 0; i < std::max(1, settings.io_threads); ++i) {
    impl_->loops.all.push_back(std::make_unique<Impl::Loop>(1));
    impl_->keep_running.push_back(asio::make_work_guard(*impl_->loops.all.back()));
  }
}

Server::~Server() {
  if (impl_->started && !impl_->shut_down) shutdown(std::chrono::milliseconds(0));
  if (impl_->pool) impl_->pool->stop();
}

std::expected<int, std::string> Server::listen(ListenerSpec spec) {
  auto state = std::make_shared<ListenerState>(*impl_->loops.all.front(), std::move(spec));
  const auto& s = state->spec;
  const bool v6 = s.address.find(':') != std::string::npos;
  state->label = (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
  beast::error_code ec;
  const auto address = asio::ip::make_address(s.address, ec);
  if (ec) return std::unexpected("cannot listen on " + state->label + ": not an IP address");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.port));
  auto& acceptor = state->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR for a quick restart; never SO_REUSEPORT, which would let a second server share the port.
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && v6) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::unexpected("cannot listen on " + state->label + " (" + ec.message() + ")");
  const int port = acceptor.local_endpoint().port();
  state->label = (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(port);
  impl_->listeners.push_back(std::move(state));
  return port;
}

void Server::start() {
  auto& impl = *impl_;
  impl.pool = std::make_unique<WorkerPool>(std::max(1, impl.settings.worker_threads), impl.settings.worker_queue);
  for (auto& listener : impl.listeners) impl.accept(listener);
  impl.started = true;
  for (auto& loop : impl.loops.all) {
    impl.io_threads.emplace_back([&impl, &loop = *loop] {
      for (;;) {
        try {
          loop.run();
          return;
        } catch (const std::exception& e) {
          impl.log->error("http: I/O thread: {}", e.what());  // a bug in a handler; the thread carries on
        }
      }
    });
  }
}

void Server::shutdown(std::chrono::milliseconds grace) {
  auto& impl = *impl_;
  if (impl.shut_down) return;
  impl.shut_down = true;
  impl.stopping = true;
  // Stop accepting at once.
  for (auto& listener : impl.listeners) {
    asio::post(*impl.loops.all.front(), [listener] {
      beast::error_code ec;
      listener->acceptor.close(ec);
      listener->retry.cancel();
    });
  }
  // Idle connections close now; the others when their answer is written.
  // Collected under the lock, told outside it: the last reference may be dropped here, and a
  // session's destructor takes the same lock.
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard lock(impl.sessions_mutex);
    for (auto& [key, weak] : impl.sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (auto& session : open) session->request_stop();
  open.clear();
  {
    std::unique_lock lock(impl.sessions_mutex);
    impl.sessions_gone.wait_for(lock, grace, [&impl] { return impl.sessions.empty(); });
  }
  // Whatever is left (a client that never finishes its request) is abandoned with the event loop.
  for (auto& loop : impl.loops.all) loop->stop();
  for (auto& t : impl.io_threads) {
    if (t.joinable()) t.join();
  }
  if (impl.pool) impl.pool->stop();
}

void Server::replace_tls(std::size_t index, std::shared_ptr<TlsContext> tls) {
  auto& listener = *impl_->listeners.at(index);
  std::lock_guard lock(listener.tls_mutex);
  listener.tls = std::move(tls);
}

std::size_t Server::connections(std::size_t index) const { return impl_->listeners.at(index)->connections.load(); }

}  // namespace fca::http
