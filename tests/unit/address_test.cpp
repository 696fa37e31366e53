// address_test.cpp - parsing of client addresses, networks and CIDR blocks.
#include "authguard/address.hpp"

#include <doctest/doctest.h>

using namespace authguard;

TEST_CASE("IPv4 addresses parse and print canonically") {
    auto a = parse_address("83.242.101.27");
    REQUIRE(a);
    CHECK(a->family == Address::Family::v4);
    CHECK(a->to_string() == "83.242.101.27");
    CHECK(network_key(*a, 24) == "83.242.101.0/24");
    CHECK(network_key(*a, 16) == "83.242.0.0/16");
    CHECK(network_key(*a, 32) == "83.242.101.27/32");
}

TEST_CASE("IPv6 addresses are canonicalised") {
    auto a = parse_address("2001:DB8:0:0:1:0:0:1");
    REQUIRE(a);
    CHECK(a->family == Address::Family::v6);
    CHECK(a->to_string() == "2001:db8::1:0:0:1");
    CHECK(network_key(*a, 64) == "2001:db8::/64");
    CHECK(network_key(*a, 32) == "2001:db8::/32");
    CHECK(network_key(*parse_address("2a01:598:8a2c:1f00::5"), 48) == "2a01:598:8a2c::/48");
}

TEST_CASE("IPv4-mapped IPv6 counts as the IPv4 address") {
    auto a = parse_address("::ffff:91.225.163.32");
    REQUIRE(a);
    CHECK(a->family == Address::Family::v4);
    CHECK(a->to_string() == "91.225.163.32");
    CHECK(*a == *parse_address("91.225.163.32"));
}

TEST_CASE("garbage is refused") {
    for (const char* bad : {"", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1", "fe80::1%eth0",
                            "[::1]", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "::g",
                            "0000000000000000000000000000000000000000000000000000"})
        CHECK_MESSAGE(!parse_address(bad), bad);
    CHECK(!parse_address(std::string_view("1.2.3.4\0", 8)));
}

TEST_CASE("odd prefixes mask partial bytes") {
    auto a = parse_address("203.0.113.200");
    CHECK(network_key(*a, 20) == "203.0.112.0/20");
    CHECK(network_key(*a, 0) == "0.0.0.0/0");
    CHECK(network_key(*a, 99) == "203.0.113.200/32");
}

TEST_CASE("CIDR blocks") {
    auto c = parse_cidr("192.0.2.77/24");
    REQUIRE(c);
    CHECK(c->prefix == 24);
    CHECK(c->contains(*parse_address("192.0.2.1")));
    CHECK(!c->contains(*parse_address("192.0.3.1")));
    CHECK(!c->contains(*parse_address("2001:db8::1")));
    auto v6 = parse_cidr("2001:db8::/32");
    REQUIRE(v6);
    CHECK(v6->contains(*parse_address("2001:db8:ffff::1")));
    auto single = parse_cidr("198.51.100.7");
    REQUIRE(single);
    CHECK(single->prefix == 32);
    for (const char* bad : {"192.0.2.0/33", "192.0.2.0/", "192.0.2.0/-1", "192.0.2.0/2x", "x/8"})
        CHECK_MESSAGE(!parse_cidr(bad), bad);
}
