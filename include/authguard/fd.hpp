// fd.hpp - owning file descriptors and the small I/O loops the hooks share.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

namespace authguard {

// Closes the descriptor when it goes out of scope.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        reset();
        fd_ = std::exchange(o.fd_, -1);
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_ = -1;
};

// Both ends close-on-exec; a child un-sets it on the end it keeps.
struct Pipe {
    Fd read, write;
    bool open() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        read = Fd(fds[0]);
        write = Fd(fds[1]);
        return true;
    }
};

// Writes everything unless the descriptor fails (EPIPE included).
inline bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// Reads to EOF, at most `limit` bytes. 1: done, 0: over the limit, -1: error.
inline int read_all(int fd, std::string& out, std::size_t limit) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 1;
        if (out.size() + static_cast<std::size_t>(n) > limit) return 0;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// The exit code of a child; `crashed` for one killed by a signal.
int wait_exit_code(pid_t pid, int crashed);

} // namespace authguard
