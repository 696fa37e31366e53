// authguard-queue - the QMAILQUEUE guard: qmail-smtpd runs it instead of
// qmail-queue (QMAILQUEUE=/var/qmail/bin/authguard-queue), and it runs the
// next queue program (control key next-queue, or $AUTHGUARD_QUEUE).
//
// The message is never copied: the next queue program reads fd 0 itself.
// This program reads only the envelope from fd 1, which qmail-smtpd writes
// after fd 0 is closed, and hands it on through a pipe -- or withholds it,
// so that the next queue program exits and removes its files.
//
// Exit codes (qmail-smtpd's replies): the next queue program's own code when
// the message was handed on; 31 (554) for a locked sender, or a sending
// limit with rate-limit-action = reject; 71 (451) for a sending limit with
// tempfail, or a store failure with on-store-failure = tempfail; 81 (451 qq
// internal bug) for our own trouble (bad control file, a loop, no fork).
#include "authguard/config.hpp"
#include "authguard/fd.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/store.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace ag = authguard;

namespace {

constexpr int exit_reject = 31;   // 554 mail server permanently rejected message
constexpr int exit_tempfail = 71; // 451 mail server temporarily rejected message
constexpr int exit_internal = 81; // 451 qq internal bug

// Set for the next queue program: if it (or a wrapper after it) starts us
// again, the chain loops, and we stop it instead of running forever.
constexpr const char* nested_marker = "AUTHGUARD_QUEUE_RUNNING";

// The envelope is F<sender>\0, T<recipient>\0 per recipient, then \0.
// Each address is at most about 1000 bytes in practice; 64 MiB is far more
// than qmail-smtpd would ever send and still bounds our memory.
constexpr std::size_t envelope_limit = 64u << 20;

int count_recipients(const std::string& envelope) {
    int recipients = 0;
    std::size_t field = 0;
    while (field < envelope.size()) {
        if (envelope[field] == 'T') ++recipients;
        auto end = envelope.find('\0', field);
        if (end == std::string::npos) break;
        field = end + 1;
    }
    return recipients;
}

bool same_file(const std::string& a, const char* b) {
    struct stat sa {}, sb {};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int exit_for(ag::Verdict verdict, int otherwise) {
    switch (verdict) {
    case ag::Verdict::refuse_locked:
    case ag::Verdict::lock:
    case ag::Verdict::reject: return exit_reject;
    case ag::Verdict::tempfail: return exit_tempfail;
    case ag::Verdict::allow:
    case ag::Verdict::alert: return otherwise;
    }
    return otherwise;
}

} // namespace

int main() {
    ag::Logger logger;
    ag::Config config;
    try {
        config = ag::load_config(ag::default_control_dir());
    } catch (const ag::ConfigError& e) {
        logger.write(ag::Logger::Level::error, std::string("queue: refusing to start: ") + e.what());
        return exit_internal;
    }
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);

    const char* from_env = std::getenv("AUTHGUARD_QUEUE");
    std::string next = from_env && *from_env ? from_env : config.next_queue;
    if (std::getenv(nested_marker) || same_file(next, "/proc/self/exe")) {
        logger.write(ag::Logger::Level::error,
                     "queue: next queue program " + ag::escape_for_log(next) +
                         " is authguard-queue itself (set next-queue to the real qmail-queue)");
        return exit_internal;
    }

    std::unique_ptr<ag::Store> store = ag::open_store(config);
    ag::Guard guard(config, *store, logger);

    // Who sends: an authenticated user, or a relaying client when relay
    // limits are configured, or nobody we judge.
    std::string sender;
    try {
        if (auto id = ag::authenticated_identity(config, *store)) sender = id->user;
    } catch (const ag::StoreError& e) {
        // Who sends is unknown: a locked user would pass unless we tempfail.
        bool tempfail = config.on_store_failure == ag::Config::StoreFailure::tempfail;
        logger.write(ag::Logger::Level::error,
                     std::string("queue: cannot look up the session, ") +
                         (tempfail ? "tempfail: " : "no per-user check: ") + e.what());
        if (tempfail) return exit_tempfail;
    }
    if (sender.empty() && std::getenv("RELAYCLIENT")) {
        const ag::Thresholds& t = config.defaults;
        if (t.relay_max_messages_short > 0 || t.relay_max_recipients_short > 0 ||
            t.relay_max_recipients_long > 0)
            sender = "relay:" + ag::client_address_from_env();
    }

    // A locked sender is refused before the message is read: qmail-smtpd
    // ignores SIGPIPE and takes our exit code over its write error.
    if (!sender.empty()) {
        ag::Decision early = guard.check_message(sender, 0, 0, "queue-early");
        if (early.verdict == ag::Verdict::refuse_locked ||
            (early.verdict == ag::Verdict::tempfail && early.reason.rfind("store", 0) == 0))
            return exit_for(early.verdict, exit_internal);
    }

    ag::Pipe envelope_pipe;
    if (!envelope_pipe.open()) {
        logger.write(ag::Logger::Level::error, std::string("queue: pipe: ") + std::strerror(errno));
        return exit_internal;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        logger.write(ag::Logger::Level::error, std::string("queue: fork: ") + std::strerror(errno));
        return exit_internal;
    }
    if (pid == 0) {
        if (::dup2(envelope_pipe.read.get(), 1) < 0) ::_exit(exit_internal);
        ::setenv(nested_marker, "1", 1);
        ::execl(next.c_str(), next.c_str(), static_cast<char*>(nullptr));
        ::_exit(120); // qmail-smtpd: 451 unable to exec qq
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::close(0); // the message is the next queue program's alone
    envelope_pipe.read.reset();

    std::string envelope;
    int read = ag::read_all(1, envelope, envelope_limit);
    if (read <= 0) {
        envelope_pipe.write.reset(); // the next queue program aborts and cleans up
        ag::wait_exit_code(pid, exit_internal);
        logger.write(ag::Logger::Level::error, read == 0 ? "queue: envelope larger than 64 MiB"
                                                         : "queue: cannot read the envelope");
        return read == 0 ? 11 : 54; // 554 envelope too long / 451 read error
    }

    if (!sender.empty()) {
        ag::Decision d = guard.check_message(sender, 1, count_recipients(envelope), "queue");
        int refused = exit_for(d.verdict, 0);
        if (refused != 0) {
            envelope_pipe.write.reset();
            ag::wait_exit_code(pid, exit_internal);
            return refused;
        }
    }
    ag::write_all(envelope_pipe.write.get(), envelope.data(), envelope.size());
    envelope_pipe.write.reset();
    return ag::wait_exit_code(pid, exit_internal);
}
