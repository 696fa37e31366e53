// logfile_test.cpp - authguardctl's log reader on large plain files, which
// it reads through mapped windows: every line once and in order across the
// windows, long lines across a window's end, and a file truncated while it
// is mapped (no crash; the SIGBUS handler of the caller is left in place).
#include "../../tools/authguardctl/logfile.hpp"

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

using authguardctl::LineFlags;
using authguardctl::LogReader;
using authguardctl::max_log_line;

namespace {

struct Seen {
    std::vector<std::string> lines;
    std::vector<LineFlags> flags;
};

Seen read_file(const std::string& path, const std::function<void(const Seen&)>& after_line = {}) {
    Seen seen;
    LogReader reader(authguardctl::open_log(path), path);
    std::string error = reader.read_all([&](std::string_view line, LineFlags flags) {
        seen.lines.emplace_back(line);
        seen.flags.push_back(flags);
        if (after_line) after_line(seen);
    });
    CHECK(error.empty());
    return seen;
}

// "line N ...\n" lines, padded to various lengths, to about `bytes`.
std::string numbered_lines(std::size_t bytes, std::vector<std::string>& lines) {
    std::string text;
    for (std::size_t n = 0; text.size() < bytes; ++n) {
        std::string line = "line " + std::to_string(n) + " " + std::string(20 + n % 150, 'x');
        lines.push_back(line);
        text += line + "\n";
    }
    return text;
}

} // namespace

TEST_CASE("logfile: a large file, read through several windows, gives every line once") {
    authguard::testing::TempDir dir;
    std::vector<std::string> expected;
    std::string text = numbered_lines(9 << 20, expected); // over two 4 MiB windows
    expected.push_back("the last line, without its newline");
    text += expected.back();
    dir.write("big.log", text);
    Seen seen = read_file((dir.path() / "big.log").string());
    REQUIRE(seen.lines.size() == expected.size());
    CHECK(seen.lines == expected);
    CHECK(seen.flags.back().unterminated);
    CHECK_FALSE(seen.flags.front().unterminated);
}

TEST_CASE("logfile: a too long line across a window's end is skipped once, the next line kept") {
    authguard::testing::TempDir dir;
    std::vector<std::string> lines;
    std::string text = numbered_lines((4 << 20) - 1000, lines);
    text += std::string(200000, 'L') + "\n"; // from before the window's end to after it
    text += "after the long line\n";
    std::vector<std::string> more;
    text += numbered_lines(2 << 20, more);
    dir.write("long.log", text);
    Seen seen = read_file((dir.path() / "long.log").string());
    REQUIRE(seen.lines.size() == lines.size() + 2 + more.size());
    std::size_t long_at = lines.size();
    CHECK(seen.flags[long_at].too_long);
    CHECK(seen.lines[long_at].size() == max_log_line);
    CHECK(seen.lines[long_at + 1] == "after the long line");
    CHECK(seen.lines.back() == more.back());
    for (std::size_t i = 0; i < seen.flags.size(); ++i)
        if (i != long_at) CHECK_FALSE(seen.flags[i].too_long);
}

namespace {
volatile sig_atomic_t callers_handler_ran = 0;
extern "C" void callers_bus_handler(int) {
    callers_handler_ran = 1;
}
} // namespace

TEST_CASE(
    "logfile: a file truncated while it is read: no crash, the caller's SIGBUS handler kept") {
    authguard::testing::TempDir dir;
    std::vector<std::string> lines;
    dir.write("shrinking.log", numbered_lines(6 << 20, lines));
    std::string path = (dir.path() / "shrinking.log").string();

    struct sigaction mine {
    }, before{}, after{};
    mine.sa_handler = callers_bus_handler;
    sigemptyset(&mine.sa_mask);
    REQUIRE(::sigaction(SIGBUS, &mine, &before) == 0);

    // After the tenth line, the file is cut to 1000 bytes (copytruncate).
    Seen seen = read_file(path, [&](const Seen& s) {
        if (s.lines.size() == 10) REQUIRE(::truncate(path.c_str(), 1000) == 0);
    });
    // The lines before the cut, then at most the cut line's start; nothing
    // made of the lost pages.
    CHECK(seen.lines.size() >= 10);
    CHECK(seen.lines.size() <= 40);
    for (std::size_t i = 0; i + 1 < seen.lines.size(); ++i)
        CHECK(seen.lines[i] == lines[i]);
    for (const auto& line : seen.lines)
        CHECK(line.find('\0') == std::string::npos);

    REQUIRE(::sigaction(SIGBUS, &before, &after) == 0);
    CHECK((after.sa_handler == callers_bus_handler));
    CHECK(callers_handler_ran == 0);
}

TEST_CASE("logfile: a file that grows while it is read: the new lines are read too") {
    authguard::testing::TempDir dir;
    std::vector<std::string> lines;
    dir.write("growing.log", numbered_lines(5 << 20, lines));
    std::string path = (dir.path() / "growing.log").string();
    Seen seen = read_file(path, [&](const Seen& s) {
        if (s.lines.size() == 1) {
            int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
            REQUIRE(fd >= 0);
            std::string late = "written while read\n";
            CHECK(::write(fd, late.data(), late.size()) == static_cast<ssize_t>(late.size()));
            ::close(fd);
        }
    });
    REQUIRE(seen.lines.size() == lines.size() + 1);
    CHECK(seen.lines.back() == "written while read");
}

namespace {
volatile sig_atomic_t callers_handler_calls = 0;
extern "C" void counting_bus_handler(int) {
    callers_handler_calls = callers_handler_calls + 1;
}
} // namespace

TEST_CASE("logfile: a SIGBUS that is not the mapping's goes to the caller's handler, once") {
    authguard::testing::TempDir dir;
    std::vector<std::string> lines;
    dir.write("big.log", numbered_lines(2 << 20, lines));
    struct sigaction mine {
    }, before{};
    mine.sa_handler = counting_bus_handler;
    sigemptyset(&mine.sa_mask);
    REQUIRE(::sigaction(SIGBUS, &mine, &before) == 0);
    callers_handler_calls = 0;
    Seen seen = read_file((dir.path() / "big.log").string(), [](const Seen& s) {
        if (s.lines.size() == 5) ::raise(SIGBUS); // while the window is mapped
    });
    CHECK(callers_handler_calls == 1);
    CHECK(seen.lines == lines);
    REQUIRE(::sigaction(SIGBUS, &before, nullptr) == 0);
}

TEST_CASE("logfile: rotated files in the order they were written, whatever the order given") {
    using authguardctl::rotation_order;
    using V = std::vector<std::string>;
    CHECK(rotation_order(V{"log/maillog", "log/maillog.1", "log/maillog.2.gz"}) ==
          V{"log/maillog.2.gz", "log/maillog.1", "log/maillog"});
    CHECK(rotation_order(V{"maillog", "maillog-20240103", "maillog-20240102.gz"}) ==
          V{"maillog-20240102.gz", "maillog-20240103", "maillog"});
    // multilog: @<TAI64N>.s (or .u) by name, then `current` of the same directory.
    CHECK(
        rotation_order(V{"ml/current", "ml/@4000000065ee498a00000000.s",
                         "ml/@4000000065eba68a00000000.u", "ml/@4000000065EC000000000000.s.gz"}) ==
        V{"ml/@4000000065eba68a00000000.u", "ml/@4000000065EC000000000000.s.gz",
          "ml/@4000000065ee498a00000000.s", "ml/current"});
    // Other logs keep the order they were given in; a name that only looks
    // like multilog's (too short) is a log of its own.
    CHECK(rotation_order(V{"b/current", "a/@4000000065ee498a00000000.s", "a/current", "@4000.s"}) ==
          V{"b/current", "a/@4000000065ee498a00000000.s", "a/current", "@4000.s"});
}
