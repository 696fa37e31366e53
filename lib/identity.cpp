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

// Field 4 of /proc/PID/stat: the parent's pid (0 when unknown).
pid_t parent_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    return static_cast<pid_t>(ppid);
}

// A "sh -c COMMAND" between the SMTP server and us does not own the
// session: qpsmtpd runs its checkpassword program through
// "/bin/sh -c 'PROG /bin/true 3<&0'" (and dash forks for it) but forks its
// queue program directly, so the two would see different parents.
bool is_shell_command(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string argv0, argv1;
    if (!std::getline(in, argv0, '\0') || !std::getline(in, argv1, '\0')) return false;
    std::string name = argv0.substr(argv0.rfind('/') + 1); // npos + 1 == 0
    if (argv1 != "-c") return false;
    for (const char* shell : {"sh", "dash", "bash", "ash", "ksh", "mksh", "zsh"})
        if (name == shell) return true;
    return false;
}

// authguard-queue forks the next queue program (it must see that
// program's exit code to take back a count), so a stage behind it in the
// chain (authguard-dkim) has it, not qmail-smtpd, as its parent.
bool is_forking_queue_stage(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm == "authguard-queue";
}

} // namespace

std::string session_key_of_parent() {
    pid_t parent = ::getppid();
    for (int hops = 0;
         hops < 3 && parent > 1 && (is_shell_command(parent) || is_forking_queue_stage(parent));
         ++hops)
        parent = parent_of(parent);
    if (parent <= 1) return {}; // orphaned: no session to speak of
    std::string started = start_time_of(parent);
    if (started.empty()) return {};
    char host[HOST_NAME_MAX + 1] = {};
    ::gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(parent) + ":" + started + ":" +
           client_address_from_env();
}

std::optional<Identity> identity_from_env(const Config& config, const EnvLookup& env) {
    for (const char* name : {"SMTPAUTHUSER", "SMTP_AUTH_USER"}) {
        const char* value = env(name);
        if (!value || !*value) continue;
        Identity id;
        id.source = name;
        if (!normalize_user(value, config, id.user).empty()) id.user.clear();
        return id;
    }
    return std::nullopt;
}

std::optional<Identity> authenticated_identity(const Config& config, Store& store) {
    if (config.trust_auth_env) {
        if (auto id = identity_from_env(config, process_env)) {
            if (id->user.empty()) return std::nullopt; // named, but not a user name
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
