// spp_env.cpp - libFuzzer harness: the environment qmail-spp and tcpserver
// give authguard-spp and authguard-queue, read as they read it. The input is
// lines: the first is argv[0] and an optional argument after a TAB, the rest
// NAME=VALUE (through a map, not setenv). Checked: the counts stay within
// their bounds, the section agrees with the name, a user taken from the
// environment is a valid normalised name, and the client address is
// canonical or "unknown".
#include "authguard/address.hpp"
#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/smtp_env.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ag = authguard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto eol = text.find('\n');
    std::string_view first = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);

    // Values are C strings in a real environment: a NUL ends them.
    std::map<std::string, std::string, std::less<>> vars;
    while (!text.empty()) {
        eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view value = line.substr(eq + 1);
        value = value.substr(0, value.find('\0'));
        vars[std::string(line.substr(0, eq))] = std::string(value);
    }
    ag::EnvLookup env = [&vars](const char* name) -> const char* {
        auto it = vars.find(std::string_view(name));
        return it == vars.end() ? nullptr : it->second.c_str();
    };

    // The section: from argv[0]'s name when it names one, else the argument.
    auto tab = first.find('\t');
    std::string_view argv0 = first.substr(0, tab);
    std::optional<std::string_view> argument;
    if (tab != std::string_view::npos) argument = first.substr(tab + 1);
    ag::spp::Section section = ag::spp::find_section(argv0, argument);
    std::string_view base = argv0.substr(argv0.rfind('/') + 1); // npos + 1 == 0
    auto dash = base.rfind('-');
    auto by_name = dash == std::string_view::npos ? ag::spp::Section::unknown
                                                  : ag::spp::section_named(base.substr(dash + 1));
    if (by_name != ag::spp::Section::unknown && section != by_name) std::abort();
    if (by_name == ag::spp::Section::unknown &&
        section != (argument ? ag::spp::section_named(*argument) : ag::spp::Section::unknown))
        std::abort();

    // The counts: never negative, never past the cap, the fallback only
    // when the value is not a count.
    for (const char* name : {"SMTPRCPTCOUNT", "SMTPRCPTCOUNTALL"}) {
        int n = ag::spp::env_count(env, name, -1);
        if (n < -1 || n > 1000000) std::abort();
    }
    int pending = ag::spp::rcpt_pending(env);
    if (pending < 1 || pending > 1000001) std::abort();
    int recipients = ag::spp::data_recipients(env);
    if (recipients < 1 || recipients > pending) std::abort();

    // The user an AUTH patch put in the environment: valid and normalised,
    // or empty when it is no user name.
    ag::Config config;
    config.trust_auth_env = true;
    config.lowercase_users = !vars.empty() && (vars.begin()->first.size() & 1) != 0;
    if (auto id = ag::identity_from_env(config, env)) {
        if (id->source != "SMTPAUTHUSER" && id->source != "SMTP_AUTH_USER") std::abort();
        const char* raw = env(id->source.c_str());
        if (!raw || !*raw) std::abort();
        if (!id->user.empty()) {
            std::string again;
            if (!ag::normalize_user(id->user, config, again).empty() || again != id->user)
                std::abort();
        }
    } else if ((env("SMTPAUTHUSER") && *env("SMTPAUTHUSER")) ||
               (env("SMTP_AUTH_USER") && *env("SMTP_AUTH_USER"))) {
        std::abort();
    }

    // The client address: canonical (reads back as itself) or "unknown".
    std::string address = ag::client_address_from(env);
    if (address != ag::unknown_address) {
        auto parsed = ag::parse_address(address);
        if (!parsed || parsed->to_string() != address) std::abort();
    }
    if (const char* port = env("TCPLOCALPORT")) {
        std::string service = ag::service_for_port(port);
        if (service.empty() || service.size() > 10) std::abort();
    }
    return 0;
}
