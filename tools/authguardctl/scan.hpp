// scan.hpp - what authguardctl learns about every user from mail logs
// (scan, report): distinct addresses and networks in all and in the worst
// sliding hour and day, failures, messages and recipients they sent, and
// the verdict the live detector would have reached, replayed in memory.
//
// Memory grows with the distinct (user, address) pairs, not with the lines:
// per pair a fixed record; per user a bounded detector history (max-entries);
// messages only while qmail-send has them in its queue.
#pragma once

#include "logfile.hpp"

#include "authguard/config.hpp"
#include "authguard/detector.hpp"
#include "authguard/logscan.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace authguardctl {

struct ScanOptions {
    std::optional<std::int64_t> since, until; // events outside are left out
    std::set<std::string> only_users;         // normalised; empty: everyone
    std::set<std::string> timeline_users;     // keep per-hour series for these
    int first_year = 0;                       // the first syslog line's year (0: inferred)
    // Replay every login through the in-memory store. The default keeps a
    // quiet user's logins aside until the detector has to look, with the
    // same results (tested), several times faster.
    bool replay_all = false;
    // 2: one thread reads, splits and parses the lines while another
    // counts them (the same result); 1: one thread does both.
    int threads = 1;
    // Which thread of two parses: the reader while the counter has lines
    // waiting, else the counter (balanced); or always the one named (for
    // the tests: every way gives the same result).
    enum class ParseSide { balanced, reader, counter } parse_side = ParseSide::balanced;
    // For the tests: user names hashed into four values, so that the
    // lookups' rare paths (another name with the same hash) are taken.
    bool colliding_name_hashes = false;
};

struct UserSummary {
    // (the counters first: they are what a scan touches for every login)
    std::uint64_t logins = 0;     // successful logins
    std::uint64_t failures = 0;   // failed attempts (Dovecot's "N attempts" count N)
    std::uint64_t tempfails = 0;  // the password checker could not decide
    std::int64_t success_addresses = 0;
    std::int64_t success_networks = 0;      // distinct networks (/24, /64)
    std::int64_t success_wide_networks = 0; // distinct wide networks (providers, else /16, /28)
    std::int64_t failing_addresses = 0;
    std::int64_t failing_wide_networks = 0;
    std::int64_t first_seen = 0, last_seen = 0;
    std::uint64_t logins_allowed = 0; // successes the guard would have let in
    std::uint64_t logins_refused = 0; // ... refused (535 at AUTH: locked or tempfail)
    std::int64_t max_addresses_1h = 0, max_addresses_24h = 0; // in any sliding window
    std::int64_t max_networks_1h = 0, max_networks_24h = 0;   // wide networks, likewise
    std::uint64_t messages = 0, recipients = 0;
    // The wide network with the most successful addresses: the detector's
    // key ("AS17676", "126.0.0.0/16"), for people ("AS17676 SoftBank
    // Corp.", else the key; not escaped), and how many. Empty without logins.
    std::string busiest_wide_network, busiest_wide_network_label;
    std::int64_t busiest_wide_addresses = 0;
    std::string user;
    std::vector<std::string> services;

    // The live detector's view, replayed with the current control files.
    authguard::Verdict verdict = authguard::Verdict::allow; // the most severe reached
    std::int64_t locked_at = 0;
    std::string lock_reason, lock_evidence;
    std::uint64_t alerts = 0;
    std::int64_t first_alert_at = 0;
    std::string first_alert_reason;
    int peak_new_networks_1h = 0, peak_new_networks_24h = 0;
};

struct AddressSummary {
    std::string address, network, wide_network;
    std::int64_t first = 0, last = 0;
    std::int64_t first_success = 0; // 0: never succeeded
    std::uint64_t successes = 0, failures = 0;
};

struct HourSummary {
    std::uint64_t logins = 0, new_addresses = 0, failures = 0, messages = 0, recipients = 0;
};

struct ScanTotals {
    std::uint64_t inputs = 0;
    std::uint64_t lines = 0;
    std::uint64_t auth_lines = 0;   // login lines used
    std::uint64_t mail_lines = 0;   // qmail-send lines used
    std::uint64_t ignored = 0;      // well-formed lines of no use here
    std::uint64_t duplicates = 0;   // one login logged twice (vchkpw and authguard, ...)
    std::uint64_t outside_range = 0;
    std::uint64_t other_users = 0; // lines (logins, messages) of users not asked for (--user)
    std::uint64_t unattributed_messages = 0; // senders who never logged in
    std::array<std::uint64_t, static_cast<std::size_t>(authguard::logscan::SkipReason::count_)> skipped{};
    std::vector<std::string> errors; // inputs that could not be read to the end
    std::uint64_t skipped_total() const;
};

class LogScan {
  public:
    LogScan(const authguard::Config& config, ScanOptions options);
    ~LogScan();
    LogScan(const LogScan&) = delete;
    LogScan& operator=(const LogScan&) = delete;

    // Reads one input ("-": standard input) to its end. Inputs must be
    // given oldest first (rotation_order). A fault is recorded in totals().
    void add_input(const std::string& path);
    // Every input, oldest first, with ScanOptions::threads threads.
    void add_inputs(const std::vector<std::string>& paths);

    // Every user seen, the most alarming first.
    std::vector<UserSummary> users() const;
    // The same, each summary finished where the scan kept it, not copied
    // (with tens of thousands of brute-force names, the copies were a
    // tenth of the scan): valid while the scan lives; its last call.
    std::vector<std::reference_wrapper<const UserSummary>> ranked_users();
    std::optional<UserSummary> user(const std::string& name) const;
    // A user's addresses, first seen first.
    std::vector<AddressSummary> addresses(const std::string& user) const;
    // Per hour (Unix time of the hour's start), for the timeline users.
    std::map<std::int64_t, HourSummary> timeline(const std::string& user) const;
    const ScanTotals& totals() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Severity for sorting and for "the most severe verdict": allow < alert <
// tempfail < reject < lock (refuse-locked counts as lock).
int severity(authguard::Verdict verdict);

} // namespace authguardctl
