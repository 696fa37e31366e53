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

TEST_CASE("observation values carry the latest service; older values without one still parse") {
    CHECK(observation_suffix(std::nullopt, "") == "");
    CHECK(observation_suffix(4242, "") == " 4242");
    CHECK(observation_suffix(std::nullopt, "imap") == " @imap");
    CHECK(observation_suffix(17, "submission") == " 17 @submission");
    // A service from the network is cut to a word: no space can shift the fields.
    CHECK(observation_suffix(std::nullopt, "evil 1 2 3") == " @evil123");
    CHECK(observation_suffix(std::nullopt, "a-very-long-service-name") == " @a-very-long-serv");
    auto f = parse_observation("f|192.0.2.1", "100 200 3 4242 @pop3");
    REQUIRE(f);
    CHECK(f->fingerprint == 4242);
    CHECK(f->service == "pop3");
    auto s = parse_observation("s|192.0.2.1", "100 200 3 @submission");
    REQUIRE(s);
    CHECK(!s->fingerprint);
    CHECK(s->service == "submission");
    CHECK(parse_observation("s|192.0.2.1", "100 200 3")->service.empty());
}
