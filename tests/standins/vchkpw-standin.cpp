// vchkpw-standin - behaves as vpopmail's vchkpw does (shared/qmail-interfaces.md
// section 4) for the tests: real vchkpw needs a vpopmail installation.
//
// Reads user\0password\0... from fd 3. The password of every user is
// $AG_STANDIN_PASSWORD, unless $AG_STANDIN_USERS names a file of
// "user:password" lines. Exit 3 for an unknown user or a bad password (no
// 111, like vchkpw). On success: sets USER, HOME, SHELL=NOLOGIN, VPOPUSER,
// changes to HOME ($AG_STANDIN_HOME, default /), switches to uid/gid
// $AG_STANDIN_UID when given (as the real DJB checkpassword does for
// qmail-pop3d), then execs argv[1...]. Logs like vchkpw to syslog (ident
// vpopmail, facility mail) and, when $AG_STANDIN_LOG is set, to that file.
#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace {

std::string log_name() {
    const char* port = std::getenv("TCPLOCALPORT");
    std::string p = port ? port : "";
    if (p == "25") return "vchkpw-smtp";
    if (p == "465") return "vchkpw-smtps";
    if (p == "587") return "vchkpw-submission";
    return "vchkpw-" + p;
}

void log_line(const std::string& line) {
    ::syslog(LOG_NOTICE, "%s", line.c_str());
    if (const char* path = std::getenv("AG_STANDIN_LOG"); path && *path) {
        std::ofstream out(path, std::ios::app);
        out << line << '\n';
    }
}

bool password_matches(const std::string& user, const std::string& password) {
    if (const char* file = std::getenv("AG_STANDIN_USERS"); file && *file) {
        std::ifstream in(file);
        for (std::string line; std::getline(in, line);) {
            auto colon = line.find(':');
            if (colon != std::string::npos && line.substr(0, colon) == user)
                return line.substr(colon + 1) == password;
        }
        return false;
    }
    const char* expected = std::getenv("AG_STANDIN_PASSWORD");
    return password == (expected ? expected : "secret");
}

} // namespace

int main(int argc, char** argv) {
    ::openlog("vpopmail", LOG_PID, LOG_MAIL);
    char buf[513];
    std::size_t used = 0;
    for (;;) {
        ssize_t n = ::read(3, buf + used, sizeof buf - used);
        if (n < 0) return 4;
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        if (used >= sizeof buf) return 3;
    }
    ::close(3);
    std::string input(buf, used);
    auto a = input.find('\0');
    auto b = a == std::string::npos ? a : input.find('\0', a + 1);
    if (b == std::string::npos) return 3;
    std::string user = input.substr(0, a), password = input.substr(a + 1, b - a - 1);

    std::string ip = std::getenv("TCPREMOTEIP") ? std::getenv("TCPREMOTEIP") : "";
    if (ip.rfind("::ffff:", 0) == 0) ip = ip.substr(7);

    if (!password_matches(user, password)) {
        log_line(log_name() + ": password fail " + user + ":" + ip);
        return 3;
    }
    log_line(log_name() + ": (PLAIN) login success " + user + ":" + ip);

    const char* home = std::getenv("AG_STANDIN_HOME");
    std::string home_dir = home && *home ? home : "/";
    ::setenv("USER", user.c_str(), 1);
    ::setenv("HOME", home_dir.c_str(), 1);
    ::setenv("SHELL", "NOLOGIN", 1);
    ::setenv("VPOPUSER", user.c_str(), 1);
    if (::chdir(home_dir.c_str()) != 0) return 5;
    if (const char* uid = std::getenv("AG_STANDIN_UID"); uid && *uid) {
        auto id = static_cast<uid_t>(std::atoi(uid));
        if (::setgid(id) != 0 || ::setuid(id) != 0) return 6;
    }
    if (argc < 2) return 0;
    ::execvp(argv[1], argv + 1);
    return 7;
}
