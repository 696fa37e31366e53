// log.cpp - syslog plus an optional appended copy, time-stamped.
//
// The copy's stamp is TAI64N, multilog's "@4000000051ed0d3e24a8d5b4 ":
// it is what a qmail admin's tools already read (tai64nlocal turns it into
// local time, and the logs of every other qmail service under daemontools
// look the same), it names one instant whatever the time zone or a DST
// change, its fixed width sorts lines from several files by plain sort,
// and authguardctl scan and follow read it like a multilog file. (RFC 3339
// would be readable without tai64nlocal, but is no qmail admin's habit.)
#include "authguard/log.hpp"

#include "authguard/event.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace authguard {

std::string tai64n_stamp(std::int64_t unix_seconds, long nanoseconds) {
    // TAI64 label: 2^62 + 10 + the Unix time (leap seconds are not counted,
    // as in daemontools' tai64n and tai64nlocal's reading of it).
    static constexpr char hex[] = "0123456789abcdef";
    auto label = static_cast<std::uint64_t>(4611686018427387914LL + unix_seconds);
    auto nano = static_cast<std::uint32_t>(nanoseconds);
    std::string out(26, ' ');
    out[0] = '@';
    for (int i = 16; i >= 1; --i, label >>= 4)
        out[static_cast<std::size_t>(i)] = hex[label & 15];
    for (int i = 24; i >= 17; --i, nano >>= 4)
        out[static_cast<std::size_t>(i)] = hex[nano & 15];
    return out;
}

Logger::Logger(std::string copy_path, std::string syslog_path)
    : copy_path_(std::move(copy_path)), syslog_path_(std::move(syslog_path)) {
    if (copy_path_.empty())
        if (const char* p = std::getenv("AUTHGUARD_LOG_FILE"); p && *p) copy_path_ = p;
}

Logger::~Logger() = default;

std::string Logger::syslog_datagram(Level level, std::string_view line, std::int64_t unix_seconds,
                                    int pid) {
    int severity = level == Level::error     ? LOG_ERR
                   : level == Level::warning ? LOG_WARNING
                                             : LOG_INFO;
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm local{};
    ::localtime_r(&t, &local);
    char stamp[32];
    // RFC 3164's TIMESTAMP: "Mmm dd hh:mm:ss", the day padded with a space.
    if (std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &local) == 0) stamp[0] = '\0';
    char head[96];
    std::snprintf(head, sizeof head, "<%d>%s authguard[%d]: ", LOG_MAIL | severity, stamp, pid);
    std::string datagram = head;
    datagram += line;
    return datagram;
}

void Logger::send_to_syslog(Level level, std::string_view line) {
    std::string datagram =
        syslog_datagram(level, line, std::time(nullptr), static_cast<int>(::getpid()));
    // Two tries: a daemon restarted since the last line has a new socket
    // (ECONNREFUSED on the old one), so connect again once.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (syslog_socket_.get() < 0) {
            Fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            if (s.get() < 0) return;
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            if (syslog_path_.size() >= sizeof addr.sun_path) return;
            std::memcpy(addr.sun_path, syslog_path_.c_str(), syslog_path_.size() + 1);
            if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
            syslog_socket_ = std::move(s);
        }
        if (::send(syslog_socket_.get(), datagram.data(), datagram.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return;
        // EAGAIN: the daemon is not reading; the line is dropped rather than
        // hold a login (the log-file copy, when set, still has it).
        if (errno != ECONNREFUSED && errno != ENOTCONN) return;
        syslog_socket_.reset();
    }
}

void Logger::write(Level level, std::string_view line) {
    // The line is already escaped by its builder; this only guards the
    // invariant "one line, printable" against a future careless caller.
    std::string safe;
    for (char c : line) safe += (c == '\n' || c == '\r' || c == '\0') ? ' ' : c;
    send_to_syslog(level, safe);
    if (copy_path_.empty()) return;
    // O_NONBLOCK: a FIFO there without a reader would block the open.
    int fd =
        ::open(copy_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd < 0) return;
    // The clock the decisions use: $AUTHGUARD_NOW in replays and tests (the
    // demo's log then reads as the incident's day), else the real one.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (const char* given = std::getenv("AUTHGUARD_NOW"); given && *given) {
        char* end = nullptr;
        long long t = std::strtoll(given, &end, 10);
        if (end && *end == '\0' && t > 0) now = timespec{static_cast<std::time_t>(t), 0};
    }
    std::string stamped = tai64n_stamp(now.tv_sec, now.tv_nsec);
    stamped += safe;
    stamped += '\n';
    // O_APPEND with one write keeps concurrent processes' lines whole.
    [[maybe_unused]] auto n = ::write(fd, stamped.data(), stamped.size());
    ::close(fd);
}

} // namespace authguard
