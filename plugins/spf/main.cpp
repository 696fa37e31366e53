// authguard-spf - the qmail-spp plugin that checks SPF (RFC 7208) as the
// qmail-spf-rc5 patch does, without patching qmail-smtpd: a thin adapter
// from qmail-spp's environment and qmail-spf's control files to lib/spf
// (spf::Checker), and from its verdict to spp commands. See
// authguard-spf(8) for the behaviour admins see.
//
// The section comes from the name the plugin is run as (authguard-spf-mail,
// authguard-spf-rcpt: symlinks to this program), else from argv[1], as for
// authguard-spp, never from the environment.
//   [mail]  check MAIL FROM (the HELO name for the null sender), add the
//           Received-SPF header (spp "H"), refuse the MAIL command when the
//           level says so.
//   [rcpt]  the same check, once per transaction (its first RCPT), the
//           verdict kept for the later RCPTs in qmail-spp's environment
//           ("S"); a refusal is then given to every recipient except
//           postmaster and abuse, which must stay reachable (RFC 5321 §4.5.1).
// Fail-open: qmail-spp has no timeout and answers a crash with "451
// qmail-spp failure" to every command, so any internal failure prints
// nothing and exits 0 (the mail goes on unchecked), and a bad control file
// is logged and read as missing. A hung DNS server costs at most
// spftimeout (lib/spf runs the check against that deadline).
#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/fd.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/smtp_env.hpp"
#include "authguard/spf/check.hpp"
#include "authguard/store.hpp"
#include "authguard/version.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ag = authguard;
namespace spf = authguard::spf;

namespace {

using ag::spp::Section;

// qmail-spf-rc5's default: no SPF at all until the admin chooses a level.
constexpr int default_behavior = 0;
constexpr std::chrono::milliseconds default_timeout{5000};

// Where the verdict of [rcpt]'s first check is kept for the later RCPTs of
// the same transaction (qmail-spp's "S" persists into later plugin runs).
constexpr char verdict_key_var[] = "AUTHGUARD_SPF_FOR";
constexpr char verdict_reply_var[] = "AUTHGUARD_SPF_REPLY";

// The spp commands of this run, printed only once the decision is whole:
// an internal failure half-way prints nothing.
struct Output {
    std::vector<std::string> lines;
    // [rcpt], first check of a transaction: the verdict kept for the later
    // RCPTs ("" when there is nothing to refuse), printed before the rest.
    std::optional<std::string> kept_reply;
    // A check's thread that may still be running (a late or unread check).
    bool check_left_running = false;
    void say(std::string command) { lines.push_back(std::move(command)); }
    // qmail-spp cuts the last byte of every line: the newline must be
    // there. A CR or LF inside would start a new command.
    void print() const {
        std::string all;
        std::vector<std::string> everything;
        if (kept_reply)
            everything.push_back(std::string("S") + verdict_reply_var + "=" + *kept_reply);
        everything.insert(everything.end(), lines.begin(), lines.end());
        for (std::string line : everything) {
            for (char& c : line)
                if (c == '\r' || c == '\n') c = ' ';
            all += line + '\n';
        }
        std::fputs(all.c_str(), stdout);
        std::fflush(stdout);
    }
};

std::string env_or(const char* name, std::string fallback = {}) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : fallback;
}

// A control file's text (ag::read_control_file: never waits, bounded);
// one that cannot be read is logged and taken as missing, never a refusal.
std::optional<std::string> read_control(const std::filesystem::path& path, ag::Logger& logger) {
    try {
        return ag::read_control_file(path, 64 << 10);
    } catch (const ag::ConfigError& e) {
        logger.write(ag::Logger::Level::error, std::string("spf: ") + e.what() + "; read as missing");
        return std::nullopt;
    }
}

// qmail's control_readline: the first line, trailing blanks and CR removed.
std::optional<std::string> first_line(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    std::string line = text->substr(0, text->find('\n'));
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
        line.pop_back();
    return line;
}

std::optional<long> plain_number(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    if (s.empty() || s.size() > 9) return std::nullopt;
    long n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

struct Settings {
    int behavior = default_behavior;
    spf::Options options;
};

Settings read_settings(const std::filesystem::path& control, ag::Logger& logger) {
    Settings s;
    auto bad = [&](const std::string& what) {
        logger.write(ag::Logger::Level::error, "spf: " + what);
    };
    // SPFBEHAVIOR (tcprules) overrides control/spfbehavior, as in the
    // patch. Levels above 6 act as 6 there (every test is "level < N").
    std::optional<std::string> behavior;
    std::string behavior_from;
    if (const char* e = std::getenv("SPFBEHAVIOR")) {
        behavior = e;
        behavior_from = "SPFBEHAVIOR";
    } else {
        behavior = first_line(read_control(control / "spfbehavior", logger));
        behavior_from = (control / "spfbehavior").string();
    }
    if (behavior) {
        if (auto n = plain_number(*behavior))
            s.behavior = static_cast<int>(std::min(*n, 6L));
        else
            bad(behavior_from + ": '" + ag::escape_for_log(*behavior, 40) +
                "' is not a level 0-6; using " + std::to_string(default_behavior));
    }
    if (s.behavior == 0) return s;

    if (auto t = first_line(read_control(control / "spftimeout", logger))) {
        auto n = plain_number(*t);
        if (n && *n >= 1 && *n <= 600000)
            s.options.timeout = std::chrono::milliseconds(*n);
        else
            bad((control / "spftimeout").string() + ": '" + ag::escape_for_log(*t, 40) +
                "' is not a time in milliseconds (1-600000); using 5000");
    }
    // The receiving host: the patch's %{xR} and receiver= are TCPLOCALHOST,
    // else TCPLOCALIP; control/me is a better name than an address.
    std::string receiver = env_or("TCPLOCALHOST");
    if (receiver.empty()) receiver = first_line(read_control(control / "me", logger)).value_or("");
    if (receiver.empty()) receiver = env_or("TCPLOCALIP", "unknown");
    s.options.receiver = receiver;

    // Each file on its own, so that one that is not valid SPF is dropped
    // (logged) and the others still apply.
    struct Extra {
        const char* file;
        std::string spf::Options::*field;
    };
    for (Extra x :
         {Extra{"spfrules", &spf::Options::local_rules}, Extra{"spfguess", &spf::Options::guess},
          Extra{"spfexp", &spf::Options::explanation}}) {
        auto line = first_line(read_control(control / x.file, logger));
        if (!line || line->empty()) continue;
        // Guesses written for the patch are often whole records
        // ("v=spf1 a/24 mx/24 ptr"); lib/spf wants the terms.
        if (x.field != &spf::Options::explanation && line->rfind("v=spf1 ", 0) == 0)
            line->erase(0, 7);
        spf::Options trial;
        trial.receiver = receiver;
        trial.*x.field = *line;
        try {
            spf::Checker probe(spf::Dns::resolver(), trial);
            s.options.*x.field = *line;
        } catch (const spf::Error& e) {
            bad((control / x.file).string() + ": " + e.what() + "; read as missing");
        }
    }
    return s;
}

// Whether the session is authenticated, as the other hooks prove it
// (identity.hpp: the session binding, SMTPAUTHUSER with trust-auth-env;
// never TCPREMOTEINFO); RELAYCLIENT is the caller's test. "" when the
// sender is checked; nullopt when it cannot be
// told (the store is unavailable): then the check runs but never refuses.
std::optional<std::string> trusted_because(const ag::Config& config, ag::Logger& logger) {
    try {
        if (auto id = ag::identity_from_env(config, ag::process_env);
            id && config.trust_auth_env && !id->user.empty())
            return "authenticated:" + id->source;
        auto store = ag::open_store(config);
        if (auto id = ag::authenticated_identity(config, *store))
            return "authenticated:" + id->source;
        return std::string();
    } catch (const std::exception& e) {
        logger.write(ag::Logger::Level::error,
                     std::string("spf: cannot tell whether the session is authenticated, "
                                 "header only: ") +
                         e.what());
        return std::nullopt;
    }
}

// The spp reply for a verdict at a level; "" lets the command pass.
std::string reply_for(const spf::Verdict& v, int level) {
    bool refuse = false;
    switch (v.result) {
    case spf::Result::pass:
        break;
    case spf::Result::fail:
        refuse = level >= 3;
        break;
    case spf::Result::softfail:
        refuse = level >= 4;
        break;
    case spf::Result::neutral:
        refuse = level >= 5;
        break;
    case spf::Result::none:
    case spf::Result::permerror:
        refuse = level >= 6;
        break;
    case spf::Result::temperror:
        if (level >= 2) return "451 4.4.3 SPF lookup failure, try again later (#4.4.3)";
        break;
    }
    if (!refuse) return "";
    std::string text = v.result == spf::Result::fail && !v.explanation.empty()
                           ? v.explanation
                           : "SPF " + std::string(spf::to_string(v.result)) + " for " +
                                 (v.domain.empty() ? std::string("the sender") : v.domain) +
                                 (v.reason.empty() ? "" : ": " + v.reason);
    return "550 5.7.23 " + ag::escape_for_log(text, 400) + " (#5.7.23)";
}

// postmaster and abuse (any domain, or none: "RCPT TO:<postmaster>") are
// never refused in [rcpt].
bool always_reachable(std::string_view rcpt) {
    std::string_view local = rcpt.substr(0, rcpt.rfind('@'));
    auto same = [](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
        return true;
    };
    return same(local, "postmaster") || same(local, "abuse");
}

std::string field(std::string_view s) {
    return s.empty() ? "-" : ag::escape_word_for_log(s);
}

int run(int argc, char** argv, ag::Logger& logger, Output& out) {
    std::string_view self = argc >= 1 && argv[0] ? argv[0] : "";
    std::optional<std::string_view> argument;
    if (argc >= 2 && argv[1]) argument = argv[1];
    Section section = ag::spp::find_section(self, argument);
    if (section != Section::mail && section != Section::rcpt) {
        logger.write(ag::Logger::Level::error,
                     "spf: cannot tell the section; run as authguard-spf-mail or "
                     "authguard-spf-rcpt, or with mail or rcpt as argument");
        return 0;
    }
    const char* section_name = section == Section::mail ? "mail" : "rcpt";
    // control/authguard: where the log copy goes, trust-auth-env and the
    // store of the session binding. One that does not parse: the last
    // valid one (never an exception).
    ag::LoadedConfig loaded = ag::load_config_or_last_valid(ag::default_control_dir());
    if (!loaded.config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(loaded.config.log_file);
    if (!loaded.problem.empty()) logger.write(ag::Logger::Level::error, "spf: " + loaded.message());
    Settings settings = read_settings(ag::default_control_dir(), logger);
    if (settings.behavior == 0) return 0; // the patch's 0: no lookups, no header

    spf::Request request;
    request.client_ip = ag::client_address_from(ag::process_env);
    std::string from = env_or("SMTPMAILFROM");
    request.sender = from;
    request.helo = env_or("SMTPHELOHOST");
    std::string rcpt = env_or("SMTPRCPTTO");

    if (section == Section::rcpt) {
        // The first RCPT of a transaction checks; later ones reuse its
        // verdict when it was made for this MAIL FROM and HELO (a plugin
        // before us may have stopped the first RCPT: then check again).
        std::string key = std::to_string(request.helo.size()) + ":" + request.helo + from;
        bool first = ag::spp::env_count(ag::process_env, "SMTPRCPTCOUNTALL", 1) <= 1;
        const char* kept_key = std::getenv(verdict_key_var);
        if (!first && kept_key && key == kept_key) {
            std::string reply = env_or(verdict_reply_var);
            if (reply.empty()) return 0;
            bool exempt = always_reachable(rcpt);
            logger.write(ag::Logger::Level::info, std::string("spf result=kept section=rcpt ip=") +
                                                      field(request.client_ip) +
                                                      " from=" + field(from) +
                                                      " rcpt=" + field(rcpt) + " action=" +
                                                      (exempt            ? "allow-postmaster"
                                                       : reply[0] == '4' ? "tempfail"
                                                                         : "refuse"));
            if (!exempt) out.say("E" + reply);
            return 0;
        }
        // A later RCPT must never reuse an older transaction's verdict.
        out.say(std::string("S") + verdict_key_var + "=" + key);
        out.kept_reply = "";
    }

    // RELAYCLIENT and a missing client address are known at once; whether
    // the session is authenticated takes a store round trip, made while
    // the check's DNS queries are under way (an authenticated sender's
    // check is then abandoned unread).
    std::optional<std::string> trusted;
    if (std::getenv("RELAYCLIENT"))
        trusted = "relayclient";
    else if (request.client_ip == ag::unknown_address)
        // SPF needs the client's address (RFC 7208 4.1); without one (no
        // TCPREMOTEIP, or garbage) the check would be a permerror that
        // level 6 refuses: not checked instead, as no fault of the client's.
        trusted = "no-client-address";
    std::optional<spf::RunningCheck> running;
    auto t0 = std::chrono::steady_clock::now();
    if (!trusted) {
        spf::Checker checker(spf::Dns::resolver(), settings.options);
        running.emplace(checker.start(request));
        out.check_left_running = true;
        trusted = trusted_because(loaded.config, logger);
    }
    if (trusted && !trusted->empty()) {
        logger.write(ag::Logger::Level::info, std::string("spf result=skipped section=") +
                                                  section_name + " ip=" + field(request.client_ip) +
                                                  " from=" + field(from) +
                                                  " action=skip reason=" + *trusted);
        return 0;
    }
    int level = trusted ? settings.behavior : 1; // unknown: header only

    spf::Verdict v = running->wait();
    out.check_left_running = false;
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    std::string reply = reply_for(v, level);

    std::string action = reply.empty() ? "header" : reply[0] == '4' ? "tempfail" : "refuse";
    bool exempt = false;
    if (section == Section::rcpt && !reply.empty()) {
        out.kept_reply = reply;
        if (always_reachable(rcpt)) {
            exempt = true;
            action = "allow-postmaster";
        }
    }
    logger.write(ag::Logger::Level::info,
                 std::string("spf result=") + std::string(spf::to_string(v.result)) +
                     " section=" + section_name + " ip=" + field(request.client_ip) +
                     " from=" + field(from) + " helo=" + field(request.helo) +
                     " identity=" + field(v.identity) + " domain=" + field(v.domain) +
                     " level=" + std::to_string(level) + " action=" + action +
                     (section == Section::rcpt ? " rcpt=" + field(rcpt) : "") +
                     " ms=" + std::to_string(ms) +
                     (v.problem.empty() ? "" : " problem=" + field(v.problem)));

    // The header first: qmail-spp stops reading at E. A folded header is
    // one H command per line (qmail-spp adds each with a newline).
    std::string header = spf::received_spf_header(v);
    for (std::size_t start = 0; start <= header.size();) {
        std::size_t end = header.find('\n', start);
        if (end == std::string::npos) end = header.size();
        if (end > start) out.say("H" + header.substr(start, end - start));
        start = end + 1;
    }
    if (!reply.empty() && !exempt) out.say("E" + reply);
    return 0;
}

// A crash (in libspf2, say) must not become "451 qmail-spp failure" for
// every command: nothing has been printed yet (Output prints at the end),
// so say why on stderr (qmail-smtpd's log) and let the command through
// unchecked. Only async-signal-safe calls here. Not under ASan, whose own
// handler reports the crash.
extern "C" void exit_unchecked(int) {
    static const char why[] = "authguard-spf: crashed (fatal signal); this command goes on "
                              "without an SPF check\n";
    [[maybe_unused]] ssize_t n = ::write(2, why, sizeof why - 1);
    ::_exit(0);
}

void fail_open_on_crash() {
#if !defined(__SANITIZE_ADDRESS__)
    struct sigaction action {};
    action.sa_handler = exit_unchecked;
    sigemptyset(&action.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
        ::sigaction(sig, &action, nullptr);
#endif
}

constexpr char usage[] =
    "usage: authguard-spf-mail | authguard-spf-rcpt | authguard-spf mail|rcpt\n"
    "A qmail-spp plugin: the SPF check (RFC 7208) of qmail-spf-rc5, without a patch.\n"
    "List it in control/smtpplugins under [mail] (or [rcpt]); it reads qmail-spp's\n"
    "environment and control/spfbehavior (or SPFBEHAVIOR), spfrules, spfguess,\n"
    "spfexp, spftimeout, and prints spp commands. See authguard-spf(8).\n";

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-spf");
    if (ag::help_asked(argc, argv)) return ag::print_help(usage);
    fail_open_on_crash();
    ag::Logger logger;
    // Whatever goes wrong, the session goes on unchecked: a crash would be
    // answered "451 qmail-spp failure" for every command of every client.
    try {
        Output out;
        run(argc, argv, logger, out);
        out.print();
        // A late check's thread may still be in libspf2: the process ends
        // here without running static destructors under it.
        if (out.check_left_running) std::_Exit(0);
        return 0;
    } catch (const std::exception& e) {
        logger.write(ag::Logger::Level::error,
                     std::string("spf: internal error, no check: ") + e.what());
    } catch (...) {
        logger.write(ag::Logger::Level::error, "spf: internal error, no check");
    }
    return 0;
}
