// redis_store.hpp - the Store on Redis (hiredis), shared by every MX host.
//
// Keys: <prefix>{<user>} (observations hash), <prefix>{<user>}:lock and,
// once the user's history has been full, <prefix>{<user>}:seen (a sorted
// set indexing the observations by last seen, so that eviction at the cap
// does not scan the history: lib/record.lua). The braces make them one
// Redis Cluster hash slot, so the record script stays valid there. Every
// command is bounded by the configured timeouts, which are set again after
// every reconnect (hiredis drops them).
//
// With Sentinel (sentinel = host:port,...; sentinel-master = NAME) every new
// connection first asks the sentinels for the primary's address; a broken
// connection, or one to a primary a failover demoted, is dropped and the
// sentinels are asked again.
#pragma once

#include "authguard/store.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace authguard {

class RedisStore final : public Store {
  public:
    explicit RedisStore(const Config& config);

    void prepare() override; // connects; a failure waits for the next call

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
    UserDump dump(const std::string& user) override;
    void restore(const UserDump& dump) override;

    std::string observations_key(const std::string& user) const;
    std::string lock_key(const std::string& user) const;
    std::string seen_key(const std::string& user) const; // the observations' index
    std::string rate_key(const std::string& sender) const;
    std::string session_key(const std::string& session) const;

  private:
    struct ContextFree {
        void operator()(redisContext* c) const { redisFree(c); }
    };
    struct ReplyFree {
        void operator()(redisReply* r) const { freeReplyObject(r); }
    };
    using Reply = std::unique_ptr<redisReply, ReplyFree>;
    using Context = std::unique_ptr<redisContext, ContextFree>;

    redisContext& connection();
    Context connect_to(const std::string& where);
    std::string primary_from_sentinels();
    std::string server() const; // "redis ADDRESS" for messages
    Reply command(const std::vector<std::string>& argv);
    struct Script {
        const char* text;
        const char* sha1;
    };
    Reply eval_script(const Script& script, const std::vector<std::string>& keys_and_args,
                      int key_count);
    // Sends all commands, then reads all replies: one round trip.
    std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);
    std::vector<Reply> pipeline_once(const std::vector<std::vector<std::string>>& commands);
    [[noreturn]] void fail(const std::string& what);

    const Config& config_;
    Context context_;
    // prepare()'s failure to connect, thrown by the next call instead of a
    // second attempt: a Redis that is down costs one connect timeout, not two.
    std::optional<std::string> prepare_failure_;
    std::string where_; // the server context_ is connected to
};

} // namespace authguard
