// policy/dovecot.hpp - Dovecot 2.3's authentication policy requests
// (auth_policy_server_url: the protocol PowerDNS weakforced speaks) read
// from an HTTP request, the JSON answer, the Basic authentication check of
// auth_policy_server_api_header, and the `pwhash` attribute as a number.
#pragma once

#include "authguard/policy/http.hpp"
#include "authguard/policy/postfix.hpp" // ProtocolError

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authguard::policy {

// allow: asked before (and after) the password check; report: after it.
enum class DovecotCommand { allow, report };

struct DovecotRequest {
    DovecotCommand command = DovecotCommand::allow;
    std::string login, remote, protocol, pwhash, session_id, device_id;
    bool tls = false;
    std::optional<bool> success, policy_reject; // sent with report only
};

// The command from the query parameter `command` (allow or report), the
// attributes from the body, a JSON object. Unknown members are ignored
// (newer Dovecots add some); absent ones stay empty. Throws ProtocolError
// for a method other than POST, a body that is not a JSON object, a member
// of the wrong type, a missing or unknown command, or a report without
// "success".
DovecotRequest parse_dovecot_request(const HttpRequest& request);

// {"status":N,"msg":"TEXT"}: -1 refuses, 0 allows, N > 0 delays N seconds.
std::string dovecot_answer(int status, std::string_view message);

// Whether an Authorization header ("Basic BASE64") carries exactly
// `expected_user_colon_password` ("user:password"), compared in constant
// time. An empty expected secret means no check (true); a missing header,
// another scheme or malformed base64 is false. Blanks around the header
// value and after "Basic" are ignored (Dovecot sends what is configured,
// with two spaces after the colon).
bool basic_auth_matches(std::string_view authorization_header,
                        std::string_view expected_user_colon_password);

// The `pwhash` attribute as a number: Dovecot sends the first
// auth_policy_hash_truncate bits (12 by default) of its hash in hex, padded
// to whole bytes ("0b11"). 1 to 16 hex digits are taken, the low 16 bits of
// the value kept (all of it for the default); nullopt when not hex.
std::optional<std::uint16_t> pwhash_value(std::string_view pwhash);

} // namespace authguard::policy
