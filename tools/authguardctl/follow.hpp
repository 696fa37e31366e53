// follow.hpp - what the parts of authguardctl follow share: the state file
// (follow_state.cpp), the tokens that mark fed events in the store, and the
// context that gives a log line its meaning (follow_context.cpp). The
// follower itself is follow.cpp.
//
// Exactly once, also after kill -9. Every event the follower feeds carries
// a token, its place in the log: (segment, offset of its line, index in the
// line). A segment is one reading of one file from its start (a new file,
// a rotation, a truncation), named by a random id. The store keeps, in the
// same atomic step as the event, the token of the last event this follower
// fed for the user (store.hpp, FeedMark). The state file holds, per file,
// the position (offset of the first line not done) and a horizon: the
// follower writes the state before it handles a block it has read, with
// the horizon at the block's end, so no event of a line ending after the
// horizon was fed before the state says so. A restart re-reads from the
// position; for each event of a line ending at or before the horizon it
// reads the user's mark: a mark of the same segment at or after the event's
// place means the event was counted (the follower feeds in order), so it is
// skipped; anything else means it was not. Beyond the horizon nothing was
// fed. The state is written once per block read, not per event.
#pragma once

#include "ctl.hpp"

#include "authguard/detector.hpp"
#include "authguard/fd.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace authguardctl::follow {

// Where a followed file is read, as the state file keeps it.
struct Position {
    std::uint64_t dev = 0, ino = 0;
    std::uint64_t offset = 0;  // of the first line not handled yet
    std::uint64_t hash = 0;    // of the file's first line (0: not known yet)
    std::string segment;       // this reading of the file (random hex)
    std::uint64_t horizon = 0; // no event of a line ending after it fed (see above)
    std::uint64_t context = 0; // re-read from here to know what `offset`'s lines mean
    bool operator==(const Position&) const = default;
};

// The state file: one line per followed file, written whole by rename.
// Holding it also holds a lock (FILE.lock), so that two followers never
// share one state.
class StateFile {
  public:
    // Throws std::runtime_error when another follower holds the lock.
    explicit StateFile(std::string path);
    std::map<std::string, Position> load() const;
    void save(const std::map<std::string, Position>& state, bool sync) const;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    authguard::Fd lock_;
};

// The state file's text (see follow_state.cpp), read and written apart
// from the file for the fuzz harness: parse_state skips a line it cannot
// read, and parse_state(format_state(s)) == s for every s it returns.
std::map<std::string, Position> parse_state(std::string_view text);
std::string format_state(const std::map<std::string, Position>& state);

// A new segment's name: 16 random hex digits.
std::string new_segment();

// The follower's id in the store's marks for one followed file: from the
// host name, the state file's absolute path and the file's name, so that
// followers on several hosts sharing one Redis, and several files of one
// follower, never overwrite each other's marks. 8 hex digits.
std::string follower_id(const std::string& state_path, const std::string& file);

// An event's place in a segment, and its token "SEGMENT:OFFSET:INDEX".
struct Place {
    std::string_view segment;
    std::uint64_t offset = 0; // of the event's line
    std::uint32_t index = 0;  // of the event in its line (Dovecot's "N attempts")
};
std::string token(const Place& place);
// True when `mark`, read from the store, says the event at `place` was fed.
bool counted(std::string_view mark, const Place& place);

// A line's place in the reading order of one followed file, and its time.
struct Where {
    std::uint64_t segment = 0; // the follower's running number of the file's segments
    std::uint64_t offset = 0;
    std::int64_t time = 0;
};

// What earlier lines say about later ones, for one followed file:
// qmail-smtpd logs Accept::AUTH again with every RCPT of a session; qmail-send
// names a message's sender in "info msg" and its recipients in later
// "starting delivery" lines, and a deferred recipient's retry starts another
// delivery. Everything here is forgotten an hour (of log time) after the
// line that brought it, so that the follower can rebuild it exactly by
// re-reading from the earliest line still needed (earliest()) after a restart.
class MailContext {
  public:
    static constexpr std::int64_t window = 3600;

    // A qmail-smtpd login line: true when it repeats its session's login.
    bool repeats_session(std::uint64_t session, std::string_view user, std::string_view address,
                         const Where& at);
    // A successful login to a service one sends mail by: the user's
    // messages within the window after are attributed to the user.
    void authenticated(const std::string& user, const Where& at);
    // "info msg": the message, followed from now on, when its sender is a
    // user who authenticated within the window before; else nullptr.
    struct Message;
    Message* message(std::uint64_t msg, const std::string& sender, const Where& at);
    // "starting delivery": the followed message when this is a recipient's
    // first delivery (not a deferral's retry), else nullptr.
    Message* first_delivery(std::uint64_t msg, std::uint64_t delivery);
    void delivery_done(std::uint64_t delivery, bool deferred);
    void message_end(std::uint64_t msg);
    // Forgets what is older than the window before `now` (a line's time).
    void prune(std::int64_t now);
    // The earliest line of `segment` whose meaning is still needed.
    std::optional<std::uint64_t> earliest(std::uint64_t segment) const;

    struct Message {
        std::string sender;
        std::uint32_t deferrals = 0;                          // retries to come, not new recipients
        authguard::Verdict shown = authguard::Verdict::allow; // the verdict last printed for it
    };

  private:
    // Entries with the order they were made in: dropped by age from the front.
    template <class Key, class Value> class Aging {
      public:
        Value* find(const Key& key);
        // Where the entry was put (its time, and the place it is ordered by).
        std::optional<Where> where(const Key& key) const;
        Value& put(const Key& key, Value value, const Where& at);
        void erase(const Key& key);
        void prune(std::int64_t before);
        std::optional<std::uint64_t> earliest(std::uint64_t segment) const;

      private:
        struct Order {
            std::uint64_t segment, offset, serial;
            auto operator<=>(const Order&) const = default;
        };
        struct Entry {
            Value value;
            Order order;
            std::int64_t time;
        };
        std::unordered_map<Key, Entry> entries_;
        std::map<Order, Key> order_;
        std::uint64_t serial_ = 0;
    };
    struct Session {
        std::string user, address;
    };

    Aging<std::uint64_t, Session> sessions_;
    Aging<std::string, bool> senders_; // users who authenticated
    Aging<std::uint64_t, Message> messages_;
    std::unordered_map<std::uint64_t, std::uint64_t> deliveries_; // delivery -> msg
};

} // namespace authguardctl::follow
