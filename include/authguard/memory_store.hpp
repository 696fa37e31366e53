// memory_store.hpp - the Store in this process's memory, with exactly the
// semantics of the Redis scripts (lib/record.lua, lib/message.lua): one
// observation per kind and address with first/last/count, the max-entries
// cap (expired observations make room, else the least recently seen one,
// a failure first, is evicted and counted as dropped), locks with attempts
// after them, message buckets, session bindings, and key expiry.
//
// For replaying logs (authguardctl scan) and for tests: nothing is shared
// between processes. Its clock is the log's: the latest event time it was
// given (time 0 means the local clock), and keys expire by that clock, so a
// replay of last year's log ages the way the live store did.
#pragma once

#include "authguard/store.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace authguard {

class MemoryStore final : public Store {
  public:
    explicit MemoryStore(const Config& config) : config_(config) {}

    using Store::record;
    RecordResult record(const Event& event, const RecordOptions& options) override;
    using Store::count_message;
    MessageCounts count_message(const std::string& sender, std::int64_t time, int messages,
                                int recipients, const FeedMark* mark) override;
    std::optional<std::string> feed_mark(const std::string& user, FeedKind kind,
                                         const std::string& follower) override;
    std::optional<std::string> session_user(const std::string& session_key,
                                            std::int64_t ttl) override;
    void take_back_success(const std::string& user, const std::string& address) override;
    LockAttempt attempt_on_lock(const std::string& user, std::int64_t time, bool count) override;
    bool set_lock(const std::string& user, const Lock& lock) override;
    bool clear_lock(const std::string& user, const std::vector<std::string>& forget) override;
    History load(const std::string& user) override;
    std::vector<std::string> users() override;
    std::int64_t now() override;
    StoreStats stats() override;

    // record() without the copy: the user's history after the event, valid
    // until the next call that changes the store. `now` gets the clock used.
    const History& record_in_place(const Event& event, const RecordOptions& options,
                                   std::int64_t& now);

    // When a key expires (the store's clock), as Redis' TTL would tell;
    // nullopt when the key does not exist.
    std::optional<std::int64_t> observations_expire_at(const std::string& user);
    std::optional<std::int64_t> lock_expire_at(const std::string& user);
    std::optional<std::int64_t> rate_expire_at(const std::string& sender);
    std::optional<std::int64_t> session_expire_at(const std::string& session_key);

    // Puts `history` (observations and dropped; no lock) in place of what
    // the store holds for `user`, the observations expiring at `expire_at`
    // by the store's clock. For a replay that kept a user's quiet beginning
    // itself, exactly as record() would have built it, until the detector
    // had to look (authguardctl scan).
    void put_history(const std::string& user, History history, std::int64_t expire_at);

    // Forgets every expired key (the reader does that lazily; a long
    // replay calls this now and then to bound its memory).
    void purge_expired();

  private:
    struct UserState {
        History history;                // observations, dropped, lock
        std::map<std::string, std::string> marks; // follower -> token, in the observations key
        std::int64_t observations_expire = 0; // 0: no observations key
        std::int64_t lock_expire = 0;         // 0: no lock key
    };
    struct Rate {
        std::map<std::string, std::int64_t> buckets; // "s<n>m", "s<n>r", "l<n>r"
        std::map<std::string, std::string> marks;    // follower -> token
        std::int64_t expire = 0;
    };
    struct Session {
        std::string user;
        std::int64_t expire = 0;
    };

    // The clock for an operation at `time` (0: the store's clock).
    std::int64_t clock_for(std::int64_t time);
    // Removes the user's expired keys; true when nothing is left.
    static bool expire(UserState& u, std::int64_t now);
    // The user's state with expired keys removed; nullptr when none.
    UserState* find_user(const std::string& user, std::int64_t now);

    const Config& config_;
    std::int64_t clock_ = 0; // the latest time seen; 0: none yet
    std::unordered_map<std::string, UserState> users_;
    std::unordered_map<std::string, Rate> rates_;
    std::unordered_map<std::string, Session> sessions_;
};

} // namespace authguard
