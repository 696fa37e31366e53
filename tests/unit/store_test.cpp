// store_test.cpp - one suite for every shared store: each case runs on the
// Redis store (against the real redis-server $AUTHGUARD_TEST_REDIS that
// tests/run-all starts; skipped with a message when it is not set) and on
// the LMDB store (in a temporary directory). A fixture per store gives the
// case its store and a look behind the store's back (TTL, existence and
// size of a key, and a store that cannot work).
#include "authguard/guard.hpp"
#include "authguard/lmdb_store.hpp"
#include "authguard/redis_store.hpp"
#include "test_support.hpp"

#include "raw_redis.hpp"

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

using namespace authguard;

namespace {

const char* test_redis() { return std::getenv("AUTHGUARD_TEST_REDIS"); }

struct RedisFixture {
    static bool available() { return test_redis() != nullptr; }
    static Config make_config(const std::string& prefix) {
        Config c;
        c.store.kind = StoreConfig::Kind::redis;
        c.store.redis = std::string("unix:") + test_redis();
        c.store.key_prefix = prefix;
        return c;
    }

    explicit RedisFixture(const std::string& prefix) : config(make_config(prefix)) {
        raw.clear(prefix);
        store = std::make_unique<RedisStore>(config);
    }
    std::int64_t ttl(const std::string& key) { return raw.integer({"TTL", key}); }
    bool exists(const std::string& key) { return raw.integer({"EXISTS", key}) == 1; }
    std::int64_t bytes(const std::string& key) { return raw.integer({"MEMORY", "USAGE", key}); }
    // A configuration whose store cannot work.
    static void break_store(Config& c) { c.store.redis = "unix:/nonexistent/redis.sock"; }
    static std::unique_ptr<Store> open(const Config& c) { return std::make_unique<RedisStore>(c); }

    testing::RawRedis raw;
    Config config;
    std::unique_ptr<RedisStore> store;
};

struct LmdbFixture {
    static bool available() { return true; }

    explicit LmdbFixture(const std::string& prefix) {
        config.store.kind = StoreConfig::Kind::lmdb;
        config.store.lmdb_path = (dir.path() / "authguard").string();
        config.store.key_prefix = prefix;
        store = std::make_unique<LmdbStore>(config);
    }
    std::int64_t ttl(const std::string& key) { return store->ttl(key); }
    bool exists(const std::string& key) { return store->ttl(key) != -2; }
    std::int64_t bytes(const std::string& key) { return store->key_bytes(key); }
    // A directory that cannot be created (its parent is a file).
    static void break_store(Config& c) { c.store.lmdb_path = "/dev/null/authguard"; }
    static std::unique_ptr<Store> open(const Config& c) { return std::make_unique<LmdbStore>(c); }

    testing::TempDir dir;
    Config config;
    std::unique_ptr<LmdbStore> store;
};

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{user, address, time, outcome, "submission", std::nullopt};
}

} // namespace

TYPE_TO_STRING(RedisFixture);
TYPE_TO_STRING(LmdbFixture);

#define SKIP_UNLESS_AVAILABLE()                                                                    \
    if (!F::available()) {                                                                         \
        MESSAGE("AUTHGUARD_TEST_REDIS not set; skipped");                                          \
        return;                                                                                    \
    }

TEST_CASE_TEMPLATE("store: record, count, clock, keys", F, RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u1:");
    auto& store = *f.store;

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

    // the store's time when the event has none (Redis TIME; LMDB: the local clock)
    r = store.record(login("alice@example.com", "192.0.2.2", 0), true);
    auto local = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    CHECK(std::llabs(r.now - local) < 5);

    // every key has a TTL
    CHECK(f.ttl(store.observations_key("alice@example.com")) > 0);
    CHECK(store.users() == std::vector<std::string>{"alice@example.com"});

    // a failure keeps the latest fingerprint, and a later one without drops it
    Event bad = login("alice@example.com", "198.51.100.7", 1020, Outcome::bad_password);
    bad.fingerprint = 77;
    r = store.record(bad, true);
    auto failure = [](const History& h) {
        for (auto& o : h.observations)
            if (o.kind == Observation::Kind::failure) return o;
        return Observation{};
    };
    CHECK(failure(r.history).fingerprint == std::optional<std::uint16_t>(77));
    bad.fingerprint.reset();
    r = store.record(bad, true);
    CHECK(!failure(r.history).fingerprint);
    CHECK(failure(r.history).count == 2);
}

TEST_CASE_TEMPLATE("store: an attacked user's state is bounded", F, RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u3:");
    auto& store = *f.store;
    const Config& c = f.config;
    for (int i = 0; i < 1000; ++i)
        store.record(login("victim", "10." + std::to_string(i / 250) + "." +
                                         std::to_string(i % 250) + ".1",
                           5000 + i),
                     true);
    History h = store.load("victim");
    CHECK(h.observations.size() <= static_cast<std::size_t>(c.max_entries));
    CHECK(h.dropped > 800);
    CHECK(h.observations.size() + h.dropped == 1000);
    // the newest are kept: a botnet's latest login is always seen
    REQUIRE(!h.observations.empty());
    CHECK(h.observations.back().address == "10.3.249.1");
    CHECK(h.observations.front().address == "10.3.150.1");
    long long bytes = f.bytes(store.observations_key("victim"));
    MESSAGE("attacked user: " << bytes << " bytes");
    CHECK(bytes <= 8192);
    // expired observations make room again
    store.record(login("victim", "203.0.113.1", 5000 + 31 * 86400), true);
    h = store.load("victim");
    bool found = false;
    for (auto& o : h.observations) found |= o.address == "203.0.113.1";
    CHECK(found);
}

TEST_CASE_TEMPLATE("store: an ordinary user costs at most 300 bytes", F, RedisFixture,
                   LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u4:");
    auto& store = *f.store;
    store.record(login("carol.jones@example.com", "198.51.100.23", 1785000000), true);
    store.record(login("carol.jones@example.com", "198.51.100.23", 1785003600), true);
    store.record(login("carol.jones@example.com", "203.0.113.145", 1785007200), true);
    long long bytes = f.bytes(store.observations_key("carol.jones@example.com"));
    MESSAGE("ordinary user (2 addresses): " << bytes << " bytes");
    CHECK(bytes > 0);
    CHECK(bytes <= 300);
}

TEST_CASE_TEMPLATE("store: locks", F, RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u5:");
    auto& store = *f.store;
    store.record(login("dave", "192.0.2.1", 100), true);
    store.record(login("dave", "198.51.100.1", 200), true);
    CHECK(store.set_lock("dave", Lock{150, 0, "test", "evidence", 0, 150}));
    CHECK(!store.set_lock("dave", Lock{160, 0, "again", "", 0, 160}));
    CHECK(f.ttl(store.lock_key("dave")) > 0);
    auto r = store.record(login("dave", "203.0.113.9", 300), true);
    REQUIRE(r.history.lock);
    CHECK(r.history.lock->reason == "test");
    CHECK(r.history.lock->attempts_after == 1);
    CHECK(r.history.lock->last_attempt == 300);
    CHECK(r.history.lock->evidence == "evidence");
    // a read-only look counts no attempt
    r = store.record(login("dave", "203.0.113.9", 310), false);
    CHECK(r.history.lock->attempts_after == 1);
    // unlock forgets the successes it is told to (the evidence's addresses)
    CHECK(store.clear_lock("dave", {"198.51.100.1", "203.0.113.9"}));
    History h = store.load("dave");
    CHECK(!h.lock);
    REQUIRE(h.observations.size() == 1);
    CHECK(h.observations[0].address == "192.0.2.1");
    CHECK(!store.clear_lock("dave", {"198.51.100.1", "203.0.113.9"}));

    // an expired lock is replaced by a new one, and counts no attempts
    CHECK(store.set_lock("dave", Lock{400, 500, "first", "", 0, 400}));
    store.record(login("dave", "192.0.2.1", 600), true);
    CHECK(store.load("dave").lock->attempts_after == 0);
    CHECK(store.set_lock("dave", Lock{700, 0, "second", "", 0, 700}));
    CHECK(store.load("dave").lock->reason == "second");
    // a lock alone (no observations) still lists its user
    store.set_lock("zoe", Lock{100, 0, "manual", "", 0, 100});
    CHECK(store.users() == std::vector<std::string>{"dave", "zoe"});
}

TEST_CASE_TEMPLATE("store: a login refused before its password check counts as an attempt, "
                   "not as a login",
                   F, RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u5b:");
    auto& store = *f.store;
    // no lock: nothing counted, nothing created
    LockAttempt a = store.attempt_on_lock("erin", 100, true);
    CHECK(!a.lock);
    CHECK(a.now == 100);
    CHECK(store.users().empty());
    store.record(login("erin", "192.0.2.1", 100), true);
    CHECK(store.set_lock("erin", Lock{150, 0, "test", "evidence", 0, 150}));
    a = store.attempt_on_lock("erin", 300, true);
    REQUIRE(a.lock);
    CHECK(a.lock->attempts_after == 1);
    CHECK(a.lock->last_attempt == 300);
    CHECK(a.lock->reason == "test");
    // only reading (an allowlisted network) counts nothing
    a = store.attempt_on_lock("erin", 310, false);
    REQUIRE(a.lock);
    CHECK(a.lock->attempts_after == 1);
    History h = store.load("erin");
    CHECK(h.lock->attempts_after == 1);
    CHECK(h.observations.size() == 1); // no login recorded
    // an expired lock is not in force: no attempt counted on it
    CHECK(store.clear_lock("erin", {}));
    CHECK(store.set_lock("erin", Lock{400, 500, "timed", "", 0, 400}));
    CHECK(!store.attempt_on_lock("erin", 600, true).lock);
    CHECK(store.load("erin").lock->attempts_after == 0);
}

TEST_CASE_TEMPLATE("store: hostile user names are stored binary-safe under one hash tag", F,
                   RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u6:");
    auto& store = *f.store;
    const std::vector<std::string> names{"a}b",    "{x}",    "*", "sp ace",
                                         "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
                                         "x}:lock", std::string("nul\0byte", 8)};
    for (const std::string& user : names) {
        auto r = store.record(login(user, "192.0.2.1", 100), true);
        CHECK(r.history.observations.size() >= 1);
        CHECK(store.set_lock(user, Lock{100, 0, "t", "", 0, 100}) == true);
        CHECK(store.load(user).lock.has_value());
        CHECK(store.clear_lock(user, {"192.0.2.1"}));
        store.record(login(user, "192.0.2.1", 200), true);
    }
    auto users = store.users();
    CHECK(users.size() == 7);
    CHECK(std::find(users.begin(), users.end(), "x}:lock") != users.end());
    CHECK(std::find(users.begin(), users.end(), std::string("nul\0byte", 8)) != users.end());
}

TEST_CASE_TEMPLATE("guard: allowlists, fail-open, tempfail and locking", F, RedisFixture,
                   LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    testing::TempDir dir;
    F f("u8:");
    Config& c = f.config;
    c.allow_networks.push_back(*parse_cidr("192.0.2.0/24"));
    c.allow_users.push_back("relay@example.com");
    auto& store = *f.store;
    Logger logger((dir.path() / "log").string());
    Guard guard(c, store, logger);

    CHECK(guard.check(login("relay@example.com", "198.51.100.1", 100)).verdict == Verdict::allow);
    CHECK(!f.exists(store.observations_key("relay@example.com")));

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
    F::break_store(down);
    auto dead = F::open(down);
    Guard open_guard(down, *dead, logger);
    CHECK(open_guard.check(login("erin", "198.51.100.1", 3000)).verdict == Verdict::allow);
    down.on_store_failure = Config::StoreFailure::tempfail;
    Guard closed_guard(down, *dead, logger);
    CHECK(closed_guard.check(login("erin", "198.51.100.1", 3000)).verdict == Verdict::tempfail);
}

TEST_CASE_TEMPLATE("store: message counts slide over buckets", F, RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u9:");
    auto& store = *f.store;
    const std::int64_t t = 1800000000; // a multiple of the 300 s bucket
    auto m = store.count_message("frank", t, 1, 3);
    CHECK(m.now == t);
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_short == 3);
    CHECK(m.recipients_long == 3);
    CHECK(f.ttl(store.rate_key("frank")) > 0);
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
    CHECK(!f.exists(store.rate_key("frank"))); // emptied buckets leave no key
    // the lock comes back with the counts
    store.set_lock("frank", Lock{t, 0, "test", "", 0, t});
    CHECK(store.count_message("frank", t + 10, 0, 0).lock.has_value());
    // relaying clients count apart from users
    CHECK(store.count_message("relay:192.0.2.7", t, 1, 1).messages_short == 1);
    CHECK(f.exists(f.config.store.key_prefix + "relay:{192.0.2.7}:rate"));
    CHECK(!store.count_message("relay:192.0.2.7", t, 0, 0).lock);
}

TEST_CASE_TEMPLATE("store: session bindings ride along with a successful login", F, RedisFixture,
                   LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u10:");
    auto& store = *f.store;
    RecordOptions options;
    options.bind_session = "mx1:4242:123456:192.0.2.1";
    options.session_ttl = 600;
    store.record(login("grace", "192.0.2.1", 100), options);
    CHECK(store.session_user("mx1:4242:123456:192.0.2.1", 600) == std::optional<std::string>("grace"));
    CHECK(!store.session_user("mx1:4242:123457:192.0.2.1", 600));
    auto ttl = f.ttl(store.session_key("mx1:4242:123456:192.0.2.1"));
    CHECK(ttl > 0);
    CHECK(ttl <= 600);
}

TEST_CASE_TEMPLATE("store: a user's state moves between stores unchanged", F, RedisFixture,
                   LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u11:");
    auto& store = *f.store;
    Event bad = login("henry", "198.51.100.7", 1800000100, Outcome::bad_password);
    bad.fingerprint = 4242;
    store.record(login("henry", "192.0.2.1", 1800000000), true);
    store.record(bad, true);
    store.set_lock("henry", Lock{1800000200, 0, "6 new networks", "1.2@1800000000[1.2.3.4]", 0,
                                 1800000200});
    store.record(login("henry", "203.0.113.5", 1800000300), true);
    store.count_message("henry", 1800000300, 2, 7);
    UserDump d = store.dump("henry");
    CHECK(d.observations_ttl > 0);
    CHECK(d.lock_ttl > 0);
    CHECK(d.rate_ttl > 0);
    CHECK(d.rate.size() == 3);
    REQUIRE(d.history.lock);
    CHECK(d.history.lock->attempts_after == 1);

    // into an LMDB store and back into this one, under another name
    LmdbFixture other("x:");
    other.store->restore(d);
    UserDump copy = other.store->dump("henry");
    copy.user = "henry2";
    store.restore(copy);
    UserDump back = store.dump("henry2");
    CHECK(back.history.observations.size() == d.history.observations.size());
    for (std::size_t i = 0; i < d.history.observations.size(); ++i) {
        auto& a = d.history.observations[i];
        auto& b = back.history.observations[i];
        CHECK(a.kind == b.kind);
        CHECK(a.address == b.address);
        CHECK(a.first == b.first);
        CHECK(a.last == b.last);
        CHECK(a.count == b.count);
        CHECK(a.fingerprint == b.fingerprint);
    }
    REQUIRE(back.history.lock);
    CHECK(back.history.lock->since == d.history.lock->since);
    CHECK(back.history.lock->reason == d.history.lock->reason);
    CHECK(back.history.lock->evidence == d.history.lock->evidence);
    CHECK(back.history.lock->attempts_after == d.history.lock->attempts_after);
    CHECK(back.history.lock->last_attempt == d.history.lock->last_attempt);
    CHECK(back.rate == d.rate);
    CHECK(std::llabs(back.observations_ttl - d.observations_ttl) <= 2);
    CHECK(std::llabs(back.lock_ttl - d.lock_ttl) <= 2);
    CHECK(store.count_message("henry2", 1800000300, 0, 0).recipients_short == 7);
    // an empty dump empties the user
    store.restore(UserDump{"henry2", {}, 0, 0, {}, 0, {}, {}});
    CHECK(!f.exists(store.observations_key("henry2")));
    CHECK(!f.exists(store.lock_key("henry2")));
    CHECK(!f.exists(store.rate_key("henry2")));
}

TEST_CASE_TEMPLATE("store: a message not queued (next queue missing, exit 53) no longer counts", F,
                   RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u-notqueued:");
    auto& store = *f.store;
    const std::int64_t t = 1800000000;
    store.count_message("gina", t, 1, 3);
    auto counted = store.count_message("gina", t + 600, 1, 2);
    CHECK(counted.messages_short == 2);
    // the second was not queued: taken back from the buckets it went into
    auto m = store.take_back_message("gina", counted.now, 1, 2);
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_short == 3);
    CHECK(m.recipients_long == 3);
    // never below 0: a bucket that would go under goes
    m = store.take_back_message("gina", t, 5, 50);
    CHECK(m.messages_short == 0);
    CHECK(m.recipients_short == 0);
    CHECK(m.recipients_long == 0);
    CHECK(!f.exists(store.rate_key("gina"))); // emptied buckets leave no key
    // nothing made up where nothing was counted
    store.take_back_message("nobody", t, 1, 1);
    CHECK(!f.exists(store.rate_key("nobody")));
    CHECK(store.count_message("nobody", t, 0, 0).messages_short == 0);
}

TEST_CASE_TEMPLATE("store: unlock forgot the owner's own recent network (named ones go)", F,
                   RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u-unlock:");
    auto& store = *f.store;
    // 127.0.0.1 first seen an hour before the lock, then the attack
    store.record(login("hana", "127.0.0.1", 1000), true);
    store.record(login("hana", "10.11.0.5", 4000), true);
    store.record(login("hana", "10.12.0.5", 4100), true);
    store.record(login("hana", "10.12.0.5", 4200, Outcome::bad_password), true);
    CHECK(store.set_lock("hana", Lock{4600, 0, "test",
                                      "10.11.0.0/16@4000[10.11.0.5] "
                                      "10.12.0.0/16@4100[10.12.0.5]",
                                      0, 4600}));
    CHECK(store.clear_lock("hana", {"10.11.0.5", "10.12.0.5"}));
    History h = store.load("hana");
    CHECK(!h.lock);
    int successes = 0, failures = 0;
    for (auto& o : h.observations) {
        if (o.kind == Observation::Kind::success) {
            ++successes;
            CHECK(o.address == "127.0.0.1");
        } else {
            ++failures; // failures are kept
        }
    }
    CHECK(successes == 1);
    CHECK(failures == 1);
    // a manual lock: nothing named, nothing forgotten
    CHECK(store.set_lock("hana", Lock{5000, 0, "phone stolen", "manual", 0, 5000}));
    CHECK(store.clear_lock("hana", {}));
    CHECK(store.load("hana").observations.size() == 2);
}

TEST_CASE_TEMPLATE("store: a log follower's mark rides along with the event it marks", F,
                   RedisFixture, LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u12:");
    auto& store = *f.store;
    auto mark_of = [&](const std::string& user, FeedKind kind, const std::string& follower) {
        return store.feed_mark(user, kind, follower).value_or("none");
    };
    RecordOptions options;
    options.mark = FeedMark{"a1b2c3d4", "5f3e:100:0"};
    store.record(login("ivan", "192.0.2.1", 1000), options);
    CHECK(mark_of("ivan", FeedKind::login, "a1b2c3d4") == "5f3e:100:0");
    CHECK(mark_of("ivan", FeedKind::login, "e5f6") == "none");
    CHECK(mark_of("ivan", FeedKind::message, "a1b2c3d4") == "none");
    CHECK(mark_of("nobody", FeedKind::login, "a1b2c3d4") == "none");
    CHECK(store.load("ivan").observations.size() == 1); // no observation

    // the hooks' events (no mark) and read-only looks leave it as it is
    store.record(login("ivan", "192.0.2.2", 1001), true);
    options.mark = FeedMark{"a1b2c3d4", "5f3e:200:0"};
    options.count = false;
    store.record(login("ivan", "192.0.2.3", 1002), options);
    CHECK(mark_of("ivan", FeedKind::login, "a1b2c3d4") == "5f3e:100:0");
    // each follower has its own
    options.count = true;
    options.mark = FeedMark{"e5f6", "77:1:2"};
    store.record(login("ivan", "192.0.2.2", 1003), options);
    CHECK(mark_of("ivan", FeedKind::login, "a1b2c3d4") == "5f3e:100:0");
    CHECK(mark_of("ivan", FeedKind::login, "e5f6") == "77:1:2");

    // with message counts that change; a look leaves it
    const FeedMark message{"a1b2c3d4", "5f3e:300:0"}, look{"a1b2c3d4", "5f3e:400:0"};
    store.count_message("ivan", 1004, 1, 0, &message);
    store.count_message("ivan", 1005, 0, 0, &look);
    CHECK(mark_of("ivan", FeedKind::message, "a1b2c3d4") == "5f3e:300:0");
    auto counts = store.count_message("ivan", 1006, 0, 2, nullptr);
    CHECK(counts.messages_short == 1);
    CHECK(counts.recipients_short == 2);
    CHECK(mark_of("ivan", FeedKind::message, "a1b2c3d4") == "5f3e:300:0");

    // marks are no entries: a full user keeps max-entries observations and
    // its marks, and eviction never takes a mark
    const int max = f.config.max_entries;
    options.mark = FeedMark{"a1b2c3d4", "t"};
    for (int i = 0; i < max; ++i)
        store.record(login("judy", "10.0." + std::to_string(i) + ".1", 2000 + i), options);
    History full = store.load("judy");
    CHECK(full.observations.size() == static_cast<std::size_t>(max));
    CHECK(full.dropped == 0);
    options.mark = FeedMark{"a1b2c3d4", "u"};
    store.record(login("judy", "10.1.0.1", 3000), options);
    full = store.load("judy");
    CHECK(full.observations.size() == static_cast<std::size_t>(max));
    CHECK(full.dropped == 1);
    CHECK(mark_of("judy", FeedKind::login, "a1b2c3d4") == "u");
    CHECK(store.stats().observations == max + 2); // judy's and ivan's two

    // unlocking forgets observations, not marks
    store.set_lock("ivan", Lock{1000, 0, "test", "", 0, 1000});
    CHECK(store.clear_lock("ivan", {"192.0.2.1", "192.0.2.2", "192.0.2.3"}));
    CHECK(mark_of("ivan", FeedKind::login, "e5f6") == "77:1:2");

    // export and import carry them, apart from observations and buckets
    UserDump d = store.dump("ivan");
    std::sort(d.marks.begin(), d.marks.end());
    using Marks = std::vector<std::pair<std::string, std::string>>;
    CHECK(d.marks == Marks{{"a1b2c3d4", "5f3e:100:0"}, {"e5f6", "77:1:2"}});
    CHECK(d.rate_marks == Marks{{"a1b2c3d4", "5f3e:300:0"}});
    CHECK(d.rate.size() == 3);
    LmdbFixture other("y:");
    other.store->restore(d);
    UserDump copy = other.store->dump("ivan");
    copy.user = "ivan2";
    store.restore(copy);
    CHECK(mark_of("ivan2", FeedKind::login, "e5f6") == "77:1:2");
    CHECK(mark_of("ivan2", FeedKind::message, "a1b2c3d4") == "5f3e:300:0");
    CHECK(store.count_message("ivan2", 1006, 0, 0).recipients_short == 2);
}

TEST_CASE_TEMPLATE("store: a refused login is taken back, never made known", F, RedisFixture,
                   LmdbFixture) {
    SKIP_UNLESS_AVAILABLE();
    F f("u-takeback:");
    auto& store = *f.store;
    const std::string user = "alice@example.com";
    store.record(login(user, "192.0.2.1", 1000), true);
    store.record(login(user, "192.0.2.1", 1010), true);
    store.record(login(user, "198.51.100.9", 1020), true);
    // Its only login: the observation goes.
    store.take_back_success(user, "198.51.100.9");
    // A known address: one login less, still known.
    store.take_back_success(user, "192.0.2.1");
    // Nothing there: nothing happens.
    store.take_back_success(user, "203.0.113.1");
    store.take_back_success("nobody@example.com", "203.0.113.1");
    History h = store.load(user);
    REQUIRE(h.observations.size() == 1);
    CHECK(h.observations[0].address == "192.0.2.1");
    CHECK(h.observations[0].count == 1);
    CHECK(h.observations[0].first == 1000);
    // A failure from the same address is not a success to take back.
    store.record(login(user, "198.51.100.9", 1030, Outcome::bad_password), true);
    store.take_back_success(user, "198.51.100.9");
    CHECK(store.load(user).observations.size() == 2);
}
