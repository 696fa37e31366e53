// fingerprint_test.cpp - SipHash-2-4 against the paper's vectors, and the
// properties the password fingerprint needs.
#include "authguard/fingerprint.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace authguard;

namespace {
std::string bytes_upto(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>(i);
    return s;
}
} // namespace

TEST_CASE("SipHash-2-4 reference vectors") {
    std::string key = bytes_upto(16);
    CHECK(siphash24(key, "") == 0x726fdb47dd0e0e31ULL);
    CHECK(siphash24(key, bytes_upto(15)) == 0xa129ca6149be45e5ULL);
}

TEST_CASE("fingerprints are stable, keyed, per user and truncated") {
    std::string secret = "0123456789abcdef-secret";
    auto a = password_fingerprint(secret, 16, "hello@example.com", "hunter2");
    REQUIRE(a);
    CHECK(a == password_fingerprint(secret, 16, "hello@example.com", "hunter2"));
    CHECK(!password_fingerprint("", 16, "hello@example.com", "hunter2"));
    auto small = password_fingerprint(secret, 8, "hello@example.com", "hunter2");
    REQUIRE(small);
    CHECK(*small < 256);
    // Different secrets and different users give (almost always) other values;
    // over many passwords the 16-bit space is well used.
    std::set<std::uint16_t> seen;
    for (int i = 0; i < 2000; ++i)
        seen.insert(*password_fingerprint(secret, 16, "u", "password" + std::to_string(i)));
    CHECK(seen.size() > 1900);
    int same_other_secret = 0, same_other_user = 0;
    for (int i = 0; i < 200; ++i) {
        auto p = "pw" + std::to_string(i);
        same_other_secret += password_fingerprint(secret, 16, "u", p) ==
                             password_fingerprint("another-secret-0123", 16, "u", p);
        same_other_user +=
            password_fingerprint(secret, 16, "u", p) == password_fingerprint(secret, 16, "v", p);
    }
    CHECK(same_other_secret < 5);
    CHECK(same_other_user < 5);
}
