// redis_index_test.cpp - the Redis store's index of a full history
// (<prefix>{user}:seen, lib/record.lua): eviction at the cap must pick what
// the scan of the whole hash picked (the memory store does it that way,
// step for step), marks are never evicted, a hash written without the index
// is taken over unchanged, and every other write keeps the index in step.
// Against the real redis-server of tests/run-all ($AUTHGUARD_TEST_REDIS);
// skipped, with a message, when it is not set.
#include "authguard/memory_store.hpp"
#include "authguard/redis_store.hpp"

#include "raw_redis.hpp"

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <memory>
#include <random>

using namespace authguard;

namespace {

const char* test_redis() {
    return std::getenv("AUTHGUARD_TEST_REDIS");
}

Config index_config(const std::string& prefix) {
    Config c;
    c.store.kind = StoreConfig::Kind::redis;
    c.store.redis = std::string("unix:") + (test_redis() ? test_redis() : "");
    c.store.key_prefix = prefix;
    c.max_entries = 8; // small, so that the cap is met often
    return c;
}

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{
        user,
        address,
        time,
        outcome,
        "submission",
        outcome == Outcome::bad_password ? std::optional<std::uint16_t>(1234) : std::nullopt};
}

// A history as text, in its stored order: what the detector is given.
std::string text(const History& h) {
    std::string out = "dropped=" + std::to_string(h.dropped);
    for (auto& o : h.observations)
        out += " " + std::string(1, static_cast<char>(o.kind)) + "|" + o.address + "=" +
               std::to_string(o.first) + "/" + std::to_string(o.last) + "/" +
               std::to_string(o.count);
    return out;
}

// One event recorded by the Redis store and by the reference: the same
// history back.
void record_both(RedisStore& store, MemoryStore& memory, const Event& e) {
    CHECK(text(store.record(e, true).history) == text(memory.record(e, true).history));
}

// The index holds every field of the hash but x|dropped, and '#'.
void check_in_step(testing::RawRedis& raw, RedisStore& store, const std::string& user) {
    const auto key = store.observations_key(user), seen = store.seen_key(user);
    if (raw.integer({"EXISTS", seen}) == 0) return;
    long long fields = raw.integer({"HLEN", key}) - raw.integer({"HEXISTS", key, "x|dropped"});
    CHECK(raw.integer({"ZCARD", seen}) == fields + 1);
    CHECK(raw.run({"ZSCORE", seen, "#"}) != "");
}

} // namespace

#define SKIP_WITHOUT_REDIS()                                                                       \
    if (!test_redis()) {                                                                           \
        MESSAGE("AUTHGUARD_TEST_REDIS not set; skipped");                                          \
        return;                                                                                    \
    }

TEST_CASE("redis index: a full history evicts what the whole-hash scan evicted (ties, expiry)") {
    SKIP_WITHOUT_REDIS();
    Config c = index_config("ix1:");
    testing::RawRedis raw;
    raw.run({"DEL", "ix1:{u}", "ix1:{u}:lock", "ix1:{u}:seen"});
    RedisStore redis(c);
    MemoryStore memory(c);
    std::mt19937 random(17);
    std::int64_t t = 1785000000;
    for (int i = 0; i < 1500; ++i) {
        auto r = random() % 100;
        if (r < 2)
            t += 86400 + random() % (28 * 86400); // failures, then successes expire
        else if (r < 50)
            t += random() % 3; // many in one second: ties
        Event e = login("u", "10.0.0." + std::to_string(random() % 20), t,
                        random() % 3 ? Outcome::bad_password : Outcome::success);
        RecordOptions options;
        if (random() % 20 == 0) options.mark = FeedMark{"f" + std::to_string(random() % 2), "t"};
        std::string got = text(redis.record(e, options).history);
        std::string want = text(memory.record(e, options).history);
        REQUIRE_MESSAGE(got == want, "event " << i);
    }
    CHECK(raw.integer({"EXISTS", "ix1:{u}:seen"}) == 1);
    check_in_step(raw, redis, "u");
    // the index expires with the history
    CHECK(raw.integer({"TTL", "ix1:{u}:seen"}) == raw.integer({"TTL", "ix1:{u}"}));
}

TEST_CASE("redis index: marks are never evicted nor counted") {
    SKIP_WITHOUT_REDIS();
    Config c = index_config("ix2:");
    testing::RawRedis raw;
    raw.run({"DEL", "ix2:{v}", "ix2:{v}:lock", "ix2:{v}:seen"});
    RedisStore store(c);
    RecordOptions marked;
    marked.mark = FeedMark{"follow1", "token-1"};
    store.record(login("v", "192.0.2.1", 1000), marked);
    for (int i = 0; i < 100; ++i)
        store.record(login("v", "10.1.0." + std::to_string(i), 2000 + i, Outcome::bad_password),
                     true);
    CHECK(store.feed_mark("v", FeedKind::login, "follow1") ==
          std::optional<std::string>("token-1"));
    History h = store.load("v");
    CHECK(h.observations.size() == 8); // and x|dropped; the mark is not counted
    CHECK(h.dropped == 93);
    CHECK(h.observations.front().address == "192.0.2.1"); // a success outranks failures
    CHECK(raw.run({"ZSCORE", "ix2:{v}:seen", "q|follow1"}) == "inf");
    check_in_step(raw, store, "v");
}

TEST_CASE("redis index: a full history stored without the index is taken over unchanged") {
    SKIP_WITHOUT_REDIS();
    Config c = index_config("ix3:");
    testing::RawRedis raw;
    raw.run({"DEL", "ix3:{w}", "ix3:{w}:lock", "ix3:{w}:seen"});
    // As an earlier version left it: 8 entries (two seen in the same
    // second, the one stored first first) and a mark; no index.
    raw.run({"HSET",       "ix3:{w}",        "s|192.0.2.1", "900 5000 3 @submission",
             "f|10.0.0.9", "4000 4100 1 77", "q|follow1",   "tok",
             "f|10.0.0.2", "4000 4000 2",    "s|192.0.2.2", "100 200 1",
             "f|10.0.0.1", "4000 4000 1",    "s|192.0.2.4", "300 300 1",
             "f|10.0.0.3", "4050 4050 1",    "s|192.0.2.3", "6000 6000 1"});
    raw.run({"EXPIRE", "ix3:{w}", "100000"});
    RedisStore store(c);
    MemoryStore memory(c);
    memory.put_history("w", store.load("w"), 1LL << 40); // the reference, in the same order
    CHECK(raw.integer({"EXISTS", "ix3:{w}:seen"}) == 0);
    auto r = store.record(login("w", "198.51.100.1", 7000, Outcome::bad_password), true);
    // The failure seen least recently goes; of the two last seen at 4000,
    // the one stored first (10.0.0.2), as the scan of the hash did.
    std::string h = text(r.history);
    CHECK(h.find("f|10.0.0.2=") == std::string::npos);
    CHECK(h.find("f|10.0.0.1=") != std::string::npos);
    CHECK(r.history.dropped == 1);
    CHECK(
        h ==
        text(memory.record(login("w", "198.51.100.1", 7000, Outcome::bad_password), true).history));
    CHECK(raw.integer({"EXISTS", "ix3:{w}:seen"}) == 1);
    check_in_step(raw, store, "w");
    CHECK(raw.run({"HGET", "ix3:{w}", "q|follow1"}) == "tok");
    for (int i = 0; i < 12; ++i) {
        Event e = login("w", "198.51.100." + std::to_string(2 + i), 7001 + i / 3,
                        i % 4 ? Outcome::bad_password : Outcome::success);
        record_both(store, memory, e);
    }
    check_in_step(raw, store, "w");
}

TEST_CASE("redis index: take_back_success, clear_lock and restore keep it in step") {
    SKIP_WITHOUT_REDIS();
    Config c = index_config("ix4:");
    testing::RawRedis raw;
    raw.run({"DEL", "ix4:{x}", "ix4:{x}:lock", "ix4:{x}:seen", "ix4:{x}:rate"});
    RedisStore store(c);
    MemoryStore memory(c);
    auto both = [&](const Event& e) { record_both(store, memory, e); };
    for (int i = 0; i < 12; ++i)
        both(login("x", "10.2.0." + std::to_string(i), 3000 + i,
                   i % 2 ? Outcome::bad_password : Outcome::success));
    REQUIRE(raw.integer({"EXISTS", "ix4:{x}:seen"}) == 1);
    // A refused login taken back: its entry goes from the index too.
    both(login("x", "203.0.113.7", 3100));
    store.take_back_success("x", "203.0.113.7");
    memory.take_back_success("x", "203.0.113.7");
    CHECK(raw.run({"ZSCORE", "ix4:{x}:seen", "s|203.0.113.7"}) == "");
    check_in_step(raw, store, "x");
    // An unlock forgetting the owner's own networks.
    Lock lock;
    lock.since = 3200;
    lock.reason = "test";
    CHECK(store.set_lock("x", lock));
    CHECK(memory.set_lock("x", lock));
    CHECK(store.clear_lock("x", {"10.2.0.10", "10.2.0.8"}));
    CHECK(memory.clear_lock("x", {"10.2.0.10", "10.2.0.8"}));
    CHECK(raw.run({"ZSCORE", "ix4:{x}:seen", "s|10.2.0.10"}) == "");
    check_in_step(raw, store, "x");
    for (int i = 0; i < 6; ++i)
        both(login("x", "10.3.0." + std::to_string(i), 3300 + i / 2, Outcome::bad_password));
    check_in_step(raw, store, "x");
    // An import: the index goes, and is built again from the restored hash.
    UserDump d = store.dump("x");
    store.restore(d);
    CHECK(raw.integer({"EXISTS", "ix4:{x}:seen"}) == 0);
    for (int i = 0; i < 6; ++i)
        both(login("x", "10.4.0." + std::to_string(i), 3400 + i / 2, Outcome::bad_password));
    CHECK(raw.integer({"EXISTS", "ix4:{x}:seen"}) == 1);
    check_in_step(raw, store, "x");
}

TEST_CASE("redis index: an index left stale by an older version is built again") {
    SKIP_WITHOUT_REDIS();
    Config c = index_config("ix5:");
    testing::RawRedis raw;
    raw.run({"DEL", "ix5:{y}", "ix5:{y}:lock", "ix5:{y}:seen"});
    RedisStore store(c);
    for (int i = 0; i < 10; ++i)
        store.record(login("y", "10.5.0." + std::to_string(i), 5000 + i, Outcome::bad_password),
                     true);
    REQUIRE(raw.integer({"EXISTS", "ix5:{y}:seen"}) == 1);
    // An older version (rolling upgrade) evicted the oldest entry and added
    // one, without the index: it names a field the hash no longer has and
    // misses one the hash has, with the counts still matching.
    History h = store.load("y");
    raw.run({"HDEL", "ix5:{y}", "f|" + h.observations.front().address});
    raw.run({"HINCRBY", "ix5:{y}", "x|dropped", "1"});
    raw.run({"HSET", "ix5:{y}", "f|10.5.1.1", "5100 5100 1"});
    MemoryStore memory(c);
    memory.put_history("y", store.load("y"), 1LL << 40); // the reference: the hash as it is
    for (int i = 0; i < 12; ++i) {
        Event e = login("y", "10.6.0." + std::to_string(i), 6000 + i, Outcome::bad_password);
        record_both(store, memory, e);
    }
    check_in_step(raw, store, "y");
}
