// history_test.cpp - the observation encoding every store shares.
#include "authguard/history.hpp"

#include <doctest/doctest.h>

using namespace authguard;

TEST_CASE("observation fields and values") {
    CHECK(observation_field(Observation::Kind::success, "192.0.2.1") == "s|192.0.2.1");
    CHECK(observation_field(Observation::Kind::failure, "::1") == "f|::1");
    auto o = parse_observation("f|192.0.2.1", "100 200 3 4242");
    REQUIRE(o);
    CHECK(o->kind == Observation::Kind::failure);
    CHECK(o->address == "192.0.2.1");
    CHECK(o->first == 100);
    CHECK(o->last == 200);
    CHECK(o->count == 3);
    CHECK(o->fingerprint == 4242);
    auto s = parse_observation("s|2001:db8::1", "5 6 1");
    REQUIRE(s);
    CHECK(!s->fingerprint);
    CHECK(!parse_observation("x|dropped", "4"));
    CHECK(!parse_observation("s|1.2.3.4", "garbage"));
    CHECK(!parse_observation("s|", "1 2 3"));
    CHECK(!parse_observation("s|1.2.3.4", "1 2 99999 70000").value().fingerprint);
}
