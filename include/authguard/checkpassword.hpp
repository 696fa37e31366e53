// checkpassword.hpp - the checkpassword interface (fd 3 and exit codes).
//
// qmail-smtpd, qmail-popup and qpsmtpd write "user\0password\0third\0" (and
// IndiMail "method\0") to fd 3 of the checkpassword program, at most 512
// bytes, and read the answer from its exit code.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace authguard::checkpassword {

inline constexpr std::size_t max_input = 512;

// Exit codes of the convention.
inline constexpr int exit_ok = 0;
// qmail-smtpd's AUTH patches answer every non-zero exit with 535.
inline constexpr int exit_bad = 1;     // bad credentials
inline constexpr int exit_misuse = 2;  // malformed input
inline constexpr int exit_temp = 111;  // temporary failure (qmail-popup: -ERR; qmail-smtpd: 535)

struct Input {
    std::string_view user;
    std::string_view password;
};

// Parses the bytes read from fd 3. Returns the exit code the convention gives
// for malformed input (exit_bad, exit_misuse), or 0 with `out` filled.
int parse(std::string_view bytes, Input& out);

// Reads fd `fd` to EOF into `buffer` (at most max_input bytes). Returns 0,
// exit_bad when the input is longer than the convention allows, or
// exit_temp when the descriptor cannot be read (closed, error).
int read_input(int fd, std::string& buffer);

} // namespace authguard::checkpassword
