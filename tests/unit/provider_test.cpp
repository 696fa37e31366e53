// provider_test.cpp - the detector counting providers (asn-db) instead of
// prefixes: carriers spanning many /16s, botnets across many providers and
// inside one, switching an installation over, and a table that is missing.
#include "authguard/asn/build.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/config.hpp"
#include "authguard/detector.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <memory>

using namespace authguard;

namespace {

constexpr std::int64_t day = 86400, hour = 3600;
constexpr std::int64_t t0 = 1374400000;

// A small world: a carrier over 64 /16s, a home ISP, a national ISP over
// 256 /16s, and 200 small ISPs of one /16 each (a botnet's homes).
std::shared_ptr<const asn::Table> world_table(const testing::TempDir& dir) {
    std::ofstream csv(dir.path() / "asn-ipv4.csv");
    csv << "100.64.0.0,100.127.255.255,64500,Big Carrier\n"
        << "198.51.0.0,198.51.255.255,64501,\"Home ISP, Inc.\"\n"
        << "60.0.0.0,60.255.255.255,64502,National ISP\n"
        << "203.0.113.0,203.0.113.127,64503,Left Half\n"
        << "203.0.113.128,203.0.113.255,64504,Right Half\n";
    for (int i = 0; i < 200; ++i)
        csv << "20." << i << ".0.0,20." << i << ".255.255," << 65000 + i << ",Small ISP " << i
            << "\n";
    csv.close();
    asn::build_table({dir.path() / "asn-ipv4.csv"}, dir.path() / "asn.db", t0);
    return std::make_shared<const asn::Table>(asn::Table::open(dir.path() / "asn.db"));
}

struct Account {
    Config config;
    History history;
    std::string user = "phone@example.com";

    Decision login(const std::string& address, std::int64_t time) {
        bool found = false;
        for (auto& o : history.observations) {
            if (o.kind == Observation::Kind::success && o.address == address) {
                o.last = std::max(o.last, time);
                ++o.count;
                found = true;
            }
        }
        if (!found)
            history.observations.push_back(
                {Observation::Kind::success, address, time, time, 1, {}, {}});
        Decision d =
            decide(history, {user, address, time, Outcome::success, "submission", {}}, config);
        if (d.verdict == Verdict::lock && !history.lock)
            history.lock = Lock{time, 0, d.reason, d.evidence, 0, time};
        return d;
    }
};

// A phone behind carrier-grade NAT: 20 sessions a day, each from another
// /16 of the carrier (as SoftBank's 615 /16s allow).
int phone_refusals(Account& a, int days) {
    int refused = 0;
    for (int d = 0; d < days; ++d)
        for (int i = 0; i < 20; ++i) {
            int n = d * 20 + i;
            std::string address = "100." + std::to_string(64 + (n * 37) % 64) + "." +
                                  std::to_string((n * 11) % 256) + "." +
                                  std::to_string(1 + n % 250);
            refused +=
                refuses_login(a.login(address, t0 + d * day + 7 * hour + i * 40 * 60).verdict);
        }
    return refused;
}

} // namespace

TEST_CASE("a phone crossing its carrier's /16s is one provider") {
    testing::TempDir dir;
    Account with, without;
    with.config.asn_table = world_table(dir);
    CHECK(phone_refusals(with, 10) == 0);
    CHECK(!with.history.lock);
    // The same phone counted by /16s is locked on its first day: the bug.
    CHECK(phone_refusals(without, 10) > 0);
    CHECK(without.history.lock);
}

TEST_CASE("a botnet across many providers is locked at the 6th new provider") {
    testing::TempDir dir;
    Account a;
    a.config.asn_table = world_table(dir);
    a.login("198.51.7.7", t0 - 3 * day);
    int let_in = 0;
    Decision d;
    for (int i = 0; i < 100; ++i) {
        d = a.login("20." + std::to_string(i) + ".3." + std::to_string(i + 1), t0 + i * hour / 37);
        if (refuses_login(d.verdict)) break;
        ++let_in;
    }
    CHECK(d.verdict == Verdict::lock);
    CHECK(let_in == 5);
    CHECK(d.evidence.find("AS65000@") == 0);
}

TEST_CASE("a botnet inside one national ISP is locked by its new networks there") {
    testing::TempDir dir;
    Account a;
    a.config.asn_table = world_table(dir);
    a.login("198.51.7.7", t0 - 3 * day);
    int let_in = 0;
    Decision d;
    for (int i = 0; i < 880; ++i) {
        // 37 new addresses an hour, each logging in twice
        std::string address = "60." + std::to_string((i * 53) % 256) + "." +
                              std::to_string((i * 29) % 256) + "." + std::to_string(1 + i % 200);
        for (int again = 0; again < 2; ++again) {
            d = a.login(address, t0 + i * hour / 37 + again * 30);
            if (refuses_login(d.verdict)) break;
            ++let_in;
        }
        if (refuses_login(d.verdict)) break;
    }
    CHECK(d.verdict == Verdict::lock);
    CHECK(let_in <= 20);
    CHECK(d.reason.find("AS64502 National ISP") != std::string::npos);
    CHECK(d.reason.find("lock-provider-new-prefixes-short") != std::string::npos);
    CHECK(d.evidence.find("60.") == 0); // the provider's new /16s
    CHECK(d.evidence.find("AS64502") == std::string::npos);
}

TEST_CASE("turning asn-db on keeps every network known under prefixes") {
    testing::TempDir dir;
    Account a;
    // Known under /16s: 203.0.113.5 (Left Half) a week ago.
    a.login("203.0.113.5", t0 - 7 * day);
    a.config.asn_table = world_table(dir);
    // Right Half is a provider the user never used, inside the same /16.
    auto s = compute_signals(a.history, {a.user, "203.0.113.200", t0, Outcome::success, "", {}},
                             a.config);
    CHECK(s.event_network_known);
    a.login("203.0.113.200", t0);
    s = compute_signals(a.history, {a.user, "203.0.113.200", t0, Outcome::success, "", {}},
                        a.config);
    CHECK(s.long_window.new_wide_networks == 0);
    CHECK(s.long_window.wide_networks == 1);
}

TEST_CASE("network keys and provider names") {
    testing::TempDir dir;
    Config c;
    auto keys = network_keys("100.80.1.2", c);
    CHECK(keys.wide == "100.80.0.0/16");
    CHECK(keys.prefix == "100.80.0.0/16");
    CHECK(keys.net == "100.80.1.0/24");
    c.asn_table = world_table(dir);
    keys = network_keys("100.80.1.2", c);
    CHECK(keys.wide == "AS64500");
    CHECK(keys.prefix == "100.80.0.0/16");
    CHECK(network_keys("192.0.2.1", c).wide == "192.0.0.0/16"); // not in the table
    CHECK(network_keys("unknown", c).wide == "unknown");
    CHECK(describe_network("AS64501", "198.51.1.1", c) == "AS64501 Home ISP, Inc.");
    CHECK(describe_network("AS64501", "100.80.1.2", c) == "AS64501"); // another provider's address
    CHECK(describe_network("192.0.0.0/16", "192.0.2.1", c) == "192.0.0.0/16");
}

TEST_CASE("a missing or corrupt asn-db never stops the configuration") {
    testing::TempDir dir;
    dir.write("authguard", "asn-db = " + (dir.path() / "missing.db").string() + "\n");
    Config c = load_config(dir.path());
    CHECK(!c.asn_table);
    CHECK(c.asn_db_problem.find("missing.db") != std::string::npos);
    CHECK(network_keys("100.80.1.2", c).wide == "100.80.0.0/16");

    dir.write("garbage.db", std::string(4096, 'x'));
    dir.write("authguard", "asn-db = garbage.db\n"); // relative: beside the control files
    c = load_config(dir.path());
    CHECK(!c.asn_table);
    CHECK(!c.asn_db_problem.empty());

    world_table(dir);
    dir.write("authguard", "asn-db = asn.db\n");
    c = load_config(dir.path());
    REQUIRE(c.asn_table);
    CHECK(network_keys("100.80.1.2", c).wide == "AS64500");
    // built in 2013: in use, and reported as old
    CHECK(c.asn_db_problem.find("days ago") != std::string::npos);
}
