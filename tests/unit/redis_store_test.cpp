// redis_store_test.cpp - what only the Redis store has: its scripts, its
// connection failures, Sentinel settings. The cases every store shares are
// in store_test.cpp. Against a real redis-server ($AUTHGUARD_TEST_REDIS: the
// unix socket tests/run-all starts); skipped, with a message, when not set.
#include "authguard/guard.hpp"
#include "authguard/redis_store.hpp"
#include "test_support.hpp"

#include "raw_redis.hpp"

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

using namespace authguard;

namespace {

const char* test_redis() { return std::getenv("AUTHGUARD_TEST_REDIS"); }

Config redis_config(const std::string& prefix) {
    Config c;
    c.store.kind = StoreConfig::Kind::redis;
    c.store.redis = std::string("unix:") + test_redis();
    c.store.key_prefix = prefix;
    return c;
}

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{user, address, time, outcome, "submission", std::nullopt};
}

} // namespace

TEST_CASE("redis store: the script is loaded again after SCRIPT FLUSH") {
    if (!test_redis()) {
        MESSAGE("AUTHGUARD_TEST_REDIS not set; skipped");
        return;
    }
    Config c = redis_config("u2:");
    RedisStore store(c);
    testing::RawRedis raw;
    raw.run({"SCRIPT", "FLUSH"});
    auto r = store.record(login("bob", "192.0.2.1", 2000), true);
    CHECK(r.history.observations.size() == 1);
    r = store.record(login("bob", "192.0.2.1", 2001), true);
    CHECK(r.history.observations[0].count >= 2);
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

// authguard-checkpw connects while the real checkpassword runs. A server
// that is down must cost one connect timeout, not two: prepare()'s failure
// is the next call's StoreError, and the call after that tries again.
TEST_CASE("redis store: prepare() connects ahead; its failure is the next call's") {
    Config c;
    c.store.redis = "unix:/nonexistent/redis.sock";
    RedisStore down(c);
    CHECK_NOTHROW(down.prepare());
    std::string first, second;
    try {
        down.record(login("x", "192.0.2.1", 1), true);
    } catch (const StoreError& e) {
        first = e.what();
    }
    try {
        down.record(login("x", "192.0.2.1", 1), true);
    } catch (const StoreError& e) {
        second = e.what();
    }
    CHECK(first.find("redis unix:/nonexistent/redis.sock: cannot connect") == 0);
    CHECK(second == first);
    if (!test_redis()) return;
    Config reachable = redis_config("u9:"); // (the store keeps a reference)
    RedisStore up(reachable);
    up.prepare();
    CHECK(up.record(login("carol", "192.0.2.1", 3000), true).history.observations.size() == 1);
}

TEST_CASE("redis store: no sentinel answering is a quick StoreError naming them") {
    Config c;
    c.store.kind = StoreConfig::Kind::redis;
    c.store.sentinels = {"127.0.0.1:1", "[::1]:1"};
    c.store.sentinel_master = "mymaster";
    RedisStore store(c);
    auto t0 = std::chrono::steady_clock::now();
    std::string what;
    try {
        store.record(login("x", "192.0.2.1", 1), true);
    } catch (const StoreError& e) {
        what = e.what();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
    CHECK(what.find("no primary known for 'mymaster'") != std::string::npos);
    CHECK(what.find("127.0.0.1:1") != std::string::npos);
    CHECK(ms < 1000);
    // a redis-server is not a sentinel: it does not know the command
    if (!test_redis()) return;
    c.store.sentinels = {std::string("unix:") + test_redis()};
    RedisStore not_sentinel(c);
    CHECK_THROWS_AS(not_sentinel.now(), StoreError);
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

// Run by tests/integration/sentinel.sh, which sets up a primary with a
// replica and three sentinels, and names the primary's pid: one store object
// writes, the primary is killed, the same object keeps writing. Every call
// answers within 2 s; the first calls fail (no primary known yet), then the
// store asks the sentinels again and counts on the promoted replica.
TEST_CASE("sentinel: a long-lived store follows a failover") {
    const char* sentinels = std::getenv("AUTHGUARD_TEST_SENTINEL");
    const char* master = std::getenv("AUTHGUARD_TEST_SENTINEL_MASTER");
    const char* kill_pid = std::getenv("AUTHGUARD_TEST_SENTINEL_KILL");
    if (!sentinels || !master || !kill_pid) return; // only from sentinel.sh
    Config c;
    c.store.kind = StoreConfig::Kind::redis;
    c.store.key_prefix = "t-sentinel-unit:";
    c.store.sentinel_master = master;
    for (std::string s = sentinels; !s.empty();) {
        auto comma = s.find(',');
        c.store.sentinels.push_back(s.substr(0, comma));
        s = comma == std::string::npos ? "" : s.substr(comma + 1);
    }
    RedisStore store(c);
    auto count = [](const RecordResult& r) {
        return r.history.observations.empty() ? 0 : r.history.observations[0].count;
    };
    std::int64_t before = 0;
    for (int i = 0; i < 3; ++i) before = count(store.record(login("dan", "192.0.2.20", 0), true));
    CHECK(before >= 3);
    // let the replica catch up (asynchronous, sub-millisecond on loopback)
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    REQUIRE(::kill(std::atoi(kill_pid), SIGKILL) == 0);

    int failed = 0, answered = 0;
    std::int64_t slowest = 0, last = before;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (answered < 5 && std::chrono::steady_clock::now() < deadline) {
        auto t0 = std::chrono::steady_clock::now();
        try {
            auto n = count(store.record(login("dan", "192.0.2.20", 0), true));
            CHECK(n == last + 1); // counting goes on where the old primary left it
            last = n;
            ++answered;
        } catch (const StoreError& e) {
            if (failed++ == 0) MESSAGE("while failing over: " << std::string(e.what()));
        }
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        slowest = std::max<std::int64_t>(slowest, ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    MESSAGE(failed << " calls failed during the failover, then " << answered
                   << " answered; slowest call " << slowest << " ms");
    CHECK(answered == 5);
    CHECK(slowest < 2000);
    CHECK(last == before + 5);
}
