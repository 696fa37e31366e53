// smtp_env.hpp - reading the environment the SMTP server gives the hooks:
// tcpserver's TCPREMOTEIP / TCP6REMOTEIP, and qmail-spp's section and
// counts (SMTPRCPTCOUNT, SMTPRCPTCOUNTALL; see authguard-spp). Every value
// comes from a stranger's session or a plugin before us, so none is trusted
// to be present, a number, or short.
//
// The readers take an EnvLookup rather than calling getenv, so that a test
// or the fuzz harness can hand them a map; the hooks pass process_env.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace authguard {

// One variable's value, nullptr when unset.
using EnvLookup = std::function<const char*(const char* name)>;

// The process environment (std::getenv).
const char* process_env(const char* name);

// The client address, canonical, or "unknown" when missing or not an
// address (TCPREMOTEIP, else TCP6REMOTEIP).
std::string client_address_from(const EnvLookup& env);

namespace spp {

// The qmail-spp section a plugin runs in.
enum class Section { auth, mail, rcpt, data, unknown };

Section section_named(std::string_view name);

// From the name the plugin is run as (authguard-spp-auth, -mail, -rcpt,
// -data: the part after the last '-' of argv[0]'s base name), else from
// its argument (a ":" line of control/smtpplugins). Never from the
// environment: qmail-spp's variables persist from one command to the next.
Section find_section(std::string_view argv0, std::optional<std::string_view> argument);

// A count qmail-spp put in the environment, at most 1000000; `fallback`
// when missing, negative or not a plain number.
int env_count(const EnvLookup& env, const char* name, int fallback);

// [rcpt]: the recipients pending in this transaction, the current one
// included (SMTPRCPTCOUNT + 1; qmail-spp 0.42 counts only those accepted
// before the current RCPT).
int rcpt_pending(const EnvLookup& env);

// [data]: the recipients of the message, at least 1. SMTPRCPTCOUNT is
// "accepted before the current RCPT" in qmail-spp 0.42 (not updated after
// the last one) and "accepted" in sagredo's variant; SMTPRCPTCOUNTALL
// counts every RCPT command. Exact when every RCPT was accepted, with
// either variant; at most one too many otherwise.
int data_recipients(const EnvLookup& env);

} // namespace spp

} // namespace authguard
