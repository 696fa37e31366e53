// authguard-spp - the qmail-spp plugin: the same detector at SMTP command
// time, for servers that run qmail-spp (control/smtpplugins).
//
// The section comes from the name the plugin is run as (authguard-spp-auth,
// -mail, -rcpt, -data: symlinks to this program), else from argv[1], else
// from the environment qmail-spp sets.
//   [auth]  after a good password (auth-aware spp, SMTPAUTHUSER set): the
//           whole AUTH-time check; a refusal prints E535 so the login fails.
//           Also binds the session to the user for the later sections and
//           for authguard-queue.
//   [mail]  a locked sender, or one over its message limit, is refused.
//   [rcpt]  the same, counting this transaction's recipients (SMTPRCPTCOUNT).
//   [data]  counts the message; use it only where authguard-queue does not
//           run, or messages count twice.
// qmail-spp has no timeout: every store call is bounded by the store
// timeouts, and on any failure the plugin prints nothing and exits 0. It
// never prints O (that would skip qmail-smtpd's rcpthosts check).
#include "authguard/config.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/store.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace ag = authguard;

namespace {

enum class Section { auth, mail, rcpt, data, unknown };

Section section_named(std::string_view name) {
    if (name == "auth") return Section::auth;
    if (name == "mail") return Section::mail;
    if (name == "rcpt") return Section::rcpt;
    if (name == "data") return Section::data;
    return Section::unknown;
}

Section find_section(int argc, char** argv) {
    std::string_view self = argv[0];
    if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
    if (auto dash = self.rfind('-'); dash != std::string_view::npos) {
        Section s = section_named(self.substr(dash + 1));
        if (s != Section::unknown) return s;
    }
    if (argc >= 2) return section_named(argv[1]);
    if (std::getenv("SMTPRCPTTO")) return Section::rcpt;
    if (std::getenv("SMTPMAILFROM")) return Section::mail;
    if (std::getenv("SMTPAUTHUSER")) return Section::auth;
    return Section::unknown;
}

int env_int(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : 0;
}

void say(const std::string& command) {
    std::fputs((command + "\n").c_str(), stdout);
    std::fflush(stdout);
}

// The SMTP reply for a verdict in [mail], [rcpt], [data]; "" lets it pass.
std::string reply_for(const ag::Decision& d) {
    switch (d.verdict) {
    case ag::Verdict::refuse_locked:
    case ag::Verdict::lock:
        return "E554 5.7.1 this account is locked, ask your postmaster (#5.7.1)";
    case ag::Verdict::reject: return "E554 5.7.1 sending limit reached (#5.7.1)";
    case ag::Verdict::tempfail:
        return d.reason.rfind("store", 0) == 0 ? ""
                                               : "E451 4.7.1 sending limit reached, try later (#4.7.1)";
    case ag::Verdict::allow:
    case ag::Verdict::alert: return "";
    }
    return "";
}

int auth_section(const ag::Config& config, ag::Store& store, ag::Logger& logger) {
    ag::Event event;
    const char* user = std::getenv("SMTPAUTHUSER");
    if (!user || !*user) return 0;
    if (auto why = ag::normalize_user(user, config, event.user); !why.empty()) {
        logger.write(ag::Logger::Level::warning,
                     "spp auth: refused user=" + ag::escape_for_log(user) + ": " + why);
        say("E535 5.7.8 authentication failed (#5.7.8)");
        return 0;
    }
    event.address = ag::client_address_from_env();
    const char* port = std::getenv("TCPLOCALPORT");
    event.service = port ? ag::service_for_port(port) : "unknown";
    event.time = ag::event_time(config);
    event.outcome = ag::Outcome::success;
    ag::Guard guard(config, store, logger);
    ag::Decision d = guard.check(event, ag::session_key_of_parent());
    if (d.verdict == ag::Verdict::lock || d.verdict == ag::Verdict::refuse_locked)
        say("E535 5.7.8 authentication failed (#5.7.8)");
    else if (d.verdict == ag::Verdict::tempfail && d.reason.rfind("store", 0) != 0)
        say("E454 4.7.0 temporary authentication failure (#4.7.0)");
    return 0;
}

int transaction_section(Section section, const ag::Config& config, ag::Store& store,
                        ag::Logger& logger) {
    std::optional<ag::Identity> id;
    try {
        id = ag::authenticated_identity(config, store);
    } catch (const ag::StoreError& e) {
        logger.write(ag::Logger::Level::error, std::string("spp: cannot look up the session: ") + e.what());
        return 0;
    }
    if (!id) return 0; // not authenticated: nothing of ours to judge
    ag::Guard guard(config, store, logger);
    // [rcpt]: this transaction's recipients are counted when the message is
    // queued; until then they are judged as pending.
    int so_far = env_int("SMTPRCPTCOUNT");
    ag::Decision d =
        section == Section::data ? guard.check_message(id->user, 1, so_far, "spp-data")
        : section == Section::rcpt ? guard.check_message(id->user, 0, 0, "spp-rcpt", so_far + 1)
                                   : guard.check_message(id->user, 0, 0, "spp-mail");
    if (auto reply = reply_for(d); !reply.empty()) say(reply);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    ag::Logger logger;
    Section section = find_section(argc, argv);
    if (section == Section::unknown) {
        logger.write(ag::Logger::Level::error,
                     "spp: cannot tell the section; run as authguard-spp-auth/-mail/-rcpt/-data");
        return 0;
    }
    ag::Config config;
    try {
        config = ag::load_config(ag::default_control_dir());
    } catch (const ag::ConfigError& e) {
        logger.write(ag::Logger::Level::error, std::string("spp: refusing to act: ") + e.what());
        return 0;
    }
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    auto store = ag::open_store(config);
    if (section == Section::auth) return auth_section(config, *store, logger);
    return transaction_section(section, config, *store, logger);
}
