// detector.hpp - the policy: from a user's history to a verdict.
//
// This is the one place where authguard decides. Hooks and stores only
// translate; they never compare a count with a threshold themselves.
//
// Reasoning behind the rules (numbers in doc/defaults.md):
// - A person logs in through a few providers ("wide networks": the
//   address's autonomous system where the asn-db table knows it, else its
//   /16 or /28) a day; a botnet of home PCs brings a new one with almost
//   every login. So the account is locked when too many wide networks never
//   seen before for this user appear within a window. Addresses alone are
//   never a reason to lock: carrier-grade NAT and mail providers' pools
//   show dozens a day, and a phone's carrier spans hundreds of /16s.
// - A botnet inside one national ISP brings one new provider and then none.
//   What no person does is bring new /16s of one provider at a botnet's
//   rate: a phone gets one per session, a few an hour at most, and a mail
//   provider's pool (a Gmail fetcher polling every few minutes) spans a
//   handful of /16s however many /24s it uses. So many new /16s (/28s)
//   within one provider within the short window lock too.
// - Failures can be caused by anyone, so they never lock, and never refuse a
//   login from a network the user has succeeded from within known-period.
//   Under failure pressure (guessing from many networks, or one stolen
//   password replayed from many) a success from an unknown network is
//   answered with a temporary failure.
#pragma once

#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/history.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace authguard {

enum class Verdict {
    allow,
    alert,         // allowed, and the admin is told
    tempfail,      // refused for now (535 at AUTH through qmail-smtpd, 451 for a message)
    reject,        // refused for good, without a lock (a sending limit, by configuration)
    lock,          // this event locked the account
    refuse_locked, // the account was locked already
};
std::string_view to_string(Verdict verdict);

// The verdicts that keep a login out. At AUTH every one of them reaches the
// client as 535: qmail-smtpd's AUTH patches turn any non-zero exit of the
// checkpassword program into 535, so a tempfail is no 454 there (it is 451
// or 454 only from authguard-queue and authguard-spp). A refused login is
// never remembered as a success.
constexpr bool refuses_login(Verdict verdict) {
    return verdict == Verdict::tempfail || verdict == Verdict::lock ||
           verdict == Verdict::refuse_locked || verdict == Verdict::reject;
}

struct WindowCounts {
    int addresses = 0;
    int networks = 0;          // /24, /64
    int wide_networks = 0;     // providers (AS), or /16, /28 where the table has none
    int new_wide_networks = 0; // wide networks first seen within the window
    // Most wide prefixes (/16, /28) first seen within the window inside one
    // provider, and that provider's key (0 and "" without providers).
    int provider_new_prefixes = 0;
    std::string busiest_provider;
    int failing_addresses = 0;
    int failing_wide_networks = 0;
    int failures = 0;
};

struct Signals {
    WindowCounts short_window;
    WindowCounts long_window;
    int replay_networks = 0; // most wide networks failing with one fingerprint (long window)
    int fingerprints = 0;    // distinct failing fingerprints (long window)
    bool event_network_known = false; // success from the event's wide network before
    bool event_new_failing_network = false; // a failure from a wide network not failing before
};

struct Decision {
    Verdict verdict = Verdict::allow;
    std::string reason; // empty for a plain allow
    Signals signals;
    std::string evidence; // for a lock: the networks that crossed the threshold
    // Tell the admin: a lock, or an alert threshold reached by this very
    // event (not every later login while the count stays there).
    bool notify = false;
    // The clock the store used for a message (Guard::check_message): where
    // Guard::take_back_message finds the counts it added. 0 otherwise.
    std::int64_t time = 0;
};

// The networks an address belongs to: its network (ipv4-net-prefix,
// ipv6-net-prefix), its provider ("AS17676" where config.asn_table knows
// it), and its wide prefix (ipv4-wide-prefix, ipv6-wide-prefix). `wide` is
// the provider, or the wide prefix where there is none: what the rules
// count.
struct NetworkKeys {
    std::string net;
    std::string wide;
    std::string prefix;
};
NetworkKeys network_keys(std::string_view address_text, const Config& config);

// network_keys() of each address computed once. decide() needs the keys of
// every observation in the user's history at every event; a replay of a
// log (authguardctl scan) decides many events of one user, whose history
// holds the same addresses each time, and parsing and formatting them again
// was a third of its time. Valid for one Config (its prefixes and asn-db
// table); grows with the distinct addresses looked up.
class NetworkKeyCache {
  public:
    // An address's keys, and each key as a number: within one cache, equal
    // numbers are equal keys, so that a decision compares and sorts numbers
    // (an attacked user's history is a hundred addresses, decided again at
    // every login of a replay).
    struct Entry {
        std::uint32_t net = 0, wide = 0, prefix = 0;
        bool ipv6 = false;
        NetworkKeys keys;
    };
    const Entry& entry(std::string_view address_text, const Config& config);
    const NetworkKeys& keys(std::string_view address_text, const Config& config) {
        return entry(address_text, config).keys;
    }
    std::size_t size() const { return nodes_.size(); }

  private:
    struct Hash { // table_hash of a key's text (numbers_)
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const;
    };
    struct Node { // the address and its numbers first: one cache line for a lookup
        std::string address;
        Entry entry;
    };
    // Open addressing by a hash of the address (a lookup touches its slot
    // and its node: a node-based map touched three places, and divided).
    struct Slot {
        std::uint64_t hash = 0; // 0: empty
        Node* node = nullptr;
    };
    void insert(Slot slot);
    std::uint32_t number(const std::string& key);
    std::vector<std::unique_ptr<Node>> nodes_; // never moved: references stay valid
    std::vector<Slot> slots_;                  // a power of two, at most half full
    std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> numbers_;
};

// "AS17676 SoftBank Corp." for a provider key and one of its addresses
// (the table is keyed by address), the key itself otherwise (a prefix,
// "unknown", no table). Not escaped: the name comes from a file.
std::string describe_network(std::string_view wide_key, std::string_view address_text,
                             const Config& config);

Signals compute_signals(const History& history, const Event& event, const Config& config);

// `history` is the user's state after the event was recorded. `keys`, when
// given, serves the network keys (and keeps the new ones) for many calls.
Decision decide(const History& history, const Event& event, const Config& config,
                NetworkKeyCache* keys = nullptr);

// A message submitted by `sender` (a user, or "relay:<address>"), with the
// counts after it was added.
Decision decide_message(const MessageCounts& counts, const std::string& sender,
                        const Config& config);

} // namespace authguard
