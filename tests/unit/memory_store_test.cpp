// memory_store_test.cpp - the in-memory store holds to the expectations the
// Redis store is tested against (redis_store_test.cpp), case for case, plus
// what only it can show: expiry by the log's clock, and the replay of
// events through the detector matching the live guard's verdicts.
#include "authguard/guard.hpp"
#include "authguard/memory_store.hpp"
#include "authguard/replay.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace authguard;

namespace {

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{user, address, time, outcome, "submission", std::nullopt};
}

} // namespace

TEST_CASE("memory store: record, count, clock") {
    Config c;
    MemoryStore store(c);
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

    // the store's clock when the event has none: the latest time it saw
    r = store.record(login("alice@example.com", "192.0.2.2", 0), true);
    CHECK(r.now == 1010);
    CHECK(store.now() == 1010);

    // every key has an expiry: known-period after the last record
    CHECK(store.observations_expire_at("alice@example.com") == 1010 + c.known_period);
    CHECK(store.users() == std::vector<std::string>{"alice@example.com"});

    // a failure keeps the latest fingerprint, and a later one without drops it (as the script)
    Event f = login("alice@example.com", "198.51.100.7", 1020, Outcome::bad_password);
    f.fingerprint = 77;
    r = store.record(f, true);
    auto failure = [&](const History& h) {
        for (auto& o : h.observations)
            if (o.kind == Observation::Kind::failure) return o;
        return Observation{};
    };
    CHECK(failure(r.history).fingerprint == std::optional<std::uint16_t>(77));
    f.fingerprint.reset();
    r = store.record(f, true);
    CHECK(!failure(r.history).fingerprint);
    CHECK(failure(r.history).count == 2);
}

TEST_CASE("memory store: an empty clock is the local one") {
    Config c;
    MemoryStore store(c);
    auto local = static_cast<std::int64_t>(std::time(nullptr));
    auto r = store.record(login("bob", "192.0.2.1", 0), true);
    CHECK(std::llabs(r.now - local) < 5);
}

TEST_CASE("memory store: an attacked user's state is bounded") {
    Config c;
    MemoryStore store(c);
    for (int i = 0; i < 1000; ++i)
        store.record(login("victim", "10." + std::to_string(i / 250) + "." +
                                         std::to_string(i % 250) + ".1",
                           5000 + i),
                     true);
    History h = store.load("victim");
    CHECK(h.observations.size() <= static_cast<std::size_t>(c.max_entries));
    CHECK(h.observations.size() == static_cast<std::size_t>(c.max_entries));
    CHECK(h.dropped == 900);
    // the newest are kept: a botnet's latest login is always seen
    CHECK(h.observations.back().address == "10.3.249.1");
    CHECK(h.observations.front().address == "10.3.150.1");
    // expired observations make room again
    store.record(login("victim", "203.0.113.1", 5000 + 31 * 86400), true);
    h = store.load("victim");
    bool found = false;
    for (auto& o : h.observations) found |= o.address == "203.0.113.1";
    CHECK(found);
}

TEST_CASE("memory store: a full history forgets the expired, then the least recently seen") {
    Config c;
    c.max_entries = 16;
    MemoryStore store(c);
    // a failure from day 0 and 15 successes keep the hash at the cap
    store.record(login("ivan", "198.51.100.1", 100, Outcome::bad_password), true);
    for (int i = 0; i < 15; ++i)
        store.record(login("ivan", "192.0.2." + std::to_string(i + 1), 200 + 86400 * 2), true);
    CHECK(store.load("ivan").observations.size() == 16);
    // two days later the failure (kept window-long) makes room; the successes (known-period) stay
    store.record(login("ivan", "203.0.113.9", 100 + 86400 * 2 + 10), true);
    History h = store.load("ivan");
    CHECK(h.observations.size() == 16);
    CHECK(h.dropped == 0);
    for (auto& o : h.observations) CHECK(o.kind == Observation::Kind::success);
    // full again, nothing expired: the entry seen least recently goes (here
    // the one just added, seen before the others)
    store.record(login("ivan", "198.51.100.2", 100 + 86400 * 2 + 15, Outcome::bad_password), true);
    h = store.load("ivan");
    CHECK(h.dropped == 1);
    for (auto& o : h.observations) CHECK(o.address != "203.0.113.9");
    // and a failure before any success
    store.record(login("ivan", "203.0.113.10", 100 + 86400 * 2 + 20), true);
    h = store.load("ivan");
    CHECK(h.dropped == 2);
    CHECK(h.observations.size() == 16);
    for (auto& o : h.observations) CHECK(o.address != "198.51.100.2");
    CHECK(h.observations.back().address == "203.0.113.10");
}

TEST_CASE("memory store: a login refused before its password check counts as an attempt") {
    Config c;
    MemoryStore store(c);
    CHECK(!store.attempt_on_lock("erin", 100, true).lock);
    CHECK(store.users().empty());
    store.record(login("erin", "192.0.2.1", 100), true);
    CHECK(store.set_lock("erin", Lock{150, 0, "test", "", 0, 150}));
    LockAttempt a = store.attempt_on_lock("erin", 300, true);
    REQUIRE(a.lock);
    CHECK(a.lock->attempts_after == 1);
    CHECK(a.lock->last_attempt == 300);
    CHECK(store.attempt_on_lock("erin", 310, false).lock->attempts_after == 1);
    CHECK(store.load("erin").observations.size() == 1);
}

TEST_CASE("memory store: locks") {
    Config c;
    MemoryStore store(c);
    store.record(login("dave", "192.0.2.1", 100), true);
    store.record(login("dave", "198.51.100.1", 200), true);
    CHECK(store.set_lock("dave", Lock{150, 0, "test", "evidence", 0, 150}));
    CHECK(!store.set_lock("dave", Lock{160, 0, "again", "", 0, 160}));
    CHECK(store.lock_expire_at("dave").has_value());
    auto r = store.record(login("dave", "203.0.113.9", 300), true);
    REQUIRE(r.history.lock);
    CHECK(r.history.lock->reason == "test");
    CHECK(r.history.lock->attempts_after == 1);
    CHECK(r.history.lock->last_attempt == 300);
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
    // a lock outlives the observations until lock-retention, then goes too
    store.record(login("dave", "192.0.2.1", 800), true);
    auto expires = store.lock_expire_at("dave");
    REQUIRE(expires);
    store.record(login("someone-else", "192.0.2.1", *expires + 1), true);
    CHECK(!store.load("dave").lock);
    CHECK(store.users() == std::vector<std::string>{"someone-else"});
}

TEST_CASE("memory store: hostile user names are kept binary-safe") {
    Config c;
    MemoryStore store(c);
    for (std::string user : {std::string("a}b"), std::string("{x}"), std::string("*"),
                             std::string("sp ace"), std::string("\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"),
                             std::string("nul\0byte", 8)}) {
        auto r = store.record(login(user, "192.0.2.1", 100), true);
        CHECK(r.history.observations.size() >= 1);
        CHECK(store.set_lock(user, Lock{100, 0, "t", "", 0, 100}) == true);
        CHECK(store.load(user).lock.has_value());
        CHECK(store.clear_lock(user, {"192.0.2.1"}));
    }
}

TEST_CASE("memory store: message counts slide over buckets") {
    Config c;
    MemoryStore store(c);
    const std::int64_t t = 1800000000; // a multiple of the 300 s bucket
    auto m = store.count_message("frank", t, 1, 3);
    CHECK(m.now == t);
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_short == 3);
    CHECK(m.recipients_long == 3);
    CHECK(store.rate_expire_at("frank").has_value());
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
    CHECK(!store.rate_expire_at("frank")); // emptied buckets leave no key
    // the lock comes back with the counts
    store.set_lock("frank", Lock{t, 0, "test", "", 0, t});
    CHECK(store.count_message("frank", t + 10, 0, 0).lock.has_value());
    // relaying clients count apart from users
    CHECK(store.count_message("relay:192.0.2.7", t + 86400 + 5000, 1, 1).messages_short == 1);
    CHECK(store.rate_expire_at("relay:192.0.2.7").has_value());
}

TEST_CASE("memory store: a message the next queue did not take no longer counts") {
    Config c;
    MemoryStore store(c);
    const std::int64_t t = 1800000000;
    store.count_message("gina", t, 1, 3);
    auto counted = store.count_message("gina", t + 600, 1, 2);
    auto m = store.take_back_message("gina", counted.now, 1, 2);
    CHECK(m.messages_short == 1);
    CHECK(m.recipients_long == 3);
    m = store.take_back_message("gina", t, 5, 50); // never below 0
    CHECK(m.messages_short == 0);
    CHECK(m.recipients_short == 0);
    CHECK(m.recipients_long == 0);
    store.take_back_message("nobody", t, 1, 1);
    CHECK(store.count_message("nobody", t, 0, 0).messages_short == 0);
}

TEST_CASE("memory store: unlock forgot the owner's own recent network (only named addresses go)") {
    Config c;
    MemoryStore store(c);
    store.record(login("hana", "127.0.0.1", 1000), true);
    store.record(login("hana", "10.11.0.5", 4000), true);
    CHECK(store.set_lock("hana", Lock{4600, 0, "test", "10.11.0.0/16@4000[10.11.0.5]", 0, 4600}));
    CHECK(store.clear_lock("hana", {"10.11.0.5"}));
    History h = store.load("hana");
    REQUIRE(h.observations.size() == 1);
    CHECK(h.observations[0].address == "127.0.0.1");
    CHECK(store.set_lock("hana", Lock{5000, 0, "phone stolen", "manual", 0, 5000}));
    CHECK(store.clear_lock("hana", {}));
    CHECK(store.load("hana").observations.size() == 1);
}

TEST_CASE("memory store: session bindings ride along with a successful login") {
    Config c;
    MemoryStore store(c);
    RecordOptions options;
    options.bind_session = "mx1:4242:123456:192.0.2.1";
    options.session_ttl = 600;
    store.record(login("grace", "192.0.2.1", 100), options);
    CHECK(store.session_user("mx1:4242:123456:192.0.2.1", 600) == std::optional<std::string>("grace"));
    CHECK(!store.session_user("mx1:4242:123457:192.0.2.1", 600));
    auto expires = store.session_expire_at("mx1:4242:123456:192.0.2.1");
    REQUIRE(expires);
    CHECK(*expires - store.now() > 0);
    CHECK(*expires - store.now() <= 600);
}

TEST_CASE("guard on the memory store: allowlists and locking, as on Redis") {
    testing::TempDir dir;
    Config c;
    c.allow_networks.push_back(*parse_cidr("192.0.2.0/24"));
    c.allow_users.push_back("relay@example.com");
    MemoryStore store(c);
    Logger logger((dir.path() / "log").string());
    Guard guard(c, store, logger);

    CHECK(guard.check(login("relay@example.com", "198.51.100.1", 100)).verdict == Verdict::allow);
    CHECK(store.users().empty());
    for (int i = 0; i < 20; ++i)
        CHECK(guard.check(login("erin", "192.0.2.10", 100 + i)).verdict == Verdict::allow);
    CHECK(store.load("erin").observations.empty());

    Verdict last = Verdict::allow;
    int let_in = 0;
    for (int i = 0; i < 20 && last != Verdict::lock; ++i) {
        last = guard.check(login("erin", std::to_string(30 + i) + ".1.2.3", 200 + i * 60)).verdict;
        if (last == Verdict::allow || last == Verdict::alert) ++let_in;
    }
    CHECK(last == Verdict::lock);
    CHECK(let_in == 5);
    CHECK(guard.check(login("erin", "192.0.2.10", 2000)).verdict == Verdict::refuse_locked);
}

TEST_CASE("memory store: a log follower's mark, as in Redis") {
    Config c;
    c.max_entries = 16;
    MemoryStore store(c);
    RecordOptions options;
    options.mark = FeedMark{"f1", "s:1:0"};
    for (int i = 0; i < 16; ++i)
        store.record(login("kim", "10.0." + std::to_string(i) + ".1", 1000 + i), options);
    History h = store.load("kim");
    CHECK(h.observations.size() == 16); // the mark is no entry
    CHECK(h.dropped == 0);
    CHECK(store.feed_mark("kim", FeedKind::login, "f1") == std::optional<std::string>("s:1:0"));
    CHECK(!store.feed_mark("kim", FeedKind::message, "f1"));

    // the message counts keep theirs while the key lives, after the buckets
    const FeedMark message{"f1", "s:2:0"};
    store.count_message("kim", 2000, 1, 1, &message);
    store.count_message("kim", 2000 + c.window_long + 1, 0, 0);
    CHECK(store.feed_mark("kim", FeedKind::message, "f1") == std::optional<std::string>("s:2:0"));
    // and both go when their keys expire
    store.count_message("other", 2000 + c.known_period + 1, 0, 0); // moves the clock
    CHECK(!store.feed_mark("kim", FeedKind::login, "f1"));
    CHECK(!store.feed_mark("kim", FeedKind::message, "f1"));
}

TEST_CASE("guard: an event the store has already is judged again, not counted") {
    testing::TempDir dir;
    Config c;
    MemoryStore store(c);
    Logger logger((dir.path() / "log").string());
    Guard guard(c, store, logger);
    for (int i = 0; i < 5; ++i)
        CHECK(guard.check(login("lee", std::to_string(30 + i) + ".1.2.3", 200 + i * 60)).verdict !=
              Verdict::lock);
    // the locking login reached the store; the follower died before the lock
    Event sixth = login("lee", "35.1.2.3", 500);
    store.record(sixth, true);
    CHECK(!store.load("lee").lock);
    CheckOptions again;
    again.recorded = true;
    CHECK(guard.check(sixth, again).verdict == Verdict::lock);
    History h = store.load("lee");
    REQUIRE(h.lock);
    CHECK(h.lock->since == 500);
    CHECK(h.observations.back().count == 1);
    CHECK(guard.check(sixth, again).verdict == Verdict::refuse_locked);
    CHECK(store.load("lee").lock->attempts_after == 0);
}

TEST_CASE("replay: the same verdicts as the guard, without logging") {
    testing::TempDir dir;
    Config c;
    c.allow_networks.push_back(*parse_cidr("192.0.2.0/24"));
    MemoryStore live_store(c), replay_store(c);
    Logger logger((dir.path() / "log").string());
    Guard guard(c, live_store, logger);

    std::vector<Event> events;
    for (int i = 0; i < 12; ++i) {
        events.push_back(login("kim", "203.0.113.5", 1000 + i * 300)); // her home
        events.push_back(login("kim", std::to_string(40 + i) + "." + std::to_string(i) + ".0.9",
                               1100 + i * 300)); // bots
        events.push_back(login("kim", "192.0.2.8", 1150 + i * 300)); // allowlisted webmail
        events.push_back(login("kim", "198.51.100.3", 1160 + i * 300, Outcome::bad_password));
        events.push_back(login("kim", "198.51.100.4", 1170 + i * 300, Outcome::temporary_failure));
    }
    for (auto& e : events) {
        Decision live = guard.check(e);
        Decision replayed = replay_check(c, replay_store, e);
        CHECK(to_string(live.verdict) == to_string(replayed.verdict));
        CHECK(live.reason == replayed.reason);
    }
    History a = live_store.load("kim"), b = replay_store.load("kim");
    REQUIRE(a.lock);
    REQUIRE(b.lock);
    CHECK(a.lock->since == b.lock->since);
    CHECK(a.lock->evidence == b.lock->evidence);
    CHECK(a.lock->attempts_after == b.lock->attempts_after);
    CHECK(a.observations.size() == b.observations.size());
}

TEST_CASE("replay: below_every_threshold is an upper bound of every rule") {
    Thresholds t;
    CHECK(below_every_threshold(t, 4, 9, 9));
    CHECK(!below_every_threshold(t, 5, 1, 0));  // alert-new-networks-long
    CHECK(!below_every_threshold(t, 1, 10, 0)); // lock-provider-new-prefixes-short
    t.lock_provider_new_prefixes_short = 100;
    CHECK(below_every_threshold(t, 1, 39, 0));
    CHECK(!below_every_threshold(t, 1, 40, 0)); // alert-addresses-long
    CHECK(!below_every_threshold(t, 1, 1, 10)); // failing networks
    t.lock_new_networks_short = 3;
    CHECK(!below_every_threshold(t, 3, 3, 0));
}
