// notify.hpp - telling the admin that an account was locked or looks attacked.
//
// Runs the configured command (no shell) with the evidence on its stdin,
// and/or mails it through the local qmail-inject or sendmail. Both are
// detached: the login that caused the lock is answered at once, and the
// programs never inherit the SMTP connection on fd 0-2.
#pragma once

#include "authguard/config.hpp"

#include <cstdint>
#include <string>

namespace authguard {

// A time for people, in UTC and in the server's local time (TZ):
// "2026-12-03 19:58:09 UTC (2026-12-04 04:58:09 JST)". The brackets are left
// out where the local time is UTC itself. An admin reads the mail in either.
std::string time_for_people(std::int64_t unix_seconds);

// The text handed to the notify command and mailed. `config` names the
// providers in the evidence (asn-db); without a table the text is the
// evidence alone. Each evidence line keeps the detector's text (scripts
// read it); an indented line under it gives its first-seen time for people. The evidence "manual"
// (a lock set by authguardctl) gives manual_lock_message's text.
std::string lock_message(const Config& config, const std::string& user, const std::string& reason,
                         const std::string& evidence, std::int64_t since);

// The text of a lock an administrator set by hand (authguardctl lock): who
// set it (`by`, e.g. "root"; "" when unknown) and why, until when (`until`
// 0: until unlocked, below 0: not known). It lists no networks and does not say that the
// password leaked: authguard saw no attack, a person decided.
std::string manual_lock_message(const std::string& user, const std::string& reason,
                                const std::string& by, std::int64_t since, std::int64_t until);

// The text of an alert: the login was allowed, but a threshold was reached.
// `evidence` is a would-be lock's (alert-only), else empty.
std::string alert_message(const Config& config, const std::string& user, const std::string& reason,
                          const std::string& evidence, std::int64_t when);

// Starts the configured notifications; returns a description of what failed
// to start ("" when all started or none are configured).
std::string notify_admin(const Config& config, const std::string& subject,
                         const std::string& message);
std::string notify_lock(const Config& config, const std::string& user, const std::string& message);

} // namespace authguard
