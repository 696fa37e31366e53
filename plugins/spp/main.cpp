// authguard-spp - the qmail-spp plugin: the same detector at SMTP command
// time, for servers that run qmail-spp (control/smtpplugins).
//
// The section comes from the name the plugin is run as (authguard-spp-auth,
// -mail, -rcpt, -data: symlinks to this program), else from argv[1] (for a
// ":" line of control/smtpplugins). It is never guessed from the
// environment: qmail-spp's variables persist from one command to the next
// (SMTPRCPTTO is still set in [data] and in the next transaction's [mail]).
//   [auth]  after a good password (auth-aware spp, SMTPAUTHUSER set): the
//           whole AUTH-time check; a refusal prints E535 so the login fails.
//           Also binds the session to the user for the later sections and
//           for authguard-queue.
//   [mail]  a locked sender, or one whose next message would be over a
//           limit, is refused.
//   [rcpt]  the same, also counting this transaction's recipients so far
//           plus this one (SMTPRCPTCOUNT + 1) as pending.
//   [data]  counts the message; use it only where authguard-queue does not
//           run, or messages count twice. It counts when DATA comes, before
//           the message is queued, and qmail-spp runs nothing after the
//           queue: a message that is then not queued (client gone, a later
//           plugin refusing it, a failing queue program) still counts.
//           authguard-queue counts only what the next queue accepted.
// qmail-spp has no timeout: every store call is bounded by the store
// timeouts, and on any failure the plugin prints nothing and exits 0. It
// never prints O (that would skip qmail-smtpd's rcpthosts check). Every
// decision is the detector's (decide_message); this file only translates
// qmail-spp's environment into counts and verdicts into spp commands.
#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/smtp_env.hpp"
#include "authguard/store.hpp"
#include "authguard/version.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace ag = authguard;

namespace {

using ag::spp::Section;

Section find_section(int argc, char** argv) {
    std::string_view self = argc >= 1 && argv[0] ? argv[0] : "";
    std::optional<std::string_view> argument;
    if (argc >= 2 && argv[1]) argument = argv[1];
    return ag::spp::find_section(self, argument);
}

// One command line for qmail-spp. It cuts the last byte of every line, so
// the newline must be there.
void say(const std::string& command) {
    std::fputs((command + "\n").c_str(), stdout);
    std::fflush(stdout);
}

bool store_failure(const ag::Decision& d) { return d.reason.rfind("store unavailable", 0) == 0; }

// The spp command for a verdict in [mail], [rcpt], [data]; "" lets it pass.
std::string reply_for(const ag::Decision& d) {
    switch (d.verdict) {
    case ag::Verdict::refuse_locked:
    case ag::Verdict::lock:
        return "E554 5.7.1 this account is locked, ask your postmaster (#5.7.1)";
    case ag::Verdict::reject: return "E554 5.7.1 sending limit reached (#5.7.1)";
    case ag::Verdict::tempfail:
        return store_failure(d) ? "" : "E451 4.7.1 sending limit reached, try later (#4.7.1)";
    case ag::Verdict::allow:
    case ag::Verdict::alert: return "";
    }
    return "";
}

int auth_section(const ag::Config& config, ag::Store& store, ag::Logger& logger) {
    ag::Event event;
    const char* user = std::getenv("SMTPAUTHUSER");
    if (!user || !*user) {
        logger.write(ag::Logger::Level::warning, "spp auth: no SMTPAUTHUSER, nothing to check");
        return 0;
    }
    if (auto why = ag::normalize_user(user, config, event.user); !why.empty()) {
        logger.write(ag::Logger::Level::warning,
                     "spp auth: refused user=" + ag::escape_word_for_log(user) + ": " + why);
        say("E535 5.7.8 authentication failed (#5.7.8)");
        return 0;
    }
    event.address = ag::client_address_from_env();
    const char* port = std::getenv("TCPLOCALPORT");
    event.service = port ? ag::service_for_port(port) : "unknown";
    event.time = ag::event_time(config);
    event.outcome = ag::Outcome::success;
    ag::Guard guard(config, store, logger);
    // Our parent is the qmail-smtpd that also runs the later plugins and
    // the QMAILQUEUE program: they find the user under the same key.
    ag::Decision d = guard.check(event, ag::session_key_of_parent());
    if (d.verdict == ag::Verdict::lock || d.verdict == ag::Verdict::refuse_locked)
        say("E535 5.7.8 authentication failed (#5.7.8)");
    else if (d.verdict == ag::Verdict::tempfail && !store_failure(d))
        say("E454 4.7.0 temporary authentication failure (#4.7.0)");
    return 0;
}

// Who sends, as authguard-queue decides it: the authenticated user, else a
// relaying client when relay limits are set, else nobody we judge.
std::string sender_of_session(const ag::Config& config, ag::Store& store) {
    if (auto id = ag::authenticated_identity(config, store)) return id->user;
    if (std::getenv("RELAYCLIENT")) {
        const ag::Thresholds& t = config.defaults;
        if (t.relay_max_messages_short > 0 || t.relay_max_recipients_short > 0 ||
            t.relay_max_recipients_long > 0)
            return "relay:" + ag::client_address_from_env();
    }
    return {};
}

int transaction_section(Section section, const ag::Config& config, ag::Store& store,
                        ag::Logger& logger) {
    std::string sender;
    try {
        sender = sender_of_session(config, store);
    } catch (const ag::StoreError& e) {
        logger.write(ag::Logger::Level::error,
                     std::string("spp: cannot look up the session, no check: ") + e.what());
        return 0;
    }
    if (sender.empty()) return 0; // not authenticated: nothing of ours to judge
    ag::Guard guard(config, store, logger);
    // The counts come from SMTPRCPTCOUNT and SMTPRCPTCOUNTALL, read by
    // lib/smtp_env.cpp (which variant of qmail-spp sets what).
    ag::Decision d;
    if (section == Section::mail) {
        // The message this transaction would add.
        d = guard.check_message(sender, 0, 0, "spp-mail", 0, 1);
    } else if (section == Section::rcpt) {
        d = guard.check_message(sender, 0, 0, "spp-rcpt", ag::spp::rcpt_pending(ag::process_env),
                                1);
    } else {
        d = guard.check_message(sender, 1, ag::spp::data_recipients(ag::process_env), "spp-data");
    }
    if (auto reply = reply_for(d); !reply.empty()) say(reply);
    return 0;
}

int run(int argc, char** argv, ag::Logger& logger) {
    Section section = find_section(argc, argv);
    if (section == Section::unknown) {
        logger.write(ag::Logger::Level::error,
                     "spp: cannot tell the section; run as authguard-spp-auth/-mail/-rcpt/-data "
                     "or with the section as argument");
        return 0;
    }
    // A control file that does not parse: the last valid one is used (the
    // guard keeps guarding), and the error logged with every command.
    ag::LoadedConfig loaded = ag::load_config_or_last_valid(ag::default_control_dir());
    ag::Config config = std::move(loaded.config);
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    if (!loaded.problem.empty()) logger.write(ag::Logger::Level::error, "spp: " + loaded.message());
    auto store = ag::open_store(config);
    if (section == Section::auth) return auth_section(config, *store, logger);
    return transaction_section(section, config, *store, logger);
}

constexpr char usage[] =
    "usage: authguard-spp-auth | authguard-spp-mail | authguard-spp-rcpt | authguard-spp SECTION\n"
    "A qmail-spp plugin: refuses a locked account at AUTH, MAIL or RCPT and counts\n"
    "messages and recipients per user. List it in control/smtpplugins under the\n"
    "section it is named for. See authguard-spp(8) and authguard(5).\n";

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-spp");
    if (ag::help_asked(argc, argv)) return ag::print_help(usage);
    ag::Logger logger;
    // Whatever goes wrong, the session goes on: a crash would be answered
    // "451 qmail-spp failure" for every command of every client.
    try {
        return run(argc, argv, logger);
    } catch (const std::exception& e) {
        logger.write(ag::Logger::Level::error, std::string("spp: internal error, no check: ") + e.what());
    } catch (...) {
        logger.write(ag::Logger::Level::error, "spp: internal error, no check");
    }
    return 0;
}
