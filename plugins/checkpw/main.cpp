// authguard-checkpw - the AUTH-time guard, a checkpassword program placed in
// front of the real one:
//
//   qmail-smtpd [host] authguard-checkpw /home/vpopmail/bin/vchkpw /bin/true
//
// It reads fd 3 once, hands the same bytes to the real checkpassword and
// runs it with itself (in "authenticated" mode) as the subprogram. If the
// password is wrong the real program exits and this process records a
// failure. If it is right the real program execs our authenticated stage
// under the uid, environment and working directory it chose; that stage asks
// this process (over two pipes) for the verdict and then execs the real
// subprogram, or refuses. So every event costs exactly one store round trip
// and the store is only ever touched with this process's own privileges.
// qmail-smtpd's subprogram, /bin/true, needs no stage: the real program runs
// it directly, and its exit 0 is the success we then judge.
//
// Exit codes are the checkpassword convention's: 0 ok (the subprogram's own
// code), 1 refused or bad password, 2 misuse, 111 temporary; the real
// checkpassword's code is passed on unchanged. qmail-smtpd's AUTH patches
// answer every non-zero exit with 535, 111 included: no 454 reaches the
// client from here.
#include "authguard/checkpassword.hpp"
#include "authguard/config.hpp"
#include "authguard/fd.hpp"
#include "authguard/fingerprint.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/store.hpp"
#include "authguard/version.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ag = authguard;
namespace cp = authguard::checkpassword;

namespace {

constexpr const char* authenticated_flag = "--authenticated";

// One byte each way between the guard and its authenticated stage.
constexpr char report_success = 'S';
constexpr char verdict_allow = 'A';
constexpr char verdict_refuse = 'R';
constexpr char verdict_tempfail = 'T';

// Holds the fd 3 bytes and wipes them however the function is left.
struct Secret {
    std::string bytes;
    ~Secret() { wipe(); }
    void wipe() { ::explicit_bzero(bytes.data(), bytes.size()); }
};

int read_byte(int fd) {
    char c = 0;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        return n == 1 ? static_cast<unsigned char>(c) : -1;
    }
}

std::string self_path() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    return std::string(buf, static_cast<std::size_t>(n));
}

// Run by the real checkpassword after a good password:
//   authguard-checkpw --authenticated REPORT_FD VERDICT_FD -- subprogram...
int authenticated_stage(int argc, char** argv) {
    if (argc < 5 || std::strcmp(argv[4], "--") != 0) return cp::exit_misuse;
    int report_fd = std::atoi(argv[2]);
    int verdict_fd = std::atoi(argv[3]);
    char s = report_success;
    int verdict = -1;
    if (ag::write_all(report_fd, &s, 1)) verdict = read_byte(verdict_fd);
    ::close(report_fd);
    ::close(verdict_fd);
    // No answer means the guard is gone; like any store failure, that fails open.
    if (verdict == verdict_refuse) return cp::exit_bad;
    if (verdict == verdict_tempfail) return cp::exit_temp;
    if (argc == 5) return cp::exit_ok;
    ::execvp(argv[5], argv + 5);
    return cp::exit_temp;
}

// The subprogram is only /bin/true (qmail-smtpd's).
bool runs_true(int argc, char** argv) {
    return argc == 3 &&
           (std::strcmp(argv[2], "/bin/true") == 0 || std::strcmp(argv[2], "/usr/bin/true") == 0);
}

// The report and verdict pipes only for the authenticated stage, so that a
// /bin/true login fits in `ulimit -n 8` (tests/integration/faults.sh). On
// failure none stays open, freeing the descriptors the log line needs
// (EMFILE), errno kept.
bool open_pipes(bool trivial_subprogram, ag::Pipe& credentials, ag::Pipe& report,
                ag::Pipe& verdict) {
    if (credentials.open() && (trivial_subprogram || (report.open() && verdict.open())))
        return true;
    int error = errno;
    credentials = {};
    report = {};
    verdict = {};
    errno = error;
    return false;
}

ag::Outcome outcome_of_exit(int code) {
    // vchkpw: 1 access denied, 3 unknown user or bad password; the
    // convention: 1 bad password. 111 and vchkpw's 4-24 are local failures.
    if (code == 1 || code == 3) return ag::Outcome::bad_password;
    return ag::Outcome::temporary_failure;
}

int guard_stage(int argc, char** argv) {
    ag::Logger logger;
    if (argc < 2) {
        logger.write(ag::Logger::Level::error,
                     "usage: authguard-checkpw checkpassword [subprogram ...]");
        return cp::exit_misuse;
    }

    // A control file that does not parse never refuses a login (qmail-smtpd
    // turns any exit but 0 into 535): the last valid one is used, and the
    // error logged with every login until it is fixed.
    ag::LoadedConfig loaded = ag::load_config_or_last_valid(ag::default_control_dir());
    ag::Config config = std::move(loaded.config);
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    if (!loaded.problem.empty()) logger.write(ag::Logger::Level::error, loaded.message());

    Secret input;
    if (int rc = cp::read_input(3, input.bytes); rc != 0) {
        logger.write(ag::Logger::Level::warning,
                     rc == cp::exit_bad ? "fd 3: more than 512 bytes, refused"
                                        : std::string("fd 3: cannot read: ") + std::strerror(errno));
        return rc;
    }
    cp::Input credentials;
    if (int rc = cp::parse(input.bytes, credentials); rc != 0) {
        logger.write(ag::Logger::Level::warning,
                     rc == cp::exit_misuse ? "fd 3: not user\\0password\\0, refused"
                                           : "fd 3: empty user or password, refused");
        return rc;
    }

    ag::Event event;
    if (auto why = ag::normalize_user(credentials.user, config, event.user); !why.empty()) {
        logger.write(ag::Logger::Level::warning,
                     "refused user=" + ag::escape_word_for_log(credentials.user) + ": " + why);
        return cp::exit_bad;
    }
    event.address = ag::client_address_from_env();
    if (event.address == ag::unknown_address)
        logger.write(ag::Logger::Level::warning,
                     "no usable TCPREMOTEIP/TCP6REMOTEIP; counted as network 'unknown' for user=" +
                         ag::escape_word_for_log(event.user));
    const char* port = std::getenv("TCPLOCALPORT");
    event.service = port ? ag::service_for_port(port) : "unknown";
    event.time = ag::event_time(config);
    event.fingerprint = ag::password_fingerprint(config.fingerprint_secret, config.fingerprint_bits,
                                                 event.user, credentials.password);

    // Our own path (a readlink of /proc/self/exe) only for the
    // authenticated stage: /bin/true runs without it.
    std::string self = runs_true(argc, argv) ? std::string() : self_path();
    ag::Pipe credentials_pipe, report, verdict;
    if ((self.empty() && !runs_true(argc, argv)) ||
        !open_pipes(runs_true(argc, argv), credentials_pipe, report, verdict)) {
        logger.write(ag::Logger::Level::error, "cannot set up pipes or find myself: " +
                                                   std::string(std::strerror(errno)));
        return cp::exit_temp;
    }
    // At most 512 bytes: fits any pipe buffer, so this never blocks.
    bool written = ag::write_all(credentials_pipe.write.get(), input.bytes.data(), input.bytes.size());
    credentials_pipe.write.reset();
    input.wipe();
    if (!written) {
        logger.write(ag::Logger::Level::error, "cannot pass fd 3 on");
        return cp::exit_temp;
    }

    // qmail-smtpd's subprogram is /bin/true: it does nothing a refusal
    // afterwards could not undo, so the real checkpassword runs it directly
    // and its exit 0 is the success -- one process start less per login.
    // Any other subprogram (qmail-pop3d) runs only after our verdict, from
    // the authenticated stage. (runs_true(), spelled out here: a call's
    // result kept across the vfork below trips -Wclobbered.)
    bool trivial_subprogram = argc == 3 && (std::strcmp(argv[2], "/bin/true") == 0 ||
                                            std::strcmp(argv[2], "/usr/bin/true") == 0);
    std::string report_fd = std::to_string(report.write.get());
    std::string verdict_fd = std::to_string(verdict.read.get());
    std::vector<char*> child_argv{argv[1]};
    if (!trivial_subprogram)
        child_argv.insert(child_argv.end(),
                          {self.data(), const_cast<char*>(authenticated_flag), report_fd.data(),
                           verdict_fd.data(), const_cast<char*>("--")});
    for (int i = 2; i < argc; ++i) child_argv.push_back(argv[i]);
    child_argv.push_back(nullptr);

    // vfork: the child only moves descriptors and execs.
    pid_t pid = ::vfork();
    if (pid < 0) {
        logger.write(ag::Logger::Level::error, std::string("fork: ") + std::strerror(errno));
        return cp::exit_temp;
    }
    if (pid == 0) {
        if (::dup2(credentials_pipe.read.get(), 3) < 0) ::_exit(cp::exit_temp);
        if (!trivial_subprogram) {
            ::fcntl(report.write.get(), F_SETFD, 0);
            ::fcntl(verdict.read.get(), F_SETFD, 0);
        }
        ::execv(argv[1], child_argv.data());
        ::_exit(cp::exit_temp);
    }
    ::signal(SIGPIPE, SIG_IGN);
    credentials_pipe.read.reset();
    report.write.reset();
    verdict.read.reset();

    // Connected (or the LMDB environment opened) while the real
    // checkpassword runs, not after it: the login then waits for one round
    // trip only. A failure here is the first record()'s, as before.
    std::unique_ptr<ag::Store> store = ag::open_store(config);
    store->prepare();
    ag::Guard guard(config, *store, logger);

    // A good password: record it, and bind this SMTP session to the user
    // for authguard-queue and authguard-spp (our parent is the qmail-smtpd
    // that runs them too).
    auto judge_success = [&] {
        event.outcome = ag::Outcome::success;
        event.fingerprint.reset();
        ag::Decision d = guard.check(event, ag::session_key_of_parent());
        if (d.verdict == ag::Verdict::lock || d.verdict == ag::Verdict::refuse_locked)
            return verdict_refuse;
        return d.verdict == ag::Verdict::tempfail ? verdict_tempfail : verdict_allow;
    };

    if (!trivial_subprogram && read_byte(report.read.get()) == report_success) {
        char answer = judge_success();
        ag::write_all(verdict.write.get(), &answer, 1);
        verdict.write.reset();
        return ag::wait_exit_code(pid, cp::exit_temp);
    }

    verdict.write.reset();
    int code = ag::wait_exit_code(pid, cp::exit_temp);
    if (code == cp::exit_ok) {
        // The subprogram ran without our stage: /bin/true, or a real
        // checkpassword that ignores its argv. The verdict still decides
        // what the client hears.
        char answer = judge_success();
        return answer == verdict_refuse     ? cp::exit_bad
               : answer == verdict_tempfail ? cp::exit_temp
                                            : cp::exit_ok;
    }
    if (code == cp::exit_misuse) {
        logger.write(ag::Logger::Level::warning, "checkpassword " + ag::escape_for_log(argv[1]) +
                                                     " exited 2 (misuse) for user=" +
                                                     ag::escape_word_for_log(event.user));
        return code;
    }
    event.outcome = outcome_of_exit(code);
    if (event.outcome != ag::Outcome::bad_password) event.fingerprint.reset();
    guard.check(event);
    return code;
}

constexpr char usage[] =
    "usage: authguard-checkpw CHECKPASSWORD SUBPROGRAM...\n"
    "A checkpassword wrapper: put it in front of the real checkpassword (vchkpw) in\n"
    "qmail-smtpd's run script. It refuses an account whose logins fan out like a\n"
    "botnet's and records each login in the store of control/authguard.\n"
    "Reads user\\0password\\0... on fd 3, as qmail-smtpd's AUTH patches write it.\n"
    "See authguard-checkpw(8) and authguard(5).\n";

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-checkpw");
    if (ag::help_asked(argc, argv)) return ag::print_help(usage);
    if (argc >= 2 && std::strcmp(argv[1], authenticated_flag) == 0)
        return authenticated_stage(argc, argv);
    return guard_stage(argc, argv);
}
