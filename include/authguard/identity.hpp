// identity.hpp - who sent this message: proof of authentication for the
// qmail-smtpd hooks that run after AUTH (authguard-queue, authguard-spp).
//
// TCPREMOTEINFO is never proof: Hoffmann's patch and IndiMail copy a
// client's "MAIL FROM:<x> AUTH=<user>" into it. Proof is either
//   - the session binding authguard-checkpw stores on a good password,
//     keyed by the qmail-smtpd process that runs both programs (their common
//     parent; a "sh -c" in between, as qpsmtpd puts before checkpassword,
//     is skipped), its start time (a later process may get the same pid), this
//     host's name and the client address; or
//   - SMTPAUTHUSER / SMTP_AUTH_USER, when the control file says the AUTH
//     patch in use sets them only after a real AUTH (trust-auth-env = yes).
#pragma once

#include "authguard/config.hpp"
#include "authguard/smtp_env.hpp"
#include "authguard/store.hpp"

#include <optional>
#include <string>

namespace authguard {

// The key of the SMTP session this process belongs to (see above), or ""
// when the parent cannot be identified.
std::string session_key_of_parent();

struct Identity {
    std::string user;   // normalised
    std::string source; // "session" or the environment variable's name
};

// The user an AUTH patch put in the environment (SMTPAUTHUSER, else
// SMTP_AUTH_USER), normalised; nullopt when neither is set. The user is
// empty when the variable holds no valid user name: the session then has
// no user we trust, and the session binding is not consulted either.
// Proof only with trust-auth-env = yes (see above).
std::optional<Identity> identity_from_env(const Config& config, const EnvLookup& env);

// The authenticated user of this SMTP session, if there is one. Throws
// StoreError when the binding cannot be looked up.
std::optional<Identity> authenticated_identity(const Config& config, Store& store);

} // namespace authguard
