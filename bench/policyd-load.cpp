// policyd-load - a load generator for authguard-policyd (bench/policyd.sh).
//
// N connections to a unix: or tcp: address, one thread, epoll, non-blocking.
// Each connection has at most one request in flight and sends the next only
// after the answer, as Postfix's smtpd and Dovecot's auth process do:
//
//   postfix  the attributes Postfix 3.7 sends (tests/standins/policy-client's
//            postfix_attributes), sasl_username over U users, a client
//            address and port per connection (all in one /24 up to 250
//            connections, so that ordinary users are never locked);
//   dovecot  an allow+report pair over HTTP/1.1 keep-alive, the bodies
//            Dovecot 2.3 sends (../shared/postfix-dovecot-interfaces.md);
//            one "request" here is the pair, timed from the allow's first
//            byte to the report's answer.
//
// Closed loop (default): as fast as the answers come, M requests in all.
// Open loop (--rate R): requests are scheduled every 1/R s on a timer and
// handed to whichever connection is free; latency is measured from the
// scheduled time, not from the send, so that a stall of the daemon shows
// up in the percentiles instead of silently slowing the generator down
// (coordinated omission).
//
// Output, one line: requests, errors (answers other than action=... or
// HTTP 200, lost connections), unanswered, seconds, requests/s, p50, p90,
// p99 and max latency in ms; then the tally of Postfix actions (and, in
// open loop, how late the generator itself sent: its share of the latency). With
// --check-exact (END-OF-MESSAGE, recipient_count=1) also one line
// "user NAME COUNT" per user: the messages it sent and had answered, to be
// compared with the store's counts. Exit 0 only if every request was
// answered without error.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::int64_t;

Nanos now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "policyd-load: %s\n", what.c_str());
    std::exit(2);
}

constexpr char usage[] =
    "usage: policyd-load --connect unix:/PATH|tcp:HOST:PORT [options]\n"
    "  --protocol postfix|dovecot  (postfix)\n"
    "  --connections N             concurrent connections (50)\n"
    "  --requests M                requests in all (closed loop: 200000; open loop:\n"
    "                              rate x duration when not given)\n"
    "  --users U                   sasl_username / login over U users (1000)\n"
    "  --user-prefix P             user names P<i>@example.com (load)\n"
    "  --state S                   Postfix protocol_state (RCPT)\n"
    "  --recipient-count N         Postfix recipient_count (0; 1 with --check-exact)\n"
    "  --warmup                    first one untimed RCPT per connection and user, so\n"
    "                              that the timed requests are of known sessions\n"
    "  --rate R                    open loop: R requests/s on a timer\n"
    "  --duration S                open loop: for S seconds\n"
    "  --fresh                     every request a new user, address and session\n"
    "  --check-exact               END-OF-MESSAGE, recipient_count=1; print per user\n"
    "                              the messages sent and answered\n"
    "  --auth USER:PASS            HTTP Basic credentials for Dovecot\n"
    "  --timeout S                 give up when nothing is answered for S s (10)\n";

struct Options {
    std::string address;
    bool dovecot = false;
    int connections = 50;
    long requests = -1;
    long users = 1000;
    std::string user_prefix = "load";
    std::string state = "RCPT";
    int recipient_count = 0;
    bool warmup = false;
    double rate = 0;
    double duration = 0;
    bool fresh = false;
    bool check_exact = false;
    std::string auth_header;
    double timeout = 10;
};

std::string base64(std::string_view in) {
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                     (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        out += table[v >> 18];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += table[v >> 18];
        out += table[(v >> 12) & 63];
        out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

int connect_to(const std::string& spec) {
    int fd = -1;
    if (spec.rfind("unix:", 0) == 0) {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::string path = spec.substr(5);
        if (path.size() >= sizeof sa.sun_path) die(spec + ": path too long");
        std::memcpy(sa.sun_path, path.data(), path.size());
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            die(spec + ": connect: " + std::strerror(errno));
    } else if (spec.rfind("tcp:", 0) == 0) {
        std::string where = spec.substr(4), host, port;
        auto colon = where.rfind(':');
        if (colon == std::string::npos) die(spec + ": wants tcp:HOST:PORT");
        host = where.substr(0, colon);
        port = where.substr(colon + 1);
        if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
            die(spec + ": " + ::gai_strerror(rc));
        fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, found->ai_addr, found->ai_addrlen) != 0)
            die(spec + ": connect: " + std::strerror(errno));
        ::freeaddrinfo(found);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
        die("'" + spec + "': wants unix:/PATH or tcp:HOST:PORT");
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

std::string quad(const char* first, long n) {
    // n from 0: FIRST.a.b.c with c in 1..250, so that 250 connections share one /24
    return std::string(first) + "." + std::to_string((n / 250 / 250) % 256) + "." +
           std::to_string((n / 250) % 250) + "." + std::to_string(n % 250 + 1);
}

struct Conn {
    int fd = -1;
    int index = 0;
    long sent = 0;  // requests begun on this connection (the user rotation)
    long quota = 0; // closed loop: requests still to begin
    bool busy = false;
    bool timed = true;
    int phase = 0; // dovecot: 0 allow, 1 report
    long user = 0;
    std::string address;
    int port = 0;
    Nanos start = 0; // send time, or the scheduled time in open loop
    std::string out;
    std::size_t out_pos = 0;
    std::string in;
};

class Load {
  public:
    explicit Load(Options o) : o_(std::move(o)) {}
    int run();

  private:
    std::string user_name(long u) const {
        return o_.user_prefix + std::to_string(u) + "@example.com";
    }
    std::string postfix_request(const Conn& c) const;
    std::string http_request(const Conn& c, bool report) const;
    void begin(Conn& c, Nanos start, bool timed);
    void write_some(Conn& c);
    void on_readable(Conn& c);
    bool answer_complete(Conn& c, bool& ok, std::string& action);
    void finish(Conn& c, bool ok, const std::string& action);
    void reconnect(Conn& c);
    void phase(bool warmup);

    Options o_;
    int epoll_ = -1;
    int timer_ = -1;
    std::vector<Conn> conns_;
    std::vector<Nanos> latencies_;
    // open loop: how late each send left after its scheduled time (the
    // generator's own delay, already inside the latencies)
    std::vector<Nanos> send_lag_;
    std::map<std::string, long> actions_;
    std::vector<long> per_user_;
    long errors_ = 0, lost_ = 0, in_flight_ = 0;
    long fresh_counter_ = 0, pair_counter_ = 0;
    // open loop
    std::deque<Nanos> due_;
    std::vector<int> idle_;
    Nanos last_progress_ = 0;
};

std::string Load::postfix_request(const Conn& c) const {
    std::string r;
    r.reserve(900);
    std::string port = std::to_string(c.port);
    r += "request=smtpd_access_policy\nprotocol_state=" + o_.state +
         "\nprotocol_name=ESMTP\nclient_address=" + c.address +
         "\nclient_name=unknown\nclient_port=" + port +
         "\nreverse_client_name=unknown\nserver_address=127.0.0.1\nserver_port=587\n"
         "helo_name=vm\nsender=" +
         user_name(c.user) +
         "\nrecipient=other@example.com\nrecipient_count=" + std::to_string(o_.recipient_count) +
         "\nqueue_id=\ninstance=29cc.6b11939d." + std::to_string(c.index) + "." +
         std::to_string(c.sent) +
         "\nsize=0\netrn_domain=\nstress=\nsasl_method=PLAIN\nsasl_username=" + user_name(c.user) +
         "\nsasl_sender=\nccert_subject=\nccert_issuer=\nccert_fingerprint=\n"
         "ccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n"
         "encryption_keysize=0\npolicy_context=\n\n";
    return r;
}

std::string Load::http_request(const Conn& c, bool report) const {
    std::string body = "{\"device_id\":\"\",\"login\":\"" + user_name(c.user) +
                       "\",\"protocol\":\"imap\",\"pwhash\":\"0b11\",\"remote\":\"" + c.address +
                       "\",\"session_id\":\"s" + std::to_string(pair_counter_) + "\"";
    if (report) body += ",\"success\":true,\"policy_reject\":false";
    body += ",\"tls\":false}";
    std::string head = std::string("POST /?command=") + (report ? "report" : "allow") +
                       " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: dovecot/auth-policy-client\r\n"
                       "Content-Type: application/json\r\nConnection: Keep-Alive\r\n";
    if (!o_.auth_header.empty()) head += "Authorization:  Basic " + o_.auth_header + "\r\n";
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    return head + body;
}

void Load::begin(Conn& c, Nanos start, bool timed) {
    if (o_.fresh) {
        // A new user, a new address (a new /24 every 250) and a new port:
        // a new session every time, as an ever-changing population would.
        long n = fresh_counter_++;
        c.user = n;
        c.address = quad("10", n);
        c.port = 1024 + static_cast<int>(n % 60000);
    } else {
        c.user = (static_cast<long>(c.index) * 7 + c.sent) % o_.users;
    }
    ++c.sent;
    ++pair_counter_;
    c.busy = true;
    c.timed = timed;
    c.phase = 0;
    c.start = start;
    if (timed && o_.rate > 0) send_lag_.push_back(now_ns() - start);
    c.out = o_.dovecot ? http_request(c, false) : postfix_request(c);
    c.out_pos = 0;
    c.in.clear();
    ++in_flight_;
    write_some(c);
}

void Load::write_some(Conn& c) {
    while (c.out_pos < c.out.size()) {
        ssize_t n = ::write(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos);
        if (n > 0) {
            c.out_pos += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT;
            ev.data.u32 = static_cast<std::uint32_t>(c.index);
            ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
            return;
        }
        return; // the read side sees the end and counts it
    }
}

// Whether c.in holds a whole answer; ok and action describe it.
bool Load::answer_complete(Conn& c, bool& ok, std::string& action) {
    if (!o_.dovecot) {
        auto end = c.in.find("\n\n");
        if (end == std::string::npos) return false;
        std::string_view line(c.in.data(), c.in.find('\n'));
        ok = line.rfind("action=", 0) == 0;
        std::string_view word = ok ? line.substr(7) : line;
        action = std::string(word.substr(0, word.find(' ')));
        c.in.erase(0, end + 2);
        return true;
    }
    auto head_end = c.in.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    std::string_view head(c.in.data(), head_end);
    std::size_t length = 0;
    std::size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
        pos += 2;
        std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
        if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
            length = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
    }
    if (c.in.size() < head_end + 4 + length) return false;
    ok = head.size() > 12 && head.substr(9, 3) == "200";
    std::string body = c.in.substr(head_end + 4, length);
    action = "http-" + std::string(head.substr(9, 3));
    if (ok) {
        auto s = body.find("\"status\":");
        action = s == std::string::npos ? "no-status" : "status=" + body.substr(s + 9, 2);
        if (!action.empty() && (action.back() == ',' || action.back() == '}')) action.pop_back();
    }
    c.in.erase(0, head_end + 4 + length);
    return true;
}

void Load::finish(Conn& c, bool ok, const std::string& action) {
    Nanos end = now_ns();
    last_progress_ = end;
    c.busy = false;
    --in_flight_;
    if (!c.timed) return;
    latencies_.push_back(end - c.start);
    if (!ok) ++errors_;
    ++actions_[action];
    if (o_.check_exact && ok && action == "DUNNO" && !o_.fresh) ++per_user_[c.user];
}

void Load::reconnect(Conn& c) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    if (c.busy) {
        // The answer never came: an error, and the request is not retried
        // (its effect on the store is unknown).
        ++lost_;
        c.busy = false;
        --in_flight_;
        if (c.timed) ++errors_;
    }
    c.fd = connect_to(o_.address);
    c.in.clear();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(c.index);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
}

void Load::on_readable(Conn& c) {
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(c.fd, buffer, sizeof buffer);
        if (n > 0) {
            c.in.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        // The daemon closed (--max-requests, an error): as Postfix does,
        // open a new connection.
        bool was_busy = c.busy;
        reconnect(c);
        if (!was_busy) return;
        break;
    }
    bool ok = false;
    std::string action;
    if (!c.busy || !answer_complete(c, ok, action)) return;
    if (o_.dovecot && c.phase == 0 && ok) {
        c.phase = 1; // the allow is answered: now the report of the login
        c.out = http_request(c, true);
        c.out_pos = 0;
        write_some(c);
        return;
    }
    finish(c, ok, action);
}

// One phase: the warm-up (untimed, closed loop, every connection once per
// user) or the measured run.
void Load::phase(bool warmup) {
    bool open = !warmup && o_.rate > 0;
    long total = warmup ? static_cast<long>(o_.connections) * o_.users : o_.requests;
    for (auto& c : conns_)
        c.quota =
            warmup ? o_.users : total / o_.connections + (c.index < total % o_.connections ? 1 : 0);
    Nanos t0 = now_ns();
    last_progress_ = t0;
    long scheduled = 0;
    double interval = open ? 1e9 / o_.rate : 0;
    if (open) {
        idle_.clear();
        for (auto& c : conns_)
            idle_.push_back(c.index);
        itimerspec spec{};
        spec.it_value.tv_nsec = 1; // at once
        timerfd_settime(timer_, 0, &spec, nullptr);
    } else {
        for (auto& c : conns_)
            if (c.quota > 0) {
                --c.quota;
                begin(c, now_ns(), !warmup);
            }
    }
    epoll_event events[256];
    auto timeout = static_cast<Nanos>(o_.timeout * 1e9);
    for (;;) {
        if (!open && in_flight_ == 0) break;
        if (open && scheduled == total && due_.empty() && in_flight_ == 0) break;
        int n = ::epoll_wait(epoll_, events, 256, 200);
        if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
        for (int i = 0; i < n; ++i) {
            std::uint32_t tag = events[i].data.u32;
            if (tag == UINT32_MAX) {
                std::uint64_t expirations;
                [[maybe_unused]] auto r = ::read(timer_, &expirations, sizeof expirations);
                Nanos now = now_ns();
                while (scheduled < total) {
                    Nanos at = t0 + static_cast<Nanos>(scheduled * interval);
                    if (at > now) break;
                    due_.push_back(at);
                    ++scheduled;
                }
                if (scheduled < total) {
                    Nanos next = t0 + static_cast<Nanos>(scheduled * interval);
                    itimerspec spec{};
                    spec.it_value.tv_sec = next / 1000000000;
                    spec.it_value.tv_nsec = next % 1000000000;
                    // steady_clock is CLOCK_MONOTONIC on Linux
                    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
                }
                continue;
            }
            Conn& c = conns_[tag];
            if (events[i].events & EPOLLOUT) {
                write_some(c);
                if (c.out_pos == c.out.size()) {
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.u32 = tag;
                    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
                }
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                bool was_busy = c.busy;
                on_readable(c);
                if (was_busy && !c.busy) {
                    if (open)
                        idle_.push_back(c.index);
                    else if (c.quota > 0) {
                        --c.quota;
                        begin(c, now_ns(), !warmup);
                    }
                }
            }
        }
        if (open) {
            while (!due_.empty() && !idle_.empty()) {
                Conn& c = conns_[idle_.back()];
                idle_.pop_back();
                begin(c, due_.front(), true);
                due_.pop_front();
            }
        }
        if (in_flight_ > 0 && now_ns() - last_progress_ > timeout) {
            std::fprintf(stderr,
                         "policyd-load: no answer for %.0f s with %ld in flight: giving up\n",
                         o_.timeout, in_flight_);
            break;
        }
    }
}

int Load::run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event tev{};
    tev.events = EPOLLIN;
    tev.data.u32 = UINT32_MAX;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &tev);
    conns_.resize(static_cast<std::size_t>(o_.connections));
    for (int i = 0; i < o_.connections; ++i) {
        Conn& c = conns_[i];
        c.index = i;
        // One /24 per 250 connections: a user's logins come from one
        // network, so ordinary users are never locked.
        c.address = o_.dovecot ? "10.200." + std::to_string((i / 250) % 256) + "." +
                                     std::to_string(i % 250 + 1)
                               : quad("10", i);
        c.port = 10000 + i % 50000;
        c.fd = connect_to(o_.address);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    }
    if (o_.warmup && !o_.fresh) {
        std::string state = o_.state;
        int rc = o_.recipient_count;
        o_.state = "RCPT";
        o_.recipient_count = 0;
        phase(true);
        o_.state = state;
        o_.recipient_count = rc;
    }
    if (o_.check_exact) per_user_.assign(static_cast<std::size_t>(o_.users), 0);
    long lost_before = lost_;
    latencies_.reserve(static_cast<std::size_t>(o_.requests));
    Nanos t0 = now_ns();
    phase(false);
    double seconds = static_cast<double>(now_ns() - t0) / 1e9;
    long answered = static_cast<long>(latencies_.size());
    long unanswered = o_.requests - answered;
    std::sort(latencies_.begin(), latencies_.end());
    auto pct = [&](double q) {
        if (latencies_.empty()) return 0.0;
        auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(latencies_.size())));
        i = std::clamp<std::size_t>(i, 1, latencies_.size()) - 1;
        return static_cast<double>(latencies_[i]) / 1e6;
    };
    std::printf("requests %ld answered %ld errors %ld unanswered %ld seconds %.3f rate %.0f "
                "p50 %.3f p90 %.3f p99 %.3f max %.3f%s\n",
                o_.requests, answered, errors_, unanswered, seconds,
                static_cast<double>(answered) / seconds, pct(0.5), pct(0.9), pct(0.99),
                latencies_.empty() ? 0.0 : static_cast<double>(latencies_.back()) / 1e6,
                o_.dovecot ? " (pairs: allow+report)" : "");
    std::printf("actions");
    for (auto& [name, count] : actions_)
        std::printf(" %s=%ld", name.c_str(), count);
    std::printf(" reconnects=%ld\n", lost_ - lost_before);
    if (!send_lag_.empty()) {
        std::sort(send_lag_.begin(), send_lag_.end());
        auto at = [&](double q) {
            auto i = static_cast<std::size_t>(q * static_cast<double>(send_lag_.size() - 1));
            return static_cast<double>(send_lag_[i]) / 1e6;
        };
        std::printf("send-lag (sent after the scheduled time, ms) p50 %.3f p99 %.3f max %.3f\n",
                    at(0.5), at(0.99), at(1.0));
    }
    if (o_.check_exact)
        for (long u = 0; u < o_.users; ++u)
            if (per_user_[u] > 0) std::printf("user %s %ld\n", user_name(u).c_str(), per_user_[u]);
    return errors_ == 0 && unanswered == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) die(std::string(argv[i]) + " wants a value\n" + usage);
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--connect")
            o.address = value(i);
        else if (a == "--protocol") {
            std::string p = value(i);
            if (p != "postfix" && p != "dovecot") die("--protocol: postfix or dovecot");
            o.dovecot = p == "dovecot";
        } else if (a == "--connections")
            o.connections = std::atoi(value(i).c_str());
        else if (a == "--requests")
            o.requests = std::atol(value(i).c_str());
        else if (a == "--users")
            o.users = std::atol(value(i).c_str());
        else if (a == "--user-prefix")
            o.user_prefix = value(i);
        else if (a == "--state")
            o.state = value(i);
        else if (a == "--recipient-count")
            o.recipient_count = std::atoi(value(i).c_str());
        else if (a == "--warmup")
            o.warmup = true;
        else if (a == "--rate")
            o.rate = std::atof(value(i).c_str());
        else if (a == "--duration")
            o.duration = std::atof(value(i).c_str());
        else if (a == "--fresh")
            o.fresh = true;
        else if (a == "--check-exact")
            o.check_exact = true;
        else if (a == "--auth")
            o.auth_header = base64(value(i));
        else if (a == "--timeout")
            o.timeout = std::atof(value(i).c_str());
        else if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else
            die("unknown argument '" + a + "'\n" + usage);
    }
    if (o.address.empty()) die(std::string("--connect is required\n") + usage);
    if (o.connections < 1 || o.connections > 60000) die("--connections: 1 to 60000");
    if (o.users < 1) die("--users: at least 1");
    if (o.rate < 0 || (o.rate > 0 && o.requests < 0 && o.duration <= 0))
        die("--rate wants --duration or --requests");
    if (o.requests < 0) o.requests = o.rate > 0 ? std::lround(o.rate * o.duration) : 200000;
    if (o.check_exact) {
        if (o.dovecot || o.fresh) die("--check-exact is for Postfix, without --fresh");
        o.state = "END-OF-MESSAGE";
        o.recipient_count = 1;
    }
    Load load(std::move(o));
    return load.run();
}
