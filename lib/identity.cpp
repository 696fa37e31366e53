// identity.cpp - session keys and trusted identity for the post-AUTH hooks.
#include "authguard/identity.hpp"

#include "authguard/guard.hpp"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace authguard {

namespace {

// Field 22 of /proc/PID/stat: the start time in clock ticks since boot. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
std::string start_time_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i)
        if (i == 22) return field;
    return {};
}

} // namespace

std::string session_key_of_parent() {
    pid_t parent = ::getppid();
    if (parent <= 1) return {}; // orphaned: no session to speak of
    std::string started = start_time_of(parent);
    if (started.empty()) return {};
    char host[HOST_NAME_MAX + 1] = {};
    ::gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(parent) + ":" + started + ":" +
           client_address_from_env();
}

std::optional<Identity> authenticated_identity(const Config& config, Store& store) {
    if (config.trust_auth_env) {
        for (const char* name : {"SMTPAUTHUSER", "SMTP_AUTH_USER"}) {
            const char* value = std::getenv(name);
            if (!value || !*value) continue;
            Identity id;
            if (!normalize_user(value, config, id.user).empty()) return std::nullopt;
            id.source = name;
            return id;
        }
    }
    std::string session = session_key_of_parent();
    if (session.empty()) return std::nullopt;
    auto user = store.session_user(session, config.session_ttl);
    if (!user) return std::nullopt;
    return Identity{*user, "session"};
}

} // namespace authguard
