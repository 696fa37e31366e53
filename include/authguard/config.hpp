// config.hpp - the control files: control/authguard and control/authguard-allow.
//
// Everything the detector and the stores may be tuned with lives here, with
// the defaults documented in doc/defaults.md. Loading validates every value;
// a bad file is reported as "file:line: reason" so that a typo never
// silently weakens the guard: authguardctl refuses it, and the hooks keep
// the last valid configuration (load_config_or_last_valid) and log it.
#pragma once

#include "authguard/address.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authguard {

namespace asn {
class Table;
}

// The numbers the verdicts are made of. "Wide network" = the address's
// provider (autonomous system, from asn-db), else its IPv4 /16 or IPv6 /28:
// a phone hopping through its carrier's pools stays in one, while a botnet
// brings a new one per login.
struct Thresholds {
    // lock: networks never seen for this user before, within the window
    int lock_new_networks_short = 6;
    int lock_new_networks_long = 8;
    // lock: wide prefixes (/16, /28) never seen before within one provider,
    // within window-short: a botnet inside one ISP (doc/defaults.md)
    int lock_provider_new_prefixes_short = 10;
    // alert (log, notify, still allow)
    int alert_new_networks_long = 5;
    int alert_addresses_long = 40;
    int alert_failing_networks_long = 10;
    // failure pressure: a success from an unknown network is answered with a
    // temporary failure while it lasts (never from a known network)
    int tempfail_failing_networks_short = 10;
    int tempfail_replay_networks = 5; // one password fingerprint from this many networks
    // sending limits of an authenticated user (authguard-queue, authguard-spp)
    int max_messages_short = 200;   // messages per short window (1 h)
    int max_recipients_short = 500; // envelope recipients per short window
    int max_recipients_long = 2000; // envelope recipients per long window (24 h)
    // the same for unauthenticated relaying clients, per address (0: not counted)
    int relay_max_messages_short = 0;
    int relay_max_recipients_short = 0;
    int relay_max_recipients_long = 0;
    bool operator==(const Thresholds&) const = default;
};

struct StoreConfig {
    // "store = redis|lmdb"; without that key: redis when a redis or sentinel
    // key is given, else the embedded LMDB store.
    enum class Kind { lmdb, redis } kind = Kind::lmdb;
    std::string lmdb_path;                    // empty: "authguard" beside the control directory
    std::int64_t lmdb_map_size = 256LL << 20; // bytes the database may grow to
    int lmdb_lock_timeout_ms = 2000;          // a write waits this long for another writer
    // "lmdb-sync": always, an fdatasync per commit; periodic, commits left to
    // the page cache and synced by the first commit a second after the last
    // sync (a power loss may lose that second, or damage the file).
    enum class LmdbSync { always, periodic } lmdb_sync = LmdbSync::always;
    std::vector<std::string> sentinels;       // host:port of each Redis Sentinel
    std::string sentinel_master;              // the name the sentinels monitor the primary as
    std::string redis = "127.0.0.1:6379";     // host:port, [v6]:port or unix:/path
    std::string redis_password;
    int redis_db = 0;
    std::string key_prefix = "ag:";
    int connect_timeout_ms = 100;
    int command_timeout_ms = 100;
};

struct Config {
    std::filesystem::path control_dir;
    StoreConfig store;
    enum class StoreFailure { allow, tempfail } on_store_failure = StoreFailure::allow;
    bool clock_from_store = true; // Redis TIME, so every MX host agrees

    std::int64_t window_short = 3600;
    std::int64_t window_long = 86400;
    std::int64_t known_period = 30 * 86400;
    std::int64_t lock_expiry = 0; // 0: until unlocked
    std::int64_t lock_retention = 400 * 86400;

    int ipv4_net_prefix = 24, ipv4_wide_prefix = 16;
    // IPv6 /28: mobile carriers hand out /64s from pools wider than a /32
    // (one US carrier's is a /28); a botnet still spans many of these.
    int ipv6_net_prefix = 64, ipv6_wide_prefix = 28;

    // The IP-to-AS table (asn-db): with it, a wide network is a provider.
    // load_config opens it; when it cannot, asn_table stays null, the
    // prefixes are counted, and asn_db_problem says why (the hooks log it
    // and go on: a table never stops mail). asn_db_problem is also set,
    // with the table in use, when the table is old.
    std::string asn_db;
    std::shared_ptr<const asn::Table> asn_table;
    std::string asn_db_problem;

    // Learning after installation: a lock verdict is logged and notified as
    // "would lock", and the login allowed. For the first days, when every
    // network of every user is new.
    bool alert_only = false;

    bool lowercase_users = true;
    std::size_t max_user_length = 256;
    int max_entries = 100; // observations kept per user (bounds an attacked user)

    std::string fingerprint_secret; // empty: fingerprints off
    int fingerprint_bits = 16;

    std::vector<std::string> notify_command; // argv, no shell
    std::string notify_mail;                 // recipient, e.g. postmaster
    std::string mail_program = "/var/qmail/bin/qmail-inject";
    std::string log_file; // extra copy of every log line (tests, demo)

    // qmail-smtpd hooks (authguard-queue, authguard-spp)
    std::string next_queue = "/var/qmail/bin/qmail-queue";
    enum class RateAction { tempfail, reject } rate_action = RateAction::tempfail;
    std::int64_t session_ttl = 3600;
    // Set when the AUTH patch exports SMTPAUTHUSER / SMTP_AUTH_USER only after
    // a real AUTH (sagredo, jms1): then they are proof of identity.
    bool trust_auth_env = false;

    // authguard-dkim (the dkim-* keys; authguard-dkim(8)).
    struct Dkim {
        bool sign = true;   // dkim-sign: sign the mail of authenticated senders
        bool verify = true; // dkim-verify: verify the mail of everyone else
        // dkim-authserv-id: Authentication-Results' first word; "" = the
        // first line of control/me, else the host name.
        std::string authserv_id;
        // dkim-next-queue ($DKIMQUEUE wins, as for qmail-dkim).
        std::string next_queue = "/var/qmail/bin/qmail-queue";
        // dkim-spool-dir: where the message waits (an unlinked file) while
        // its signature is made; on disk, not in memory, for 50 MB mail.
        std::string spool_dir = "/var/tmp";
        bool tempfail_on_error = false;                  // dkim-on-error = tempfail (else accept)
        bool simple_header = false, simple_body = false; // dkim-canonicalization
        // dkim-verify-policy: the action for a message's result ("fail",
        // "permerror", "temperror", "none", "neutral", "policy"); absent:
        // accept (the header only).
        enum class Action { accept, tempfail, reject };
        std::map<std::string, Action> verify_policy;
        int dns_timeout = 10; // dkim-dns-timeout: seconds per key lookup
    } dkim;

    // authguard-policyd (authguard-policyd(8)).
    struct Policyd {
        // dovecot-policy-secret: "user:password" that Dovecot's
        // auth_policy_server_api_header must carry (HTTP Basic); "" = none.
        std::string dovecot_secret;
    } policyd;

    // authguardctl follow's state file (its position in each log); by
    // default authguard-follow.state beside the control directory.
    std::string follow_state;

    Thresholds defaults;
    std::map<std::string, Thresholds> user_thresholds;   // "alice@example.com"
    std::map<std::string, Thresholds> domain_thresholds; // "example.com"

    // control/authguard-allow
    std::vector<Cidr> allow_networks;
    std::vector<std::string> allow_users;

    const Thresholds& thresholds_for(const std::string& user) const;
    bool user_allowed(const std::string& user) const;
    bool address_allowed(const std::string& address_text) const;
};

// Every threshold by its control-file name (also for override = ... lines).
using ThresholdField = int Thresholds::*;
const std::vector<std::pair<std::string_view, ThresholdField>>& threshold_fields();

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// An asn-db table older than this is still used, and reported (providers'
// big blocks move slowly; a stale table only knows fewer of them).
inline constexpr int asn_table_stale_days = 365;

// $AUTHGUARD_CONTROL, else $QMAILHOME/control, else /var/qmail/control.
std::filesystem::path default_control_dir();

// `name` beside the control directory: /var/qmail/NAME for /var/qmail/control.
std::filesystem::path beside_control_dir(const std::filesystem::path& control_dir,
                                         std::string_view name);

// A control file's text, read as every hook must read one: opened without
// waiting (a FIFO there would hold the SMTP session), only a regular file,
// at most `largest` bytes. nullopt when it does not exist; ConfigError,
// naming the file, when it cannot be read.
std::optional<std::string> read_control_file(const std::filesystem::path& path,
                                             std::size_t largest = 16 << 20);

// Reads control_dir/authguard (missing: all defaults) and
// control_dir/authguard-allow (optional). Throws ConfigError.
Config load_config(const std::filesystem::path& control_dir);

// The same from the files' texts, without reading or checking anything on
// disk but an asn-db table it names (for fuzzing and tests).
Config parse_config_text(const std::filesystem::path& control_dir, const std::string& main_text,
                         const std::string& allow_text);

// What the hooks run on. A control file that does not parse must never
// refuse a login or a message: they keep the last configuration that
// parsed (or the defaults, if none ever did) and log the problem on every
// decision until it is fixed.
struct LoadedConfig {
    Config config;
    enum class Source { files, last_valid, defaults } source = Source::files;
    std::string problem;    // "FILE:LINE: REASON" when the files did not parse
    std::int64_t saved = 0; // when the last valid copy was saved (unix time)
    // "FILE:LINE: REASON; using the last valid configuration (saved
    // 2024-05-01 12:00:00 UTC)" or "...; using the defaults"; empty when fine.
    std::string message() const;
};

// The copy of the last control files that parsed: control.last-valid in the
// state directory ("authguard" beside the control directory, the default
// lmdb-path), which is the smtpd's user's.
std::filesystem::path last_valid_path(const std::filesystem::path& control_dir);

// load_config, but on a ConfigError the last valid copy (else the
// defaults) with the error in `problem`; never throws ConfigError. When the
// files parse and differ from the copy, and `save`, the copy is replaced
// (atomically, mode 0600; silently not when the state directory is missing
// or not writable).
LoadedConfig load_config_or_last_valid(const std::filesystem::path& control_dir, bool save = true);

// The user qmail-smtpd (and so the hooks) runs as: $AUTHGUARD_USER, else
// "vpopmail". The state directory must be writable by it.
std::string hooks_user();

// Parses "90", "90s", "15m", "1h", "30d" into seconds; nullopt when bad.
std::optional<std::int64_t> parse_duration(std::string_view text);

} // namespace authguard
