// log_test.cpp - the Logger's own syslog client: the datagram glibc's
// syslog(3) would send, and no wait when the daemon stops reading (syslog(3)
// blocks for good there, and a hook with it).
#include "authguard/log.hpp"

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

using authguard::Fd;
using authguard::Logger;

namespace {

// A syslog daemon's socket that never reads.
Fd bound_datagram_socket(const std::string& path) {
    Fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return s;
}

} // namespace

TEST_CASE("log: the syslog datagram is glibc's: facility mail, ident authguard, pid") {
    std::string d = Logger::syslog_datagram(Logger::Level::warning, "lock user=a@b", 0, 42);
    // LOG_MAIL (16) + LOG_WARNING (4) = 20; the time is local, so only its shape.
    CHECK(d.rfind("<20>", 0) == 0);
    CHECK(d.find(" authguard[42]: lock user=a@b") == 4 + 15);
    CHECK(Logger::syslog_datagram(Logger::Level::error, "x", 0, 1).rfind("<19>", 0) == 0);
    CHECK(Logger::syslog_datagram(Logger::Level::info, "x", 0, 1).rfind("<22>", 0) == 0);
}

TEST_CASE("log: a syslog daemon that stops reading never holds a hook") {
    authguard::testing::TempDir dir;
    std::string path = (dir.path() / "log").string();
    Fd daemon = bound_datagram_socket(path);
    Logger logger({}, path);
    auto start = std::chrono::steady_clock::now();
    // Far more than any socket queue holds (net.unix.max_dgram_qlen, 512 at most by default).
    for (int i = 0; i < 5000; ++i)
        logger.write(Logger::Level::info, "allow user=u@example.com n=" + std::to_string(i));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::seconds(5));
    char first[512] = {};
    ssize_t n = ::recv(daemon.get(), first, sizeof first - 1, MSG_DONTWAIT);
    REQUIRE(n > 0);
    CHECK(std::string(first).find("authguard[") != std::string::npos);
    CHECK(std::string(first).find("n=0") != std::string::npos);
}

TEST_CASE("log: no syslog daemon at all is no error") {
    authguard::testing::TempDir dir;
    Logger logger({}, (dir.path() / "absent").string());
    logger.write(Logger::Level::error, "still fine");
    CHECK(true);
}
