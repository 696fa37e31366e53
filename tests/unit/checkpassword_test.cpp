// checkpassword_test.cpp - fd 3 input of the checkpassword convention.
#include "authguard/checkpassword.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

using namespace authguard::checkpassword;
using namespace std::string_literals;

TEST_CASE("user, password and the third field") {
    Input in;
    const std::string qmail = "alice@example.com\0pw\0Y123456\0"s;
    CHECK(parse(qmail, in) == 0);
    CHECK(in.user == "alice@example.com");
    CHECK(in.password == "pw");
    const std::string indimail = "alice\0pw\0\0CRAM-MD5\0"s; // IndiMail's method field
    CHECK(parse(indimail, in) == 0);
    CHECK(in.password == "pw");
    CHECK(parse("alice\0pw\0"s, in) == 0);
}

TEST_CASE("malformed input gets the convention's exit codes") {
    Input in;
    CHECK(parse("alice"s, in) == exit_misuse);
    CHECK(parse("alice\0pw"s, in) == exit_misuse);
    CHECK(parse(""s, in) == exit_misuse);
    CHECK(parse("\0pw\0\0"s, in) == exit_bad);
    CHECK(parse("alice\0\0\0"s, in) == exit_bad);
}

TEST_CASE("reading fd input: limits and errors") {
    auto through_pipe = [](const std::string& data, std::string& out) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        REQUIRE(::write(fds[1], data.data(), data.size()) == static_cast<ssize_t>(data.size()));
        ::close(fds[1]);
        int rc = read_input(fds[0], out);
        ::close(fds[0]);
        return rc;
    };
    std::string out;
    CHECK(through_pipe("a\0b\0\0"s, out) == 0);
    CHECK(out == "a\0b\0\0"s);
    CHECK(through_pipe(std::string(512, 'x'), out) == 0);
    CHECK(through_pipe(std::string(513, 'x'), out) == exit_bad);
    CHECK(read_input(999, out) == exit_temp);
}
