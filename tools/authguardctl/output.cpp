// output.cpp - authguardctl's output helpers: escaping hostile bytes for
// tables and JSON, UTC times, durations, the JSON document builder, and
// telling a closed output pipe (a normal end) from a failed write.
#include "ctl.hpp"

#include "authguard/event.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <iostream>
#include <limits>

namespace authguardctl {

std::string esc(std::string_view bytes) {
    return authguard::escape_for_log(bytes, std::numeric_limits<std::size_t>::max());
}

std::string utc(std::int64_t unix_seconds) {
    if (unix_seconds == 0) return "-";
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
    char buf[40];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return std::to_string(unix_seconds);
    return buf;
}

std::string duration_text(std::int64_t seconds) {
    if (seconds == 0) return "0s";
    if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
    if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
    if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
    return std::to_string(seconds) + "s";
}

std::string pad(std::string_view text, std::size_t width) {
    std::string out(text);
    if (out.size() < width) out.append(width - out.size(), ' ');
    return out;
}

std::string rpad(std::string_view text, std::size_t width) {
    std::string out;
    if (text.size() < width) out.append(width - text.size(), ' ');
    out += text;
    return out;
}

void Json::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_ += ',';
        first_.back() = false;
    }
}

Json& Json::begin_object() {
    separate();
    out_ += '{';
    first_.push_back(true);
    return *this;
}

Json& Json::end_object() {
    out_ += '}';
    first_.pop_back();
    return *this;
}

Json& Json::begin_array() {
    separate();
    out_ += '[';
    first_.push_back(true);
    return *this;
}

Json& Json::end_array() {
    out_ += ']';
    first_.pop_back();
    return *this;
}

Json& Json::key(std::string_view name) {
    separate();
    out_ += json_string(name);
    out_ += ':';
    after_key_ = true;
    return *this;
}

Json& Json::value(std::string_view text) {
    separate();
    out_ += json_string(text);
    return *this;
}

Json& Json::value(std::int64_t number) {
    separate();
    out_ += std::to_string(number);
    return *this;
}

Json& Json::value(bool flag) {
    separate();
    out_ += flag ? "true" : "false";
    return *this;
}

Json& Json::null() {
    separate();
    out_ += "null";
    return *this;
}

Json& Json::time(std::string_view name, std::int64_t unix_seconds) {
    key(name).value(unix_seconds);
    key(std::string(name) + "_utc");
    if (unix_seconds == 0) return null();
    return value(utc(unix_seconds));
}

void print_json(const Json& json) {
    std::cout << json.text() << '\n';
}

namespace {
// A handler, not SIG_IGN: an ignored SIGPIPE is inherited by the programs
// started (mail-program, through notify), a handler is not.
void note_sigpipe(int) {}
} // namespace

void watch_output() {
    struct sigaction sa {};
    sa.sa_handler = note_sigpipe;
    sa.sa_flags = SA_RESTART;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGPIPE, &sa, nullptr);
}

bool output_closed() {
    // Not errno, which may be an EPIPE of another pipe (the mail program's):
    // a pipe whose reader is gone polls as an error on its writing end,
    // and stays so.
    struct stat st {};
    if (::fstat(STDOUT_FILENO, &st) != 0 || !S_ISFIFO(st.st_mode)) return false;
    pollfd p{STDOUT_FILENO, POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

} // namespace authguardctl
