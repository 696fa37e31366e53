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
// internal bug) for our own trouble (bad control file, a loop, no fork);
// 120 (451 unable to exec qq) when the next queue program cannot be run,
// logged with its path and the reason. A message counts against the
// sending limits only when the next queue program accepted it (exit 0).
#include "authguard/config.hpp"
#include "authguard/envelope.hpp"
#include "authguard/fd.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/next_program.hpp"
#include "authguard/store.hpp"
#include "authguard/version.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace ag = authguard;

namespace {

constexpr int exit_reject = 31;   // 554 mail server permanently rejected message
constexpr int exit_tempfail = 71; // 451 mail server temporarily rejected message
constexpr int exit_internal = 81; // 451 qq internal bug
constexpr int exit_no_exec = 120; // 451 unable to exec qq: temporary, the client retries

// Set for the next queue program: if it (or a wrapper after it) starts us
// again, the chain loops, and we stop it instead of running forever.
constexpr const char* nested_marker = "AUTHGUARD_QUEUE_RUNNING";

// The envelope is F<sender>\0, T<recipient>\0 per recipient, then \0
// (read by lib/envelope.cpp). Each address is at most about 1000 bytes in
// practice; 64 MiB is far more than qmail-smtpd would ever send and still
// bounds our memory.
constexpr std::size_t envelope_limit = 64u << 20;

void log_cannot_run(ag::Logger& logger, const std::string& next, const std::string& why) {
    logger.write(ag::Logger::Level::error,
                 "queue: cannot run the next queue program " + ag::escape_for_log(next) + ": " +
                     ag::escape_for_log(why, 256) +
                     " (set next-queue to the real qmail-queue); the message is not queued and "
                     "not counted, the client gets 451 and retries");
}

// The reply qmail-smtpd gives for a queue program's exit code (for the log).
const char* reply_for_exit(int code) {
    switch (code) {
    case 11:
        return "554 envelope address too long";
    case 31:
        return "554 permanently rejected";
    case 51:
        return "451 out of memory";
    case 52:
        return "451 timeout";
    case 53:
        return "451 write error";
    case 54:
        return "451 read error";
    case 71:
        return "451 temporarily rejected";
    case 81:
    case 91:
        return "451 qq internal bug";
    case 120:
        return "451 unable to exec qq";
    }
    return code >= 12 && code <= 40 ? "554 qq permanent problem" : "451 qq temporary problem";
}

int exit_for(ag::Verdict verdict, int otherwise) {
    switch (verdict) {
    case ag::Verdict::refuse_locked:
    case ag::Verdict::lock:
    case ag::Verdict::reject:
        return exit_reject;
    case ag::Verdict::tempfail:
        return exit_tempfail;
    case ag::Verdict::allow:
    case ag::Verdict::alert:
        return otherwise;
    }
    return otherwise;
}

constexpr char usage[] =
    "usage: QMAILQUEUE=/var/qmail/bin/authguard-queue in qmail-smtpd's environment\n"
    "A QMAILQUEUE program: refuses (exit 31) a message of a locked account, counts\n"
    "messages and recipients per user, then hands the message untouched to the next\n"
    "queue program (next-queue in control/authguard, or $AUTHGUARD_QUEUE).\n"
    "See authguard-queue(8) and authguard(5).\n";

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-queue");
    if (ag::help_asked(argc, argv)) return ag::print_help(usage);
    ag::Logger logger;
    // A control file that does not parse never refuses a message: the last
    // valid one is used, and the error logged with every message.
    ag::LoadedConfig loaded = ag::load_config_or_last_valid(ag::default_control_dir());
    ag::Config config = std::move(loaded.config);
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    if (!loaded.problem.empty())
        logger.write(ag::Logger::Level::error, "queue: " + loaded.message());

    const char* from_env = std::getenv("AUTHGUARD_QUEUE");
    std::string next = from_env && *from_env ? from_env : config.next_queue;
    if (std::getenv(nested_marker) || ag::same_file(next, "/proc/self/exe")) {
        logger.write(ag::Logger::Level::error,
                     "queue: next queue program " + ag::escape_for_log(next) +
                         " is authguard-queue itself (set next-queue to the real qmail-queue)");
        return exit_internal;
    }

    // Without a program to hand the message to, nothing is queued: say which
    // program and why, and answer 451 (unable to exec qq) before the store
    // counts a message that will never leave.
    if (std::string why = ag::why_not_runnable(next); !why.empty()) {
        log_cannot_run(logger, next, why);
        return exit_no_exec;
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

    ag::Pipe envelope_pipe, exec_error; // exec_error: the child's errno if execl fails
    if (!envelope_pipe.open() || !exec_error.open()) {
        std::string why = std::strerror(errno);
        envelope_pipe = {}; // free the descriptors the log line needs (EMFILE)
        logger.write(ag::Logger::Level::error, "queue: pipe: " + why);
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
        int failed = errno; // close-on-exec: the parent reads EOF when execl worked
        ag::write_all(exec_error.write.get(), reinterpret_cast<const char*>(&failed),
                      sizeof failed);
        ::_exit(exit_no_exec); // qmail-smtpd: 451 unable to exec qq
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::close(0); // the message is the next queue program's alone
    envelope_pipe.read.reset();
    exec_error.write.reset();
    {
        // The program passed why_not_runnable() but may still fail to start (gone
        // since, a bad interpreter line, not a valid executable).
        std::string failed;
        if (ag::read_all(exec_error.read.get(), failed, 64) == 1 && failed.size() == sizeof(int)) {
            int error = 0;
            std::memcpy(&error, failed.data(), sizeof error);
            envelope_pipe.write.reset();
            ag::wait_exit_code(pid, exit_internal);
            log_cannot_run(logger, next, std::strerror(error));
            return exit_no_exec;
        }
    }

    std::string envelope;
    int read = ag::read_all(1, envelope, envelope_limit);
    if (read <= 0) {
        envelope_pipe.write.reset(); // the next queue program aborts and cleans up
        ag::wait_exit_code(pid, exit_internal);
        logger.write(ag::Logger::Level::error, read == 0 ? "queue: envelope larger than 64 MiB"
                                                         : "queue: cannot read the envelope");
        return read == 0 ? 11 : 54; // 554 envelope too long / 451 read error
    }

    // Counted before the hand-on, in the same round trip as the limit check,
    // so that parallel sessions cannot all slip under a limit; taken back
    // below when the message is not queued after all.
    std::optional<ag::Decision> counted;
    const int recipients = ag::envelope::count_recipients(envelope);
    if (!sender.empty()) {
        ag::Decision d = guard.check_message(sender, 1, recipients, "queue");
        int refused = exit_for(d.verdict, 0);
        if (refused != 0) {
            envelope_pipe.write.reset();
            ag::wait_exit_code(pid, exit_internal);
            return refused;
        }
        counted = std::move(d);
    }
    ag::write_all(envelope_pipe.write.get(), envelope.data(), envelope.size());
    envelope_pipe.write.reset();
    // A crash of the next queue program is ours to answer (81, 451): say
    // which signal, not "exited 81" (tests/integration/faults.sh).
    int status = 0, waited = 0;
    while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    const bool killed = waited == pid && WIFSIGNALED(status);
    int code = waited == pid && WIFEXITED(status) ? WEXITSTATUS(status) : exit_internal;
    if (code != 0) {
        std::string how = killed ? "was killed by signal " + std::to_string(WTERMSIG(status)) +
                                       ", exit " + std::to_string(code)
                                 : "exited " + std::to_string(code);
        std::string why = "the next queue program " + next + " " + how + " (" +
                          reply_for_exit(code) + "): the message was not queued";
        if (counted)
            guard.take_back_message(sender, *counted, 1, recipients, "queue", why);
        else
            logger.write(ag::Logger::Level::warning, "queue: " + ag::escape_for_log(why, 512));
    }
    return code;
}
