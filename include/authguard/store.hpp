// store.hpp - where observations and locks live, shared by every hook.
//
// A Store keeps plain per-user History (see history.hpp). The hot path is
// record(): one round trip that adds the event, refreshes expiry and returns
// the user's whole bounded history and lock. Everything else is for the
// admin tool. Stores throw StoreError on any failure; the caller decides
// whether that fails open.
#pragma once

#include "authguard/config.hpp"
#include "authguard/event.hpp"
#include "authguard/history.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace authguard {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct RecordResult {
    std::int64_t now = 0; // the clock the store used (Redis TIME unless overridden)
    History history;      // after the event
    std::string note;     // why the event was not recorded, though read (Redis full)
};

// What a log follower (authguardctl follow) leaves with each event it feeds:
// the store keeps, in the hash the event changes and in the same atomic
// step, the token of the latest event each follower fed for the user (the
// field "q|<follower>", history.hpp). A follower killed between feeding an
// event and saving its position reads the mark back and so knows whether
// that write happened: no event counted twice, none skipped.
struct FeedMark {
    std::string follower; // the follower's id: a few letters and digits
    std::string token;    // the event's place in the follower's logs
};

// Which of a user's hashes a mark is in: the observations (logins) or the
// message counts.
enum class FeedKind { login, message };

struct RecordOptions {
    bool count = true; // false: only read (allowlisted network, temporary failure)
    // Non-empty: also remember, in the same round trip, that this SMTP
    // session (see identity.hpp) authenticated as the event's user.
    std::string bind_session;
    std::int64_t session_ttl = 3600;
    // Set by a log follower: kept with the event when it is counted. The
    // hooks leave it empty, and their round trip stays as it was.
    std::optional<FeedMark> mark;
};

// What Store::attempt_on_lock found.
struct LockAttempt {
    std::int64_t now = 0;     // the clock the store used
    std::optional<Lock> lock; // the lock in force, if any
};

struct StoreStats {
    std::int64_t users = 0;
    std::int64_t locks = 0;
    std::int64_t observations = 0;
    std::int64_t memory_bytes = 0; // of authguard's keys, where the store can tell
};

// One user's whole stored state, for moving it between stores (authguardctl
// export / import). A *_ttl is the seconds its key has left (0: no key, or
// no expiry; import then uses the configured retention).
struct UserDump {
    std::string user;
    History history;                   // observations, dropped, lock with every field
    std::int64_t observations_ttl = 0;
    std::int64_t lock_ttl = 0;
    std::vector<std::pair<std::string, std::int64_t>> rate; // message buckets as stored
    std::int64_t rate_ttl = 0;
    // Log followers' marks (FeedMark): follower id and token, kept with the
    // observations and with the message buckets.
    std::vector<std::pair<std::string, std::string>> marks, rate_marks;
};

class Store {
  public:
    virtual ~Store() = default;

    // Connects (Redis) or opens the environment (LMDB) ahead of the first
    // call, so that a hook can do it while it waits for something else
    // (authguard-checkpw: while the real checkpassword runs). Never throws:
    // a failure is the first real call's, as if prepare() had not run.
    virtual void prepare() {}

    // Adds the event (unless options.count is false) and returns the
    // history. event.time == 0 means "use the store's clock".
    virtual RecordResult record(const Event& event, const RecordOptions& options) = 0;
    RecordResult record(const Event& event, bool count) {
        RecordOptions options;
        options.count = count;
        return record(event, options);
    }

    // Adds a message with its recipients to a sender's counts (messages == 0
    // and recipients == 0: only reads; below 0: take_back_message) and
    // returns them with the sender's lock. `sender` is a user, or
    // "relay:<address>" for an unauthenticated relaying client. time == 0:
    // the store's clock. `mark` (a log follower's, or null) is kept with the
    // counts when they change.
    virtual MessageCounts count_message(const std::string& sender, std::int64_t time,
                                        int messages, int recipients, const FeedMark* mark) = 0;
    MessageCounts count_message(const std::string& sender, std::int64_t time, int messages,
                                int recipients) {
        return count_message(sender, time, messages, recipients, nullptr);
    }
    // Takes back a message that count_message() counted at `time` (its
    // MessageCounts::now) and that was then not queued: the next queue
    // program could not be started, or refused it. A message that never
    // left must not bring its sender closer to a sending limit. The same
    // buckets lose what they got (never below 0); returns the counts after.
    MessageCounts take_back_message(const std::string& sender, std::int64_t time, int messages,
                                    int recipients) {
        return count_message(sender, time, -messages, -recipients, nullptr);
    }

    // The token of the last event `follower` fed for `user` (see FeedMark),
    // from the observations (logins) or the message counts.
    virtual std::optional<std::string> feed_mark(const std::string& user, FeedKind kind,
                                                 const std::string& follower) = 0;

    // The user an SMTP session authenticated as, if it did (and refreshes the
    // binding's expiry).
    virtual std::optional<std::string> session_user(const std::string& session_key,
                                                    std::int64_t ttl) = 0;

    // Takes back the success that record() just counted for a login that was
    // then refused (locked, or under failure pressure): a login that was not
    // let in must never make its network known, so the same bot's retry is
    // judged as new again. The observation goes when that login was its
    // only one, else it counts one less.
    virtual void take_back_success(const std::string& user, const std::string& address) = 0;

    // A login the server refused before checking its password, on the word
    // of a policy answer about a locked account (Dovecot's allow): counted
    // in the lock's attempts_after and last_attempt, as record() counts
    // every attempt on a locked account, but no login is recorded: its
    // password was never checked. count == false only reads (an allowlisted
    // network). time == 0: the store's clock. Returns the lock, after the
    // count, when one is in force.
    virtual LockAttempt attempt_on_lock(const std::string& user, std::int64_t time, bool count) = 0;

    // Sets the lock unless one is already there; true when this call set it.
    virtual bool set_lock(const std::string& user, const Lock& lock) = 0;
    // Removes the lock and forgets the successful logins from the addresses
    // in `forget`: the caller (authguardctl unlock) names those of the
    // networks the lock's evidence calls new, which must not become "known
    // networks"; every other observation stays, the owner's own networks
    // above all, however recently first seen. True when there was a lock.
    virtual bool clear_lock(const std::string& user, const std::vector<std::string>& forget) = 0;

    virtual History load(const std::string& user) = 0;
    virtual std::vector<std::string> users() = 0;
    virtual std::int64_t now() = 0;
    virtual StoreStats stats() = 0;

    // The user's whole state (export), and writing one in place of what the
    // store has for dump.user (import). Stores that cannot throw StoreError.
    virtual UserDump dump(const std::string& user);
    virtual void restore(const UserDump& dump);
};

// Builds the store the configuration names (config.store.kind): Redis, via
// Sentinel when configured, or LMDB. Connects or opens on first use, so it
// never throws StoreError itself.
std::unique_ptr<Store> open_store(const Config& config);

} // namespace authguard
