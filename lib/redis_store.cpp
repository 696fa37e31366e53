// redis_store.cpp - Store on Redis: the record script and the admin queries.
#include "authguard/redis_store.hpp"

#include "message_lua.hpp" // generated from lib/message.lua: message_lua, message_lua_sha1
#include "record_lua.hpp"  // generated from lib/record.lua: record_lua, record_lua_sha1

#include <fcntl.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

namespace authguard {

namespace {

timeval to_timeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

std::string as_string(const redisReply* r) {
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return std::string(r->str, r->len);
    if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
    return {};
}

std::int64_t as_int(const redisReply* r) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    auto s = as_string(r);
    try {
        return s.empty() ? 0 : std::stoll(s);
    } catch (...) {
        return 0;
    }
}

void fill_history(History& h, const redisReply* obs, const redisReply* lock) {
    if (obs && obs->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i + 1 < obs->elements; i += 2) {
            auto field = as_string(obs->element[i]);
            auto value = as_string(obs->element[i + 1]);
            if (field == "x|dropped") {
                h.dropped = as_int(obs->element[i + 1]);
            } else if (auto o = parse_observation(field, value)) {
                h.observations.push_back(std::move(*o));
            }
        }
    }
    if (lock && lock->type == REDIS_REPLY_ARRAY && lock->elements >= 2) {
        Lock l;
        for (std::size_t i = 0; i + 1 < lock->elements; i += 2) {
            auto field = as_string(lock->element[i]);
            const redisReply* v = lock->element[i + 1];
            if (field == "since") l.since = as_int(v);
            else if (field == "until") l.until = as_int(v);
            else if (field == "reason") l.reason = as_string(v);
            else if (field == "evidence") l.evidence = as_string(v);
            else if (field == "attempts_after") l.attempts_after = as_int(v);
            else if (field == "last_attempt") l.last_attempt = as_int(v);
        }
        h.lock = std::move(l);
    }
}

// The log followers' marks among a hash's fields: (follower, token).
void marks_of(const redisReply* hash, std::vector<std::pair<std::string, std::string>>& out) {
    if (!hash || hash->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t i = 0; i + 1 < hash->elements; i += 2) {
        auto field = as_string(hash->element[i]);
        if (is_mark_field(field))
            out.emplace_back(field.substr(2), as_string(hash->element[i + 1]));
    }
}

} // namespace

RedisStore::RedisStore(const Config& config) : config_(config) {}

void RedisStore::prepare() {
    try {
        connection();
    } catch (const StoreError& e) {
        prepare_failure_ = e.what();
    }
}

std::string RedisStore::observations_key(const std::string& user) const {
    return config_.store.key_prefix + "{" + user + "}";
}

std::string RedisStore::lock_key(const std::string& user) const {
    return observations_key(user) + ":lock";
}

std::string RedisStore::seen_key(const std::string& user) const {
    return observations_key(user) + ":seen";
}

std::string RedisStore::rate_key(const std::string& sender) const {
    if (sender.rfind("relay:", 0) == 0) // outside the users' {...} namespace
        return config_.store.key_prefix + "relay:{" + sender.substr(6) + "}:rate";
    return observations_key(sender) + ":rate";
}

std::string RedisStore::session_key(const std::string& session) const {
    return config_.store.key_prefix + "session:{" + session + "}";
}

void RedisStore::fail(const std::string& what) {
    std::string detail = context_ && context_->err ? context_->errstr : "";
    context_.reset(); // reconnect, and re-arm the timeouts, on the next call
    throw StoreError(server() + ": " + what + (detail.empty() ? "" : ": " + detail));
}

std::string RedisStore::server() const {
    if (config_.store.sentinels.empty()) return "redis " + config_.store.redis;
    return "redis " + (where_.empty() ? std::string("?") : where_) + " (primary '" +
           config_.store.sentinel_master + "' by sentinel)";
}

// A connection to host:port, [v6]:port, unix:/path or /path with both
// timeouts set (hiredis forgets them with every new context) and
// close-on-exec. Check ->err.
RedisStore::Context RedisStore::connect_to(const std::string& where) {
    timeval connect_tv = to_timeval(config_.store.connect_timeout_ms);
    redisContext* c = nullptr;
    if (where.rfind("unix:", 0) == 0 || where.front() == '/') {
        auto path = where.front() == '/' ? where : where.substr(5);
        c = redisConnectUnixWithTimeout(path.c_str(), connect_tv);
    } else {
        auto colon = where.rfind(':');
        std::string host = where.substr(0, colon);
        int port = 6379;
        if (colon != std::string::npos) {
            try {
                port = std::stoi(where.substr(colon + 1));
            } catch (...) {
                throw StoreError("redis: bad address '" + where + "'");
            }
        }
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        c = redisConnectWithTimeout(host.c_str(), port, connect_tv);
    }
    if (c == nullptr) throw StoreError("redis " + where + ": out of memory");
    Context context(c);
    if (c->err) return context;
    // Programs we start (the next queue program, the real checkpassword)
    // must not inherit the connection.
    ::fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    timeval command_tv = to_timeval(config_.store.command_timeout_ms);
    if (redisSetTimeout(c, command_tv) != REDIS_OK) {
        c->err = REDIS_ERR_OTHER;
        std::snprintf(c->errstr, sizeof c->errstr, "cannot set timeout");
    }
    return context;
}

// Asks the sentinels, in the order listed, for the primary's address; the
// first that knows it answers. Each is bounded by the two timeouts.
std::string RedisStore::primary_from_sentinels() {
    const std::string& name = config_.store.sentinel_master;
    std::string tried;
    for (const auto& sentinel : config_.store.sentinels) {
        Context c = connect_to(sentinel);
        tried += (tried.empty() ? "" : ", ") + sentinel;
        if (c->err) {
            tried += std::string(" ") + c->errstr;
            continue;
        }
        Reply r(static_cast<redisReply*>(
            redisCommand(c.get(), "SENTINEL get-master-addr-by-name %b", name.data(), name.size())));
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            std::string host = as_string(r->element[0]), port = as_string(r->element[1]);
            if (host.find(':') != std::string::npos) host = "[" + host + "]";
            return host + ":" + port;
        }
        tried += r ? " does not know it" : std::string(" ") + c->errstr;
    }
    throw StoreError("redis sentinel: no primary known for '" + name + "' (asked " + tried + ")");
}

redisContext& RedisStore::connection() {
    if (context_) return *context_;
    if (prepare_failure_) throw StoreError(*std::exchange(prepare_failure_, std::nullopt));
    where_ = config_.store.sentinels.empty() ? config_.store.redis : primary_from_sentinels();
    context_ = connect_to(where_);
    if (context_->err) fail("cannot connect");
    // pipeline_once: a failure here is not retried (see pipeline). A
    // connection that AUTH or SELECT refused is not one to use: the next
    // call (after prepare(), the first real one) must see this failure.
    try {
        if (!config_.store.redis_password.empty())
            pipeline_once({{"AUTH", config_.store.redis_password}});
        if (config_.store.redis_db != 0)
            pipeline_once({{"SELECT", std::to_string(config_.store.redis_db)}});
    } catch (const StoreError&) {
        context_.reset();
        throw;
    }
    return *context_;
}

RedisStore::Reply RedisStore::command(const std::vector<std::string>& argv) {
    return std::move(pipeline({argv}).front());
}

std::vector<RedisStore::Reply>
RedisStore::pipeline(const std::vector<std::vector<std::string>>& commands) {
    const bool reused = context_ != nullptr;
    try {
        return pipeline_once(commands);
    } catch (const StoreError&) {
        // With Sentinel, a connection that broke or reached a demoted
        // primary (READONLY) is tried once more, on the primary the
        // sentinels name now (after a failover).
        if (config_.store.sentinels.empty() || !reused || context_) throw;
        return pipeline_once(commands);
    }
}

std::vector<RedisStore::Reply>
RedisStore::pipeline_once(const std::vector<std::vector<std::string>>& commands) {
    redisContext& c = connection();
    for (auto& argv : commands) {
        std::vector<const char*> ptrs;
        std::vector<std::size_t> lens;
        for (auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(&c, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
            REDIS_OK)
            fail(argv[0] + " failed");
    }
    std::vector<Reply> replies;
    for (auto& argv : commands) {
        void* raw = nullptr;
        if (redisGetReply(&c, &raw) != REDIS_OK || raw == nullptr) fail(argv[0] + " failed");
        replies.emplace_back(static_cast<redisReply*>(raw));
    }
    for (std::size_t i = 0; i < replies.size(); ++i) {
        const redisReply* r = replies[i].get();
        if (r->type != REDIS_REPLY_ERROR) continue;
        std::string message(r->str, r->len);
        if (message.rfind("NOSCRIPT", 0) == 0) continue; // the caller loads the script
        // A primary demoted by a failover: ask the sentinels again next time.
        if (message.rfind("READONLY", 0) == 0) context_.reset();
        throw StoreError(server() + ": " + commands[i][0] + ": " + message);
    }
    return replies;
}

namespace {
bool is_noscript(const redisReply* r) { return r->type == REDIS_REPLY_ERROR; }
} // namespace

RedisStore::Reply RedisStore::eval_script(const Script& script,
                                          const std::vector<std::string>& keys_and_args,
                                          int key_count) {
    std::vector<std::string> argv{"EVALSHA", script.sha1, std::to_string(key_count)};
    argv.insert(argv.end(), keys_and_args.begin(), keys_and_args.end());
    Reply reply = command(argv);
    if (is_noscript(reply.get())) { // first use since Redis started
        argv[0] = "EVAL";
        argv[1] = script.text;
        reply = command(argv);
    }
    return reply;
}

RecordResult RedisStore::record(const Event& event, const RecordOptions& options) {
    std::string mode = "-";
    if (options.count) mode = event.outcome == Outcome::success ? "s" : "f";
    // The script appends it to the value after a space (record.lua).
    std::string fingerprint =
        observation_suffix(mode == "f" ? event.fingerprint : std::nullopt, event.service);
    if (!fingerprint.empty()) fingerprint.erase(0, 1);
    std::string now = event.time > 0 ? std::to_string(event.time) : "";
    // The places in `eval` that the transaction below reads or rewrites.
    enum : std::size_t {
        command_at = 0,
        script_at = 1,
        observations_at = 3,
        lock_at = 4,
        mode_at = 7
    };
    std::vector<std::string> eval{"EVALSHA",
                                  record_lua_sha1,
                                  "3",
                                  observations_key(event.user),
                                  lock_key(event.user),
                                  seen_key(event.user),
                                  now,
                                  mode,
                                  event.address,
                                  fingerprint,
                                  std::to_string(config_.known_period),
                                  std::to_string(config_.window_long),
                                  std::to_string(config_.max_entries),
                                  std::to_string(config_.lock_retention)};
    if (options.mark) { // only a log follower's events carry one
        eval.push_back(mark_field(options.mark->follower));
        eval.push_back(options.mark->token);
    }
    std::vector<std::vector<std::string>> before;
    if (!options.bind_session.empty())
        before.push_back({"SET", session_key(options.bind_session), event.user, "EX",
                          std::to_string(options.session_ttl)});
    // One round trip: [SET] MULTI EVALSHA HGETALL HGETALL EXEC. Redis hands
    // the history over itself, far faster than the script could through
    // Lua tables (a full history: most of the cost); MULTI makes it the
    // state the script left. Read only, without MULTI: a full Redis
    // (maxmemory) refuses every command queued in one, and then nothing
    // is written for the reads to be out of step with.
    struct Replies {
        std::vector<Reply> replies;
        const redisReply *script = nullptr, *obs = nullptr, *lock = nullptr;
    };
    auto transaction = [&](std::vector<std::vector<std::string>> commands) {
        for (;;) {
            const bool atomic = eval[mode_at] != "-";
            if (atomic) commands.push_back({"MULTI"});
            commands.push_back(eval);
            commands.push_back({"HGETALL", eval[observations_at]});
            commands.push_back({"HGETALL", eval[lock_at]});
            if (atomic) commands.push_back({"EXEC"});
            Replies r{pipeline(commands)};
            const std::size_t n = r.replies.size();
            std::vector<const redisReply*> three{r.replies[n - 3].get(), r.replies[n - 2].get(),
                                                 r.replies[n - 1].get()};
            if (atomic) {
                const redisReply* exec = r.replies.back().get();
                if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 3)
                    throw StoreError("redis: unexpected reply to the record script");
                three = {exec->element[0], exec->element[1], exec->element[2]};
            }
            r.script = three[0], r.obs = three[1], r.lock = three[2];
            if (r.script->type != REDIS_REPLY_ERROR) return r;
            std::string message(r.script->str, r.script->len);
            if (message.rfind("NOSCRIPT", 0) != 0 || eval[command_at] == "EVAL")
                throw StoreError(server() + ": " + eval[command_at] + ": " + message);
            eval[command_at] = "EVAL"; // first use since Redis started
            eval[script_at] = record_lua;
            commands.clear(); // what went before it did its work
        }
    };
    RecordResult result;
    Replies reply;
    try {
        reply = transaction(std::move(before));
    } catch (const StoreError& e) {
        // Redis full (maxmemory with noeviction): nothing can be written,
        // but the lock and the history can still be read. Judge on them, so
        // that a locked account stays locked rather than failing open.
        if (mode == "-" ||
            std::string_view(e.what()).find("OOM command not allowed") == std::string_view::npos)
            throw;
        result.note = std::string("not recorded: ") + e.what();
        eval[mode_at] = "-"; // read only
        reply = transaction({});
    }
    result.now = as_int(reply.script);
    fill_history(result.history, reply.obs, reply.lock);
    return result;
}

MessageCounts RedisStore::count_message(const std::string& sender, std::int64_t time, int messages,
                                        int recipients, const FeedMark* mark) {
    bool relay = sender.rfind("relay:", 0) == 0;
    std::string lock = relay ? config_.store.key_prefix + "relay:{" + sender.substr(6) + "}:lock"
                             : lock_key(sender);
    std::vector<std::string> keys_and_args{rate_key(sender), lock,
                                           time > 0 ? std::to_string(time) : "",
                                           std::to_string(messages), std::to_string(recipients),
                                           std::to_string(config_.window_short),
                                           std::to_string(config_.window_long)};
    if (mark) {
        keys_and_args.push_back(mark_field(mark->follower));
        keys_and_args.push_back(mark->token);
    }
    Reply reply = eval_script({message_lua, message_lua_sha1}, keys_and_args, 2);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5)
        throw StoreError("redis: unexpected reply to the message script");
    MessageCounts counts;
    counts.now = as_int(reply->element[0]);
    counts.messages_short = as_int(reply->element[1]);
    counts.recipients_short = as_int(reply->element[2]);
    counts.recipients_long = as_int(reply->element[3]);
    History h;
    fill_history(h, nullptr, reply->element[4]);
    counts.lock = std::move(h.lock);
    return counts;
}

std::optional<std::string> RedisStore::feed_mark(const std::string& user, FeedKind kind,
                                                 const std::string& follower) {
    const std::string key = kind == FeedKind::login ? observations_key(user) : rate_key(user);
    Reply reply = command({"HGET", key, mark_field(follower)});
    if (reply->type != REDIS_REPLY_STRING) return std::nullopt;
    return as_string(reply.get());
}

std::optional<std::string> RedisStore::session_user(const std::string& session, std::int64_t ttl) {
    Reply reply = command({"GETEX", session_key(session), "EX", std::to_string(ttl)});
    if (reply->type != REDIS_REPLY_STRING) return std::nullopt;
    return as_string(reply.get());
}

void RedisStore::take_back_success(const std::string& user, const std::string& address) {
    static constexpr const char* script =
        "local old = redis.call('HGET', KEYS[1], ARGV[1]) "
        "if not old then return 0 end "
        "local first, last, count, rest = string.match(old, '^(%d+) (%d+) (%d+)(.*)$') "
        "if not count or tonumber(count) <= 1 then redis.call('HDEL', KEYS[1], ARGV[1]) "
        "redis.call('ZREM', KEYS[2], ARGV[1]) " // the index (record.lua) in step
        "else redis.call('HSET', KEYS[1], ARGV[1], first .. ' ' .. last .. ' ' .. "
        "(tonumber(count) - 1) .. rest) end return 1";
    command({"EVAL", script, "2", observations_key(user), seen_key(user),
             observation_field(Observation::Kind::success, address)});
}

LockAttempt RedisStore::attempt_on_lock(const std::string& user, std::int64_t time, bool count) {
    // As record.lua counts an attempt on a lock, without the observations.
    static constexpr const char* script =
        "local now = tonumber(ARGV[1]) "
        "if not now then now = tonumber(redis.call('TIME')[1]) end "
        "local u = tonumber(redis.call('HGET', KEYS[1], 'until')) "
        "if not u or (u ~= 0 and u <= now) then return {now, {}} end "
        "if ARGV[2] == '1' then "
        "  redis.call('HINCRBY', KEYS[1], 'attempts_after', 1) "
        "  redis.call('HSET', KEYS[1], 'last_attempt', now) "
        "  redis.call('EXPIRE', KEYS[1], ARGV[3]) "
        "end "
        "return {now, redis.call('HGETALL', KEYS[1])}";
    Reply reply = command({"EVAL", script, "1", lock_key(user), time > 0 ? std::to_string(time) : "",
                           count ? "1" : "0", std::to_string(config_.lock_retention)});
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        throw StoreError("redis: unexpected reply to the lock attempt script");
    LockAttempt result;
    result.now = as_int(reply->element[0]);
    History h;
    fill_history(h, nullptr, reply->element[1]);
    result.lock = std::move(h.lock);
    return result;
}

bool RedisStore::set_lock(const std::string& user, const Lock& lock) {
    static constexpr const char* script =
        "local old = redis.call('HGET', KEYS[1], 'until') "
        "if old and (tonumber(old) == 0 or tonumber(old) > tonumber(ARGV[1])) then return 0 end "
        "redis.call('DEL', KEYS[1]) "
        "redis.call('HSET', KEYS[1], 'since', ARGV[1], 'until', ARGV[2], 'reason', ARGV[3], "
        "'evidence', ARGV[4], 'attempts_after', 0, 'last_attempt', ARGV[1]) "
        "redis.call('EXPIRE', KEYS[1], ARGV[5]) return 1";
    Reply reply = command({"EVAL", script, "1", lock_key(user), std::to_string(lock.since),
                           std::to_string(lock.until), lock.reason, lock.evidence,
                           std::to_string(config_.lock_retention)});
    return as_int(reply.get()) == 1;
}

bool RedisStore::clear_lock(const std::string& user, const std::vector<std::string>& forget) {
    // One script: the lock and the evidence's logins go together. ARGV are
    // the success fields ("s|<address>"), one HDEL each (no unpack limit).
    static constexpr const char* script =
        "local had = redis.call('DEL', KEYS[2]) "
        "for i = 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) "
        "redis.call('ZREM', KEYS[3], ARGV[i]) end " // the index (record.lua) in step
        "return had";
    std::vector<std::string> args{"EVAL",         script,         "3", observations_key(user),
                                  lock_key(user), seen_key(user)};
    for (auto& address : forget)
        args.push_back(observation_field(Observation::Kind::success, address));
    Reply reply = command(args);
    return as_int(reply.get()) == 1;
}

History RedisStore::load(const std::string& user) {
    Reply obs = command({"HGETALL", observations_key(user)});
    Reply lock = command({"HGETALL", lock_key(user)});
    History h;
    fill_history(h, obs.get(), lock.get());
    return h;
}

std::vector<std::string> RedisStore::users() {
    std::vector<std::string> out;
    const std::string& prefix = config_.store.key_prefix;
    std::string cursor = "0";
    do {
        Reply reply = command({"SCAN", cursor, "MATCH", prefix + "{*}", "COUNT", "1000"});
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
            throw StoreError("redis: unexpected reply to SCAN");
        cursor = as_string(reply->element[0]);
        const redisReply* keys = reply->element[1];
        for (std::size_t i = 0; i < keys->elements; ++i) {
            auto key = as_string(keys->element[i]);
            if (key.size() < prefix.size() + 2) continue;
            out.push_back(key.substr(prefix.size() + 1, key.size() - prefix.size() - 2));
        }
    } while (cursor != "0");
    // Users who only have a lock (observations expired) are listed too.
    cursor = "0";
    do {
        Reply reply = command({"SCAN", cursor, "MATCH", prefix + "{*}:lock", "COUNT", "1000"});
        cursor = as_string(reply->element[0]);
        const redisReply* keys = reply->element[1];
        for (std::size_t i = 0; i < keys->elements; ++i) {
            auto key = as_string(keys->element[i]);
            auto user = key.substr(prefix.size() + 1, key.size() - prefix.size() - 7);
            if (std::find(out.begin(), out.end(), user) == out.end()) out.push_back(user);
        }
    } while (cursor != "0");
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::int64_t RedisStore::now() {
    Reply reply = command({"TIME"});
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        throw StoreError("redis: unexpected reply to TIME");
    return as_int(reply->element[0]);
}

StoreStats RedisStore::stats() {
    StoreStats s;
    for (auto& user : users()) {
        History h = load(user);
        ++s.users;
        s.observations += static_cast<std::int64_t>(h.observations.size());
        if (h.lock) ++s.locks;
        for (auto& key : {observations_key(user), lock_key(user), seen_key(user)}) {
            Reply r = command({"MEMORY", "USAGE", key});
            if (r->type == REDIS_REPLY_INTEGER) s.memory_bytes += r->integer;
        }
    }
    return s;
}

UserDump RedisStore::dump(const std::string& user) {
    auto replies = pipeline({{"HGETALL", observations_key(user)},
                             {"HGETALL", lock_key(user)},
                             {"HGETALL", rate_key(user)},
                             {"TTL", observations_key(user)},
                             {"TTL", lock_key(user)},
                             {"TTL", rate_key(user)}});
    UserDump d;
    d.user = user;
    fill_history(d.history, replies[0].get(), replies[1].get());
    marks_of(replies[0].get(), d.marks);
    const redisReply* rate = replies[2].get();
    if (rate->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i + 1 < rate->elements; i += 2)
            if (!is_mark_field(as_string(rate->element[i])))
                d.rate.emplace_back(as_string(rate->element[i]), as_int(rate->element[i + 1]));
    marks_of(rate, d.rate_marks);
    auto left = [](const Reply& r) { return std::max<long long>(0, as_int(r.get())); };
    d.observations_ttl = left(replies[3]);
    d.lock_ttl = left(replies[4]);
    d.rate_ttl = left(replies[5]);
    return d;
}

void RedisStore::restore(const UserDump& d) {
    // KEYS: observations, lock, rate, the observations' index (deleted:
    // record.lua builds it again when the history is next met full). ARGV:
    // the first three's TTLs, then per key the number of fields and the
    // fields and values.
    static constexpr const char* script =
        "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) "
        "local i = 4 "
        "for k = 1, 3 do "
        "  local n = tonumber(ARGV[i]) i = i + 1 "
        "  for j = 1, n do redis.call('HSET', KEYS[k], ARGV[i], ARGV[i + 1]) i = i + 2 end "
        "  if n > 0 then redis.call('EXPIRE', KEYS[k], ARGV[k]) end "
        "end return 1";
    auto ttl = [](std::int64_t left, std::int64_t fallback) {
        return std::to_string(left > 0 ? left : fallback);
    };
    std::vector<std::string> argv{
        "EVAL", script, "4", observations_key(d.user), lock_key(d.user), rate_key(d.user),
        seen_key(d.user),
        ttl(d.observations_ttl, config_.known_period), ttl(d.lock_ttl, config_.lock_retention),
        ttl(d.rate_ttl, config_.window_long + std::max<std::int64_t>(1, config_.window_long / 24))};
    std::vector<std::pair<std::string, std::string>> obs, lock, rate;
    for (auto& o : d.history.observations) {
        std::string value = std::to_string(o.first) + " " + std::to_string(o.last) + " " +
                            std::to_string(o.count);
        value += observation_suffix(o.fingerprint, o.service);
        obs.emplace_back(observation_field(o.kind, o.address), value);
    }
    if (d.history.dropped > 0) obs.emplace_back("x|dropped", std::to_string(d.history.dropped));
    for (auto& [follower, token] : d.marks) obs.emplace_back(mark_field(follower), token);
    if (const auto& l = d.history.lock)
        lock = {{"since", std::to_string(l->since)},
                {"until", std::to_string(l->until)},
                {"reason", l->reason},
                {"evidence", l->evidence},
                {"attempts_after", std::to_string(l->attempts_after)},
                {"last_attempt", std::to_string(l->last_attempt)}};
    for (auto& [field, count] : d.rate) rate.emplace_back(field, std::to_string(count));
    for (auto& [follower, token] : d.rate_marks) rate.emplace_back(mark_field(follower), token);
    for (auto* fields : {&obs, &lock, &rate}) {
        argv.push_back(std::to_string(fields->size()));
        for (auto& [f, v] : *fields) {
            argv.push_back(f);
            argv.push_back(v);
        }
    }
    command(argv);
}

} // namespace authguard
