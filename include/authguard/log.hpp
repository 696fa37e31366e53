// log.hpp - one line per decision, to syslog (facility mail, ident authguard).
//
// Never to stderr: a checkpassword program's fd 2 can be the SMTP
// connection (qmail-smtpd-auth 0.31), so anything written there reaches the
// client. An optional copy goes to a file (control key log-file, or
// $AUTHGUARD_LOG_FILE), each line stamped in TAI64N as multilog stamps
// them ("@4000000051ed0d3e24a8d5b4 allow user=..."; see log.cpp for why).
#pragma once

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
    explicit Logger(std::string copy_path = {});
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    void set_copy_path(std::string path) { copy_path_ = std::move(path); }
    void write(Level level, std::string_view line);

  private:
    std::string copy_path_;
};

} // namespace authguard
