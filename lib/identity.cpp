// identity.cpp - session keys and trusted identity for the post-AUTH hooks.
#include "authguard/identity.hpp"

#include "authguard/fd.hpp"
#include "authguard/guard.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace authguard {

namespace {

// The first 4 KB of a /proc file, read with one read(2): every login reads
// two of them (more through a shell or a queue stage), and a stream would
// cost more than the read.
std::string read_proc(pid_t pid, const char* name) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), name);
    Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return {};
    char buf[4096];
    ssize_t n;
    do
        n = ::read(fd.get(), buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// The fields of /proc/PID/stat after the command name (field 2), which may
// hold spaces and parentheses: fields are counted from the last ')'.
// fields_after_name(stat)[0] is field 3.
std::vector<std::string_view> fields_after_name(std::string_view stat, std::size_t up_to) {
    std::vector<std::string_view> fields;
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return fields;
    std::string_view rest = stat.substr(close + 1);
    while (fields.size() < up_to) {
        auto b = rest.find_first_not_of(" \n");
        if (b == std::string_view::npos) break;
        auto e = rest.find_first_of(" \n", b);
        fields.push_back(rest.substr(b, e == std::string_view::npos ? rest.npos : e - b));
        if (e == std::string_view::npos) break;
        rest.remove_prefix(e);
    }
    return fields;
}

// Field 22 of /proc/PID/stat: the start time in clock ticks since boot.
std::string start_time_in(std::string_view stat) {
    auto fields = fields_after_name(stat, 20);
    return fields.size() == 20 ? std::string(fields[19]) : std::string();
}

// Field 4 of /proc/PID/stat: the parent's pid (0 when unknown).
pid_t parent_in(std::string_view stat) {
    auto fields = fields_after_name(stat, 2);
    if (fields.size() < 2) return 0;
    long ppid = 0;
    std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), ppid);
    return static_cast<pid_t>(ppid);
}

// Field 2 of /proc/PID/stat, the command name: the kernel writes there,
// between "(" and the last ")", the same bytes as /proc/PID/comm (which
// adds a '\n'), so one read of stat serves all three.
std::string_view name_in(std::string_view stat) {
    auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return {};
    return stat.substr(open + 1, close - open - 1);
}

// A "sh -c COMMAND" between the SMTP server and us does not own the
// session: qpsmtpd runs its checkpassword program through
// "/bin/sh -c 'PROG /bin/true 3<&0'" (and dash forks for it) but forks its
// queue program directly, so the two would see different parents.
bool is_shell_command(pid_t pid) {
    std::string cmdline = read_proc(pid, "cmdline");
    auto end0 = cmdline.find('\0');
    if (end0 == std::string::npos) return false;
    auto end1 = cmdline.find('\0', end0 + 1);
    if (end1 == std::string::npos) end1 = cmdline.size(); // a rewritten argv may lack it
    std::string argv0 = cmdline.substr(0, end0), argv1 = cmdline.substr(end0 + 1, end1 - end0 - 1);
    std::string name = argv0.substr(argv0.rfind('/') + 1); // npos + 1 == 0
    if (argv1 != "-c") return false;
    for (const char* shell : {"sh", "dash", "bash", "ash", "ksh", "mksh", "zsh"})
        if (name == shell) return true;
    return false;
}

// authguard-queue forks the next queue program (it must see that
// program's exit code to take back a count), so a stage behind it in the
// chain (authguard-dkim) has it, not qmail-smtpd, as its parent.
bool is_forking_queue_stage(std::string_view stat) {
    return name_in(stat) == "authguard-queue";
}

} // namespace

std::string session_key_of_parent() {
    // Each process looked at is read once from /proc/PID/stat (its name,
    // parent and start time), not from comm and stat: every /proc read is
    // an open, a read and a close on the AUTH's path.
    auto stat_of = [](pid_t pid) { return pid > 1 ? read_proc(pid, "stat") : std::string(); };
    pid_t parent = ::getppid();
    std::string stat = stat_of(parent);
    for (int hops = 0;
         hops < 3 && parent > 1 && (is_shell_command(parent) || is_forking_queue_stage(stat));
         ++hops) {
        parent = parent_in(stat);
        stat = stat_of(parent);
    }
    if (parent <= 1) return {}; // orphaned: no session to speak of
    std::string started = start_time_in(stat);
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
