// log.hpp - one line per decision, to syslog (facility mail, ident authguard).
//
// Never to stderr: a checkpassword program's fd 2 can be the SMTP
// connection (qmail-smtpd-auth 0.31), so anything written there reaches the
// client. An optional copy goes to a file (control key log-file, or
// $AUTHGUARD_LOG_FILE) for tests and the demo.
#pragma once

#include <string>
#include <string_view>

namespace authguard {

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
