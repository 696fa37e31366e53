// guard.hpp - one event through the whole detector, as every hook uses it.
//
// normalise -> allowlists -> store (one round trip) -> decide -> lock and
// notify -> one log line. A store failure fails open (or tempfails, by
// configuration); nothing here ever waits longer than the store timeouts.
#pragma once

#include "authguard/config.hpp"
#include "authguard/detector.hpp"
#include "authguard/event.hpp"
#include "authguard/log.hpp"
#include "authguard/store.hpp"

#include <optional>
#include <string>

namespace authguard {

// Lower-cases (if configured) and checks a user name from the network.
// Returns the reason it is refused, or "" and the normalised name in `out`.
std::string normalize_user(std::string_view raw, const Config& config, std::string& out);

// The clock: $AUTHGUARD_NOW if set (tests, replays, the demo), else 0 when
// the store's clock is to be used, else the local time.
std::int64_t event_time(const Config& config);

// The client address text from tcpserver's environment, canonical, or
// "unknown" when missing or not an address.
std::string client_address_from_env();

// How an event is checked beyond the usual (see Guard::check).
struct CheckOptions {
    std::string bind_session; // a success binds this SMTP session (identity.hpp)
    // A log follower's mark, kept with the event (store.hpp, FeedMark).
    std::optional<FeedMark> mark;
    // The store has counted this event already (a log follower found its
    // mark after a crash): it is only judged again, so that a lock its
    // first check had no time to store is stored now.
    bool recorded = false;
    // The server has let the login in already (a log follower reads it
    // afterwards): it is judged and counted as it happened, and a refusing
    // verdict cannot take it back (see Store::take_back_success).
    bool already_let_in = false;
};

class Guard {
  public:
    // Logs, once, why the asn-db table is not used (or is old): a guard
    // lives as long as its process, one login for a hook.
    Guard(const Config& config, Store& store, Logger& logger);

    // The event's user must already be normalised. The returned decision's
    // verdict is what the hook must enforce. A success with a non-empty
    // `bind_session` also binds that SMTP session to the user (identity.hpp),
    // in the same round trip.
    Decision check(Event event, const std::string& bind_session = {});
    Decision check(Event event, const CheckOptions& options);

    // A login the server asks about before it checks the password (Dovecot's
    // allow): refused while the account is locked, and then counted as an
    // attempt after the lock (Store::attempt_on_lock). Nothing else can be
    // judged before the password is: any other verdict is allow, unlogged.
    Decision check_before_password(const Event& event);

    // A message from `sender` (a user, or "relay:<address>") with this many
    // envelope recipients; messages == 0 only checks the lock and counts.
    // `pending_recipients` and `pending_messages` are judged as if counted,
    // but not stored (an SMTP transaction that is not queued yet: its
    // recipients so far, and the message itself).
    Decision check_message(const std::string& sender, int messages, int recipients,
                           std::string_view context, int pending_recipients = 0,
                           int pending_messages = 0);

    // Takes back a message that check_message counted (`counted` is its
    // decision) and that was then not queued: the next queue program could
    // not run, or refused it (`why`). A store failure is logged, not thrown.
    void take_back_message(const std::string& sender, const Decision& counted, int messages,
                           int recipients, std::string_view context, std::string_view why);

    // A message (or recipients of one) read from a mail log, counted at the
    // log's `time` with the follower's mark (authguardctl follow). Logged
    // as check_message's, with the context "follow".
    Decision check_logged_message(const std::string& sender, std::int64_t time, int messages,
                                  int recipients, const FeedMark& mark);

  private:
    struct MessageCheck {
        std::int64_t time = 0; // 0: the store's clock
        int messages = 0, recipients = 0, pending_messages = 0, pending_recipients = 0;
        std::string_view context;
        const FeedMark* mark = nullptr;
    };
    Decision judge_message(const std::string& sender, const MessageCheck& check);
    void log_decision(const Event& event, const Decision& decision, std::string_view note);

    const Config& config_;
    Store& store_;
    Logger& logger_;
};

} // namespace authguard
