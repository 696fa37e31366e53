// notify.cpp - detached notification programs.
#include "authguard/notify.hpp"

#include "authguard/event.hpp"
#include "authguard/network_names.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <vector>

namespace authguard {

namespace {

// Forks twice so the program is not our child (nobody waits for it), feeds
// `input` to its stdin from a third detached process, and points its
// stdout/stderr at /dev/null. Waits only for the forks.
bool spawn_detached(const std::vector<std::string>& argv, const std::string& input) {
    pid_t middle = ::fork();
    if (middle < 0) return false;
    if (middle == 0) {
        ::setsid();
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) ::_exit(1);
        // Closed by a successful exec, written by a failed one: a program
        // that does not exist is reported ("cannot start"), not lost.
        int exec_fds[2];
        if (::pipe2(exec_fds, O_CLOEXEC) != 0) ::_exit(1);
        pid_t child = ::fork();
        if (child < 0) ::_exit(1);
        if (child == 0) {
            int null_fd = ::open("/dev/null", O_RDWR);
            ::dup2(pipe_fds[0], 0);
            ::dup2(null_fd, 1);
            ::dup2(null_fd, 2);
            for (int fd = 3; fd < 64; ++fd)
                if (fd != exec_fds[1]) ::close(fd);
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            char failed = 1;
            [[maybe_unused]] auto n = ::write(exec_fds[1], &failed, 1);
            ::_exit(127);
        }
        ::close(pipe_fds[0]);
        ::close(exec_fds[1]);
        char failed = 0;
        ssize_t got;
        while ((got = ::read(exec_fds[0], &failed, 1)) < 0 && errno == EINTR) {
        }
        if (got > 0) ::_exit(1);
        ::close(exec_fds[0]);
        // The feeding is left to one more detached process: a program that
        // stalls before reading a message larger than the pipe holds would
        // otherwise hold the hook that waits for this one.
        pid_t feeder = ::fork();
        if (feeder < 0) ::_exit(1);
        if (feeder > 0) ::_exit(0);
        ::signal(SIGPIPE, SIG_IGN);
        const char* p = input.data();
        std::size_t left = input.size();
        while (left > 0) {
            ssize_t n = ::write(pipe_fds[1], p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    int status = 0;
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The evidence, one network a line as the detector wrote it (scripts read
// these lines), followed by the provider's name where the key is one:
// "AS17676" alone tells an admin nothing; then, on the next line, when the
// network was first seen (the detector's unix seconds tell nobody
// anything). Any text that is not evidence is printed as it is.
std::string evidence_lines(const Config& config, std::string_view evidence) {
    auto networks = parse_evidence(evidence); // the same items, in this order, when it parses
    std::string text;
    std::size_t index = 0;
    while (!evidence.empty()) {
        auto space = evidence.find(' ');
        std::string_view item = evidence.substr(0, space);
        evidence =
            space == std::string_view::npos ? std::string_view() : evidence.substr(space + 1);
        if (item.empty()) continue;
        text += "  " + std::string(item);
        if (networks) {
            const EvidenceNetwork& n = (*networks)[index++];
            std::string label = evidence_network_label(n, config);
            if (label != n.network) text += "  " + escape_for_log(label, 1024);
            // On a line of its own, indented deeper: the network's line
            // stays as scripts have always matched it.
            text += "\n    first seen " + time_for_people(n.first);
        }
        text += "\n";
    }
    return text;
}

} // namespace

std::string time_for_people(std::int64_t unix_seconds) {
    std::time_t tt = static_cast<std::time_t>(unix_seconds);
    std::tm utc{}, local{};
    char buf[64];
    if (!::gmtime_r(&tt, &utc)) return std::to_string(unix_seconds);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &utc);
    std::string text = buf;
    ::tzset(); // localtime_r need not read TZ itself
    if (!::localtime_r(&tt, &local)) return text;
    std::string zone = local.tm_zone ? local.tm_zone : "";
    if (local.tm_gmtoff == 0 && (zone.empty() || zone == "UTC" || zone == "GMT" || zone == "UCT"))
        return text;
    // A zone without an abbreviation (TZ=Etc/GMT-9 says "+09") is still clear.
    std::strftime(buf, sizeof buf, zone.empty() ? "%Y-%m-%d %H:%M:%S %z" : "%Y-%m-%d %H:%M:%S %Z",
                  &local);
    return text + " (" + buf + ")";
}

std::string manual_lock_message(const std::string& user, const std::string& reason,
                                const std::string& by, std::int64_t since, std::int64_t until) {
    std::string who =
        by.empty() ? "An administrator" : "The administrator " + escape_for_log(by, 64);
    std::string text = who + " locked the account " + escape_for_log(user, 256) +
                       " by hand (manual lock, authguardctl lock) at " + time_for_people(since) +
                       ".\n\nReason: " + escape_for_log(reason, 4096) + "\n\n" +
                       (until > 0    ? "The lock ends at " + time_for_people(until) + ".\n"
                        : until == 0 ? "The lock lasts until it is removed.\n"
                                     : "");
    text += "\nauthguard did not detect an attack on this account: the lock is the "
            "administrator's decision. To remove it, run:\n  authguardctl unlock " +
            escape_for_log(user, 256) + "\n";
    return text;
}

std::string lock_message(const Config& config, const std::string& user, const std::string& reason,
                         const std::string& evidence, std::int64_t since) {
    // authguardctl lock stores the evidence "manual": no networks, no leak.
    if (evidence == "manual") return manual_lock_message(user, reason, "", since, -1);
    // The reason is escaped as the log line escapes it: it may hold a
    // provider's name, which comes from a file.
    std::string text = "authguard locked the account " + escape_for_log(user, 256) + " at " +
                       time_for_people(since) + ".\n\nReason: " + escape_for_log(reason, 4096) +
                       "\n\nNew networks (network@first-seen[addresses]):\n" +
                       evidence_lines(config, evidence);
    text += "\nThe password has probably leaked. Change it, then run:\n  authguardctl unlock " +
            escape_for_log(user, 256) + "\n";
    return text;
}

std::string alert_message(const Config& config, const std::string& user, const std::string& reason,
                          const std::string& evidence, std::int64_t when) {
    std::string text = "authguard alert for the account " + escape_for_log(user, 256) + " at " +
                       time_for_people(when) + ".\n\nReason: " + escape_for_log(reason, 4096) +
                       "\n";
    // An alert-only installation's "would lock" carries the lock's evidence.
    if (!evidence.empty())
        text +=
            "\nNew networks (network@first-seen[addresses]):\n" + evidence_lines(config, evidence);
    return text +
           "\nThe login was allowed. If this is not the user's own doing, run:\n"
           "  authguardctl show " +
           escape_for_log(user, 256) + "\n";
}

std::string notify_admin(const Config& config, const std::string& subject,
                         const std::string& message) {
    std::string failed;
    if (!config.notify_command.empty()) {
        if (!spawn_detached(config.notify_command, message))
            failed += "notify-command " + config.notify_command[0] + " ";
    }
    if (!config.notify_mail.empty()) {
        std::string mail = "To: " + config.notify_mail + "\nSubject: " + subject + "\n\n" + message;
        if (!spawn_detached({config.mail_program, config.notify_mail}, mail))
            failed += "mail-program " + config.mail_program + " ";
    }
    return failed;
}

std::string notify_lock(const Config& config, const std::string& user, const std::string& message) {
    return notify_admin(config, "authguard locked " + escape_for_log(user, 200), message);
}

} // namespace authguard
