// smtp_env.cpp - the SMTP server's environment as the hooks read it (see
// smtp_env.hpp).
#include "authguard/smtp_env.hpp"

#include "authguard/address.hpp"
#include "authguard/event.hpp"

#include <algorithm>
#include <cstdlib>

namespace authguard {

const char* process_env(const char* name) {
    return std::getenv(name);
}

std::string client_address_from(const EnvLookup& env) {
    for (const char* name : {"TCPREMOTEIP", "TCP6REMOTEIP"}) {
        const char* value = env(name);
        if (!value || !*value) continue;
        if (auto a = parse_address(value)) return a->to_string();
    }
    return std::string(unknown_address);
}

namespace spp {

Section section_named(std::string_view name) {
    if (name == "auth") return Section::auth;
    if (name == "mail") return Section::mail;
    if (name == "rcpt") return Section::rcpt;
    if (name == "data") return Section::data;
    return Section::unknown;
}

Section find_section(std::string_view self, std::optional<std::string_view> argument) {
    if (auto slash = self.rfind('/'); slash != std::string_view::npos)
        self.remove_prefix(slash + 1);
    if (auto dash = self.rfind('-'); dash != std::string_view::npos) {
        Section s = section_named(self.substr(dash + 1));
        if (s != Section::unknown) return s;
    }
    if (argument) return section_named(*argument);
    return Section::unknown;
}

int env_count(const EnvLookup& env, const char* name, int fallback) {
    const char* v = env(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 0) return fallback;
    return static_cast<int>(std::min(n, 1000000L));
}

int rcpt_pending(const EnvLookup& env) {
    return env_count(env, "SMTPRCPTCOUNT", 0) + 1;
}

int data_recipients(const EnvLookup& env) {
    int accepted = env_count(env, "SMTPRCPTCOUNT", 0);
    int all = env_count(env, "SMTPRCPTCOUNTALL", accepted + 1);
    return std::max(1, std::min(accepted + 1, all));
}

} // namespace spp

} // namespace authguard
