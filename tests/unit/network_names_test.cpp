// network_names_test.cpp - wide networks named for people (asn-db): labels
// of one address and of a lock's evidence, and the notification texts,
// with and without a table; names from the file stay escaped.
#include "authguard/asn/build.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/config.hpp"
#include "authguard/detector.hpp"
#include "authguard/network_names.hpp"
#include "authguard/notify.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <memory>

using namespace authguard;

namespace {

constexpr std::int64_t t0 = 1374400000;

// A carrier over four /16s, a provider without a name, and one whose name
// holds what every output must escape (a control byte, UTF-8, HTML).
Config named_config(const testing::TempDir& dir) {
    std::ofstream csv(dir.path() / "asn-ipv4.csv");
    csv << "100.64.0.0,100.67.255.255,64500,Some Carrier\n"
        << "192.0.2.0,192.0.2.255,64501,\n"
        << "198.18.0.0,198.18.255.255,64502,\"Ev\x1bil \xc3\xa9 <b>\"\n";
    csv.close();
    asn::build_table({dir.path() / "asn-ipv4.csv"}, dir.path() / "asn.db", t0);
    Config config;
    config.asn_table = std::make_shared<const asn::Table>(asn::Table::open(dir.path() / "asn.db"));
    return config;
}

} // namespace

TEST_CASE("one address's wide network: the provider named, with its prefix") {
    testing::TempDir dir;
    Config with = named_config(dir), without;

    CHECK(address_network_label("100.65.7.8", with) == "AS64500 Some Carrier (100.65.0.0/16)");
    CHECK(address_network_label("100.65.7.8", without) == "100.65.0.0/16");
    // no provider in the table: the prefix, as without one
    CHECK(address_network_label("203.0.113.9", with) == "203.0.0.0/16");
    // a provider without a name: its number
    CHECK(address_network_label("192.0.2.1", with) == "AS64501 (192.0.0.0/16)");
    CHECK(address_network_label("unknown", with) == "unknown");
    CHECK(address_network_label("2001:db8::1", with) == "2001:db0::/28");

    auto provider = provider_of("100.64.0.1", with);
    REQUIRE(provider);
    CHECK(provider->key == "AS64500");
    CHECK(provider->key == network_keys("100.64.0.1", with).wide); // what the detector counts
    CHECK(provider->name == "Some Carrier");
    CHECK_FALSE(provider_of("100.64.0.1", without));
    CHECK_FALSE(provider_of("203.0.113.9", with));
    CHECK_FALSE(provider_of("not an address", with));

    CHECK(label_name("AS64500", "AS64500 Some Carrier") == "Some Carrier");
    CHECK(label_name("AS64501", "AS64501").empty());
    CHECK(label_name("100.64.0.0/16", "100.64.0.0/16").empty());
}

TEST_CASE("a lock's evidence: parsed, and each network named through its addresses") {
    testing::TempDir dir;
    Config with = named_config(dir), without;

    auto networks = parse_evidence("AS64500@100[100.64.0.1,100.66.0.1] 10.1.0.0/16@160[10.1.0.5]");
    REQUIRE(networks);
    REQUIRE(networks->size() == 2);
    CHECK((*networks)[0].network == "AS64500");
    CHECK((*networks)[0].first == 100);
    CHECK((*networks)[0].addresses == std::vector<std::string>{"100.64.0.1", "100.66.0.1"});
    CHECK(evidence_network_label((*networks)[0], with) == "AS64500 Some Carrier");
    CHECK(evidence_network_label((*networks)[1], with) == "10.1.0.0/16");
    // without the table (or after it was removed) the key stays as it is
    CHECK(evidence_network_label((*networks)[0], without) == "AS64500");
    // an address the table no longer places there does not name it
    EvidenceNetwork moved{"AS64500", 100, {"203.0.113.1", "100.64.9.9"}};
    CHECK(evidence_network_label(moved, with) == "AS64500 Some Carrier");
    EvidenceNetwork gone{"AS64500", 100, {"203.0.113.1"}};
    CHECK(evidence_network_label(gone, with) == "AS64500");

    CHECK_FALSE(parse_evidence("manual"));
    CHECK_FALSE(parse_evidence(""));
    CHECK_FALSE(parse_evidence("AS1@x[1.2.3.4]"));
    CHECK_FALSE(parse_evidence("AS1@5[1.2.3.4]  AS2@6[1.2.3.5]"));
}

TEST_CASE("notifications name the providers of the evidence, escaped") {
    testing::TempDir dir;
    Config with = named_config(dir), without;
    const std::string evidence = "AS64500@1374400000[100.64.0.1,100.66.0.1] "
                                 "AS64502@1374400060[198.18.0.1] 10.1.0.0/16@1374400120[10.1.0.5]";
    const std::string reason = "6 new networks within 3600s (lock-new-networks-short=6)";

    // Each line: the detector's text, the provider, the first-seen time for
    // people (UTC, then the local time unless that is UTC).
    std::string text = lock_message(with, "alice@example.com", reason, evidence, t0);
    CHECK(text.find("  AS64500@1374400000[100.64.0.1,100.66.0.1]  AS64500 Some Carrier\n"
                    "    first seen 2013-07-21 09:46:40 UTC") != std::string::npos);
    CHECK(text.find("  AS64502@1374400060[198.18.0.1]  AS64502 Ev\\x1bil \\xc3\\xa9 <b>\n"
                    "    first seen 2013-07-21 09:47:40 UTC") != std::string::npos);
    CHECK(text.find("  10.1.0.0/16@1374400120[10.1.0.5]\n    first seen 2013-07-21 09:48:40 UTC") !=
          std::string::npos);
    CHECK(text.find('\x1b') == std::string::npos);

    // Without a table: the evidence lines alone, as they always were.
    std::string plain = lock_message(without, "alice@example.com", reason, evidence, t0);
    CHECK(plain.find("New networks (network@first-seen[addresses]):\n"
                     "  AS64500@1374400000[100.64.0.1,100.66.0.1]\n    first seen 2013-07-21") !=
          std::string::npos);
    CHECK(plain.find("\n  AS64502@1374400060[198.18.0.1]\n"
                     "    first seen 2013-07-21 09:47:40 UTC") != std::string::npos);
    // A manual lock lists no networks ("manual" is none).
    CHECK(lock_message(with, "bob@example.com", "phone stolen", "manual", t0).find("  manual\n") ==
          std::string::npos);

    // The within-provider rule's reason names the provider; a name from the
    // file never reaches the mail unescaped.
    std::string provider_reason = "10 new blocks of AS64502 Ev\x1bil \xc3\xa9 <b> within 3600s "
                                  "(lock-provider-new-prefixes-short=10)";
    CHECK(lock_message(with, "carol@example.com", provider_reason, evidence, t0)
              .find("Reason: 10 new blocks of AS64502 Ev\\x1bil \\xc3\\xa9 <b> within") !=
          std::string::npos);

    // An alert-only "would lock" lists the evidence; other alerts do not.
    std::string alert =
        alert_message(with, "dave@example.com", "would lock (alert-only): " + reason, evidence, t0);
    CHECK(alert.find("  AS64500@1374400000[100.64.0.1,100.66.0.1]  AS64500 Some Carrier\n") !=
          std::string::npos);
    CHECK(alert_message(with, "dave@example.com", "40 addresses", "", t0).find("New networks") ==
          std::string::npos);
}
