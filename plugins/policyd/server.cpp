// server.cpp - authguard-policyd's listeners, event loop and workers (see
// server.hpp). Everything protocol-specific is in lib/policy; everything
// the detector decides is in lib/policy/service.cpp.
#include "server.hpp"

#include "authguard/event.hpp"
#include "authguard/json.hpp"
#include "authguard/policy/dovecot.hpp"
#include "authguard/policy/http.hpp"
#include "authguard/policy/postfix.hpp"
#include "authguard/policy/service.hpp"
#include "authguard/store.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <optional>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <variant>

namespace authguard::policyd {

namespace {

std::string sys_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// The daemon's own news (start, reload, a control file it cannot use) goes
// to stderr as well, for the run script's multilog or the journal; the
// decisions go where the hooks' go (syslog, log-file).
void announce(Logger& logger, Logger::Level level, const std::string& line) {
    logger.write(level, line);
    std::string_view own = line;
    if (own.starts_with("policyd: ")) own.remove_prefix(9);
    std::string text = "authguard-policyd: " + std::string(own) + "\n";
    [[maybe_unused]] auto w = ::write(2, text.data(), text.size());
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

Listener listen_unix(const std::string& path, Protocol protocol, const ListenOptions& options) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.front() != '/' || path.size() >= sizeof sa.sun_path)
        throw ListenSyntaxError("unix:" + path + ": wants an absolute path of at most " +
                                std::to_string(sizeof sa.sun_path - 1) + " bytes");
    std::memcpy(sa.sun_path, path.data(), path.size());
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) throw std::runtime_error(sys_error("socket"));
    // A socket left by a previous run is replaced; anything else at the
    // path is not ours to remove.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error("unix:" + path + ": exists and is not a socket");
        ::unlink(path.c_str());
    }
    // The mode is set before anyone can connect: bind under a umask that
    // leaves it closed, then open it up to exactly the mode asked for.
    mode_t old = ::umask(0177);
    int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::umask(old);
    if (rc != 0)
        throw std::runtime_error(
            sys_error("unix:" + path + ": bind") +
            (errno == EACCES ? " (the daemon's user cannot create files in that directory: "
                               "Postfix's private/ is postfix's own; use a directory the daemon "
                               "owns, or check_policy_service inet:127.0.0.1:PORT)"
                             : ""));
    if (options.unix_group != static_cast<gid_t>(-1) &&
        ::chown(path.c_str(), static_cast<uid_t>(-1), options.unix_group) != 0)
        throw std::runtime_error(
            sys_error("unix:" + path + ": chgrp") +
            " (only root, or a member of that group, may give the socket its group: add the "
            "daemon's user to it, or start the daemon as root)");
    if (::chmod(path.c_str(), options.unix_mode) != 0)
        throw std::runtime_error(sys_error("unix:" + path + ": chmod"));
    if (::listen(fd.get(), 256) != 0)
        throw std::runtime_error(sys_error("unix:" + path + ": listen"));
    return {std::move(fd), protocol, "unix:" + path};
}

Listener listen_tcp(const std::string& spec, const std::string& where, Protocol protocol) {
    std::string host, port;
    if (!where.empty() && where.front() == '[') {
        auto close = where.find("]:");
        if (close == std::string::npos) throw ListenSyntaxError(spec + ": wants [ADDRESS]:PORT");
        host = where.substr(1, close - 1);
        port = where.substr(close + 2);
    } else {
        auto colon = where.rfind(':');
        if (colon == std::string::npos) throw ListenSyntaxError(spec + ": wants HOST:PORT");
        host = where.substr(0, colon);
        port = where.substr(colon + 1);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
        rc != 0)
        throw std::runtime_error(spec + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
    Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) throw std::runtime_error(sys_error(spec + ": socket"));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0)
        throw std::runtime_error(sys_error(spec + ": bind"));
    if (::listen(fd.get(), 256) != 0) throw std::runtime_error(sys_error(spec + ": listen"));
    return {std::move(fd), protocol, spec};
}

// ---- the work passed between the loop and the workers ----------------

struct Job {
    std::uint64_t connection = 0;
    std::variant<policy::PostfixRequest, policy::HttpRequest> request;
};

struct Done {
    std::uint64_t connection = 0;
    std::string bytes;
    bool close_after = false;
};

// The configuration in force; a reload swaps it, workers pick it up at
// their next request.
class ConfigSlot {
  public:
    // nullptr: no usable configuration (the file does not parse and no
    // last valid copy exists): every request is answered unchecked.
    explicit ConfigSlot(std::shared_ptr<const Config> config) : config_(std::move(config)) {}
    std::shared_ptr<const Config> get() {
        std::lock_guard lock(mutex_);
        return config_;
    }
    void set(std::shared_ptr<const Config> fresh) {
        std::lock_guard lock(mutex_);
        config_ = std::move(fresh);
    }

  private:
    std::mutex mutex_;
    std::shared_ptr<const Config> config_;
};

class Queues {
  public:
    explicit Queues(int wake_fd) : wake_fd_(wake_fd) {}
    void push_job(Job job) {
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back(std::move(job));
        }
        job_ready_.notify_one();
    }
    // nullopt once stopping and nothing is left.
    std::optional<Job> pop_job() {
        std::unique_lock lock(mutex_);
        job_ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return std::nullopt;
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        return job;
    }
    void push_done(Done done) {
        {
            std::lock_guard lock(mutex_);
            done_.push_back(std::move(done));
        }
        std::uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
    }
    std::deque<Done> take_done() {
        std::lock_guard lock(mutex_);
        return std::exchange(done_, {});
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        job_ready_.notify_all();
    }

  private:
    int wake_fd_;
    std::mutex mutex_;
    std::condition_variable job_ready_;
    std::deque<Job> jobs_;
    std::deque<Done> done_;
    bool stopping_ = false;
};

// ---- a worker -------------------------------------------------------------

class Worker {
  public:
    Worker(ConfigSlot& configs, Queues& queues, policy::SessionMemory& memory)
        : configs_(configs), queues_(queues), memory_(memory) {}

    void run() {
        while (auto job = queues_.pop_job()) {
            Done done;
            done.connection = job->connection;
            try {
                prepare();
                if (!service_) {
                    done.bytes = unchecked_answer(*job);
                    queues_.push_done(std::move(done));
                    continue;
                }
                if (auto* postfix = std::get_if<policy::PostfixRequest>(&job->request))
                    done.bytes = policy::postfix_reply(answer_postfix(*postfix));
                else
                    done =
                        answer_http(job->connection, std::get<policy::HttpRequest>(job->request));
            } catch (const std::exception& e) {
                // Fail open, as every hook does: the mail goes on.
                logger_.write(Logger::Level::error,
                              std::string("policyd: internal error, no check: ") + e.what());
                if (std::holds_alternative<policy::PostfixRequest>(job->request))
                    done.bytes = policy::postfix_reply("DUNNO");
                else
                    done.bytes = policy::http_response(200, "application/json",
                                                       policy::dovecot_answer(0, ""), true);
            }
            queues_.push_done(std::move(done));
        }
    }

  private:
    // Without a usable configuration nothing is judged and no store is
    // opened (the defaults would open a new, empty LMDB store and let every
    // locked account in without a word): the mail goes on, and it is said
    // at most every 10 s.
    std::string unchecked_answer(const Job& job) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_unchecked_log_ > std::chrono::seconds(10)) {
            last_unchecked_log_ = now;
            announce(logger_, Logger::Level::error,
                     "policyd: no usable configuration (control/authguard does not parse and "
                     "there is no last valid copy): answering without any check until it is "
                     "fixed");
        }
        if (std::holds_alternative<policy::PostfixRequest>(job.request))
            return policy::postfix_reply("DUNNO");
        bool keep = std::get<policy::HttpRequest>(job.request).keep_alive;
        return policy::http_response(200, "application/json", policy::dovecot_answer(0, ""), keep);
    }

    // The store and service of the configuration in force.
    void prepare() {
        auto current = configs_.get();
        if (current == config_ && (service_ || !current)) return;
        service_.reset();
        store_.reset();
        config_ = std::move(current);
        if (!config_) return;
        if (!config_->log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
            logger_.set_copy_path(config_->log_file);
        store_ = open_store(*config_);
        service_ = std::make_unique<policy::Service>(*config_, *store_, logger_, memory_);
    }

    std::string answer_postfix(const policy::PostfixRequest& request) {
        return service_->answer_postfix(request);
    }

    Done answer_http(std::uint64_t connection, const policy::HttpRequest& request) {
        Done done;
        done.connection = connection;
        bool keep = request.keep_alive;
        auto reply = [&](int status, const std::string& body) {
            done.bytes = policy::http_response(status, "application/json", body, keep);
            done.close_after = !keep;
        };
        if (request.method != "POST") {
            keep = false;
            reply(405, R"({"error":"POST only"})");
            return done;
        }
        if (!policy::basic_auth_matches(request.header("authorization"),
                                        config_->policyd.dovecot_secret)) {
            logger_.write(Logger::Level::warning,
                          "policyd dovecot: request without the right Authorization "
                          "(dovecot-policy-secret, auth_policy_server_api_header): 401");
            reply(401, R"({"error":"unauthorized"})");
            return done;
        }
        policy::DovecotRequest parsed;
        try {
            parsed = policy::parse_dovecot_request(request);
        } catch (const policy::ProtocolError& e) {
            logger_.write(Logger::Level::warning, std::string("policyd dovecot: bad request: ") +
                                                      escape_for_log(e.what(), 256) + ": 400");
            reply(400, "{\"error\":" + json::quote(e.what()) + "}");
            return done;
        }
        policy::DovecotAnswer answer = service_->answer_dovecot(parsed);
        reply(200, policy::dovecot_answer(answer.status, answer.message));
        return done;
    }

    ConfigSlot& configs_;
    Queues& queues_;
    policy::SessionMemory& memory_;
    Logger logger_;
    std::shared_ptr<const Config> config_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<policy::Service> service_;
    std::chrono::steady_clock::time_point last_unchecked_log_{};
};

// ---- connections ------------------------------------------------------------

struct Connection {
    Fd fd;           // the socket; in spawn mode fd 0
    int out_fd = -1; // where answers go: fd, or fd 1 in spawn mode
    Protocol protocol = Protocol::postfix;
    policy::PostfixReader postfix;
    policy::HttpReader http;
    std::string out;
    bool busy = false;        // a request is with a worker
    bool closing = false;     // close once `out` is written
    bool peer_closed = false; // nothing more will come
    bool abandoned = false;   // closed while busy: the answer is dropped
    long requests = 0;
    std::chrono::steady_clock::time_point last_activity;
    Connection(Fd socket, int output, Protocol p, std::size_t max_bytes)
        : fd(std::move(socket)), out_fd(output), protocol(p),
          postfix(policy::PostfixLimits{max_bytes, 256}),
          http(policy::HttpLimits{16384, max_bytes}) {}
};

constexpr std::size_t max_output_bytes = 1 << 20; // a client that does not read

class Loop {
  public:
    Loop(std::vector<Listener> listeners, const ServerOptions& options, Logger& logger,
         ConfigSlot& configs)
        : listeners_(std::move(listeners)), options_(options), logger_(logger), configs_(configs) {}

    int run();

  private:
    void watch(int fd, std::uint32_t events, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
            throw std::runtime_error(sys_error("epoll_ctl"));
    }
    void accept_from(const Listener& listener);
    void add_connection(Fd fd, int out_fd, Protocol protocol);
    void on_readable(std::uint64_t id);
    void on_writable(std::uint64_t id);
    void pump(std::uint64_t id); // hands on the next buffered request, if any
    void flush(std::uint64_t id);
    void close_connection(std::uint64_t id);
    void sweep_idle();
    void maybe_reload(bool forced);

    // epoll tags: listeners 1..n, the wake eventfd, the signalfd; connections from
    // first_connection_tag.
    static constexpr std::uint64_t wake_tag = 1ULL << 62, signal_tag = wake_tag + 1;
    static constexpr std::uint64_t first_connection_tag = 1ULL << 32;

    std::vector<Listener> listeners_;
    const ServerOptions& options_;
    Logger& logger_;
    ConfigSlot& configs_;
    Fd epoll_, wake_, signals_;
    std::unique_ptr<Queues> queues_;
    std::unordered_map<std::uint64_t, Connection> connections_;
    std::uint64_t next_id_ = first_connection_tag;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point last_refusal_log_{};
    struct stat control_stat_ {};
    std::chrono::steady_clock::time_point next_control_check_{};
};

bool same_stat(const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

struct stat control_file_stat(const std::filesystem::path& dir) {
    struct stat st {};
    ::stat((dir / "authguard").c_str(), &st);
    struct stat allow {};
    // The allowlist file counts as part of the configuration.
    if (::stat((dir / "authguard-allow").c_str(), &allow) == 0) {
        st.st_size ^= allow.st_size;
        st.st_mtim.tv_nsec ^= allow.st_mtim.tv_nsec;
        st.st_mtim.tv_sec ^= allow.st_mtim.tv_sec;
    }
    return st;
}

void Loop::maybe_reload(bool forced) {
    auto now = std::chrono::steady_clock::now();
    if (!forced && now < next_control_check_) return;
    next_control_check_ = now + std::chrono::seconds(2);
    struct stat st = control_file_stat(options_.control_dir);
    if (!forced && same_stat(st, control_stat_)) return;
    control_stat_ = st;
    try {
        Config fresh = load_config(options_.control_dir);
        // The worker pool was sized for the store kind at the start (LMDB:
        // one environment per process, one worker).
        if (fresh.store.kind != options_.store_kind) {
            announce(logger_, Logger::Level::error,
                     "policyd: control/authguard changes the kind of store; restart the daemon "
                     "for that. Keeping the configuration in force");
            return;
        }
        if (!fresh.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
            logger_.set_copy_path(fresh.log_file);
        configs_.set(std::make_shared<const Config>(std::move(fresh)));
        announce(logger_, Logger::Level::info,
                 std::string("policyd: configuration ") +
                     (forced ? "reloaded (SIGHUP)" : "reloaded (changed)"));
    } catch (const std::exception& e) {
        announce(logger_, Logger::Level::error,
                 "policyd: " + escape_for_log(e.what(), 512) +
                     (configs_.get() ? "; keeping the configuration in force"
                                     : "; still answering without any check"));
    }
}

void Loop::add_connection(Fd fd, int out_fd, Protocol protocol) {
    std::uint64_t id = next_id_++;
    int in = fd.get();
    auto [it, fresh] = connections_.try_emplace(id, std::move(fd), out_fd < 0 ? in : out_fd,
                                                protocol, options_.max_request_bytes);
    it->second.last_activity = std::chrono::steady_clock::now();
    watch(in, EPOLLIN | EPOLLRDHUP, id);
}

void Loop::accept_from(const Listener& listener) {
    for (;;) {
        Fd fd(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd.get() < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                logger_.write(Logger::Level::error,
                              sys_error("policyd: accept on " + listener.name));
            return;
        }
        if (static_cast<int>(connections_.size()) >= options_.max_connections) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_refusal_log_ > std::chrono::seconds(10)) {
                last_refusal_log_ = now;
                logger_.write(Logger::Level::warning,
                              "policyd: " + std::to_string(options_.max_connections) +
                                  " connections open (--max-connections): new ones closed");
            }
            continue; // fd closes here
        }
        add_connection(std::move(fd), -1, listener.protocol);
    }
}

void Loop::on_readable(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(c.fd.get(), buffer, sizeof buffer);
        if (n > 0) {
            c.last_activity = std::chrono::steady_clock::now();
            if (c.protocol == Protocol::postfix)
                c.postfix.feed({buffer, static_cast<std::size_t>(n)});
            else
                c.http.feed({buffer, static_cast<std::size_t>(n)});
            // A client that sends without reading its answers is cut off
            // by the readers' limits; no more than one request waits here.
            if (c.busy &&
                (c.protocol == Protocol::postfix ? c.postfix.buffered() : c.http.buffered()) >
                    2 * options_.max_request_bytes + 16384) {
                c.closing = true;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        c.peer_closed = true; // EOF or an error: nothing more comes
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
        break;
    }
    pump(id);
}

void Loop::pump(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    if (!c.busy && !c.closing) {
        try {
            if (c.protocol == Protocol::postfix) {
                if (auto request = c.postfix.next()) {
                    c.busy = true;
                    queues_->push_job({id, std::move(*request)});
                }
            } else if (auto request = c.http.next()) {
                c.busy = true;
                queues_->push_job({id, std::move(*request)});
            }
        } catch (const policy::HttpError& e) {
            logger_.write(Logger::Level::warning,
                          "policyd dovecot: " + escape_for_log(e.what(), 256) + ": " +
                              std::to_string(e.status) + ", connection closed");
            c.out += policy::http_response(e.status, "application/json",
                                           "{\"error\":" + json::quote(e.what()) + "}", false);
            c.closing = true;
        } catch (const std::exception& e) {
            // A malformed Postfix request: say DUNNO (the mail goes on) and
            // close, since nothing after it can be trusted to line up.
            logger_.write(Logger::Level::warning,
                          "policyd postfix: " + escape_for_log(e.what(), 256) +
                              ": DUNNO, connection closed");
            c.out += policy::postfix_reply("DUNNO");
            c.closing = true;
        }
    }
    // flush() closes a connection that is closing or whose peer is gone.
    if (!c.busy) flush(id);
}

void Loop::flush(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    while (!c.out.empty()) {
        ssize_t n = ::write(c.out_fd, c.out.data(), c.out.size());
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c.out.size() > max_output_bytes) {
                close_connection(id);
                return;
            }
            epoll_event ev{};
            ev.events = EPOLLOUT;
            ev.data.u64 = id | (1ULL << 63);
            // The output side is watched on its own descriptor in spawn
            // mode (fd 1), else with the socket.
            if (c.out_fd != c.fd.get()) {
                if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.out_fd, &ev) != 0)
                    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.out_fd, &ev);
            } else if (!c.peer_closed) {
                ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT;
                ev.data.u64 = id;
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
            } else {
                ev.data.u64 = id;
                if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0)
                    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
            }
            return;
        }
        close_connection(id); // the client is gone
        return;
    }
    if (c.closing || c.peer_closed) close_connection(id);
}

void Loop::on_writable(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    if (c.out_fd == c.fd.get() && !c.peer_closed) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = id;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    } else {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.out_fd, nullptr);
    }
    flush(id);
}

void Loop::close_connection(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    // An abandoned entry's descriptor is closed already, and its number
    // may belong to another connection by now.
    if (!it->second.abandoned) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
        if (it->second.out_fd != it->second.fd.get())
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.out_fd, nullptr);
    }
    if (it->second.busy) {
        // The worker's answer still comes back to this entry; it is
        // dropped then, and the entry with it.
        it->second.abandoned = true;
        it->second.fd.reset();
        return;
    }
    connections_.erase(it);
    if (options_.spawn && connections_.empty()) stopping_ = true;
}

void Loop::sweep_idle() {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> idle;
    for (auto& [id, c] : connections_)
        if (!c.busy && now - c.last_activity > options_.idle_timeout) idle.push_back(id);
    for (auto id : idle)
        close_connection(id);
}

int Loop::run() {
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (epoll_.get() < 0 || wake_.get() < 0) throw std::runtime_error(sys_error("epoll"));
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    signals_ = Fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (signals_.get() < 0) throw std::runtime_error(sys_error("signalfd"));
    watch(wake_.get(), EPOLLIN, wake_tag);
    watch(signals_.get(), EPOLLIN, signal_tag);
    for (std::size_t i = 0; i < listeners_.size(); ++i)
        watch(listeners_[i].fd.get(), EPOLLIN, i + 1);
    if (options_.spawn) {
        set_nonblocking(0);
        set_nonblocking(1);
        add_connection(Fd(::dup(0)), 1, Protocol::postfix);
    }
    control_stat_ = control_file_stat(options_.control_dir);
    next_control_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);

    queues_ = std::make_unique<Queues>(wake_.get());
    policy::SessionMemory memory;
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::jthread> threads;
    for (int i = 0; i < options_.workers; ++i) {
        workers.push_back(std::make_unique<Worker>(configs_, *queues_, memory));
        threads.emplace_back([w = workers.back().get()] { w->run(); });
    }

    epoll_event events[64];
    while (!stopping_) {
        int n = ::epoll_wait(epoll_.get(), events, 64, 1000);
        if (n < 0 && errno != EINTR) throw std::runtime_error(sys_error("epoll_wait"));
        for (int i = 0; i < n; ++i) {
            std::uint64_t tag = events[i].data.u64;
            if (tag == wake_tag) {
                std::uint64_t count;
                [[maybe_unused]] auto r = ::read(wake_.get(), &count, sizeof count);
                for (Done& done : queues_->take_done()) {
                    auto it = connections_.find(done.connection);
                    if (it == connections_.end()) continue;
                    Connection& c = it->second;
                    c.busy = false;
                    if (c.abandoned) {
                        close_connection(done.connection);
                        continue;
                    }
                    c.out += done.bytes;
                    ++c.requests;
                    c.last_activity = std::chrono::steady_clock::now();
                    if (done.close_after || c.requests >= options_.max_requests) c.closing = true;
                    flush(done.connection);
                    pump(done.connection);
                }
            } else if (tag == signal_tag) {
                signalfd_siginfo info;
                while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
                    if (info.ssi_signo == SIGHUP)
                        maybe_reload(true);
                    else
                        stopping_ = true;
                }
            } else if (tag >= 1 && tag <= listeners_.size()) {
                accept_from(listeners_[tag - 1]);
            } else if (tag & (1ULL << 63)) {
                on_writable(tag & ~(1ULL << 63));
            } else {
                if (events[i].events & EPOLLOUT) on_writable(tag);
                if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    on_readable(tag);
            }
        }
        sweep_idle();
        maybe_reload(false);
    }
    queues_->stop();
    threads.clear(); // joins: requests in flight are answered first
    for (Done& done : queues_->take_done()) {
        auto it = connections_.find(done.connection);
        if (it == connections_.end()) continue;
        it->second.out += done.bytes;
        ::fcntl(it->second.out_fd, F_SETFL, ::fcntl(it->second.out_fd, F_GETFL) & ~O_NONBLOCK);
        write_all(it->second.out_fd, it->second.out.data(), it->second.out.size());
    }
    for (auto& l : listeners_)
        if (l.name.rfind("unix:", 0) == 0) ::unlink(l.name.c_str() + 5);
    return 0;
}

} // namespace

Listener listen_on(const std::string& spec, Protocol protocol, const ListenOptions& options) {
    if (spec.rfind("unix:", 0) == 0) return listen_unix(spec.substr(5), protocol, options);
    if (spec.rfind("tcp:", 0) == 0) return listen_tcp(spec, spec.substr(4), protocol);
    if (spec.rfind("inet:", 0) == 0) return listen_tcp(spec, spec.substr(5), protocol);
    throw ListenSyntaxError("'" + spec + "': wants unix:/PATH or tcp:HOST:PORT");
}

std::vector<Listener> inherited_listeners() {
    std::vector<Listener> out;
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    if (!pid || !fds || std::atol(pid) != static_cast<long>(::getpid())) return out;
    int count = std::atoi(fds);
    std::string names = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
    for (int i = 0; i < count && i < 64; ++i) {
        std::string name;
        auto colon = names.find(':');
        name = names.substr(0, colon);
        names = colon == std::string::npos ? std::string() : names.substr(colon + 1);
        int fd = 3 + i;
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        set_nonblocking(fd);
        Protocol p = name == "dovecot" ? Protocol::dovecot : Protocol::postfix;
        out.push_back({Fd(fd), p, "systemd:" + (name.empty() ? std::to_string(fd) : name)});
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return out;
}

int serve(std::vector<Listener> listeners, const ServerOptions& options, Logger& logger) {
    // The loop takes these signals from its signalfd; no thread of ours may
    // take them the usual way, so they are blocked before any thread starts.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    LoadedConfig loaded = load_config_or_last_valid(options.control_dir);
    if (!loaded.config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(loaded.config.log_file);
    ServerOptions effective = options;
    std::shared_ptr<const Config> usable;
    if (loaded.source == LoadedConfig::Source::defaults && !loaded.problem.empty()) {
        announce(logger, Logger::Level::error,
                 "policyd: " + loaded.problem +
                     "; no last valid copy to use: answering without any check until it is "
                     "fixed (the file is read again within 2 s of a change)");
        // A daemon serving Postfix and Dovecot most likely shares Redis.
        effective.store_kind = StoreConfig::Kind::redis;
    } else {
        if (!loaded.problem.empty())
            announce(logger, Logger::Level::error, "policyd: " + loaded.message());
        effective.store_kind = loaded.config.store.kind;
        usable = std::make_shared<const Config>(std::move(loaded.config));
    }
    // LMDB allows one environment per process: one worker then (its calls
    // are local and short).
    if (effective.store_kind == StoreConfig::Kind::lmdb) effective.workers = 1;
    ConfigSlot configs(std::move(usable));
    std::string names;
    for (auto& l : listeners)
        names += (names.empty() ? "" : ", ") + l.name +
                 (l.protocol == Protocol::dovecot ? " (dovecot)" : " (postfix)");
    if (!options.spawn)
        announce(logger, Logger::Level::info,
                 "policyd: serving " + names + " with " + std::to_string(effective.workers) +
                     " worker(s)");
    Loop loop(std::move(listeners), effective, logger, configs);
    return loop.run();
}

} // namespace authguard::policyd
