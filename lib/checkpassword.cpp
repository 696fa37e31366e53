// checkpassword.cpp - fd 3 input of the checkpassword convention.
#include "authguard/checkpassword.hpp"

#include <unistd.h>

#include <cerrno>

namespace authguard::checkpassword {

int read_input(int fd, std::string& buffer) {
    buffer.assign(max_input + 1, '\0'); // one extra byte tells "too long" from "exactly full"
    std::size_t used = 0;
    for (;;) {
        ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            buffer.clear();
            return exit_temp;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        if (used > max_input) return exit_bad;
    }
    buffer.resize(used);
    return 0;
}

int parse(std::string_view bytes, Input& out) {
    auto user_end = bytes.find('\0');
    if (user_end == std::string_view::npos) return exit_misuse;
    auto pass_end = bytes.find('\0', user_end + 1);
    if (pass_end == std::string_view::npos) return exit_misuse;
    out.user = bytes.substr(0, user_end);
    out.password = bytes.substr(user_end + 1, pass_end - user_end - 1);
    if (out.user.empty() || out.password.empty()) return exit_bad;
    return 0;
}

} // namespace authguard::checkpassword
