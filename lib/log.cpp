// log.cpp - syslog plus an optional appended copy.
#include "authguard/log.hpp"

#include "authguard/event.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>

namespace authguard {

Logger::Logger(std::string copy_path) : copy_path_(std::move(copy_path)) {
    if (copy_path_.empty())
        if (const char* p = std::getenv("AUTHGUARD_LOG_FILE"); p && *p) copy_path_ = p;
    ::openlog("authguard", LOG_PID, LOG_MAIL);
}

Logger::~Logger() { ::closelog(); }

void Logger::write(Level level, std::string_view line) {
    // The line is already escaped by its builder; this only guards the
    // invariant "one line, printable" against a future careless caller.
    std::string safe;
    for (char c : line) safe += (c == '\n' || c == '\r' || c == '\0') ? ' ' : c;
    int priority = level == Level::error ? LOG_ERR : level == Level::warning ? LOG_WARNING : LOG_INFO;
    ::syslog(priority, "%s", safe.c_str());
    if (copy_path_.empty()) return;
    int fd = ::open(copy_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return;
    safe += '\n';
    // O_APPEND with one write keeps concurrent processes' lines whole.
    [[maybe_unused]] auto n = ::write(fd, safe.data(), safe.size());
    ::close(fd);
}

} // namespace authguard
