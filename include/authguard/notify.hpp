// notify.hpp - telling the admin that an account was locked or looks attacked.
//
// Runs the configured command (no shell) with the evidence on its stdin,
// and/or mails it through the local qmail-inject or sendmail. Both are
// detached: the login that caused the lock is answered at once, and the
// programs never inherit the SMTP connection on fd 0-2.
#pragma once

#include "authguard/config.hpp"

#include <string>

namespace authguard {

// The text handed to the notify command and mailed. `config` names the
// providers in the evidence (asn-db); without a table the text is the
// evidence alone.
std::string lock_message(const Config& config, const std::string& user, const std::string& reason,
                         const std::string& evidence, std::int64_t since);

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
