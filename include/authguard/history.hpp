// history.hpp - what a store remembers about one user.
//
// Stores keep plain observations (one per client address and kind) and the
// lock, and nothing derived: every count the detector uses is computed from
// these, so the Redis script and any other store stay simple and identical.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authguard {

struct Observation {
    enum class Kind : char { success = 's', failure = 'f' };
    Kind kind = Kind::success;
    std::string address; // canonical text or "unknown"
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::int64_t count = 0;
    std::optional<std::uint16_t> fingerprint; // failures: the latest one seen
    // The latest event's service ("submission", "imap", "pop3"; see
    // Event::service), "" when it was not recorded (entries older than it).
    std::string service;
};

// What follows "first last count" in a stored value: " FINGERPRINT" and
// " @SERVICE", each when there is one (the service cut to a word of
// [a-z0-9-], at most 16 bytes).
std::string observation_suffix(const std::optional<std::uint16_t>& fingerprint,
                               std::string_view service);

struct Lock {
    std::int64_t since = 0;
    std::int64_t until = 0; // 0: until unlocked
    std::string reason;     // which threshold, or the admin's text
    std::string evidence;   // the networks and addresses that crossed it
    std::int64_t attempts_after = 0;
    std::int64_t last_attempt = 0;
    bool active(std::int64_t now) const { return until == 0 || now < until; }
};

struct History {
    std::vector<Observation> observations;
    std::int64_t dropped = 0; // observations not stored because the user hit max-entries
    std::optional<Lock> lock;
};

// Sending counts of one sender over the short and long windows, with its lock.
struct MessageCounts {
    std::int64_t now = 0;
    std::int64_t messages_short = 0;
    std::int64_t recipients_short = 0;
    std::int64_t recipients_long = 0;
    std::optional<Lock> lock;
};

// The store's encoding of an observation: field "s|<address>" or "f|<address>",
// value "<first> <last> <count>[ <fingerprint>]".
std::string observation_field(Observation::Kind kind, std::string_view address);
std::optional<Observation> parse_observation(std::string_view field, std::string_view value);

// A log follower's mark (store.hpp, FeedMark) lives beside the observations
// or the message buckets it marks, as field "q|<follower>" with the token as
// its value. It is neither an observation nor a bucket: parsers skip it, and
// it never counts towards max-entries nor is it evicted.
std::string mark_field(std::string_view follower);
bool is_mark_field(std::string_view field);

} // namespace authguard
