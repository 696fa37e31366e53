// redis_store_test.cpp - the Redis store and the guard pipeline against a
// real redis-server ($AUTHGUARD_TEST_REDIS: the unix socket tests/run-all
// starts). Skipped, with a message, when it is not set.
#include "authguard/guard.hpp"
#include "authguard/redis_store.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <memory>

using namespace authguard;

namespace {

const char* test_redis() { return std::getenv("AUTHGUARD_TEST_REDIS"); }

Config redis_config(const std::string& prefix) {
    Config c;
    c.store.redis = std::string("unix:") + test_redis();
    c.store.key_prefix = prefix;
    return c;
}

// A raw connection for looking behind the store's back.
struct Raw {
    std::unique_ptr<redisContext, void (*)(redisContext*)> c{redisConnectUnix(test_redis()),
                                                             redisFree};
    long long integer(const std::vector<std::string>& argv) {
        std::vector<const char*> p;
        std::vector<size_t> l;
        for (auto& a : argv) {
            p.push_back(a.data());
            l.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c.get(), static_cast<int>(argv.size()), p.data(), l.data()));
        long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        if (r) freeReplyObject(r);
        return v;
    }
    void run(const std::vector<std::string>& argv) { integer(argv); }
};

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{user, address, time, outcome, "submission", std::nullopt};
}

} // namespace

TEST_CASE("redis store: record, count, clock, keys") {
    if (!test_redis()) {
        MESSAGE("AUTHGUARD_TEST_REDIS not set; skipped");
        return;
    }
    Config c = redis_config("u1:");
    RedisStore store(c);
    Raw raw;
    raw.run({"DEL", "u1:{alice@example.com}", "u1:{alice@example.com}:lock"});

    auto r = store.record(login("alice@example.com", "192.0.2.1", 1000), true);
    CHECK(r.now == 1000);
    REQUIRE(r.history.observations.size() == 1);
    r = store.record(login("alice@example.com", "192.0.2.1", 1005), true);
    CHECK(r.history.observations[0].count == 2);
    CHECK(r.history.observations[0].first == 1000);
    CHECK(r.history.observations[0].last == 1005);
    // an out-of-order event (log replay) never moves last backwards
    r = store.record(login("alice@example.com", "192.0.2.1", 990), true);
    CHECK(r.history.observations[0].first == 990);
    CHECK(r.history.observations[0].last == 1005);

    // read-only records nothing
    r = store.record(login("alice@example.com", "192.0.2.99", 1010), false);
    CHECK(r.history.observations.size() == 1);

    // server time when the event has none
    r = store.record(login("alice@example.com", "192.0.2.2", 0), true);
    auto local = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    CHECK(std::llabs(r.now - local) < 5);

    // every key has a TTL
    CHECK(raw.integer({"TTL", "u1:{alice@example.com}"}) > 0);
    CHECK(store.users() == std::vector<std::string>{"alice@example.com"});
}

TEST_CASE("redis store: the script is loaded again after SCRIPT FLUSH") {
    if (!test_redis()) return;
    Config c = redis_config("u2:");
    RedisStore store(c);
    Raw raw;
    raw.run({"SCRIPT", "FLUSH"});
    auto r = store.record(login("bob", "192.0.2.1", 2000), true);
    CHECK(r.history.observations.size() == 1);
    r = store.record(login("bob", "192.0.2.1", 2001), true);
    CHECK(r.history.observations[0].count >= 2);
}

TEST_CASE("redis store: an attacked user's state is bounded") {
    if (!test_redis()) return;
    Config c = redis_config("u3:");
    RedisStore store(c);
    Raw raw;
    raw.run({"DEL", "u3:{victim}"});
    for (int i = 0; i < 1000; ++i)
        store.record(login("victim", "10." + std::to_string(i / 250) + "." +
                                         std::to_string(i % 250) + ".1",
                           5000 + i),
                     true);
    History h = store.load("victim");
    CHECK(h.observations.size() <= static_cast<std::size_t>(c.max_entries));
    CHECK(h.dropped > 800);
    long long bytes = raw.integer({"MEMORY", "USAGE", "u3:{victim}"});
    MESSAGE("attacked user: " << bytes << " bytes");
    CHECK(bytes <= 8192);
    // expired observations make room again
    store.record(login("victim", "203.0.113.1", 5000 + 31 * 86400), true);
    h = store.load("victim");
    bool found = false;
    for (auto& o : h.observations) found |= o.address == "203.0.113.1";
    CHECK(found);
}

TEST_CASE("redis store: an ordinary user costs at most 300 bytes") {
    if (!test_redis()) return;
    Config c = redis_config("u4:");
    RedisStore store(c);
    Raw raw;
    raw.run({"DEL", "u4:{carol.jones@example.com}"});
    store.record(login("carol.jones@example.com", "198.51.100.23", 1785000000), true);
    store.record(login("carol.jones@example.com", "198.51.100.23", 1785003600), true);
    store.record(login("carol.jones@example.com", "203.0.113.145", 1785007200), true);
    long long bytes = raw.integer({"MEMORY", "USAGE", "u4:{carol.jones@example.com}"});
    MESSAGE("ordinary user (2 addresses): " << bytes << " bytes");
    CHECK(bytes > 0);
    CHECK(bytes <= 300);
}

TEST_CASE("redis store: locks") {
    if (!test_redis()) return;
    Config c = redis_config("u5:");
    RedisStore store(c);
    Raw raw;
    raw.run({"DEL", "u5:{dave}", "u5:{dave}:lock"});
    store.record(login("dave", "192.0.2.1", 100), true);
    store.record(login("dave", "198.51.100.1", 200), true);
    CHECK(store.set_lock("dave", Lock{150, 0, "test", "evidence", 0, 150}));
    CHECK(!store.set_lock("dave", Lock{160, 0, "again", "", 0, 160}));
    CHECK(raw.integer({"TTL", "u5:{dave}:lock"}) > 0);
    auto r = store.record(login("dave", "203.0.113.9", 300), true);
    REQUIRE(r.history.lock);
    CHECK(r.history.lock->reason == "test");
    CHECK(r.history.lock->attempts_after == 1);
    // unlock forgets successes first seen since 150 (the evidence)
    CHECK(store.clear_lock("dave", 150));
    History h = store.load("dave");
    CHECK(!h.lock);
    REQUIRE(h.observations.size() == 1);
    CHECK(h.observations[0].address == "192.0.2.1");
    CHECK(!store.clear_lock("dave", 150));

    // an expired lock is replaced by a new one, and counts no attempts
    CHECK(store.set_lock("dave", Lock{400, 500, "first", "", 0, 400}));
    store.record(login("dave", "192.0.2.1", 600), true);
    CHECK(store.load("dave").lock->attempts_after == 0);
    CHECK(store.set_lock("dave", Lock{700, 0, "second", "", 0, 700}));
    CHECK(store.load("dave").lock->reason == "second");
}

TEST_CASE("redis store: hostile user names are stored binary-safe under one hash tag") {
    if (!test_redis()) return;
    Config c = redis_config("u6:");
    RedisStore store(c);
    for (std::string user : {"a}b", "{x}", "*", "sp ace", "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"}) {
        auto r = store.record(login(user, "192.0.2.1", 100), true);
        CHECK(r.history.observations.size() >= 1);
        CHECK(store.set_lock(user, Lock{100, 0, "t", "", 0, 100}) == true);
        CHECK(store.load(user).lock.has_value());
        CHECK(store.clear_lock(user, 0));
    }
}

TEST_CASE("redis store: unreachable and failing servers throw StoreError quickly") {
    if (!test_redis()) return;
    Config c;
    c.store.redis = "unix:/nonexistent/redis.sock";
    RedisStore store(c);
    CHECK_THROWS_AS(store.record(login("x", "192.0.2.1", 1), true), StoreError);
    c.store.redis = "127.0.0.1:1"; // refused
    RedisStore refused(c);
    CHECK_THROWS_AS(refused.now(), StoreError);
    Config wrong_db = redis_config("u7:");
    wrong_db.store.redis_db = 99999;
    RedisStore bad(wrong_db);
    CHECK_THROWS_AS(bad.now(), StoreError);
}

TEST_CASE("guard: allowlists, fail-open, tempfail and locking") {
    if (!test_redis()) return;
    testing::TempDir dir;
    Config c = redis_config("u8:");
    c.allow_networks.push_back(*parse_cidr("192.0.2.0/24"));
    c.allow_users.push_back("relay@example.com");
    RedisStore store(c);
    Logger logger((dir.path() / "log").string());
    Guard guard(c, store, logger);
    Raw raw;
    raw.run({"DEL", "u8:{erin}", "u8:{erin}:lock", "u8:{relay@example.com}"});

    CHECK(guard.check(login("relay@example.com", "198.51.100.1", 100)).verdict == Verdict::allow);
    CHECK(raw.integer({"EXISTS", "u8:{relay@example.com}"}) == 0);

    // webmail host: never counted
    for (int i = 0; i < 20; ++i)
        CHECK(guard.check(login("erin", "192.0.2.10", 100 + i)).verdict == Verdict::allow);
    CHECK(store.load("erin").observations.empty());

    // a botnet
    Verdict last = Verdict::allow;
    int let_in = 0;
    for (int i = 0; i < 20 && last != Verdict::lock; ++i) {
        last = guard.check(login("erin", std::to_string(30 + i) + ".1.2.3", 200 + i * 60)).verdict;
        if (last == Verdict::allow || last == Verdict::alert) ++let_in;
    }
    CHECK(last == Verdict::lock);
    CHECK(let_in == 5);
    // locked: even from the allowlisted webmail host
    CHECK(guard.check(login("erin", "192.0.2.10", 2000)).verdict == Verdict::refuse_locked);

    // store down: fail-open by default, tempfail by option
    Config down = c;
    down.store.redis = "unix:/nonexistent/redis.sock";
    RedisStore dead(down);
    Guard open_guard(down, dead, logger);
    CHECK(open_guard.check(login("erin", "198.51.100.1", 3000)).verdict == Verdict::allow);
    down.on_store_failure = Config::StoreFailure::tempfail;
    Guard closed_guard(down, dead, logger);
    CHECK(closed_guard.check(login("erin", "198.51.100.1", 3000)).verdict == Verdict::tempfail);
}

TEST_CASE("normalising user names") {
    Config c;
    std::string out;
    CHECK(normalize_user("Hello@Example.COM", c, out) == "");
    CHECK(out == "hello@example.com");
    CHECK(!normalize_user(std::string("a\rb"), c, out).empty());
    CHECK(!normalize_user(std::string("a\0b", 3), c, out).empty());
    CHECK(!normalize_user("", c, out).empty());
    CHECK(!normalize_user(std::string(300, 'a'), c, out).empty());
    c.lowercase_users = false;
    CHECK(normalize_user("Hello", c, out) == "");
    CHECK(out == "Hello");
    CHECK(normalize_user("\xc3\x84pfel", c, out) == ""); // UTF-8 is fine
    CHECK(!normalize_user("}x", c, out).empty());        // would be an empty hash tag
    CHECK(normalize_user("x}", c, out) == "");
}

TEST_CASE("redis store: message counts slide over buckets") {
    if (!test_redis()) return;
    Config c = redis_config("u9:");
    RedisStore store(c);
    Raw raw;
    raw.run({"DEL", "u9:{frank}:rate", "u9:{frank}:lock"});
    const std::int64_t t = 1800000000; // a multiple of the 300 s bucket
    auto m = store.count_message("frank", t, 1, 3);
    CHECK(m.now == t);
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_short == 3);
    CHECK(m.recipients_long == 3);
    CHECK(raw.integer({"TTL", "u9:{frank}:rate"}) > 0);
    m = store.count_message("frank", t + 600, 1, 2);
    CHECK(m.messages_short == 2);
    CHECK(m.recipients_long == 5);
    m = store.count_message("frank", t + 700, 0, 0); // a look
    CHECK(m.messages_short == 2);
    m = store.count_message("frank", t + 3600 + 300, 0, 0); // the first bucket left the hour
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_short == 2);
    CHECK(m.recipients_long == 5);
    m = store.count_message("frank", t + 86400 + 4000, 0, 0); // and the day
    CHECK(m.recipients_long == 0);
    CHECK(raw.integer({"EXISTS", "u9:{frank}:rate"}) == 0); // emptied buckets leave no key
    // the lock comes back with the counts
    store.set_lock("frank", Lock{t, 0, "test", "", 0, t});
    CHECK(store.count_message("frank", t + 10, 0, 0).lock.has_value());
    // relaying clients count apart from users
    raw.run({"DEL", "u9:relay:{192.0.2.7}:rate"});
    CHECK(store.count_message("relay:192.0.2.7", t, 1, 1).messages_short == 1);
    CHECK(raw.integer({"EXISTS", "u9:relay:{192.0.2.7}:rate"}) == 1);
}

TEST_CASE("redis store: session bindings ride along with a successful login") {
    if (!test_redis()) return;
    Config c = redis_config("u10:");
    RedisStore store(c);
    RecordOptions options;
    options.bind_session = "mx1:4242:123456:192.0.2.1";
    options.session_ttl = 600;
    store.record(login("grace", "192.0.2.1", 100), options);
    CHECK(store.session_user("mx1:4242:123456:192.0.2.1", 600) == std::optional<std::string>("grace"));
    CHECK(!store.session_user("mx1:4242:123457:192.0.2.1", 600));
    Raw raw;
    auto ttl = raw.integer({"TTL", "u10:session:{mx1:4242:123456:192.0.2.1}"});
    CHECK(ttl > 0);
    CHECK(ttl <= 600);
}
