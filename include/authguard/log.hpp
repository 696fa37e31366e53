// log.hpp - one line per decision, to syslog (facility mail, ident authguard).
//
// Never to stderr: a checkpassword program's fd 2 can be the SMTP
// connection (qmail-smtpd-auth 0.31), so anything written there reaches the
// client. An optional copy goes to a file (control key log-file, or
// $AUTHGUARD_LOG_FILE), each line stamped in TAI64N as multilog stamps
// them ("@4000000051ed0d3e24a8d5b4 allow user=..."; see log.cpp for why).
//
// Never waiting either: syslog(3) blocks for good once the syslog daemon
// stops reading /dev/log (stopped, hung, its queue full), and with it every
// SMTP AUTH. Logger speaks the syslog protocol itself on a non-blocking
// socket and drops a line the daemon cannot take at once.
#pragma once

#include "authguard/fd.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace authguard {

// "@" + the TAI64N label of a Unix time + " ", as multilog writes it
// (26 bytes); tai64nlocal turns it into local time.
std::string tai64n_stamp(std::int64_t unix_seconds, long nanoseconds);

class Logger {
  public:
    enum class Level { info, warning, error };
    // syslog_path: the daemon's socket; another one only in tests.
    explicit Logger(std::string copy_path = {}, std::string syslog_path = "/dev/log");
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    void set_copy_path(std::string path) { copy_path_ = std::move(path); }
    void write(Level level, std::string_view line);

    // The datagram sent to the syslog daemon for a line (RFC 3164, as
    // glibc's syslog(3) writes it): "<PRI>Mmm dd hh:mm:ss authguard[PID]: LINE".
    static std::string syslog_datagram(Level level, std::string_view line,
                                       std::int64_t unix_seconds, int pid);

  private:
    void send_to_syslog(Level level, std::string_view line);

    std::string copy_path_;
    std::string syslog_path_;
    Fd syslog_socket_; // connected lazily; -1 until then or when there is no daemon
};

} // namespace authguard
