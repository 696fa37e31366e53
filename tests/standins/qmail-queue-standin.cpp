// qmail-queue-standin - stands in for qmail-queue behind authguard-queue in
// the tests (shared/qmail-interfaces.md section 1): the "next queue program"
// whose input is checked byte for byte.
//
// Reads the message from fd 0 to EOF into a file, then the envelope from
// fd 1 to EOF. The envelope must be F<sender>\0, T<recipient>\0 per
// recipient, then a final \0:
//   - incomplete (EOF before the final \0; nothing at all included): like
//     qmail-queue's read error, removes its files and exits 54;
//   - malformed (a field that is not F first, T after): removes its files
//     and exits 91 (qmail-queue: bad envelope data).
// Otherwise it keeps the message as $AG_QQ_DIR/<unique>.msg and the envelope
// bytes as read as $AG_QQ_DIR/<unique>.env and exits $AG_QQ_EXIT (default
// 0). With a non-zero $AG_QQ_EXIT it removes its files first, as qmail-queue
// queues nothing when it fails. Files being written are named .tmp-*, so a
// directory holding only *.msg/*.env never shows a half-queued message.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace {

std::string queue_dir() {
    const char* d = std::getenv("AG_QQ_DIR");
    return d && *d ? d : ".";
}

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// Copies fd `from` to EOF into fd `to` (or into `keep` when to < 0).
bool copy(int from, int to, std::string* keep) {
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(from, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        if (keep) keep->append(buf, static_cast<std::size_t>(n));
        if (to >= 0 && !write_all(to, buf, static_cast<std::size_t>(n))) return false;
    }
}

// 0 complete, 54 incomplete, 91 malformed.
int check_envelope(const std::string& e) {
    std::size_t at = 0;
    bool first = true;
    for (;;) {
        if (at >= e.size()) return 54;
        if (!first && e[at] == '\0') return 0; // the final \0
        if (e[at] != (first ? 'F' : 'T')) return 91;
        auto end = e.find('\0', at);
        if (end == std::string::npos) return 54;
        at = end + 1;
        first = false;
    }
}

} // namespace

int main() {
    std::string dir = queue_dir();
    std::string unique = std::to_string(std::time(nullptr)) + "." + std::to_string(::getpid());
    std::string tmp_msg = dir + "/.tmp-" + unique + ".msg";
    std::string tmp_env = dir + "/.tmp-" + unique + ".env";

    int msg = ::open(tmp_msg.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (msg < 0) return 53; // write error
    if (!copy(0, msg, nullptr)) {
        ::unlink(tmp_msg.c_str());
        return 54;
    }
    if (::close(msg) != 0) {
        ::unlink(tmp_msg.c_str());
        return 53;
    }

    std::string envelope;
    bool read_ok = copy(1, -1, &envelope);
    int verdict = read_ok ? check_envelope(envelope) : 54;
    if (verdict != 0) {
        ::unlink(tmp_msg.c_str());
        return verdict;
    }
    int env = ::open(tmp_env.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    bool ok = env >= 0 && write_all(env, envelope.data(), envelope.size());
    if (env >= 0 && ::close(env) != 0) ok = false;
    if (!ok) {
        ::unlink(tmp_msg.c_str());
        ::unlink(tmp_env.c_str());
        return 53;
    }

    int code = 0;
    if (const char* e = std::getenv("AG_QQ_EXIT"); e && *e) code = std::atoi(e);
    if (code != 0) {
        ::unlink(tmp_msg.c_str());
        ::unlink(tmp_env.c_str());
        return code;
    }
    if (std::rename(tmp_env.c_str(), (dir + "/" + unique + ".env").c_str()) != 0 ||
        std::rename(tmp_msg.c_str(), (dir + "/" + unique + ".msg").c_str()) != 0) {
        ::unlink(tmp_msg.c_str());
        ::unlink(tmp_env.c_str());
        return 53;
    }
    return 0;
}
