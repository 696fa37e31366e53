// detector.hpp - the policy: from a user's history to a verdict.
//
// This is the one place where authguard decides. Hooks and stores only
// translate; they never compare a count with a threshold themselves.
//
// Reasoning behind the rules (numbers in doc/defaults.md):
// - A person logs in from a few provider blocks ("wide networks") a day; a
//   botnet brings a new one with almost every login. So the account is
//   locked when too many wide networks never seen before for this user
//   appear within a window. Addresses alone are never a reason to lock:
//   carrier-grade NAT and mail providers' pools show dozens a day.
// - Failures can be caused by anyone, so they never lock, and never refuse a
//   login from a network the user has succeeded from within known-period.
//   Under failure pressure (guessing from many networks, or one stolen
//   password replayed from many) a success from an unknown network is
//   answered with a temporary failure.
#pragma once

#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/history.hpp"

#include <string>

namespace authguard {

enum class Verdict {
    allow,
    alert,         // allowed, and the admin is told
    tempfail,      // try again later (454 at AUTH, 451 for a message)
    reject,        // refused for good, without a lock (a sending limit, by configuration)
    lock,          // this event locked the account
    refuse_locked, // the account was locked already
};
std::string_view to_string(Verdict verdict);

struct WindowCounts {
    int addresses = 0;
    int networks = 0; // /24, /64
    int wide_networks = 0;     // /16, /32
    int new_wide_networks = 0; // wide networks first seen within the window
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
};

// The networks an address belongs to, per the configured prefixes.
struct NetworkKeys {
    std::string net;
    std::string wide;
};
NetworkKeys network_keys(std::string_view address_text, const Config& config);

Signals compute_signals(const History& history, const Event& event, const Config& config);

// `history` is the user's state after the event was recorded.
Decision decide(const History& history, const Event& event, const Config& config);

// A message submitted by `sender` (a user, or "relay:<address>"), with the
// counts after it was added.
Decision decide_message(const MessageCounts& counts, const std::string& sender,
                        const Config& config);

} // namespace authguard
