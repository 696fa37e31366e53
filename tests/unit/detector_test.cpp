// detector_test.cpp - the policy rules, on hand-built histories.
#include "authguard/detector.hpp"

#include <doctest/doctest.h>

using namespace authguard;

namespace {

constexpr std::int64_t day = 86400, hour = 3600;
constexpr std::int64_t t0 = 1374400000; // July 2013, the seed's week

// Applies an event to a history the way every store does, then decides.
struct Account {
    Config config;
    History history;
    std::string user = "hello@example.com";

    Decision login(const std::string& address, std::int64_t time, bool ok = true,
                   std::optional<std::uint16_t> fp = std::nullopt) {
        auto kind = ok ? Observation::Kind::success : Observation::Kind::failure;
        bool found = false;
        for (auto& o : history.observations) {
            if (o.kind == kind && o.address == address) {
                o.first = std::min(o.first, time);
                o.last = std::max(o.last, time);
                ++o.count;
                if (fp) o.fingerprint = fp;
                found = true;
            }
        }
        if (!found) history.observations.push_back({kind, address, time, time, 1, fp, {}});
        Event e{user, address, time, ok ? Outcome::success : Outcome::bad_password, "submission",
                fp};
        Decision d = decide(history, e, config);
        if (ok && refuses_login(d.verdict)) take_back(address);
        if (d.verdict == Verdict::lock && !history.lock)
            history.lock = Lock{time, 0, d.reason, d.evidence, 0, time};
        return d;
    }

    // As Store::take_back_success: a refused login is not remembered.
    void take_back(const std::string& address) {
        auto& obs = history.observations;
        for (auto it = obs.begin(); it != obs.end(); ++it) {
            if (it->kind != Observation::Kind::success || it->address != address) continue;
            if (it->count <= 1)
                obs.erase(it);
            else
                --it->count;
            return;
        }
    }
};

std::string bot_address(int i) {
    // one new /16 per bot, like the seed's botnet
    return std::to_string(31 + i % 180) + "." + std::to_string(40 + i / 180) + "." +
           std::to_string(i % 250) + "." + std::to_string(1 + i % 200);
}

} // namespace

TEST_CASE("the seed: a botnet is locked within a handful of logins") {
    Account a;
    a.login("203.0.113.5", t0 - 10 * day); // the owner's home, known for days
    a.login("203.0.113.5", t0 - 1 * day);
    int let_in = 0;
    for (int i = 0; i < 880; ++i) {
        // about 37 new addresses an hour
        Decision d = a.login(bot_address(i), t0 + i * hour / 37);
        if (d.verdict == Verdict::lock || d.verdict == Verdict::refuse_locked) break;
        ++let_in;
    }
    CHECK(let_in <= 9);
    CHECK(let_in == a.config.defaults.lock_new_networks_short - 1);
    REQUIRE(a.history.lock);
    CHECK(a.history.lock->reason.find("new networks") != std::string::npos);
    CHECK(a.history.lock->evidence.find(bot_address(0)) != std::string::npos);
    // Locked: even the owner is refused until an admin unlocks.
    CHECK(a.login("203.0.113.5", t0 + 2 * hour).verdict == Verdict::refuse_locked);
}

TEST_CASE("a slower botnet trips the 24 h window") {
    Account a;
    int let_in = 0;
    for (int i = 0; i < 100; ++i) {
        Decision d = a.login(bot_address(i), t0 + i * 3 * hour / 2); // one every 90 minutes
        if (d.verdict != Verdict::allow && d.verdict != Verdict::alert) break;
        ++let_in;
    }
    CHECK(let_in == a.config.defaults.lock_new_networks_long - 1);
}

TEST_CASE("a phone behind carrier-grade NAT is never locked") {
    Account a;
    // Three /16s of one carrier's pools, 15 addresses a day for 30 days.
    for (int d = 0; d < 30; ++d) {
        for (int i = 0; i < 15; ++i) {
            std::string addr = std::to_string(100 + (d + i) % 3) + ".64." +
                               std::to_string((d * 15 + i) % 256) + "." + std::to_string(i + 1);
            auto v = a.login(addr, t0 + d * day + i * hour).verdict;
            CHECK(v != Verdict::lock);
            CHECK(v != Verdict::refuse_locked);
            CHECK(v != Verdict::tempfail);
        }
    }
}

TEST_CASE("addresses within known networks are known") {
    Account a;
    a.login("198.51.100.1", t0);
    auto s = compute_signals(a.history, {a.user, "198.51.7.9", t0 + 60, Outcome::success, "", {}},
                             a.config);
    CHECK(s.event_network_known); // same /16
    a.login("192.0.2.1", t0 + 120);
    s = compute_signals(a.history, {a.user, "192.0.2.1", t0 + 120, Outcome::success, "", {}},
                        a.config);
    CHECK(!s.event_network_known); // its only success is this very event
    a.login("192.0.2.1", t0 + 180);
    s = compute_signals(a.history, {a.user, "192.0.2.1", t0 + 180, Outcome::success, "", {}},
                        a.config);
    CHECK(s.event_network_known);
}

TEST_CASE("failures never lock, and never refuse a known network") {
    Account a;
    a.login("203.0.113.5", t0 - 5 * day);
    for (int i = 0; i < 200; ++i) {
        auto v = a.login(bot_address(i), t0 + i * 10, false).verdict;
        CHECK(v != Verdict::lock);
    }
    CHECK(!a.history.lock);
    // The owner, from home, gets in.
    auto owner = a.login("203.0.113.5", t0 + 2100);
    CHECK(owner.verdict != Verdict::tempfail);
    CHECK(owner.verdict != Verdict::refuse_locked);
    // A success from an unknown network while 200 networks fail: tempfail.
    CHECK(a.login("198.18.0.1", t0 + 2200).verdict == Verdict::tempfail);
}

TEST_CASE("one password replayed from many networks") {
    Account a;
    a.login("203.0.113.5", t0 - 5 * day);
    // the seed's aftermath: ten tries every twelve hours with the old password
    Decision last;
    for (int i = 0; i < 6; ++i) last = a.login(bot_address(i), t0 + i * 300, false, 4242);
    CHECK(last.signals.replay_networks == 6);
    CHECK(last.verdict == Verdict::alert);
    CHECK(a.login("198.18.0.1", t0 + 4000).verdict == Verdict::tempfail);
    CHECK(a.login("203.0.113.5", t0 + 4100).verdict == Verdict::alert); // known: logged, let in
}

TEST_CASE("guessing (many fingerprints) is not a replay") {
    Account a;
    Decision last;
    for (int i = 0; i < 6; ++i)
        last = a.login(bot_address(i), t0 + i * 300, false, static_cast<std::uint16_t>(i));
    CHECK(last.signals.replay_networks == 1);
    CHECK(last.signals.fingerprints == 6);
}

TEST_CASE("windows slide") {
    Account a;
    // 7 new networks spread over 3 days: never 6 in an hour nor 8 in a day.
    for (int i = 0; i < 7; ++i) CHECK(a.login(bot_address(i), t0 + i * 11 * hour).verdict != Verdict::lock);
    CHECK(!a.history.lock);
}

TEST_CASE("lock expiry and manual locks") {
    Account a;
    a.history.lock = Lock{t0, t0 + hour, "manual", "", 0, t0};
    CHECK(a.login("203.0.113.5", t0 + 10).verdict == Verdict::refuse_locked);
    CHECK(a.login("203.0.113.5", t0 + 2 * hour).verdict == Verdict::allow);
}

TEST_CASE("per-user overrides") {
    Account a;
    a.config.user_thresholds[a.user] = Thresholds{};
    a.config.user_thresholds[a.user].lock_new_networks_short = 50;
    a.config.user_thresholds[a.user].lock_new_networks_long = 50;
    for (int i = 0; i < 20; ++i) CHECK(a.login(bot_address(i), t0 + i * 60).verdict != Verdict::lock);
}

TEST_CASE("unknown addresses are one network") {
    Account a;
    for (int i = 0; i < 20; ++i) a.login("unknown", t0 + i);
    auto s = compute_signals(a.history, {a.user, "unknown", t0 + 30, Outcome::success, "", {}},
                             a.config);
    CHECK(s.long_window.wide_networks == 1);
    CHECK(!a.history.lock);
}

TEST_CASE("IPv6: privacy addresses and a carrier's /64s stay in one wide network") {
    Account a;
    for (int i = 0; i < 300; ++i) {
        char addr[64];
        std::snprintf(addr, sizeof addr, "2a01:598:%x:%x::%x", 0x8000 + i * 7, i * 13, i + 1);
        CHECK(a.login(addr, t0 + i * 600).verdict != Verdict::lock);
    }
}

TEST_CASE("alerts notify once, when the event reaches the threshold") {
    Account a;
    a.config.defaults.lock_new_networks_short = 100;
    a.config.defaults.lock_new_networks_long = 100;
    int notified = 0;
    for (int i = 0; i < 8; ++i) {
        Decision d = a.login(bot_address(i), t0 + i * 600);
        notified += d.notify;
        // and again from the same place: no new notification
        notified += a.login(bot_address(i), t0 + i * 600 + 60).notify;
        if (i + 1 >= a.config.defaults.alert_new_networks_long) CHECK(d.verdict == Verdict::alert);
    }
    CHECK(notified == 1);
}

TEST_CASE("a lock always notifies") {
    Account a;
    Decision d;
    for (int i = 0; i < 6; ++i) d = a.login(bot_address(i), t0 + i * 60);
    CHECK(d.verdict == Verdict::lock);
    CHECK(d.notify);
}

TEST_CASE("sending limits") {
    Config c;
    MessageCounts m;
    m.now = t0;
    CHECK(decide_message(m, "u", c).verdict == Verdict::allow);
    m.messages_short = c.defaults.max_messages_short + 1;
    CHECK(decide_message(m, "u", c).verdict == Verdict::tempfail);
    c.rate_action = Config::RateAction::reject;
    CHECK(decide_message(m, "u", c).verdict == Verdict::reject);
    m.messages_short = 0;
    m.recipients_long = c.defaults.max_recipients_long + 1;
    CHECK(decide_message(m, "u", c).reason.find("max-recipients-long") != std::string::npos);
    // relay limits are off unless configured
    CHECK(decide_message(m, "relay:192.0.2.1", c).verdict == Verdict::allow);
    c.defaults.relay_max_recipients_long = 10;
    CHECK(decide_message(m, "relay:192.0.2.1", c).verdict == Verdict::reject);
    // a lock wins over everything
    m.lock = Lock{t0 - 10, 0, "botnet", "", 0, t0};
    CHECK(decide_message(m, "u", c).verdict == Verdict::refuse_locked);
    m.lock->until = t0 - 1;
    CHECK(decide_message(m, "u", c).verdict != Verdict::refuse_locked);
}

TEST_CASE("a login refused under failure pressure is not remembered: its retry is refused too") {
    Account a;
    a.login("203.0.113.5", t0 - 5 * day);
    for (int i = 0; i < 12; ++i)
        a.login(bot_address(i), t0 + i * 60, false);
    // A bot with the right password, from a network the owner never used,
    // retries as a mail client does: refused every time, never made known.
    for (int retry = 0; retry < 3; ++retry) {
        auto d = a.login("198.18.0.1", t0 + 900 + retry * 30);
        CHECK(d.verdict == Verdict::tempfail);
        CHECK(!d.signals.event_network_known);
    }
    for (auto& o : a.history.observations)
        CHECK(o.address != "198.18.0.1");
    // The owner at home is let in all along.
    CHECK(!refuses_login(a.login("203.0.113.5", t0 + 1000).verdict));
}

TEST_CASE("logins refused while locked never become known networks") {
    Account a;
    a.history.lock = Lock{t0, t0 + hour, "manual", "", 0, t0};
    CHECK(a.login("198.18.0.1", t0 + 10).verdict == Verdict::refuse_locked);
    CHECK(a.login("198.18.0.1", t0 + 20).verdict == Verdict::refuse_locked);
    CHECK(a.history.observations.empty());
    // After the lock expired the bot's network is still new to the user.
    auto s = compute_signals(
        a.history, {a.user, "198.18.0.1", t0 + 2 * hour, Outcome::success, "", {}}, a.config);
    CHECK(!s.event_network_known);
}

TEST_CASE("without a table the within-provider rule stays out: a /16 is one block") {
    Account a;
    for (int i = 0; i < 30; ++i) {
        auto d = a.login("100.70." + std::to_string(i) + ".9", t0 + i * 97);
        CHECK(!refuses_login(d.verdict));
        CHECK(d.signals.short_window.provider_new_prefixes == 0);
    }
}

TEST_CASE("a cache of network keys shared by many decisions changes no decision") {
    // authguardctl scan keeps one NetworkKeyCache for a whole log: the
    // cached keys of one user's addresses must never leak into another's
    // verdict, nor a key of one address be served for another.
    Account plain, cached;
    NetworkKeyCache keys;
    std::vector<std::string> addresses = {"126.15.3.4",     "2001:db8:1::1", "",
                                          "not-an-address", "126.16.3.4",    "2001:db8:1::2"};
    for (int i = 0; i < 40; ++i)
        addresses.push_back(bot_address(i));
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        std::int64_t t = t0 + static_cast<std::int64_t>(i) * 600;
        bool ok = i % 7 != 3;
        Decision want = plain.login(addresses[i], t, ok);
        // the same event, decided with the shared cache
        auto kind = ok ? Observation::Kind::success : Observation::Kind::failure;
        bool found = false;
        for (auto& o : cached.history.observations)
            if (o.kind == kind && o.address == addresses[i]) {
                o.last = t;
                ++o.count;
                found = true;
            }
        if (!found) cached.history.observations.push_back({kind, addresses[i], t, t, 1, {}, {}});
        Outcome outcome = ok ? Outcome::success : Outcome::bad_password;
        Event e{cached.user, addresses[i], t, outcome, "submission", {}};
        Decision got = decide(cached.history, e, cached.config, &keys);
        if (ok && refuses_login(got.verdict)) cached.take_back(addresses[i]);
        if (got.verdict == Verdict::lock && !cached.history.lock)
            cached.history.lock = Lock{t, 0, got.reason, got.evidence, 0, t};
        CHECK(got.verdict == want.verdict);
        CHECK(got.reason == want.reason);
        CHECK(got.evidence == want.evidence);
        CHECK(got.notify == want.notify);
        CHECK(got.signals.long_window.wide_networks == want.signals.long_window.wide_networks);
        CHECK(got.signals.short_window.new_wide_networks ==
              want.signals.short_window.new_wide_networks);
        CHECK(got.signals.event_network_known == want.signals.event_network_known);
    }
    CHECK(keys.size() == addresses.size()); // one entry per text ("" and junk too)
    const NetworkKeys& v6 = keys.keys("2001:db8:1::1", cached.config);
    CHECK(v6.wide == network_keys("2001:db8:1::1", cached.config).wide);
    CHECK(&keys.keys("2001:db8:1::1", cached.config) == &v6); // served, not computed again
}
