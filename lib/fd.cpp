// fd.cpp - waiting for children.
#include "authguard/fd.hpp"

#include <sys/wait.h>

namespace authguard {

int wait_exit_code(pid_t pid, int crashed) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return crashed;
    return WIFEXITED(status) ? WEXITSTATUS(status) : crashed;
}

} // namespace authguard
