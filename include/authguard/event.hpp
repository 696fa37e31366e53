// event.hpp - one authentication attempt, as every hook reports it.
//
// Hooks (checkpassword wrapper, spp plugin, log follower) translate what they
// see into an Event; the detector never looks at qmail's interfaces itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authguard {

enum class Outcome : std::uint8_t {
    success,
    bad_password,      // the credentials were wrong (checkpassword exit 1, vchkpw 3)
    temporary_failure, // the password checker could not decide (111, vchkpw 4-24)
};
std::string_view to_string(Outcome outcome);

struct Event {
    std::string user;    // normalised (see normalize_user)
    std::string address; // canonical address text, or "unknown"
    std::int64_t time = 0;
    Outcome outcome = Outcome::success;
    std::string service; // "smtp", "submission", "smtps", "pop3", "imap", "port-N"
    // Keyed, truncated hash of a failed password; lets the detector see one
    // stolen password replayed from many networks without storing it.
    std::optional<std::uint16_t> fingerprint;
};

// The address text recorded for a client whose address is missing or not
// an IP address. All such logins of a user count as one network.
inline constexpr std::string_view unknown_address = "unknown";

// Maps tcpserver's local port to the service name vchkpw would log.
std::string service_for_port(std::string_view local_port);

// Prints bytes that may be hostile (user names from the network) in a form
// safe for a log line: printable ASCII as is, everything else as \xNN.
std::string escape_for_log(std::string_view bytes, std::size_t limit = 128);
// The same for one "name=value" field of a log line: also spaces and quotes
// as \xNN, so that a user name such as "eve address=10.0.0.1" cannot pass
// for the line's next field.
std::string escape_word_for_log(std::string_view bytes, std::size_t limit = 128);

} // namespace authguard
